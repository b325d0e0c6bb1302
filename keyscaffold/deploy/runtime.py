"""A trained scaffold policy on a robot: what the robot measures in, position targets out.

``PolicyRuntime`` reads an export folder (``keyscaffold export``): ``policy.onnx`` (the
deterministic actor with its observation normalizer), ``policy_io.json`` (the observation blocks
and the action post-processing) and ``kinematics.json`` (the robot's body tree and grip mapping).
Each control step it builds the observation exactly as ``ScaffoldEnv.get_observations`` does,
runs the actor, and turns the action into controls exactly as ``ScaffoldEnv.step`` and the
robot's controller do: moving average, grip range, the wrist residual on the plan's wrist pose,
the grip mapping and, on an arm, the inverse kinematics step to arm joint targets
(``controllers.py``).

It imports numpy, onnxruntime and json, and shares the simulator's own numpy-only pieces (the
policy I/O spec's observation, smoothing and grip range; ``geometry.wrist_residual`` and
``blend``; ``kinematics`` for arms), so it runs on a robot's computer without torch or MuJoCo.
It covers ``plan_residual`` (scaffold) policies on floating robots (hand, gripper) and on arms
carrying them (``iiwa_hand``, ``xarm_gripper``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime

from keyscaffold.deploy.controllers import robot_controls
from keyscaffold.deploy.kinematics import RobotKinematics
from keyscaffold.geometry import blend, wrist_residual
from keyscaffold.rl.policy_io import POLICY_IO_FILE, PolicyIO

POLICY_FILE = "policy.onnx"
KINEMATICS_FILE = "kinematics.json"
KINEMATICS_VERSION = 2
HELD_CLOSED = -1
"""``joint_action`` entry of a joint no grip action drives: it holds the closed pose."""
WRIST_ACTIONS = 6
"""The first actions are the wrist residual (position, then hinge angles); the grip follows."""
OBSERVATION_BLOCKS = (
    "joint_positions",
    "joint_velocities",
    "action_average",
    "effectors_minus_wrist",
    "initial_keypoints",
    "keypoints",
    "future_keypoints_minus_keypoints",
    "future_wrist_minus_wrist",
    "episode_phase",
)
"""The blocks this runtime can build (``ScaffoldEnv.get_observations``)."""


@dataclass(frozen=True)
class PlanTargets:
    """The plan one episode follows, per control step (``KeypointPlan.interpolate``).

    Attributes:
        keypoints: Keypoint targets, shape: (T, K, 3) (m, world frame).
        wrist: Wrist poses, shape: (T, 6): position (m), then hinge angles about x, y, z (rad).
    """

    keypoints: np.ndarray
    wrist: np.ndarray

    def __post_init__(self) -> None:
        keypoints = np.asarray(self.keypoints, dtype=np.float64)
        wrist = np.asarray(self.wrist, dtype=np.float64)
        if keypoints.ndim != 3 or keypoints.shape[2] != 3 or len(keypoints) < 1:
            raise ValueError(f"plan keypoints must have shape (T, K, 3), got {keypoints.shape}")
        if wrist.shape != (len(keypoints), 6):
            raise ValueError(
                f"plan wrist poses must have shape ({len(keypoints)}, 6), got {wrist.shape}"
            )
        if not (np.isfinite(keypoints).all() and np.isfinite(wrist).all()):
            raise ValueError("the plan holds NaN or infinite values")
        object.__setattr__(self, "keypoints", keypoints)
        object.__setattr__(self, "wrist", wrist)

    def at(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoint targets (S, K, 3) and wrist poses (S, 6) at ``steps`` (S,); steps past the
        plan's end hold its last row, as the env's padded plans do."""
        rows = np.minimum(steps, len(self.keypoints) - 1)
        return self.keypoints[rows], self.wrist[rows]


