"""Replay baseline: training plans reused, unchanged, on new initial states.

The policy gets a plan that was made for another scene, so this measures how much a fresh plan
per scene matters (the seed's "pre-recorded trajectories" baseline).
"""

from __future__ import annotations

import time
from dataclasses import replace

from keyscaffold.planning.oracle import split_seeds
from keyscaffold.planning.plan import KeypointPlan
from keyscaffold.tasks.base import Task


def replay_plans(
    task: Task, source: list[KeypointPlan], split: str, seed: int, num_plans: int
) -> list[KeypointPlan]:
    """Plans for ``num_plans`` states of a split, each a copy of a source plan (in turn)."""
    if not source:
        raise ValueError("replay needs at least one source plan")
    plans = []
    for i, state_seed in enumerate(split_seeds(split, seed, num_plans)):
        original = source[i % len(source)]
        provenance = {
            "planner": "replay",
            "seed": state_seed,
            "replayed_plan": original.plan_id,
            "replayed_provenance": original.provenance,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        for key in ("keypoints_on_intended", "grasp_waypoint"):
            if key in original.provenance:
                provenance[key] = original.provenance[key]
        plans.append(
            replace(
                original,
                plan_id=f"{task.name}_{state_seed:07d}",
                initial_state=task.sample_initial_state(state_seed),
                provenance=provenance,
            )
        )
    return plans
