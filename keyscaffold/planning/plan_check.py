"""The plan check in simulation: a model's hand path replayed before training, shifted when it
loses the object.

A model's hand path misses the grasp by a few centimetres (a waypoint off, the palm too high or
too low), and a residual policy learns slowly, or not at all, to reach an object its plan does not
bring the hand to. Before training, each plan's hand path is replayed open loop in the task's
scene from the plan's initial state (``tasks.open_loop.Driver``): the grip closes over the steps
that end at the plan's grasp waypoint (the waypoint before its keypoints start to move), and the
wrist holds the task's default orientation (the plan's orientation noise is the product's, not
the model's). A plan whose keypoints stay within the task's tracking limit of their targets is
kept as answered. A plan that loses them is replayed again with its hand path shifted by each
offset of a grid (every waypoint after the first, which is where the hand starts, moved by the
same offset: -step, 0 or +step per axis); the shift whose replay strays least is taken when it
keeps the keypoints within the limit, and the plan records it. Otherwise the plan stays as
answered. Every plan records its check (``provenance["check"]``).

The scripted grip is a power grasp that closes every finger at once. Where it cannot do a task's
motion (a drawer pulled by its handle, scissors closed by the thumb against two fingers, a sponge
pressed while it wipes), the replays lose most plans of a set whatever their hand paths; then the
replay judges the grip, not the plans, and nothing is shifted (``MAX_LOST_SHARE``).

Nothing here reads the truth: the check judges the plan's own keypoints, on the bodies its
detections landed on, against the plan's own targets: the quantity the training reward tracks.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from keyscaffold.planning.plan import KeypointPlan, PlanError, plan_orientation_offset
from keyscaffold.tasks.attachments import attached_points, carried_offsets, plan_attachments
from keyscaffold.tasks.base import Task
from keyscaffold.tasks.open_loop import Driver

MOTION_M = 0.01
"""A keypoint has started to move once it is this far from its first waypoint (m)."""
SHIFTS = np.array([o for o in itertools.product((-1, 0, 1), repeat=3) if any(o)], dtype=float)
"""The grid of hand-path shifts, in steps per axis, shape: (26, 3)."""
MAX_LOST_SHARE = 0.5
"""When the replays of more than this share of a plan set lose their keypoints, the scripted grip
cannot do the task and the set is kept as answered."""


def grasp_waypoint(plan: KeypointPlan) -> int:
    """The waypoint at which the hand holds: the one before the first at which any keypoint is
    ``MOTION_M`` from its start (at least 1); the last waypoint when nothing moves."""
    moved = np.linalg.norm(plan.waypoints - plan.waypoints[:1], axis=-1).max(axis=-1)
    moving = np.flatnonzero(moved > MOTION_M)
    return max(int(moving[0]) - 1, 1) if moving.size else plan.num_waypoints - 1


def shift_hand(plan: KeypointPlan, offset: np.ndarray) -> KeypointPlan:
    """``plan`` with every hand waypoint after the first moved by ``offset`` (m), shape: (3,)."""
    wrist = plan.wrist_waypoints.copy()
    wrist[1:] += offset
    return dataclasses.replace(plan, wrist_waypoints=wrist)


def _as_replayed(plan: KeypointPlan) -> KeypointPlan:
    """``plan`` as the check replays it: without its orientation noise, its grasp waypoint named."""
    orientation = plan.wrist_orientations() - plan_orientation_offset(plan)
    provenance = {**plan.provenance, "grasp_waypoint": grasp_waypoint(plan)}
    return dataclasses.replace(plan, wrist_orientation=orientation, provenance=provenance)


def replay_strays(task: Task, plans: list[KeypointPlan], threads: int = 2) -> np.ndarray:
    """Each plan's hand path replayed open loop: the largest distance of any of its keypoints
    from its target over the episode (m), shape: (len(plans),)."""
    replayed = [_as_replayed(p) for p in plans]
    drive = Driver(task, [p.initial_state for p in replayed], threads=threads)
    body_ids, local, carried = plan_attachments(task, drive.worlds.index.body_ids, replayed)
    offset = carried_offsets(drive.worlds, body_ids, local)
    tracked = lambda: attached_points(drive.worlds, body_ids, local, carried, offset)  # noqa: E731
    return np.asarray(drive.follow(replayed, tracked=tracked)["stray"], dtype=np.float64)


def check_plans(
    task: Task, plans: list[KeypointPlan], step: float, threads: int = 2
) -> tuple[list[KeypointPlan], list[dict]]:
    """Check every plan in simulation and shift the hand paths that lose their keypoints.

    Args:
        step: The grid's step (m); the shifts are -step, 0 and +step per axis.

    Returns:
        The plans (a shifted plan records ``provenance["check"]["shift_m"]``), and one record
        per plan: its id, the limit (m), its replay's stray (m), whether the set's replays
        judge the plans (``MAX_LOST_SHARE``) and, when they do and it was over the limit, the
        best shift (m, or None when none keeps the keypoints within it) and its stray.
    """
    if step <= 0:
        raise ValueError(f"the plan check's step must be > 0 m, got {step}")
    limit = float(task.start_limit)
    strays = replay_strays(task, plans, threads)
    lost = {i for i, s in enumerate(strays) if s > limit}
    informative = len(lost) <= MAX_LOST_SHARE * len(plans)
    if not informative:
        lost = set()
    best = _best_shifts(task, plans, lost, step, threads)
    checked, records = [], []
    for i, plan in enumerate(plans):
        record = {
            "plan_id": plan.plan_id,
            "limit_m": limit,
            "stray_m": float(strays[i]),
            "replay_judges_plans": informative,
        }
        if i in lost:
            stray, offset = best.get(i, (float("inf"), None))
            kept = offset is not None and stray <= limit
            record["shift_m"] = np.round(offset, 4).tolist() if kept else None
            record["shifted_stray_m"] = stray if np.isfinite(stray) else None
            if kept:
                plan = shift_hand(plan, offset)
        provenance = {
            **plan.provenance,
            "check": {k: v for k, v in record.items() if k != "plan_id"},
        }
        checked.append(dataclasses.replace(plan, provenance=provenance))
        records.append(record)
    return checked, records


def _best_shifts(
    task: Task, plans: list[KeypointPlan], lost: set[int], step: float, threads: int
) -> dict[int, tuple[float, np.ndarray]]:
    """For each plan of ``lost``: the least stray (m) of its shifted replays and its shift (m,
    shape (3,)); shifts that leave the workspace are not replayed."""
    bounds = task.workspace()
    candidates, rows = [], []
    for i in sorted(lost):
        for offset in SHIFTS * step:
            shifted = shift_hand(plans[i], offset)
            try:
                shifted.validate(*bounds)
            except PlanError:
                continue
            candidates.append(shifted)
            rows.append((i, offset))
    found = replay_strays(task, candidates, threads) if candidates else np.zeros(0)
    best: dict[int, tuple[float, np.ndarray]] = {}
    for (i, offset), stray in zip(rows, found):
        if i not in best or stray < best[i][0]:
            best[i] = (float(stray), offset)
    return best


def check_summary(checks: list[dict]) -> dict:
    """What the check did to a plan set, from its records (``check_plans``' records, or the
    plans' ``provenance["check"]``): replays that lost their keypoints, plans shifted, and
    whether the set's replays judged the plans."""
    return {
        "lost": sum(c["stray_m"] > c["limit_m"] for c in checks),
        "shifted": sum(c.get("shift_m") is not None for c in checks),
        "replay_judges_plans": all(c["replay_judges_plans"] for c in checks),
    }