@dataclass(frozen=True)
class RuntimeStep:
    """One control step's result.

    Attributes:
        observation: What the actor saw, shape: (num_observations,), float32.
        action: The actor's action before smoothing, shape: (num_actions,).
        wrist_target: Wrist pose target, shape: (6,).
        joint_targets: Targets of the tool's joints (fingers, jaws), shape: (J,).
        controls: Position targets in actuator order, one per joint of ``joint_names``: on a
            floating robot the wrist target, then ``joint_targets``, shape (6 + J,); on an arm
            its N joint targets (one IK step toward the wrist target), then ``joint_targets``,
            shape (N + J,).
    """

    observation: np.ndarray
    action: np.ndarray
    wrist_target: np.ndarray
    joint_targets: np.ndarray
    controls: np.ndarray


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(
            f"no {path.name} in {path.parent}: export the policy with "
            "`keyscaffold export RUN --format onnx --out DIR`"
        )
    return json.loads(path.read_text())


class PolicyRuntime:
    """A scaffold policy driving one robot (see the module docstring).

    Args:
        folder: An export folder holding policy.onnx, policy_io.json and kinematics.json.
        threads: CPU threads onnxruntime may use.
    """

    def __init__(self, folder: Path, threads: int = 1) -> None:
        folder = Path(folder)
        self.io = _read_json(folder / POLICY_IO_FILE)
        self.robot = _read_json(folder / KINEMATICS_FILE)
        self.spec = PolicyIO.from_json(self.io)
        self._check_spec()
        self.kinematics = RobotKinematics(self.robot)
        grip = self.robot["grip"]
        self.open_pose = np.asarray(grip["open"], dtype=np.float64)
        self.closed_pose = np.asarray(grip["closed"], dtype=np.float64)
        self.joint_action = np.asarray(grip["joint_action"], dtype=np.int64)
        self.body = robot_controls(self.robot)
        self.num_actions = len(self.io["action_names"])
        self.num_observations = self.spec.num_observations
        self.num_keypoints = dict(self.spec.observation).get("keypoints", 0) // 3
        self.lookahead = np.asarray(self.spec.lookahead, dtype=np.int64)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(folder / POLICY_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        width = self.session.get_inputs()[0].shape[-1]
        if width != self.num_observations:
            raise ValueError(
                f"{POLICY_FILE} takes {width} observations, {POLICY_IO_FILE} describes "
                f"{self.num_observations}: the files come from different exports"
            )
        self.action_average: np.ndarray | None = None
        self.initial_keypoints: np.ndarray | None = None

    @property
    def joint_names(self) -> list[str]:
        """The robot's joints, in the order joint positions and velocities are given."""
        return [joint["name"] for joint in self.robot["joints"]]

    @property
    def control_dt(self) -> float:
        """Seconds per control step the policy was trained at."""
        return float(self.io["control_dt"])

    def _check_spec(self) -> None:
        io, robot = self.io, self.robot
        if int(robot.get("version", 0)) > KINEMATICS_VERSION:
            raise ValueError(f"{KINEMATICS_FILE} is newer than this runtime reads; upgrade it")
        if io["mode"] != "plan_residual":
            raise ValueError(
                f"this runtime runs plan_residual (scaffold) policies; a {io['mode']} policy "
                "(an IKER skill) needs the env's grasp heuristic, which it does not reproduce"
            )
        if robot["embodiment"] != io["embodiment"]:
            raise ValueError(
                f"{KINEMATICS_FILE} describes {robot['embodiment']!r}, the policy acts through "
                f"{io['embodiment']!r}"
            )
        grip = robot["grip"]
        if grip["action_spec"] != io["action_spec"] or len(
            grip["grip_actions"]
        ) + WRIST_ACTIONS != len(io["action_names"]):
            raise ValueError(
                f"{KINEMATICS_FILE}'s grip mapping is for action spec {grip['action_spec']!r}, "
                f"the policy uses {io['action_spec']!r}"
            )
        unknown = [name for name, _ in io["observation"] if name not in OBSERVATION_BLOCKS]
        if unknown:
            raise ValueError(f"this runtime cannot build observation blocks {unknown}")

    # ----------------------------------------------------------------------------- acting
    def step(
        self,
        joint_positions: np.ndarray,
        joint_velocities: np.ndarray,
        keypoints: np.ndarray,
        plan: PlanTargets,
        step: int,
    ) -> RuntimeStep:
        """Act at control step ``step`` of an episode; step 0 starts a new episode.

        Args:
            joint_positions: The robot's joints in ``joint_names`` order, shape: (num_joints,)
                (m, rad): a floating robot's six wrist values, or an arm's N joints, then the
                tool's J joints.
            joint_velocities: Their velocities, shape: (num_joints,) (m/s, rad/s).
            keypoints: Tracked keypoint positions, shape: (K, 3) (m, world frame).
            plan: The episode's plan.
            step: Control steps since the episode started.

        Returns:
            The observation, the action and the position targets to send.
        """
        if step == 0:
            self.initial_keypoints = self._vector("keypoints", keypoints, (self.num_keypoints, 3))
            self.action_average = self.spec.initial_average(1)[0]
            self.body.start(plan.wrist[0])
        elif self.action_average is None or step < 0:
            raise ValueError(f"step {step}: an episode starts at step 0")
        observation = self.observe(joint_positions, joint_velocities, keypoints, plan, step)
        action = self.session.run(None, {self.input_name: observation[None]})[0][0]
        if not np.isfinite(action).all():
            raise ValueError(f"the policy's action holds NaN or infinite values: {action}")
        clipped = np.clip(action.astype(np.float64), -1.0, 1.0)
        self.action_average = self.spec.smooth(clipped, self.action_average)
        wrist_target, joint_targets = self.targets(self.action_average, plan, step)
        positions = np.asarray(joint_positions, dtype=np.float64)  # checked by observe
        controls = self.body.controls(positions, wrist_target, joint_targets)
        return RuntimeStep(observation, action, wrist_target, joint_targets, controls)

    def targets(
        self, average: np.ndarray, plan: PlanTargets, step: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Wrist target (6,) and joint targets (J,) of a smoothed action (num_actions,)."""
        spec = self.spec
        applied = spec.grip_actions(np.asarray(average, dtype=np.float64)[None])[0]
        residual = wrist_residual(
            applied, spec.position_scale, spec.rotation_scale, spec.rotation_limit
        )
        _, plan_wrist = plan.at(np.array([step]))
        amount = np.ones(len(self.joint_action))
        driven = self.joint_action != HELD_CLOSED
        amount[driven] = applied[WRIST_ACTIONS:][self.joint_action[driven]]
        joints = blend(self.open_pose, self.closed_pose, amount[None])[0]
        return plan_wrist[0] + residual, joints

    # ----------------------------------------------------------------------------- observing
    def observe(
        self,
        joint_positions: np.ndarray,
        joint_velocities: np.ndarray,
        keypoints: np.ndarray,
        plan: PlanTargets,
        step: int,
    ) -> np.ndarray:
        """The observation at ``step`` (arguments as ``step``), shape: (num_observations,),
        float32, in ``policy_io.json``'s block order."""
        if self.action_average is None or self.initial_keypoints is None:
            raise ValueError("no episode started: call step with step 0 first")
        joints = (self.kinematics.num_joints,)
        positions = self._vector("joint_positions", joint_positions, joints)
        velocities = self._vector("joint_velocities", joint_velocities, joints)
        keypoints = self._vector("keypoints", keypoints, (self.num_keypoints, 3))
        if plan.keypoints.shape[1] != self.num_keypoints:
            raise ValueError(
                f"the plan has {plan.keypoints.shape[1]} keypoints, the policy tracks "
                f"{self.num_keypoints}"
            )
        wrist = self.body.wrist_pose(positions)
        future_keypoints, future_wrist = plan.at(step + self.lookahead)
        effectors = self.kinematics.effector_positions(positions[None])[0]
        blocks = {
            "joint_positions": positions,
            "joint_velocities": self.spec.velocity_scale * velocities,
            "action_average": self.action_average,
            "effectors_minus_wrist": effectors - wrist[:3],
            "initial_keypoints": self.initial_keypoints,
            "keypoints": keypoints,
            "future_keypoints_minus_keypoints": future_keypoints - keypoints[None],
            "future_wrist_minus_wrist": future_wrist - wrist[None],
            "episode_phase": np.array([step / self.spec.episode_steps]),
        }
        return self.spec.observe({name: block[None] for name, block in blocks.items()})[0]

    @staticmethod
    def _vector(name: str, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """``values`` as float64 of ``shape``; a wrong shape or a NaN is refused."""
        array = np.asarray(values, dtype=np.float64)
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"{name} hold NaN or infinite values: {array.tolist()}")
        return array
