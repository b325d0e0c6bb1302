"""The object-pose baseline of IKER's keypoint reward: the keypoint terms are replaced by the
object's position and orientation error to the pose its keypoint targets imply (a least-squares
rigid fit, ``geometry.kabsch``); the shared terms (approach, carry, penalties) are the keypoint
reward's (``rl/keypoint_rewards.py``). Pure numpy, batched over B worlds."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import kabsch, rotation_angle
from keyscaffold.rl.keypoint_rewards import KeypointRewardConfig, direction_reward, shared_terms


def target_object_pose(
    object_position: np.ndarray,
    object_rotation: np.ndarray,
    keypoints: np.ndarray,
    targets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The object pose the keypoint targets imply: the Kabsch fit of keypoints onto targets,
    applied to the object's current pose.

    Args:
        object_position: Shape: (B, 3).
        object_rotation: Rotation matrices of the object's frame, shape: (B, 3, 3).
        keypoints: Current keypoints on the object, shape: (B, K, 3).
        targets: Their targets, shape: (B, K, 3).

    Returns:
        target position, shape: (B, 3); target rotation, shape: (B, 3, 3).
    """
    rotation, translation = kabsch(keypoints, targets)
    position = np.einsum("...ij,...j->...i", rotation, object_position) + translation
    return position, rotation @ object_rotation


def object_pose_reward_terms(
    config: KeypointRewardConfig,
    tcp: np.ndarray,
    grasp_point: np.ndarray,
    object_position: np.ndarray,
    object_rotation: np.ndarray,
    object_velocity: np.ndarray,
    keypoints: np.ndarray,
    targets: np.ndarray,
    action: np.ndarray,
    holding: np.ndarray,
    outside: np.ndarray,
) -> dict[str, np.ndarray]:
    """The object-pose baseline reward, every weighted term by name; the reward is their sum.

    The target pose is ``target_object_pose`` of the current state. Terms: ``distance`` (TCP to
    grasp point), ``carry`` (as in the keypoint reward), ``position`` and ``orientation`` (kernels of the position error and of the
    rotation angle to the target pose), ``direction`` (object velocity toward the target
    position), ``success`` (bonus while the position error is below the success distance and the
    angle below ``success_angle``), and the penalties ``action``, ``drop`` and ``workspace``.

    Args:
        config: Weights and scales (``keypoints`` and ``alignment`` are not used).
        tcp: Shape: (B, 3).
        grasp_point: Shape: (B, 3).
        object_position: Shape: (B, 3).
        object_rotation: Shape: (B, 3, 3).
        object_velocity: Linear velocity of the object's frame origin (m/s), shape: (B, 3).
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3).
        action: Shape: (B, A).
        holding: Shape: (B,), bool.
        outside: Shape: (B,), bool.

    Returns:
        Each term of shape (B,).
    """
    approach, penalties, gate = shared_terms(
        config, tcp, grasp_point, keypoints, targets, None, action, holding, outside
    )
    goal_position, goal_rotation = target_object_pose(
        object_position, object_rotation, keypoints, targets
    )
    position_error = np.linalg.norm(goal_position - object_position, axis=-1)
    angle = rotation_angle(np.swapaxes(object_rotation, -1, -2) @ goal_rotation)
    reached = (position_error < config.success_distance) & (angle < config.success_angle)
    return {
        **approach,
        "position": config.object_position
        * gate
        * np.exp(-config.position_sharpness * position_error),
        "orientation": config.object_orientation * np.exp(-config.orientation_sharpness * angle),
        "direction": config.direction
        * direction_reward(
            object_velocity[..., None, :],
            object_position[..., None, :],
            goal_position[..., None, :],
            config.direction_speed,
        ),
        "success": config.success * reached.astype(np.float64),
        **penalties,
    }
