"""IKER's keypoint reward and the object-pose baseline, as named weighted terms (pure numpy).

Every function works on a batch of B worlds. The keypoint reward (``iker_reward_terms``) scores a
stage by where the object's K keypoints are relative to their targets: the tool centre point's
distance to the object's grasp point, a held object's height over its targets until it is
above them (carry), the keypoints' distance to their targets, the keypoints'
velocity toward their targets, the alignment of keypoint-pair directions with the target pairs'
directions (orientation), a success bonus, and penalties (action magnitude, dropping the object in
grasp mode, leaving the workspace). The baseline (``object_pose_reward_terms``) replaces the
keypoint terms by the object's position and orientation error to the pose the targets imply,
found by a least-squares rigid fit (Kabsch) of the current keypoints onto their targets.

The reward of a step is the sum of the terms; penalties enter with negative sign, and a weight of
zero switches a term off. Success itself is judged from the simulator by the caller, with
``keypoint_success``; the bonus term only mirrors it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUCCESS_DISTANCE = 0.05
"""A stage succeeds when the mean keypoint distance to the targets is below this (m)."""

_EPS = 1e-9
_RANK_TOL = 1e-6
"""Singular values of centred keypoints below this (m) count as zero (degenerate layouts)."""


@dataclass(frozen=True)
class KeypointRewardConfig:
    """Weights and scales of the keypoint reward and of the object-pose baseline.

    Positive terms lie in [0, weight] (direction and alignment in [-weight, weight]); penalties in
    [-weight * bound, 0].
    """

    distance: float = 0.5
    """Weight of exp(-distance_sharpness * |TCP - grasp point|): approach the object."""
    distance_sharpness: float = 10.0
    """Sharpness of the approach kernel (1/m)."""
    keypoints: float = 1.0
    """Weight of exp(-keypoint_sharpness * mean keypoint distance to the targets)."""
    keypoint_sharpness: float = 3.0
    """Sharpness of the keypoint kernel (1/m): wide enough that a goal 0.4 m away still pulls
    (exp(-3 * 0.4) = 0.3); the success bonus sharpens the last centimetres."""
    direction: float = 0.5
    """Weight of the keypoints' mean velocity toward their targets, clipped to +-1 at
    ``direction_speed``."""
    direction_speed: float = 0.2
    """Speed toward the target (m/s) at which the direction term saturates."""
    alignment: float = 0.3
    """Weight of the mean cosine between keypoint-pair directions and target-pair directions
    (0 with fewer than two keypoints)."""
    carry: float = 0.5
    """Weight of the carry term (grasp mode, while held): the keypoints' mean height should
    clear their targets' by ``carry_clearance`` until they are within ``carry_radius`` of them
    horizontally, so a held object goes over what stands between it and its place, and comes
    down onto the targets from above (``carry_reward``)."""
    carry_clearance: float = 0.06
    """Height above the targets that the carried keypoints should keep while far (m)."""
    carry_radius: float = 0.08
    """Horizontal distance to the targets below which the height demand fades out (m)."""
    carry_sharpness: float = 10.0
    """Sharpness of the carry kernel on the height shortfall (1/m)."""
    carry_gate: bool = True
    """Also scale the keypoint (baseline: position) term of a held object by its carry value, so
    nearing the targets horizontally pays only once the object is high enough (without it, a
    shoe carried toward a rack's upper shelf slides in under that shelf and stays there)."""
    success: float = 2.0
    """Bonus while the mean keypoint distance is below ``success_distance``."""
    success_distance: float = SUCCESS_DISTANCE
    """Success threshold on the mean keypoint distance (m)."""
    action: float = 0.01
    """Weight of the squared action norm penalty."""
    drop: float = 1.0
    """Penalty while the jaws are closed in grasp mode but the TCP is farther than
    ``drop_distance`` from the grasp point (dropped, or never caught)."""
    drop_distance: float = 0.06
    """TCP distance from the grasp point beyond which a held object counts as dropped (m)."""
    workspace: float = 1.0
    """Penalty while the object is outside the workspace."""
    object_position: float = 1.0
    """Baseline: weight of exp(-position_sharpness * |object position - target position|)."""
    position_sharpness: float = 10.0
    """Baseline: sharpness of the position kernel (1/m)."""
    object_orientation: float = 0.5
    """Baseline: weight of exp(-orientation_sharpness * angle to the target orientation)."""
    orientation_sharpness: float = 2.0
    """Baseline: sharpness of the orientation kernel (1/rad)."""
    success_angle: float = 0.3
    """Baseline: the pose bonus also needs the orientation error below this (rad)."""


def weighted_mean(values: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Mean over the last axis of ``values``, or its weighted mean with ``weights``.

    Args:
        values: Shape: (..., K).
        weights: ``None``, or non-negative weights of shape (..., K) or (K,) with a positive sum
            per row (keypoint slots that repeat another keypoint have weight 0).

    Returns:
        Shape: (...).
    """
    if weights is None:
        return values.mean(axis=-1)
    weights = np.broadcast_to(weights, values.shape)
    return (values * weights).sum(axis=-1) / weights.sum(axis=-1)


def mean_keypoint_distance(
    keypoints: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Mean Euclidean distance of the keypoints to their targets.

    Args:
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3) or (K, 3).
        weights: Optional keypoint weights, shape: (B, K) (see ``weighted_mean``).

    Returns:
        Shape: (B,), metres.
    """
    return weighted_mean(np.linalg.norm(keypoints - targets, axis=-1), weights)


def keypoint_success(
    keypoints: np.ndarray,
    targets: np.ndarray,
    threshold: float = SUCCESS_DISTANCE,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Whether the mean keypoint distance to the targets is below ``threshold`` (m).

    Args:
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3) or (K, 3).
        threshold: Metres.
        weights: Optional keypoint weights, shape: (B, K) (see ``weighted_mean``).

    Returns:
        Shape: (B,), bool.
    """
    return mean_keypoint_distance(keypoints, targets, weights) < threshold


def approach_reward(tcp: np.ndarray, grasp_point: np.ndarray, sharpness: float) -> np.ndarray:
    """exp(-sharpness * |tcp - grasp_point|).

    Args:
        tcp: Tool centre points, shape: (B, 3).
        grasp_point: Points on the object the TCP should reach, shape: (B, 3).
        sharpness: 1/m.

    Returns:
        Shape: (B,), in (0, 1].
    """
    return np.exp(-sharpness * np.linalg.norm(tcp - grasp_point, axis=-1))


def keypoint_distance_reward(
    keypoints: np.ndarray,
    targets: np.ndarray,
    sharpness: float,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """exp(-sharpness * mean keypoint distance to the targets).

    Args:
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3).
        sharpness: 1/m.
        weights: Optional keypoint weights, shape: (B, K) (see ``weighted_mean``).

    Returns:
        Shape: (B,), in (0, 1].
    """
    return np.exp(-sharpness * mean_keypoint_distance(keypoints, targets, weights))


def direction_reward(
    velocity: np.ndarray,
    points: np.ndarray,
    targets: np.ndarray,
    speed: float,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Mean over points of the velocity component toward the point's target, over ``speed``.

    Each point's component is clipped to [-1, 1]; a point already on its target contributes 0.

    Args:
        velocity: Velocity of each point (m/s), shape: (B, K, 3).
        points: Shape: (B, K, 3).
        targets: Shape: (B, K, 3).
        speed: Speed toward the target that counts fully (m/s).
        weights: Optional point weights, shape: (B, K) (see ``weighted_mean``).

    Returns:
        Shape: (B,), in [-1, 1].
    """
    offset = targets - points
    length = np.linalg.norm(offset, axis=-1, keepdims=True)
    unit = np.where(length > _EPS, offset / np.maximum(length, _EPS), 0.0)
    toward = (velocity * unit).sum(axis=-1) / speed
    return weighted_mean(np.clip(toward, -1.0, 1.0), weights)


def alignment_reward(
    keypoints: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Mean cosine between each keypoint pair's direction and its target pair's direction.

    Over pairs i < j with both the keypoints and the targets apart; 0 where no pair counts (one
    keypoint). Translation does not change it; it is 1 when the keypoints are a translate of
    the targets, -1 when they are turned half round.

    Args:
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3).
        weights: Optional keypoint weights, shape: (B, K); only pairs of keypoints with positive
            weight count (repeated slots have weight 0), each pair once.

    Returns:
        Shape: (B,), in [-1, 1].
    """
    num = keypoints.shape[-2]
    first, second = np.triu_indices(num, k=1)
    if first.size == 0:
        return np.zeros(keypoints.shape[:-2])
    current = keypoints[..., second, :] - keypoints[..., first, :]
    wanted = targets[..., second, :] - targets[..., first, :]
    norms = np.linalg.norm(current, axis=-1) * np.linalg.norm(wanted, axis=-1)
    valid = norms > _EPS
    if weights is not None:
        counted = np.broadcast_to(weights, keypoints.shape[:-1]) > 0
        valid = valid & counted[..., first] & counted[..., second]
    cosine = np.where(valid, (current * wanted).sum(axis=-1) / np.maximum(norms, _EPS), 0.0)
    count = valid.sum(axis=-1)
    return np.where(count > 0, cosine.sum(axis=-1) / np.maximum(count, 1), 0.0)


def carry_reward(
    keypoints: np.ndarray,
    targets: np.ndarray,
    clearance: float,
    radius: float,
    sharpness: float,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """How well a carried object keeps above its targets until it is over them.

    With h the horizontal distance between the keypoints' (weighted) mean and the targets' mean
    and s the mean keypoints' height shortfall below the targets' mean height plus
    ``clearance``: 1 - min(h / radius, 1) * (1 - exp(-sharpness * s)). Over the targets (h = 0)
    it is 1 at any height, so the object may come down; far from them it asks for the full
    clearance.

    Args:
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3).
        clearance: Metres.
        radius: Metres.
        sharpness: 1/m.
        weights: Optional keypoint weights, shape: (B, K) (see ``weighted_mean``).

    Returns:
        Shape: (B,), in (0, 1].
    """
    centre = np.stack([weighted_mean(keypoints[..., i], weights) for i in range(3)], axis=-1)
    goal = np.stack([weighted_mean(targets[..., i], weights) for i in range(3)], axis=-1)
    far = np.minimum(np.linalg.norm((goal - centre)[..., :2], axis=-1) / radius, 1.0)
    shortfall = np.maximum(goal[..., 2] + clearance - centre[..., 2], 0.0)
    return 1.0 - far * (1.0 - np.exp(-sharpness * shortfall))


def dropped_object(
    tcp: np.ndarray, grasp_point: np.ndarray, holding: np.ndarray, drop_distance: float
) -> np.ndarray:
    """Worlds whose jaws are closed in grasp mode with the grasp point away from the TCP.

    Args:
        tcp: Shape: (B, 3).
        grasp_point: Shape: (B, 3).
        holding: The grasp heuristic has closed the jaws (grasp mode only), shape: (B,), bool.
        drop_distance: Metres.

    Returns:
        Shape: (B,), bool.
    """
    return holding & (np.linalg.norm(tcp - grasp_point, axis=-1) > drop_distance)


def action_penalty(action: np.ndarray) -> np.ndarray:
    """Squared action norm.

    Args:
        action: Shape: (B, A).

    Returns:
        Shape: (B,).
    """
    return np.square(action).sum(axis=-1)


def _shared_terms(
    config: KeypointRewardConfig,
    tcp: np.ndarray,
    grasp_point: np.ndarray,
    keypoints: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray | None,
    action: np.ndarray,
    holding: np.ndarray,
    outside: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """The approach and carry terms, the penalties (action, drop, workspace), and the factor of
    the goal term (the carry value of held objects with ``carry_gate``, else 1)."""
    holding = np.asarray(holding, bool)
    carry = carry_reward(
        keypoints,
        targets,
        config.carry_clearance,
        config.carry_radius,
        config.carry_sharpness,
        weights,
    )
    approach = {
        "distance": config.distance * approach_reward(tcp, grasp_point, config.distance_sharpness),
        "carry": config.carry * np.where(holding, carry, 0.0),
    }
    dropped = dropped_object(tcp, grasp_point, holding, config.drop_distance)
    penalties = {
        "action": -config.action * action_penalty(action),
        "drop": -config.drop * dropped.astype(np.float64),
        "workspace": -config.workspace * np.asarray(outside, bool).astype(np.float64),
    }
    gate = np.where(holding & config.carry_gate, carry, 1.0)
    return approach, penalties, gate


def iker_reward_terms(
    config: KeypointRewardConfig,
    tcp: np.ndarray,
    grasp_point: np.ndarray,
    keypoints: np.ndarray,
    targets: np.ndarray,
    keypoint_velocity: np.ndarray,
    action: np.ndarray,
    holding: np.ndarray,
    outside: np.ndarray,
    weights: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """IKER's keypoint reward, every weighted term by name; the reward is their sum.

    Terms: ``distance`` (TCP to grasp point), ``carry`` (a held object keeps above its targets
    until over them), ``keypoints`` (mean keypoint distance to the targets), ``direction`` (keypoint velocity toward the targets), ``alignment`` (keypoint-pair
    directions against target-pair directions), ``success`` (bonus below the success distance),
    and the penalties ``action``, ``drop`` and ``workspace`` (negative).

    Args:
        config: Weights and scales.
        tcp: Tool centre points, shape: (B, 3).
        grasp_point: The object's grasp point (or, pushing, its centre), shape: (B, 3).
        keypoints: The stage's keypoints on the object, shape: (B, K, 3).
        targets: Their targets, shape: (B, K, 3).
        keypoint_velocity: Velocity of the keypoints (m/s), shape: (B, K, 3).
        action: The policy's actions, shape: (B, A).
        holding: The grasp heuristic has closed the jaws (grasp mode), shape: (B,), bool.
        outside: The object has left the workspace, shape: (B,), bool.
        weights: Optional keypoint weights, shape: (B, K) (see ``weighted_mean``); slots that
            repeat a keypoint to fill a fixed observation size have weight 0.

    Returns:
        Each term of shape (B,).
    """
    approach, penalties, gate = _shared_terms(
        config, tcp, grasp_point, keypoints, targets, weights, action, holding, outside
    )
    distance = mean_keypoint_distance(keypoints, targets, weights)
    return {
        **approach,
        "keypoints": config.keypoints * gate * np.exp(-config.keypoint_sharpness * distance),
        "direction": config.direction
        * direction_reward(keypoint_velocity, keypoints, targets, config.direction_speed, weights),
        "alignment": config.alignment * alignment_reward(keypoints, targets, weights),
        "success": config.success * (distance < config.success_distance).astype(np.float64),
        **penalties,
    }


def _skew(vector: np.ndarray) -> np.ndarray:
    """Cross-product matrices, shape: (..., 3, 3), of vectors of shape (..., 3)."""
    x, y, z = vector[..., 0], vector[..., 1], vector[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*x.shape, 3, 3)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``a`` to unit vector ``b``.

    Opposite vectors turn half round about an axis perpendicular to ``a``.

    Args:
        a: Unit vectors, shape: (B, 3).
        b: Unit vectors, shape: (B, 3).

    Returns:
        Shape: (B, 3, 3).
    """
    cosine = (a * b).sum(axis=-1)
    cross = _skew(np.cross(a, b))
    eye = np.broadcast_to(np.eye(3), cross.shape)
    opposite = cosine < -1.0 + 1e-9
    rotation = eye + cross + cross @ cross / np.maximum(1.0 + cosine, 1e-9)[..., None, None]
    if opposite.any():
        helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        axis = np.cross(a, helper)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        half_turn = 2.0 * axis[..., :, None] * axis[..., None, :] - eye
        rotation = np.where(opposite[..., None, None], half_turn, rotation)
    return rotation


