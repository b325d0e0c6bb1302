"""IKER's RL environment: a gripper moves one object's keypoints onto their targets.

``KeypointEnv`` is an rsl_rl ``VecEnv`` over batched MuJoCo worlds of a gripper task's scene. Each
world follows one ``KeypointGoal`` (an initial state, the object acted on, keypoints fixed in that
object's frame, their world targets and a mode, ``grasp`` or ``push``), drawn per episode.

Action: a delta pose (6) of the wrist, relative to the current wrist pose: position increments (m)
and increments of the wrist's three hinge angles (rad), each scaled from [-1, 1]. The increment is
added to the last commanded wrist target, which is first pulled back to within ``target_lead`` of
the measured wrist pose (``target_lead`` 0 gives exactly the measured pose); so the wrist follows
deltas faithfully in free space and under a held object's weight, while the push force against an
obstacle stays bounded by the actuator gain times the lead. The wrist position target is clipped
to the task's workspace box.

Jaws (not in the action): in ``push`` mode they stay closed, and with ``push_start`` (the
default) an episode whose goal carries a push pose (``keyscaffold.iker.skills.push_pose``: low,
behind the object, facing the push) starts with the gripper there. In ``grasp`` mode the heuristic
grasp takes the object (IKER's grasping subroutine; a grasp detector's job on a real robot): with
``grasp_start`` (the default) each episode starts with the open jaws around the object's grasp
point (the goal's nominal grasp point plus a per-episode random offset in the object's frame),
the wrist turned to the goal's grasp angles if it has them, and the jaws close while the wrist
holds still for the first ``grasp_steps`` control steps; the policy then carries the object.
In training, a share ``lift_start`` of them then raises the wrist before the policy's actions
count (``keypoint_goals.lift_start_steps``: a start-state curriculum for the first lift).
Without ``grasp_start`` the episode starts at the goal's wrist pose with open jaws, which close
once the tool centre point (TCP) comes within ``grasp_radius`` of the grasp point. Either way the
jaws stay closed for the rest of the episode.

Keypoint slots: the observation has room for ``keypoint_slots`` keypoints, so one policy serves
goals with any number K of keypoints up to that (how many candidates the camera sees on an object
changes from scene to scene). A goal with K < slots fills slot j >= K with its keypoint j mod K and
that keypoint's target, with weight 0: the policy sees only real points with consistent targets,
and means over keypoints (reward terms, success) count each of the K keypoints once. The
object-pose baseline's Kabsch fit sees the repeats too; for targets that move the keypoints rigidly
the fit is the same.

Reward: IKER's keypoint terms (``rl/keypoint_rewards.py``), or the object-pose baseline
(``rl/object_pose_reward.py``). Success: the mean keypoint distance to the targets below 5 cm,
read from the simulator, never from reward.
Episodes end at the time limit, or (optionally) when the object leaves the task's workspace.
"""

from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDict

from keyscaffold.geometry import keypoint_turn, rotation_6d, turn_quaternions_about_z
from keyscaffold.rl.batched_env import BatchedEnv
from keyscaffold.rl.keypoint_goals import (
    REWARDS,
    KeypointEnvConfig,
    KeypointGoal,
    lift_start_steps,
)
from keyscaffold.rl.keypoint_rewards import (
    SUCCESS_DISTANCE,
    dropped_object,
    iker_reward_terms,
    keypoint_success,
    mean_keypoint_distance,
)
from keyscaffold.rl.object_pose_reward import object_pose_reward_terms
from keyscaffold.rl.policy_io import PolicyIO
from keyscaffold.sim.embodiments.base import WRIST_Z
from keyscaffold.tasks.base import Task


def outside_workspace(task: Task, position: np.ndarray, margin: float) -> np.ndarray:
    """Positions, shape (..., 3), farther than ``margin`` (m) outside the task's workspace box,
    shape: (...)."""
    low = np.asarray(task.workspace_low, dtype=np.float64) - margin
    high = np.asarray(task.workspace_high, dtype=np.float64) + margin
    return ~((position >= low) & (position <= high)).all(-1)


