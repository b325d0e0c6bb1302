"""Batched scaffold-tracking environment implementing rsl_rl's ``VecEnv``.

Each world follows one plan: the action is a residual on the plan's wrist pose plus the grip actions
of the task's action spec (one hand-closure scalar, or one closure per finger); the reward tracks
the plan's keypoints and rewards effector contact with the task objects; an episode ends when any
keypoint strays farther from its target than the tracking limit, or at the time limit. Every step
the task evaluates every world (success and named metrics) from the simulator and its own state.
Position targets computed outside (a deployed runtime's) step the worlds the same way
(``step_controls``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tensordict import TensorDict

from keyscaffold.geometry import turn_quaternions_about_z
from keyscaffold.planning.plan import KeypointPlan, plan_orientation_offset
from keyscaffold.rl.batched_env import BatchedEnv
from keyscaffold.rl.rewards import RewardConfig, ramp, reward_terms
from keyscaffold.rl.scaffold_io import LOOKAHEAD, scaffold_policy_io
from keyscaffold.sim.randomization import CommandDelay, PhysicsRandomizer, Randomization
from keyscaffold.sim.scene import PhysicsConfig
from keyscaffold.tasks.attachments import attached_points, carried_offsets, plan_attachments
from keyscaffold.tasks.base import Task, TaskMonitor

EPISODE_FIELDS = ("success", "tracked", "return", "length")
"""What ``ScaffoldEnv.last_episode`` holds of every episode besides the task's metrics."""


@dataclass(frozen=True)
class EnvConfig:
    """Environment settings (residual scales, smoothing, curriculum, randomization)."""

    num_envs: int = 64
    """Worlds stepped together."""
    num_threads: int = 2
    """C threads stepping the worlds."""
    wrist_position_scale: float = 0.1
    """Wrist position residual at action 1 (m)."""
    wrist_rotation_scale: float = 1.0
    """Wrist rotation residual at action 1 (rad)."""
    action_ema: float = 0.9
    """Weight of the newest action in the exponential moving average of actions."""
    grip_action_ema: float | None = None
    """Weight of the newest grip action in its moving average (None: ``action_ema``). A slow
    grip filter (0.1) passes the policy's mean closure with a lag of a few steps but damps its
    step-to-step exploration noise: a finger that twitches as the hand comes down can shove a
    light tool away (docs/results.md, close_scissors)."""
    grip_full_range: bool = False
    """Grip actions span the whole action range: -1 open, 1 closed, linear between. Off: 0 and
    below open, 1 closed (the original method's closure), so a policy whose grip mean drifts
    below 0 no longer feels what closing does."""
    final_limit_fraction: float = 0.5
    """The tracking limit falls linearly from the task's start limit to this fraction of it."""
    initial_limit_scale: float = 1.0
    """The tracking limit at the start of training, as a multiple of the task's start limit
    (it falls linearly from there to ``final_limit_fraction`` of the start limit). Above 1, an
    untrained policy's episodes live through a plan whose objects move a long way before the
    hand has learned to move them (the scissors' handles: 5 cm)."""
    terminate: bool = True
    """End episodes that exceed the tracking limit (off in evaluation, which records it)."""
    init_position_noise: float = 0.01
    """Uniform noise on object and wrist start positions per episode (m)."""
    plan_position_noise: float = 0.0
    """Training only: each episode shifts its plan's wrist path by an offset drawn uniformly in
    [-noise, noise] per axis (m), constant over the episode. A plan a model writes misses the
    grasp by a few centimetres (a waypoint 2-5 cm off, the hand 2-3 cm too high or low); with
    this noise the policy learns to reach the object from what it observes rather than from
    where the plan puts the hand. It grows with ``orientation_curriculum`` like the plans'
    orientation noise. Keep it under ``wrist_position_scale``. Evaluation: none."""
    orientation_curriculum: float = 0.0
    """Fraction of training over which the plans' wrist-orientation noise grows from none to
    full (0: full noise from the start). Evaluation always sees the plans as they are."""
    rotation_limit_start: float = 0.0
    """With the orientation curriculum: the wrist rotation residual is clipped to this many
    radians at the start of training, and the limit widens with the noise to the full
    ``wrist_rotation_scale`` (0: the full range from the start)."""
    action_spec: str = ""
    """The embodiment's action spec; empty for the task's own choice."""
    free_keypoints: str = ""
    """How tracked keypoints on free objects follow them, ``rigid`` or ``carried`` (see
    ``Task.free_keypoints``); empty for the task's own choice."""
    rewards: RewardConfig = field(default_factory=RewardConfig)
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    randomization: Randomization = field(default_factory=Randomization)
    """Domain randomization while training (``--set env.randomization.enabled=true``, or a
    named profile: ``--set env.randomization=real_robot``)."""

    def for_evaluation(self, num_envs: int) -> EnvConfig:
        """These settings for ``num_envs`` evaluation worlds: no termination, the start limit,
        the plans' full orientation noise and the nominal physics."""
        return replace(
            self,
            num_envs=num_envs,
            terminate=False,
            final_limit_fraction=1.0,
            initial_limit_scale=1.0,
            orientation_curriculum=0.0,
            plan_position_noise=0.0,
            randomization=replace(self.randomization, enabled=False),
        )


