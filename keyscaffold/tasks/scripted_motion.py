"""Scripted motions that several tasks' oracle plans share."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import sample_phases
from keyscaffold.tasks.base import OracleWaypoints

GRASP_FRACTION = 0.34
"""Fraction of a pick-and-place plan at which the hand is closed."""


def pick_and_place(
    start: np.ndarray,
    object_start: np.ndarray,
    place: np.ndarray,
    goal: np.ndarray,
    grasp_offset: np.ndarray,
    num_waypoints: int,
    lift: float = 0.12,
    carry: float | None = None,
    lift_time: float = 0.52,
) -> OracleWaypoints:
    """Approach from above, grasp, lift, carry over the place, lower and hold.

    Args:
        start: The wrist's start position (m), shape: (3,).
        object_start: The carried keypoint where it lies (m), shape: (3,).
        place: Where the carried keypoint ends (m), shape: (3,).
        goal: The second keypoint (the place's marker), held still (m), shape: (3,).
        grasp_offset: The wrist relative to the carried keypoint while it is held (m), (3,).
        num_waypoints: N.
        lift: How high the object is lifted (m).
        carry: Height above ``place`` at which it is carried over (m); default ``lift``.
        lift_time: Fraction of the plan at which the lift ends.

    Returns:
        Waypoints whose keypoints are (carried, goal), shape (N, 2, 3), with the grasp at
        ``GRASP_FRACTION``.
    """
    up = np.array([0.0, 0.0, lift])
    over = np.array([0.0, 0.0, lift if carry is None else carry])
    grasp = object_start + grasp_offset
    phases = [
        (0.00, start, object_start),
        (0.15, grasp + [0, 0, 0.06], object_start),
        (0.28, grasp, object_start),
        (0.40, grasp, object_start),
        (lift_time, grasp + up, object_start + up),
        (0.78, place + grasp_offset + over, place + over),
        (0.92, place + grasp_offset, place),
        (1.00, place + grasp_offset, place),
    ]
    times = [p[0] for p in phases]
    wrist = sample_phases(times, [p[1] for p in phases], num_waypoints)
    carried = sample_phases(times, [p[2] for p in phases], num_waypoints)
    held = np.repeat(np.asarray(goal, dtype=np.float64)[None], num_waypoints, axis=0)
    return OracleWaypoints(
        keypoints=np.stack([carried, held], axis=1),
        wrist=wrist,
        wrist_orientation=np.zeros(3),
        grasp_waypoint=int(np.searchsorted(np.linspace(0, 1, num_waypoints), GRASP_FRACTION)),
    )
