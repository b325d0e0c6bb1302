"""Where a plan's keypoints sit in batched worlds: fixed in a body, or carried by a free object.

A plan attaches each keypoint to a body at a point in the body's frame. On a free object whose
turning does not matter (an apple rolling in the hand), a point off the object's origin is
``carried``: it keeps the world offset from the object's origin it had at the start of the
episode, so it follows the object's translation only (``Task.free_keypoints``). The scaffold
environment and the plan check in simulation (``planning.plan_check``) read keypoints the same way.
"""

from __future__ import annotations

import numpy as np

from keyscaffold.tasks.base import Task

FREE_KEYPOINT_MODES = ("rigid", "carried")


def plan_attachments(
    task: Task, body_ids: dict[str, int], plans, mode: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each plan's keypoints sit, as arrays over plans.

    Args:
        body_ids: Body id of each body name in the worlds' model.
        plans: Plans (``KeypointPlan``s): each names its keypoints' bodies (``keypoint_bodies``)
            and their positions in the body frames (``keypoint_local``, (K, 3), m).
        mode: ``rigid`` or ``carried``; empty for the task's own choice.

    Returns:
        Each keypoint's body id, shape: (P, K); its position in the body frame (m), shape:
        (P, K, 3); whether it is carried with its free object's translation (on a movable
        object, off its origin, in ``carried`` mode), shape: (P, K), bool.
    """
    mode = mode or task.free_keypoints
    if mode not in FREE_KEYPOINT_MODES:
        raise ValueError(f"free_keypoints must be 'rigid' or 'carried', not {mode!r}")
    ids = np.array([[body_ids[b] for b in p.keypoint_bodies] for p in plans], dtype=np.int64)
    local = np.stack([np.asarray(p.keypoint_local, dtype=np.float64) for p in plans])
    free = np.isin(ids, [body_ids[n] for n in task.movable_objects()])
    off_origin = np.linalg.norm(local, axis=-1) > 1e-9
    return ids, local, free & off_origin & (mode == "carried")


def carried_offsets(
    worlds, body_ids: np.ndarray, local: np.ndarray, ids: np.ndarray | None = None
) -> np.ndarray:
    """Each keypoint's world offset from its body's origin now (m), shape: (W, K, 3), for the
    worlds ``ids`` (default: every world); ``body_ids`` (W, K) and ``local`` (W, K, 3)."""
    return worlds.points(body_ids, local, ids) - worlds.body_origins(body_ids, ids)


def attached_points(
    worlds, body_ids: np.ndarray, local: np.ndarray, carried: np.ndarray, offset: np.ndarray
) -> np.ndarray:
    """World positions of attached keypoints in every world (m), shape: (W, K, 3).

    Args:
        body_ids: Shape: (W, K).
        local: Points in their body frames (m), shape: (W, K, 3).
        carried: Shape: (W, K), bool (``plan_attachments``).
        offset: The carried points' offsets from their bodies' origins (``carried_offsets``
            at the episode's start), shape: (W, K, 3).
    """
    points = worlds.points(body_ids, local)
    if carried.any():
        moved = worlds.body_origins(body_ids) + offset
        points = np.where(carried[..., None], moved, points)
    return points