class ScaffoldEnv(BatchedEnv):
    """Residual plan tracking on the task's floating robot, over a set of plans."""

    fresh_start = True

    metric_logs = {
        "tracked_to_end": "/episode/tracked_to_end",
        "reward_tracking": "/reward/tracking",
        "reward_contact": "/reward/contact",
        "reward_action": "/reward/action",
        "tracking_limit": "/curriculum/tracking_limit",
        "orientation_noise": "/curriculum/orientation_noise",
        "rotation_limit": "/curriculum/rotation_limit",
        "contact_weight": "/curriculum/contact_weight",
    }
    """``metrics.csv`` columns and the ``extras["log"]`` keys they average."""

    def __init__(
        self,
        task: Task,
        plans: list[KeypointPlan],
        config: EnvConfig,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        if not plans:
            raise ValueError("ScaffoldEnv needs at least one plan")
        self.task, self.plans, self.config = task, plans, config
        self.robot = task.robot()
        self.action_spec = self.robot.action_spec(config.action_spec or task.action_spec)
        self.num_envs, self.num_actions = config.num_envs, self.action_spec.num_actions
        self.max_episode_length = task.episode_steps
        self.device, self.cfg = device, {"task": task.name, "num_envs": config.num_envs}
        self.rng = np.random.default_rng(seed)
        model = task.build_model(config.physics)
        self.worlds = task.make_worlds(
            model, config.num_envs, config.num_threads, config.physics.substeps
        )
        self.controller = self.robot.controller(self.worlds)
        self.monitor = TaskMonitor(task, self.worlds)
        self.randomization = config.randomization if config.randomization.enabled else None
        self.randomizer = (
            PhysicsRandomizer(self.worlds, task.movable_objects(), config.randomization)
            if self.randomization
            else None
        )
        # the robot's targets reach it late by a drawn number of steps (none by default)
        delay = self.randomization.action_delay if self.randomization else (0, 0)
        self.delay = CommandDelay(self.num_envs, delay) if delay[1] > 0 else None
        self._prepare_plans()
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long)
        self.plan_index = np.zeros(self.num_envs, dtype=np.int64)
        # Each world's keypoint attachments (its plan's), gathered at reset, not every step.
        self.world_body_ids = self.plan_body_ids[self.plan_index]
        self.world_local = self.plan_local[self.plan_index]
        self.world_carried = self.plan_carried[self.plan_index]
        self.world_offset = np.zeros_like(self.world_local)
        if config.plan_position_noise < 0:
            raise ValueError(
                f"plan_position_noise must be >= 0 m, got {config.plan_position_noise}"
            )
        # each world's episode offset of its plan's wrist path (m), shape: (num_envs, 3)
        self.plan_shift = np.zeros((self.num_envs, 3))
        self.io = scaffold_policy_io(self)
        self.rest_action = np.asarray(self.io.rest_action)
        self.action_avg = self.io.initial_average(self.num_envs)
        self.initial_keypoints = np.zeros((self.num_envs, len(task.keypoints), 3))
        self.final_keypoints = np.zeros_like(self.initial_keypoints)
        self.episode_return = np.zeros(self.num_envs)
        self.tracked = np.ones(self.num_envs, dtype=bool)
        # each world's last finished episode: EPISODE_FIELDS, then the task's metrics by name
        self.last_episode = {k: np.zeros(self.num_envs) for k in EPISODE_FIELDS}
        self.reset()

    def _prepare_plans(self) -> None:
        names = self.task.keypoint_names()
        body_ids = self.worlds.index.body_ids
        for plan in self.plans:
            if plan.task != self.task.name:
                raise ValueError(
                    f"plan {plan.plan_id} was made for task {plan.task!r}, not {self.task.name!r}"
                )
            if plan.keypoint_names != names:
                raise ValueError(
                    f"plan {plan.plan_id} has keypoints {plan.keypoint_names}, but task "
                    f"{self.task.name} needs {names}"
                )
            unknown = [b for b in plan.keypoint_bodies if b not in body_ids]
            if unknown:
                raise ValueError(
                    f"plan {plan.plan_id} attaches keypoints to unknown bodies {unknown}"
                )
        # Where each plan's keypoints sit (VLM keypoints differ from plan to plan), and which are
        # carried with their free object's translation (off the object's origin).
        self.plan_body_ids, self.plan_local, self.plan_carried = plan_attachments(
            self.task, body_ids, self.plans, self.config.free_keypoints
        )
        # Oracle plans track the task's own keypoints: then the worlds' cached keypoints serve both.
        self.plans_track_task_keypoints = bool(
            np.array_equal(
                self.plan_body_ids,
                np.broadcast_to(self.worlds.keypoint_body_ids, self.plan_body_ids.shape),
            )
            and np.allclose(self.plan_local, self.worlds.keypoint_local[None])
            and not self.plan_carried.any()
        )
        self._plan_keypoint_cache: tuple[int, np.ndarray] | None = None
        horizon = self.max_episode_length + max(LOOKAHEAD) + 1
        kp, wrist = [], []
        for plan in self.plans:
            k, w = plan.interpolate(self.max_episode_length)
            pad = horizon - self.max_episode_length
            kp.append(np.concatenate([k, np.repeat(k[-1:], pad, 0)]))
            wrist.append(np.concatenate([w, np.repeat(w[-1:], pad, 0)]))
        self.plan_keypoints, self.plan_wrist = np.stack(kp), np.stack(wrist)
        # The orientation noise each plan carries; the curriculum removes part of it early on.
        self.plan_rotation_offset = np.stack([plan_orientation_offset(p) for p in self.plans])
        self.set_training_progress(0.0)
        states = [p.initial_state for p in self.plans]
        for state in states:
            self.task.validate_state(self.worlds.index, state)
        self.start_wrist = np.array([s.wrist for s in states])
        self.start_objects = {
            name: np.array([s.objects[name] for s in states])
            for name in self.task.movable_objects()
        }
        joint_names = sorted({name for s in states for name in s.joints})
        self.start_joints = {
            name: np.array([s.joints.get(name, 0.0) for s in states]) for name in joint_names
        }

    def set_training_progress(self, progress: float) -> None:
        """Move the curricula (tracking limit, orientation noise and rotation limit, contact
        weight) to ``progress`` in [0, 1] of training."""
        progress = float(np.clip(progress, 0.0, 1.0))
        first, last = self.config.initial_limit_scale, self.config.final_limit_fraction
        self.tracking_limit = self.task.start_limit * (first + (last - first) * progress)
        self.noise_scale = ramp(progress, self.config.orientation_curriculum)
        # the rotation residual's limit widens with the noise (the full range without a start)
        start, full = self.config.rotation_limit_start, self.config.wrist_rotation_scale
        self.rotation_limit = (
            full if start <= 0 else min(full, start + (full - start) * self.noise_scale)
        )
        self.rewards = self.config.rewards.at_progress(progress)

    def assign_plans(self, plan_index: np.ndarray) -> None:
        """Pin world i to plan ``plan_index[i]`` (evaluation) and reset every world."""
        self.pin_variants(plan_index, len(self.plans), "plan")

    def _reset_worlds(self, ids: np.ndarray) -> None:
        if ids.size == 0:
            return
        plans = self.draw_variants(ids, len(self.plans))
        self.plan_index[ids] = plans
        self.world_body_ids[ids] = self.plan_body_ids[plans]
        self.world_local[ids] = self.plan_local[plans]
        self.world_carried[ids] = self.plan_carried[plans]
        noise = self.config.init_position_noise
        if self.randomization:
            noise = max(noise, self.randomization.start_position)
        wrist = self.start_wrist[plans].copy()
        wrist[:, :2] += self.rng.uniform(-noise, noise, size=(ids.size, 2))
        objects = {}
        for name, poses in self.start_objects.items():
            pose = poses[plans].copy()
            pose[:, :2] += self.rng.uniform(-noise, noise, size=(ids.size, 2))
            if self.randomization and self.randomization.start_yaw > 0:
                turn = self.randomization.start_yaw
                yaw = self.rng.uniform(-turn, turn, size=ids.size)
                pose[:, 3:7] = turn_quaternions_about_z(pose[:, 3:7], yaw)
            objects[name] = pose
        if self.randomizer is not None:
            self.randomizer.randomize(ids, self.rng)
        if self.delay is not None:
            self.delay.reset(ids, self.rng)
        start_joints = {name: values[plans] for name, values in self.start_joints.items()}
        self.controller.reset(ids, wrist, self.robot.open_pose(), objects, start_joints)
        if self.world_carried[ids].any():
            # a carried keypoint keeps the world offset from its object that it has at the start
            self.world_offset[ids] = carried_offsets(
                self.worlds, self.world_body_ids[ids], self.world_local[ids], ids
            )
        if self.config.plan_position_noise > 0:
            # the offset grows with the orientation curriculum (full without one)
            shift = self.config.plan_position_noise * self.noise_scale
            self.plan_shift[ids] = self.rng.uniform(-shift, shift, size=(ids.size, 3))
        self.monitor.reset(ids, self.plan_keypoints[plans, -1])
        self.action_avg[ids] = self.rest_action
        self.episode_length_buf[torch.as_tensor(ids)] = 0
        self.initial_keypoints[ids] = self.keypoints()[ids]
        self.episode_return[ids] = 0.0
        self.tracked[ids] = True

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Advance every world one control step. Shape of actions: (num_envs, num_actions)."""
        action = self._validate_actions(actions)
        self.action_avg = self.io.smooth(action, self.action_avg)
        t = self.episode_length_buf.numpy()
        plan_wrist = self._plan_wrist(t)
        applied = self.action_avg
        if self.randomization and self.randomization.action_noise > 0:
            noise = self.rng.normal(0.0, self.randomization.action_noise, applied.shape)
            applied = np.clip(applied + noise, -1.0, 1.0)
        applied = self.io.grip_actions(applied)
        wrist, joints = self.action_spec.targets(
            plan_wrist,
            applied,
            self.config.wrist_position_scale,
            self.config.wrist_rotation_scale,
            self.rotation_limit,
        )
        if self.delay is not None:
            late = self.delay(np.concatenate([wrist, joints], axis=1))
            wrist, joints = np.split(late, [wrist.shape[1]], axis=1)
        return self._advance(self.controller.controls(wrist, joints), action)

    def step_controls(
        self, controls: np.ndarray, actions: np.ndarray
    ) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Advance every world one control step with position targets computed outside the env
        (a deployed runtime's); the delay, monitor, rewards, tracking and resets are ``step``'s.

        Args:
            controls: Actuator position targets (``RobotController.controls``), shape:
                (num_envs, nu): a floating robot's wrist target and joint targets, or an arm's
                joint targets and its tool's.
            actions: The actions they came from, shape: (num_envs, num_actions): the moving
                average the observations show, and the action penalty.
        """
        action = self._validate_actions(torch.as_tensor(actions))
        self.action_avg = self.io.smooth(action, self.action_avg)
        controls = np.asarray(controls, dtype=np.float64)
        if controls.shape != self.worlds.ctrl.shape:
            raise ValueError(
                f"controls must have shape {self.worlds.ctrl.shape}, got {controls.shape}"
            )
        return self._advance(controls if self.delay is None else self.delay(controls), action)

    def _advance(
        self, controls: np.ndarray, action: np.ndarray
    ) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Step the worlds with ``controls`` (num_envs, nu), then judge, reward, log and reset
        the worlds whose episodes end; ``action`` (num_envs, num_actions) enters the penalty."""
        self.worlds.step(controls)
        self.worlds.check_finite()
        evaluation = self.monitor.update()
        self.episode_length_buf += 1
        t = self.episode_length_buf.numpy()
        keypoints = self.keypoints()
        targets = self.plan_keypoints[self.plan_index, t]
        terms = reward_terms(
            self.rewards, keypoints, targets, self.worlds.effector_contact_force(), action
        )
        reward = sum(terms.values())
        self.episode_return += reward
        strayed = (np.linalg.norm(keypoints - targets, axis=-1) > self.tracking_limit).any(axis=-1)
        self.tracked &= ~strayed
        time_out = t >= self.max_episode_length
        terminated = strayed & self.config.terminate
        done = time_out | terminated
        extras = {
            "time_outs": torch.from_numpy(time_out & ~terminated),
            "log": self._log(terms, done, keypoints, evaluation),
        }
        done_ids = np.flatnonzero(done)
        self._reset_worlds(done_ids)
        return (
            self.get_observations(),
            torch.from_numpy(reward.astype(np.float32)),
            torch.from_numpy(done),
            extras,
        )

    def _plan_wrist(self, steps: np.ndarray) -> np.ndarray:
        """Each world's plan wrist pose at ``steps`` (shape (B,) or (B, S)), with the part of the
        orientation noise the curriculum holds back removed and the episode's position offset
        (``plan_position_noise``) added."""
        rows = self.plan_index if steps.ndim == 1 else self.plan_index[:, None]
        wrist = self.plan_wrist[rows, steps]  # advanced indexing: a new array, safe to change
        if self.config.plan_position_noise > 0:
            shift = self.plan_shift if steps.ndim == 1 else self.plan_shift[:, None]
            wrist[..., :3] += shift
        if self.noise_scale < 1.0:
            held_back = (1.0 - self.noise_scale) * self.plan_rotation_offset[rows]
            wrist[..., 3:6] -= held_back
        return wrist

    def _log(
        self,
        terms: dict[str, np.ndarray],
        done: np.ndarray,
        keypoints: np.ndarray,
        evaluation: dict[str, np.ndarray],
    ) -> dict:
        log: dict[str, float] = {f"/reward/{name}": float(v.mean()) for name, v in terms.items()}
        log["/curriculum/tracking_limit"] = self.tracking_limit
        log["/curriculum/orientation_noise"] = self.noise_scale
        log["/curriculum/contact_weight"] = self.rewards.contact
        log["/curriculum/rotation_limit"] = self.rotation_limit
        if done.any():
            ids = np.flatnonzero(done)
            success = evaluation["success"][ids]
            for name, values in evaluation.items():
                if name != "success":
                    log[f"/task/{name}"] = float(np.mean(values[ids]))
                    # the episode's last value of the task's metric, per world
                    if name not in self.last_episode:
                        self.last_episode[name] = np.zeros(self.num_envs)
                    self.last_episode[name][ids] = values[ids]
            self.last_episode["success"][ids] = success
            self.last_episode["tracked"][ids] = self.tracked[ids]
            self.last_episode["return"][ids] = self.episode_return[ids]
            self.last_episode["length"][ids] = self.episode_length_buf.numpy()[ids]
            self.final_keypoints[ids] = keypoints[ids]
            log["/episode/success"] = float(success.mean())
            log["/episode/tracked_to_end"] = float(self.tracked[ids].mean())
        return log

    def keypoints(self) -> np.ndarray:
        """World positions of the keypoints each world's plan tracks, shape: (num_envs, K, 3).

        These are the plan's attachments (for VLM plans, where the detected points landed;
        ``carried`` ones follow their free object's translation only); task success is judged on
        the task's own keypoints instead. Computed once per state change
        (read-only); when every plan tracks the task's own keypoints, the worlds' are returned.
        """
        if self.plans_track_task_keypoints:
            return self.worlds.keypoints()
        version = self.worlds.version
        if self._plan_keypoint_cache is None or self._plan_keypoint_cache[0] != version:
            points = attached_points(
                self.worlds, self.world_body_ids, self.world_local, self.world_carried,
                self.world_offset,
            )  # fmt: skip
            points.flags.writeable = False
            self._plan_keypoint_cache = (version, points)
        return self._plan_keypoint_cache[1]

    def measure(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the robot measures now, with the randomization's observation and keypoint
        noise: joint positions (num_envs, nq) (m, rad), joint velocities (num_envs, nv) (m/s,
        rad/s) and tracked keypoints (``keypoints``, (num_envs, K, 3), m)."""
        keypoints = self.keypoints()
        joint_pos, joint_vel = self.worlds.robot_joint_state()
        if self.randomization and self.randomization.observation_noise > 0:
            sigma = self.randomization.observation_noise
            joint_pos = joint_pos + self.rng.normal(0.0, sigma, joint_pos.shape)
            joint_vel = joint_vel + self.rng.normal(0.0, 10.0 * sigma, joint_vel.shape)
        if self.randomization and self.randomization.keypoint_noise > 0:
            sigma = self.randomization.keypoint_noise
            keypoints = keypoints + self.rng.normal(0.0, sigma, keypoints.shape)
        return joint_pos, joint_vel, keypoints

    def episode_plans(self) -> tuple[np.ndarray, np.ndarray]:
        """Each world's plan for this episode as its policy sees it, at control steps 0..T-1:
        keypoint targets (num_envs, T, K, 3) (m) and wrist poses (num_envs, T, 6) (m, rad)."""
        steps = np.broadcast_to(
            np.arange(self.max_episode_length), (self.num_envs, self.max_episode_length)
        )
        return self.plan_keypoints[self.plan_index[:, None], steps], self._plan_wrist(steps)

    def get_observations(self) -> TensorDict:
        """Observation groups ``policy`` and ``critic`` (the same vector), shape: (num_envs, D)."""
        t = self.episode_length_buf.numpy()
        rows = self.plan_index[:, None]
        steps = t[:, None] + np.array(LOOKAHEAD)[None]
        joint_pos, joint_vel, keypoints = self.measure()
        wrist = self.controller.wrist_pose(joint_pos)
        future_kp = self.plan_keypoints[rows, steps] - keypoints[:, None]
        future_wrist = self._plan_wrist(steps) - wrist[:, None]
        effectors = self.worlds.effector_positions() - wrist[:, None, :3]
        obs = self.io.observe(
            {
                "joint_positions": joint_pos,
                "joint_velocities": self.io.velocity_scale * joint_vel,
                "action_average": self.action_avg,
                "effectors_minus_wrist": effectors,
                "initial_keypoints": self.initial_keypoints,
                "keypoints": keypoints,
                "future_keypoints_minus_keypoints": future_kp,
                "future_wrist_minus_wrist": future_wrist,
                "episode_phase": (t / self.max_episode_length)[:, None],
            }
        )
        tensor = torch.from_numpy(obs)
        return TensorDict({"policy": tensor, "critic": tensor}, batch_size=[self.num_envs])
