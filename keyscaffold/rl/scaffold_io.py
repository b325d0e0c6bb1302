"""The scaffold policy's inputs and outputs as a ``PolicyIO``: the observation blocks
``ScaffoldEnv.get_observations`` builds, in order, and the action smoothing, grip range and wrist
residual scales ``ScaffoldEnv.step`` applies. The run folder keeps it (``policy_io.json``) and
the deployment runtime rebuilds the same observations and targets from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from keyscaffold.rl.policy_io import PolicyIO

if TYPE_CHECKING:  # the env builds its spec through this module
    from keyscaffold.rl.env import ScaffoldEnv

LOOKAHEAD = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 30, 40, 50)
"""Plan steps ahead of the current one whose keypoints and wrist poses the policy observes."""


def scaffold_policy_io(env: ScaffoldEnv) -> PolicyIO:
    """The policy I/O spec of ``env``'s policy (its config, robot, action spec and task)."""
    config, spec, num_actions = env.config, env.action_spec, env.num_actions
    # actions at rest: no wrist residual, the grip open
    rest = np.zeros(num_actions)
    if config.grip_full_range:
        rest[spec.grip_slice] = -1.0
    # each action's weight of its newest value in the moving average
    alpha = np.full(num_actions, config.action_ema)
    if config.grip_action_ema is not None:
        alpha[spec.grip_slice] = config.grip_action_ema
    index, k, steps = env.worlds.index, 3 * len(env.task.keypoints), len(LOOKAHEAD)
    layout = (
        ("joint_positions", len(index.robot_qpos)),
        ("joint_velocities", len(index.robot_qvel)),
        ("action_average", num_actions),
        ("effectors_minus_wrist", 3 * len(index.effector_sites)),
        ("initial_keypoints", k),
        ("keypoints", k),
        ("future_keypoints_minus_keypoints", k * steps),
        ("future_wrist_minus_wrist", 6 * steps),
        ("episode_phase", 1),
    )
    return PolicyIO(
        mode="plan_residual",
        task=env.task.name,
        embodiment=env.robot.name,
        action_spec=spec.name,
        action_names=spec.names,
        observation=layout,
        control_dt=config.physics.physics_dt * config.physics.substeps,
        episode_steps=env.max_episode_length,
        lookahead=LOOKAHEAD,
        action_alpha=tuple(float(a) for a in alpha),
        rest_action=tuple(float(a) for a in rest),
        grip_full_range=config.grip_full_range,
        position_scale=config.wrist_position_scale,
        rotation_scale=config.wrist_rotation_scale,
    )