def kabsch(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rigid transform taking points ``source`` onto ``target``: R s + t ~ t'.

    Degenerate layouts get the least rotation that fits: one point (or coincident points) gives
    R = I, collinear points the smallest rotation of their line onto the targets' best-fit line.
    Reflections are never returned.

    Args:
        source: Shape: (B, K, 3).
        target: Shape: (B, K, 3).

    Returns:
        rotation, shape: (B, 3, 3); translation, shape: (B, 3).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=-2), target.mean(axis=-2)
    centred_s = source - source_mean[..., None, :]
    centred_t = target - target_mean[..., None, :]
    batch = source.shape[:-2]
    rotation = np.broadcast_to(np.eye(3), (*batch, 3, 3)).copy()

    _, spread, directions = np.linalg.svd(centred_s, full_matrices=False)
    rank = (spread > _RANK_TOL).sum(axis=-1)

    general = rank >= 2
    if general.any():
        cov = np.swapaxes(centred_s[general], -1, -2) @ centred_t[general]
        u, _, vt = np.linalg.svd(cov)
        v = np.swapaxes(vt, -1, -2)
        sign = np.sign(np.linalg.det(v @ np.swapaxes(u, -1, -2)))
        fix = np.broadcast_to(np.eye(3), v.shape).copy()
        fix[..., 2, 2] = np.where(sign == 0, 1.0, sign)
        rotation[general] = v @ fix @ np.swapaxes(u, -1, -2)

    line = rank == 1
    if line.any():
        axis = directions[line][..., 0, :]
        along = (centred_s[line] * axis[..., None, :]).sum(axis=-1)
        fitted = (along[..., None] * centred_t[line]).sum(axis=-2)
        length = np.linalg.norm(fitted, axis=-1)
        ok = length > _EPS
        turned = rotation_between(axis, fitted / np.maximum(length, _EPS)[..., None])
        rotation[line] = np.where(ok[..., None, None], turned, np.eye(3))

    translation = target_mean - np.einsum("...ij,...j->...i", rotation, source_mean)
    return rotation, translation


