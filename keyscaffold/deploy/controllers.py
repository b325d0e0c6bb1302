"""Wrist targets to controls on a robot, in numpy alone: the runtime's side of the simulator's
embodiment controllers (``sim/embodiments/controller.py`` and ``arm_controller.py``).

``kinematics.json`` names the kind (``controller``):

- ``floating``: the wrist pose is six of the robot's joints (``wrist_joints``); the controls are
  the wrist target, then the tool's joint targets.
- ``arm``: the wrist pose is the tool's mounting frame, placed by the first N (arm) joints through
  the serial chain in ``arm.chain``; the controls are the arm's joint targets one
  damped-least-squares step from its measured joints toward the wrist target
  (``kinematics.ik.wrist_step``, the step ``ArmController`` takes), then the tool's joint
  targets. The wrist angles read from the mounting frame are the ones nearest the last wrist
  target (the episode's first plan row before any), as the simulator's arm controller reads them.
"""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import xyz_angles_from_rotation
from keyscaffold.kinematics import ik
from keyscaffold.kinematics.chain import SerialChain

WRIST_SIZE = 6
"""Length of a wrist pose: position (m), then hinge angles about x, y, z (rad)."""


class FloatingControls:
    """A floating robot: the wrist is six of its joints, set directly.

    Args:
        robot: The contents of ``kinematics.json``.
    """

    num_arm_joints = 0

    def __init__(self, robot: dict) -> None:
        self.wrist_joints = np.asarray(robot["wrist_joints"], dtype=np.int64)
        if self.wrist_joints.shape != (WRIST_SIZE,):
            raise ValueError(
                f"kinematics.json: a floating robot names {WRIST_SIZE} wrist joints, not "
                f"{self.wrist_joints.tolist()}"
            )

    def start(self, wrist: np.ndarray) -> None:
        """A new episode whose plan starts at ``wrist`` (6,); a floating robot keeps no state."""

    def wrist_pose(self, positions: np.ndarray) -> np.ndarray:
        """The wrist pose (6,) of joint positions (num_joints,)."""
        return positions[self.wrist_joints]

    def controls(self, positions: np.ndarray, wrist: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """Position targets in actuator order: ``wrist`` (6,), then ``joints`` (J,)."""
        return np.concatenate([wrist, joints])


class ArmControls:
    """An arm carrying the tool: inverse kinematics from the wrist target to arm joint targets.

    Args:
        robot: The contents of ``kinematics.json`` (its ``arm`` entry).
    """

    def __init__(self, robot: dict) -> None:
        arm = robot["arm"]
        self.chain = SerialChain.from_json(arm["chain"])
        self.num_arm_joints = int(arm["num_joints"])
        self.lower = np.asarray(arm["lower"], dtype=np.float64)
        self.upper = np.asarray(arm["upper"], dtype=np.float64)
        self.damping = float(arm["ik_damping"])
        self.max_step = None if arm["ik_max_step"] is None else float(arm["ik_max_step"])
        n = self.num_arm_joints
        if self.chain.num_joints != n or self.lower.shape != (n,) or self.upper.shape != (n,):
            raise ValueError(
                f"kinematics.json: the arm has {n} joints, its chain {self.chain.num_joints} and "
                f"its limits {self.lower.shape[0]} and {self.upper.shape[0]}"
            )
        if n > len(robot["joints"]):
            raise ValueError(f"kinematics.json: {n} arm joints, {len(robot['joints'])} joints")
        self.reference = np.zeros((1, 3))
        """The wrist angles last commanded: a wrist read from a rotation takes the angles
        nearest them."""
        self._frame: tuple[bytes, tuple[np.ndarray, ...]] = (b"", ())
        """The arm joints of the last ``mount`` call and its result: a step reads the wrist and
        then sends targets from the same joints."""

    def mount(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position (1, 3), rotation (1, 3, 3) and Jacobian (1, 6, N) of the tool's mounting
        frame at arm joints ``q`` (1, N)."""
        key = q.tobytes()
        if self._frame[0] != key:
            self._frame = (key, self.chain.jacobian(q))
        return self._frame[1]

    def start(self, wrist: np.ndarray) -> None:
        """A new episode whose plan starts at ``wrist`` (6,): its angles are the reference."""
        self.reference = np.array(wrist[None, 3:WRIST_SIZE], dtype=np.float64)

    def wrist_pose(self, positions: np.ndarray) -> np.ndarray:
        """The wrist pose (6,) of joint positions (num_joints,), by forward kinematics."""
        position, rotation, _ = self.mount(positions[None, : self.num_arm_joints])
        angles = xyz_angles_from_rotation(rotation, self.reference)
        return np.concatenate([position[0], angles[0]])

    def controls(self, positions: np.ndarray, wrist: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """Arm joint targets (N,), one IK step from ``positions`` (num_joints,) toward ``wrist``
        (6,) inside the joint limits, then ``joints`` (J,)."""
        q = positions[None, : self.num_arm_joints]
        position, rotation, jacobian = self.mount(q)
        arm = ik.wrist_step(
            position,
            rotation,
            jacobian,
            q,
            wrist[None],
            self.lower,
            self.upper,
            self.damping,
            self.max_step,
        )
        self.reference = np.array(wrist[None, 3:WRIST_SIZE], dtype=np.float64)
        return np.concatenate([arm[0], joints])


CONTROLLERS = {"floating": FloatingControls, "arm": ArmControls}


def robot_controls(robot: dict) -> FloatingControls | ArmControls:
    """The controls of the robot ``kinematics.json`` describes; an unknown kind is refused."""
    kind = robot.get("controller")
    if kind not in CONTROLLERS:
        raise ValueError(
            f"kinematics.json: this runtime drives {' and '.join(CONTROLLERS)} robots; "
            f"{robot.get('embodiment')!r} has a {kind!r} controller"
        )
    return CONTROLLERS[kind](robot)
