"""IKER's keypoint reward and the object-pose baseline, as named weighted terms (pure numpy).

Every function works on a batch of B worlds. The keypoint reward (``iker_reward_terms``) scores a
stage by where the object's K keypoints are relative to their targets: the tool centre point's
distance to the object's grasp point, a held object's height over its targets until it is
above them (carry), the keypoints' distance to their targets, the keypoints'
velocity toward their targets, the alignment of keypoint-pair directions with the target pairs'
directions (orientation), a success bonus, and penalties (action magnitude, dropping the object in
grasp mode, leaving the workspace). The baseline (``object_pose_reward_terms``) replaces the
keypoint terms by the object's position and orientation error to the pose the targets imply,
found by a least-squares rigid fit (Kabsch) of the current keypoints onto their targets; it lives
in ``rl/object_pose_reward.py``.

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
    """Sharpness of the carry kernel on the height shortfall (1/m), in the gate of the keypoint
    term (``carry_gate``): a few centimetres short of the clearance already halve that term."""
    lift_sharpness: float | None = None
    """Sharpness of the carry term's own kernel (1/m); ``None`` uses ``carry_sharpness``. A
    wider kernel (e.g. 3) pays for every centimetre a held object gains toward its clearance
    even when the targets lie 30 cm above it (exp(-10 * 0.35) is flat, exp(-3 * 0.35) is not),
    so the first lift need not be found by chance; the gate stays sharp."""
    carry_gate: bool = True
    """Also scale the keypoint (baseline: position) term of a held object by its carry value, so
    nearing the targets horizontally pays only once the object is high enough (without it, a
    shoe carried toward a rack's upper shelf slides in under that shelf and stays there)."""
    gate_direction: bool = False
    """With ``carry_gate``, scale the direction term of a held object by its carry value too: a
    shoe dragged along the floor toward a shelf above it earns no speed toward its targets (a
    local optimum that can hold a policy for a thousand iterations before it first lifts)."""
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


def carry_shortfall(
    keypoints: np.ndarray, targets: np.ndarray, clearance: float, radius: float,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """What the carry kernel reads: how far from over the targets the keypoints are, and how far
    below the clearance height.

    Args:
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3).
        clearance: Metres.
        radius: Metres.
        weights: Optional keypoint weights, shape: (B, K) (see ``weighted_mean``).

    Returns:
        ``far``: the horizontal distance between the keypoints' (weighted) mean and the
        targets' mean over ``radius``, capped at 1, shape: (B,); ``shortfall``: the mean
        keypoints' height below the targets' mean height plus ``clearance``, at least 0 (m),
        shape: (B,).
    """
    centre = np.stack([weighted_mean(keypoints[..., i], weights) for i in range(3)], axis=-1)
    goal = np.stack([weighted_mean(targets[..., i], weights) for i in range(3)], axis=-1)
    far = np.minimum(np.linalg.norm((goal - centre)[..., :2], axis=-1) / radius, 1.0)
    return far, np.maximum(goal[..., 2] + clearance - centre[..., 2], 0.0)


def carry_value(far: np.ndarray, shortfall: np.ndarray, sharpness: float) -> np.ndarray:
    """1 - far * (1 - exp(-sharpness * shortfall)), shape: (B,), in (0, 1] (``carry_shortfall``
    gives ``far`` and ``shortfall``; ``sharpness`` in 1/m)."""
    return 1.0 - far * (1.0 - np.exp(-sharpness * shortfall))


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
    return carry_value(*carry_shortfall(keypoints, targets, clearance, radius, weights), sharpness)


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


def shared_terms(
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
    far, shortfall = carry_shortfall(
        keypoints, targets, config.carry_clearance, config.carry_radius, weights
    )
    carry = carry_value(far, shortfall, config.carry_sharpness)
    lift = carry
    if config.lift_sharpness is not None and config.lift_sharpness != config.carry_sharpness:
        lift = carry_value(far, shortfall, config.lift_sharpness)
    approach = {
        "distance": config.distance * approach_reward(tcp, grasp_point, config.distance_sharpness),
        "carry": config.carry * np.where(holding, lift, 0.0),
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
    approach, penalties, gate = shared_terms(
        config, tcp, grasp_point, keypoints, targets, weights, action, holding, outside
    )
    distance = mean_keypoint_distance(keypoints, targets, weights)
    speed = direction_reward(keypoint_velocity, keypoints, targets, config.direction_speed, weights)
    return {
        **approach,
        "keypoints": config.keypoints * gate * np.exp(-config.keypoint_sharpness * distance),
        "direction": config.direction * (gate if config.gate_direction else 1.0) * speed,
        "alignment": config.alignment * alignment_reward(keypoints, targets, weights),
        "success": config.success * (distance < config.success_distance).astype(np.float64),
        **penalties,
    }
