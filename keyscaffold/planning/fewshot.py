"""Few-shot examples for the trajectory prompt: the training plans that worked best.

An example is a plan written the way the trajectory prompt asks for one: initial positions and
waypoints relative to the plan's first keypoint, rounded to millimeters.
"""

from __future__ import annotations

import numpy as np

from keyscaffold.planning.answers import HAND
from keyscaffold.planning.plan import KeypointPlan


def plan_example(plan: KeypointPlan) -> dict:
    """A plan in the trajectory prompt's own format."""
    origin = plan.waypoints[0, 0]
    keypoints = np.round(plan.waypoints - origin, 3)
    hand = np.round(plan.wrist_waypoints - origin, 3)
    names = plan.keypoint_names
    return {
        "plan_id": plan.plan_id,
        "initial": {
            **{n: keypoints[0, k].tolist() for k, n in enumerate(names)},
            HAND: hand[0].tolist(),
        },
        "plan": [
            {**{n: keypoints[i, k].tolist() for k, n in enumerate(names)}, HAND: hand[i].tolist()}
            for i in range(plan.num_waypoints)
        ],
    }


def select_examples(
    plans: list[KeypointPlan], success: dict[str, float], returns: dict[str, float], count: int = 3
) -> list[dict]:
    """The ``count`` plans with the highest success rate (ties broken by return); plans that never
    succeeded are not examples, so fewer may come back."""
    ranked = sorted(
        (p for p in plans if success.get(p.plan_id, 0.0) > 0.0),
        key=lambda p: (success[p.plan_id], returns.get(p.plan_id, 0.0)),
        reverse=True,
    )
    return [plan_example(p) for p in ranked[:count]]