REWARD_TERMS = {
    "keypoints": ("distance", "carry", "keypoints", "direction", "alignment", "success"),
    "object_pose": ("distance", "carry", "position", "orientation", "direction", "success"),
}
"""The positive reward terms of each reward; both add the action, drop and workspace penalties."""


class KeypointEnv(BatchedEnv):
    """Delta-pose gripper control toward keypoint targets, over a set of goals."""

    @property
    def metric_logs(self) -> dict[str, str]:
        """``metrics.csv`` columns and the ``extras["log"]`` keys they average."""
        terms = (*REWARD_TERMS[self.config.reward], "action", "drop", "workspace")
        return {
            "keypoint_distance": "/episode/keypoint_distance",
            **{f"reward_{name}": f"/reward/{name}" for name in terms},
        }

    def __init__(
        self,
        task: Task,
        goals: list[KeypointGoal],
        config: KeypointEnvConfig,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        if not goals:
            raise ValueError("KeypointEnv needs at least one goal")
        if config.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {config.reward!r}")
        self.task, self.goals, self.config = task, goals, config
        self.robot = task.robot()
        if not self.robot.tcp_site:
            raise ValueError(
                f"KeypointEnv grasps at the robot's tool centre point; embodiment "
                f"{self.robot.name!r} of task {task.name!r} declares no tcp_site"
            )
        self.action_spec = self.robot.action_spec("wrist")
        self.num_envs, self.num_actions = config.num_envs, self.action_spec.num_actions
        self.max_episode_length = config.episode_steps
        self.device = device
        self.cfg = {"task": task.name, "num_envs": config.num_envs, "reward": config.reward}
        self.rng = np.random.default_rng(seed)
        model = task.build_model(config.physics)
        self.worlds = task.make_worlds(
            model, config.num_envs, config.num_threads, config.physics.substeps
        )
        self.controller = self.robot.controller(self.worlds)
        self.dt = config.physics.physics_dt * config.physics.substeps
        self.workspace_low = np.asarray(task.workspace_low, dtype=np.float64)
        self.workspace_high = np.asarray(task.workspace_high, dtype=np.float64)
        self._prepare_goals()
        self.io = PolicyIO(
            mode="wrist_delta",
            task=task.name,
            embodiment=self.robot.name,
            action_spec=self.action_spec.name,
            action_names=self.action_spec.names,
            observation=tuple(self.observation_layout()),
            control_dt=self.dt,
            episode_steps=self.max_episode_length,
            position_scale=config.position_scale,
            rotation_scale=config.rotation_scale,
        )
        n, k = self.num_envs, self.num_keypoints
        self.world_weights = np.zeros((n, k))
        self.episode_length_buf = torch.zeros(n, dtype=torch.long)
        self.goal_index = np.zeros(n, dtype=np.int64)
        self.world_object = np.zeros(n, dtype=np.int64)
        self.world_local = np.zeros((n, k, 3))
        self.world_targets = np.zeros((n, k, 3))
        self.grasp_mode = np.zeros(n, dtype=bool)
        self.grasp_local = np.zeros((n, 3))
        self.jaws_closed = np.zeros(n, dtype=bool)
        self.heuristic_steps = np.zeros(n, dtype=np.int64)
        self.wrist_target = np.zeros((n, 6))
        self.previous_keypoints = np.zeros((n, k, 3))
        self.previous_object_position = np.zeros((n, 3))
        self.episode_return = np.zeros(n)
        self.last_episode = {
            key: np.zeros(n) for key in ("success", "keypoint_distance", "return", "length")
        }
        self.reset()

    # ----------------------------------------------------------------------------- setup
    def _prepare_goals(self) -> None:
        slots = self.config.keypoint_slots
        sizes = sorted({len(goal.keypoints_local) for goal in self.goals})
        if slots < 1 or sizes[-1] > slots:
            raise ValueError(
                f"goals have up to {sizes[-1]} keypoints but the env has keypoint_slots={slots}; "
                "raise KeypointEnvConfig.keypoint_slots (a trained policy keeps its slot count)"
            )
        self.num_keypoints = slots
        movable = self.task.movable_objects()
        body_ids = self.worlds.index.body_ids
        for goal in self.goals:
            if goal.object not in movable:
                raise ValueError(
                    f"goal object {goal.object!r} is not a movable object of task "
                    f"{self.task.name!r}; it has {movable}"
                )
            self.task.validate_state(self.worlds.index, goal.initial_state)
        self.object_names = sorted({goal.object for goal in self.goals})
        self.goal_object = np.array([body_ids[g.object] for g in self.goals], dtype=np.int64)
        fill = [np.arange(slots) % len(g.keypoints_local) for g in self.goals]
        self.goal_local = np.stack([g.keypoints_local[i] for g, i in zip(self.goals, fill)])
        self.goal_targets = np.stack([g.targets[i] for g, i in zip(self.goals, fill)])
        self.goal_weights = np.stack([(np.arange(slots) == i).astype(float) for i in fill])
        self.goal_grasp = np.array([g.mode == "grasp" for g in self.goals])
        self.goal_grasp_local = np.array([g.grasp_local for g in self.goals], dtype=np.float64)
        self.goal_has_angles = np.array([g.grasp_angles is not None for g in self.goals])
        self.goal_grasp_angles = np.array(
            [g.grasp_angles or (0.0, 0.0, 0.0) for g in self.goals], dtype=np.float64
        )
        states = [g.initial_state for g in self.goals]
        self.start_wrist = np.array([s.wrist for s in states], dtype=np.float64)
        self.start_objects = {
            name: np.array([s.objects[name] for s in states], dtype=np.float64) for name in movable
        }
        joint_names = sorted({name for s in states for name in s.joints})
        self.start_joints = {
            name: np.array([s.joints.get(name, 0.0) for s in states]) for name in joint_names
        }

    def assign_goals(self, goal_index: np.ndarray) -> None:
        """Pin world i to goal ``goal_index[i]`` (evaluation) and reset every world."""
        self.pin_variants(goal_index, len(self.goals), "goal")

    # ----------------------------------------------------------------------------- reset
    def _reset_worlds(self, ids: np.ndarray) -> None:
        if ids.size == 0:
            return
        goals = self.draw_variants(ids, len(self.goals))
        cfg = self.config
        self.goal_index[ids] = goals
        self.world_object[ids] = self.goal_object[goals]
        self.world_local[ids] = self.goal_local[goals]
        self.world_targets[ids] = self.goal_targets[goals]
        self.world_weights[ids] = self.goal_weights[goals]
        self.grasp_mode[ids] = self.goal_grasp[goals]
        self.grasp_local[ids] = self.goal_grasp_local[goals] + self.rng.uniform(
            -cfg.grasp_noise, cfg.grasp_noise, size=(ids.size, 3)
        )
        wrist = self.start_wrist[goals].copy()
        wrist[:, :2] += self.rng.uniform(
            -cfg.init_position_noise, cfg.init_position_noise, size=(ids.size, 2)
        )
        objects = {name: poses[goals].copy() for name, poses in self.start_objects.items()}
        for name, pose in objects.items():
            acted_on = self.goal_object[goals] == self.worlds.index.body_ids[name]
            shift = self.rng.uniform(
                -cfg.init_position_noise, cfg.init_position_noise, size=(ids.size, 2)
            )
            yaw = self.rng.uniform(-cfg.init_yaw_noise, cfg.init_yaw_noise, size=ids.size)
            pose[acted_on, :2] += shift[acted_on]
            pose[acted_on, 3:7] = turn_quaternions_about_z(pose[acted_on, 3:7], yaw[acted_on])
        jaws = np.where(
            self.grasp_mode[ids, None], self.robot.open_pose(), self.robot.closed_pose()
        )
        joints = {name: values[goals] for name, values in self.start_joints.items()}
        pushing = ~self.grasp_mode[ids] & self.goal_has_angles[goals] & cfg.push_start
        starting = (self.grasp_mode[ids] & cfg.grasp_start) | pushing
        if starting.any():  # the heuristic grasp's or push's wrist angles (with noise)
            turn = starting & self.goal_has_angles[goals]
            noise = self.rng.uniform(-cfg.grasp_angle_noise, cfg.grasp_angle_noise, (ids.size, 3))
            wrist[turn, 3:] = self.goal_grasp_angles[goals][turn] + noise[turn]
        self.controller.reset(ids, wrist, jaws, objects, joints)
        if starting.any():
            rows = np.flatnonzero(starting)
            wrist[rows] = self._move_to_grasp(
                ids[rows],
                wrist[rows],
                jaws[rows],
                {name: pose[rows] for name, pose in objects.items()},
                {name: values[rows] for name, values in joints.items()},
            )
        self.jaws_closed[ids] = ~self.grasp_mode[ids] | cfg.grasp_start
        keypoints = self.keypoints()[ids]
        lift = lift_start_steps(cfg, self.rng, keypoints, self.world_targets[ids],
                                self.world_weights[ids])  # fmt: skip
        self.heuristic_steps[ids] = lift * (self.grasp_mode[ids] & cfg.grasp_start)
        self.wrist_target[ids] = wrist
        self.previous_keypoints[ids] = keypoints
        self.previous_object_position[ids] = self.object_pose()[0][ids]
        self.episode_length_buf[torch.as_tensor(ids)] = 0
        self.episode_return[ids] = 0.0

    def _move_to_grasp(
        self,
        ids: np.ndarray,
        wrist: np.ndarray,
        jaws: np.ndarray,
        objects: dict[str, np.ndarray],
        joints: dict[str, np.ndarray],
    ) -> np.ndarray:
        """Reset worlds ``ids`` (just reset with ``wrist``) again with the wrist moved so that
        the TCP lies on the randomized grasp point or push pose (kept inside the workspace box);
        returns the moved wrist poses, shape: (M, 6)."""
        tcp = self.gripper_pose()[0][ids]
        grasp = self.grasp_point(*self.object_pose())[ids]
        wrist = wrist.copy()
        wrist[:, :3] = np.clip(wrist[:, :3] + grasp - tcp, self.workspace_low, self.workspace_high)
        self.controller.reset(ids, wrist, jaws, objects, joints)
        return wrist

    # ----------------------------------------------------------------------------- state
    def keypoints(self) -> np.ndarray:
        """World positions of each world's keypoint slots, shape: (num_envs, slots, 3)."""
        body_ids = np.repeat(self.world_object[:, None], self.num_keypoints, axis=1)
        return self.worlds.points(body_ids, self.world_local)

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Position, shape (num_envs, 3), and rotation, shape (num_envs, 3, 3), of each world's
        goal object."""
        position = np.zeros((self.num_envs, 3))
        rotation = np.zeros((self.num_envs, 3, 3))
        for name in self.object_names:
            rows = self.world_object == self.worlds.index.body_ids[name]
            position[rows] = self.worlds.body_position(name)[rows]
            rotation[rows] = self.worlds.body_rotation(name)[rows]
        return position, rotation

    def gripper_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """TCP position, shape (num_envs, 3), and the gripper's rotation, shape (num_envs, 3, 3)."""
        return self.controller.tcp_pose()

    def grasp_point(self, position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
        """World position of each world's (randomized) grasp point, shape: (num_envs, 3).

        Args:
            position: Object positions, shape: (num_envs, 3).
            rotation: Object rotations, shape: (num_envs, 3, 3).
        """
        return position + np.einsum("bij,bj->bi", rotation, self.grasp_local)

    def keypoint_distance(self) -> np.ndarray:
        """Mean distance of each world's keypoints to their targets (m), shape: (num_envs,)."""
        return mean_keypoint_distance(self.keypoints(), self.world_targets, self.world_weights)

    def success(self) -> np.ndarray:
        """Mean keypoint distance below 5 cm, from the simulator state, shape: (num_envs,)."""
        return keypoint_success(
            self.keypoints(), self.world_targets, SUCCESS_DISTANCE, self.world_weights
        )

    def outside_workspace(self, position: np.ndarray) -> np.ndarray:
        """Object positions, shape (num_envs, 3), farther than ``workspace_margin`` outside the
        task's workspace box, shape: (num_envs,)."""
        return outside_workspace(self.task, position, self.config.workspace_margin)

    # ----------------------------------------------------------------------------- step
    def _controls(self, action: np.ndarray) -> np.ndarray:
        """Actuator targets: the wrist delta on the lead-limited target, the heuristic's jaws."""
        cfg = self.config
        measured = self.controller.wrist_pose()
        lead = np.array([cfg.target_lead] * 3 + [cfg.rotation_lead] * 3)
        base = np.clip(self.wrist_target, measured - lead, measured + lead)
        # The heuristic grasp: the wrist holds still while the jaws close, then may rise.
        t = self.episode_length_buf.numpy()
        heuristic = t < self.heuristic_steps
        if heuristic.any():
            lift = np.zeros_like(action)
            lift[:, WRIST_Z] = (t >= cfg.grasp_steps).astype(action.dtype)
            action = np.where(heuristic[:, None], lift, action)
        wrist, _ = self.action_spec.targets(base, action, cfg.position_scale, cfg.rotation_scale)
        wrist[:, :3] = np.clip(wrist[:, :3], self.workspace_low, self.workspace_high)
        self.wrist_target = wrist.copy()
        # Without the grasp start the jaws close for good once the TCP nears the grasp point.
        tcp, _ = self.gripper_pose()
        grasp = self.grasp_point(*self.object_pose())
        near = np.linalg.norm(tcp - grasp, axis=-1) < cfg.grasp_radius
        self.jaws_closed |= self.grasp_mode & near
        jaws = np.where(self.jaws_closed[:, None], self.robot.closed_pose(), self.robot.open_pose())
        return self.controller.controls(wrist, jaws)

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Advance every world one control step. Shape of actions: (num_envs, 6)."""
        action = self._validate_actions(actions)
        self.worlds.step(self._controls(action))
        self.worlds.check_finite()
        self.episode_length_buf += 1
        t = self.episode_length_buf.numpy()

        keypoints = self.keypoints()
        position, rotation = self.object_pose()
        tcp, _ = self.gripper_pose()
        grasp = self.grasp_point(position, rotation)
        holding = self.grasp_mode & self.jaws_closed
        outside = self.outside_workspace(position)
        cfg = self.config
        if cfg.reward == "keypoints":
            velocity = (keypoints - self.previous_keypoints) / self.dt
            terms = iker_reward_terms(
                cfg.rewards,
                tcp,
                grasp,
                keypoints,
                self.world_targets,
                velocity,
                action,
                holding,
                outside,
                self.world_weights,
            )
        else:
            velocity = (position - self.previous_object_position) / self.dt
            terms = object_pose_reward_terms(
                cfg.rewards,
                tcp,
                grasp,
                position,
                rotation,
                velocity,
                keypoints,
                self.world_targets,
                action,
                holding,
                outside,
            )
        reward = sum(terms.values())
        self.episode_return += reward
        self.previous_keypoints = keypoints
        self.previous_object_position = position

        time_out = t >= self.max_episode_length
        terminated = outside & cfg.terminate_outside
        done = time_out | terminated
        weights = self.world_weights
        status = {
            "success": keypoint_success(keypoints, self.world_targets, SUCCESS_DISTANCE, weights),
            "keypoint_distance": mean_keypoint_distance(keypoints, self.world_targets, weights),
            "dropped": dropped_object(tcp, grasp, holding, cfg.rewards.drop_distance),
            "outside": outside,
        }
        extras = {
            "time_outs": torch.from_numpy(time_out & ~terminated),
            "log": self._log(terms, done, status),
        }
        self._reset_worlds(np.flatnonzero(done))
        return (
            self.get_observations(),
            torch.from_numpy(reward.astype(np.float32)),
            torch.from_numpy(done),
            extras,
        )

    def _log(
        self, terms: dict[str, np.ndarray], done: np.ndarray, status: dict[str, np.ndarray]
    ) -> dict[str, float]:
        """Mean of every reward term; for the episodes that ended, success and their outcome."""
        log = {f"/reward/{name}": float(values.mean()) for name, values in terms.items()}
        log["/state/jaws_closed"] = float(self.jaws_closed.mean())
        if done.any():
            ids = np.flatnonzero(done)
            self.last_episode["success"][ids] = status["success"][ids]
            self.last_episode["keypoint_distance"][ids] = status["keypoint_distance"][ids]
            self.last_episode["return"][ids] = self.episode_return[ids]
            self.last_episode["length"][ids] = self.episode_length_buf.numpy()[ids]
            log["/episode/success"] = float(status["success"][ids].mean())
            log["/episode/keypoint_distance"] = float(status["keypoint_distance"][ids].mean())
            log["/episode/outside"] = float(status["outside"][ids].mean())
            log["/episode/return"] = float(self.episode_return[ids].mean())
            grasping = ids[self.grasp_mode[ids]]
            if grasping.size:
                log["/episode/dropped"] = float(status["dropped"][grasping].mean())
        return log

    # ----------------------------------------------------------------------------- observe
    def observation_layout(self) -> list[tuple[str, int]]:
        """Name and width of each block of the observation vector, in order."""
        k3 = 3 * self.num_keypoints
        return [
            ("tcp_position", 3),
            ("gripper_rotation_6d", 6),
            ("wrist_target_lead", 6),
            ("wrist_velocity", 6),
            ("object_position", 3),
            ("object_rotation_6d", 6),
            ("grasp_point_minus_tcp", 3),
            ("keypoints", k3),
            ("targets", k3),
            ("targets_minus_keypoints", k3),
            ("turn_to_targets", 3),
            ("grip_opening", self.controller.num_joints),
            ("grasp_mode", 1),
            ("jaws_closed", 1),
            ("episode_phase", 1),
        ]

    def get_observations(self) -> TensorDict:
        """Observation groups ``policy`` and ``critic`` (the same vector), shape: (num_envs, D).

        The blocks are those of ``observation_layout``: poses in world coordinates, rotations as
        their first two matrix columns, the turn that best takes the keypoints onto their targets
        as a rotation vector (``keypoint_turn``), the grip joints' openings (0 closed, 1 open, ``RobotController.grip_opening``).
        """
        n = self.num_envs
        tcp, gripper_rotation = self.gripper_pose()
        position, rotation = self.object_pose()
        keypoints = self.keypoints()
        obs = self.io.observe(
            {
                "tcp_position": tcp,
                "gripper_rotation_6d": rotation_6d(gripper_rotation),
                "wrist_target_lead": self.wrist_target - self.controller.wrist_pose(),
                "wrist_velocity": self.io.velocity_scale * self.controller.wrist_velocity(),
                "object_position": position,
                "object_rotation_6d": rotation_6d(rotation),
                "grasp_point_minus_tcp": self.grasp_point(position, rotation) - tcp,
                "keypoints": keypoints,
                "targets": self.world_targets,
                "targets_minus_keypoints": self.world_targets - keypoints,
                "turn_to_targets": keypoint_turn(keypoints, self.world_targets),
                "grip_opening": self.controller.grip_opening(),
                "grasp_mode": self.grasp_mode[:, None],
                "jaws_closed": self.jaws_closed[:, None],
                "episode_phase": self.episode_length_buf.numpy()[:, None] / self.max_episode_length,
            }
        )
        tensor = torch.from_numpy(obs)
        return TensorDict({"policy": tensor, "critic": tensor}, batch_size=[n])