def rotation_angle(rotation: np.ndarray) -> np.ndarray:
    """Angle of rotation matrices (rad).

    Args:
        rotation: Shape: (..., 3, 3).

    Returns:
        Shape: (...), in [0, pi].
    """
    trace = np.trace(rotation, axis1=-2, axis2=-1)
    return np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))


def keypoint_turn(keypoints: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The turn that best takes the keypoints onto their targets (the Kabsch fit's rotation), as
    a rotation vector in world axes (axis times angle, rad), shape: (B, 3).

    Args:
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3).
    """
    rotation, _ = kabsch(keypoints, targets)
    return rotation_vector(rotation)


def rotation_vector(rotation: np.ndarray) -> np.ndarray:
    """Rotation vectors (unit axis times angle, rad) of rotation matrices, shape: (..., 3).

    Args:
        rotation: Shape: (..., 3, 3).
    """
    angle = rotation_angle(rotation)
    r = rotation
    # The skew part is sin(angle) times the axis.
    skew = 0.5 * np.stack(
        [r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]],
        axis=-1,
    )
    sin = np.sin(angle)
    scale = np.where(sin > 1e-6, angle / np.maximum(sin, 1e-6), 1.0)
    vector = skew * scale[..., None]
    # Near a half turn the skew part vanishes: the axis is a column of (R + I) / 2 = a a^T.
    flip = (angle > np.pi / 2) & (sin < 1e-3)
    if flip.any():
        outer = 0.5 * (r[flip] + np.eye(3))
        column = np.argmax(np.diagonal(outer, axis1=-2, axis2=-1), axis=-1)
        axis = np.take_along_axis(outer, column[:, None, None], axis=-1)[..., 0]
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        axis *= np.where((axis * skew[flip]).sum(-1) < 0.0, -1.0, 1.0)[:, None]  # sin's sign
        vector[flip] = axis * angle[flip][:, None]
    return vector


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
    approach, penalties, gate = _shared_terms(
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
