"""What IKER's keypoint environment trains on and how it is set up: ``KeypointGoal`` (one
episode variant: start state, object, keypoints, targets, mode and grasp) and
``KeypointEnvConfig`` (action scales, grasp heuristic, randomization). See ``rl/keypoint_env.py``
for what the env does with them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from keyscaffold.rl.keypoint_rewards import KeypointRewardConfig, carry_shortfall
from keyscaffold.sim.scene import PhysicsConfig
from keyscaffold.tasks.base import InitialState

MODES = ("grasp", "push")
REWARDS = ("keypoints", "object_pose")


@dataclass(frozen=True, eq=False)
class KeypointGoal:
    """One training variant: where an episode starts and where the object's keypoints must go.

    Attributes:
        initial_state: The scene's start (wrist, every movable object, object joints).
        object: Body name of the movable object acted on.
        keypoints_local: The stage's keypoints in the object's body frame (m), shape: (K, 3).
        targets: Their world targets (m), shape: (K, 3).
        mode: ``grasp`` (pick the object up and carry it) or ``push`` (move it with closed jaws).
        grasp_local: Nominal grasp point in the object's body frame (m), shape: (3,); the TCP
            closes the jaws near it (grasp mode) or approaches it (push mode).
        grasp_angles: Wrist hinge angles (rad) of the heuristic grasp, shape: (3,), or ``None``
            to keep the start state's (grasp mode with ``KeypointEnvConfig.grasp_start``). In
            push mode, set together with ``grasp_local`` by the heuristic push pose: the episode
            starts there (``KeypointEnvConfig.push_start``).
    """

    initial_state: InitialState
    object: str
    keypoints_local: np.ndarray
    targets: np.ndarray
    mode: str = "grasp"
    grasp_local: tuple[float, float, float] = (0.0, 0.0, 0.0)
    grasp_angles: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        local = np.asarray(self.keypoints_local, dtype=np.float64).reshape(-1, 3)
        targets = np.asarray(self.targets, dtype=np.float64).reshape(-1, 3)
        if local.shape[0] == 0 or local.shape != targets.shape:
            raise ValueError(
                f"a goal needs K >= 1 keypoints and one target each, got keypoints of shape "
                f"{local.shape} and targets of shape {targets.shape}"
            )
        if self.mode not in MODES:
            raise ValueError(f"goal mode must be one of {MODES}, got {self.mode!r}")
        object.__setattr__(self, "keypoints_local", local)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "grasp_local", tuple(float(v) for v in self.grasp_local))
        if self.grasp_angles is not None:
            angles = tuple(float(v) for v in self.grasp_angles)
            if len(angles) != 3:
                raise ValueError(f"grasp_angles needs 3 hinge angles, got {self.grasp_angles!r}")
            object.__setattr__(self, "grasp_angles", angles)


@dataclass(frozen=True)
class KeypointEnvConfig:
    """Settings of the keypoint environment (action scales, grasp heuristic, randomization)."""

    num_envs: int = 64
    """Worlds stepped together."""
    num_threads: int = 2
    """C threads stepping the worlds."""
    episode_steps: int = 150
    """Control steps per episode (60 per second)."""
    position_scale: float = 0.01
    """Wrist position increment at action 1, per control step (m)."""
    rotation_scale: float = 0.05
    """Wrist hinge angle increment at action 1, per control step (rad)."""
    target_lead: float = 0.02
    """Farthest the commanded wrist position may lead the measured one before an action (m)."""
    rotation_lead: float = 0.1
    """Farthest the commanded wrist hinge angles may lead the measured ones (rad)."""
    reward: str = "keypoints"
    """``keypoints`` (IKER) or ``object_pose`` (the baseline)."""
    rewards: KeypointRewardConfig = field(default_factory=KeypointRewardConfig)
    grasp_start: bool = True
    """Grasp mode: start each episode at the heuristic grasp (open jaws around the grasp point,
    closing); without it the policy must bring the TCP to the grasp point first."""
    push_start: bool = True
    """Push mode, for goals with a push pose (``grasp_angles`` set, ``iker.skills.push_pose``):
    start each episode with the closed gripper at the push pose behind the object; without it
    (or without a pose) the episode starts at the scene's wrist pose."""
    grasp_steps: int = 8
    """Grasp start: control steps the wrist holds still while the jaws close."""
    lift_start: float = 0.0
    """Grasp start, training only: the share of episodes in which the heuristic grasp, once the
    jaws have closed, also raises the wrist straight up before the policy acts, by a height
    drawn uniformly up to the smaller of ``lift_start_height`` and the rise the carry reward asks
    of the object (none for a goal whose targets lie beside or below it: a turn in place, a
    slide). A start-state curriculum: the critic learns what a raised object is worth, so the
    policy need not find its first lift by chance.
    Every execution and evaluation env has 0 (``iker.skills.execution_config``)."""
    lift_start_height: float = 0.15
    """Grasp start: the largest height of a lifted start (m)."""
    grasp_angle_noise: float = 0.05
    """Grasp start: uniform noise on the grasp's wrist hinge angles (rad)."""
    grasp_radius: float = 0.02
    """Without ``grasp_start``: the jaws close once the TCP is this close to the grasp point (m)."""
    grasp_noise: float = 0.01
    """Uniform per-episode noise on the grasp point, per axis of the object's frame (m)."""
    init_position_noise: float = 0.02
    """Uniform noise on the object's and the wrist's start position in x and y (m)."""
    init_yaw_noise: float = 0.05
    """Uniform noise on the object's start yaw (rad)."""
    terminate_outside: bool = True
    """End an episode when the object leaves the task's workspace box."""
    workspace_margin: float = 0.02
    """How far an object may lie outside the workspace box before it counts as outside (m):
    objects resting on a floor at the box's lower face sink into it by a fraction of a mm."""
    keypoint_slots: int = 8
    """Keypoints the observation has room for; goals may have 1 to this many (see the module
    docstring). An object has at most 7 candidates (6 extremities and its centre)."""
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)

    def for_evaluation(self, num_envs: int) -> KeypointEnvConfig:
        """These settings for ``num_envs`` evaluation worlds."""
        return replace(self, num_envs=num_envs)


def lift_start_steps(
    config: KeypointEnvConfig,
    rng: np.random.Generator,
    keypoints: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """Control steps the heuristic grasp holds the wrist in M new grasp-start episodes, shape:
    (M,): ``grasp_steps`` to close the jaws, plus, for a share ``lift_start`` of them, the steps
    of a straight lift at full action by a height drawn in (0, H], with H the smaller of
    ``lift_start_height`` and what the carry term asks of the object at the start (its
    shortfall below the targets' clearance height times its horizontal ``far`` factor): a goal
    that needs no lift (a turn in place, a slide) never gets one. Draws from ``rng`` only with
    ``lift_start`` > 0.

    Args:
        keypoints: The episodes' keypoints at the start (m), shape: (M, K, 3).
        targets: Their targets (m), shape: (M, K, 3).
        weights: Keypoint weights, shape: (M, K).
    """
    steps = np.full(len(keypoints), config.grasp_steps, dtype=np.int64)
    if config.lift_start > 0.0:
        rewards = config.rewards
        far, shortfall = carry_shortfall(
            keypoints, targets, rewards.carry_clearance, rewards.carry_radius, weights
        )
        top = np.minimum(config.lift_start_height, far * shortfall)
        height = rng.uniform(0.0, 1.0, len(keypoints)) * top
        lifted = rng.random(len(keypoints)) < config.lift_start
        steps += lifted * np.ceil(height / config.position_scale).astype(np.int64)
    return steps
