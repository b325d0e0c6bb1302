"""Oracle planner: scripted keypoints and waypoints from ground truth (the offline default)."""

from __future__ import annotations

import time

import numpy as np

from keyscaffold.planning.plan import KeypointPlan, orientation_noise
from keyscaffold.tasks.base import Task

SPLIT_SEED_OFFSET = {"train": 0, "test": 1_000_000, "val": 2_000_000}
"""Train, test and validation splits draw initial states from disjoint seed ranges."""


def split_seeds(split: str, seed: int, num_plans: int) -> list[int]:
    """Initial-state seeds of a split; the splits never share a seed."""
    if split not in SPLIT_SEED_OFFSET:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(SPLIT_SEED_OFFSET)}")
    base = SPLIT_SEED_OFFSET[split] + seed * 10_000
    return [base + i for i in range(num_plans)]


def oracle_plan(
    task: Task, initial_seed: int, num_waypoints: int = 20, noise: float = 0.0
) -> KeypointPlan:
    """The scripted plan of ``task`` for the initial state drawn with ``initial_seed``.

    ``noise`` adds the seeded wrist-orientation noise VLM trajectories carry (rad), so that oracle
    and VLM results compare in the same setting.
    """
    state = task.sample_initial_state(initial_seed)
    scripted = task.oracle_waypoints(state, num_waypoints)
    plan = KeypointPlan(
        plan_id=f"{task.name}_{initial_seed:07d}",
        task=task.name,
        keypoint_names=task.keypoint_names(),
        keypoint_bodies=[kp.body for kp in task.keypoints],
        keypoint_local=np.array([kp.local_pos for kp in task.keypoints], dtype=np.float64),
        waypoints=scripted.keypoints,
        wrist_waypoints=scripted.wrist,
        wrist_orientation=np.asarray(scripted.wrist_orientation, dtype=np.float64)
        + orientation_noise(initial_seed, noise),
        initial_state=state,
        provenance={
            "planner": "oracle",
            "seed": initial_seed,
            "grasp_waypoint": scripted.grasp_waypoint,
            "orientation_noise": noise,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    plan.validate(*task.workspace())
    return plan


def oracle_plans(
    task: Task, split: str, seed: int, num_plans: int, num_waypoints: int = 20, noise: float = 0.0
) -> list[KeypointPlan]:
    """Oracle plans for ``num_plans`` initial states of a split (``noise``: see ``oracle_plan``)."""
    return [oracle_plan(task, s, num_waypoints, noise) for s in split_seeds(split, seed, num_plans)]
