"""Few-shot examples for the trajectory prompt: the training plans that worked best.

An example is a plan written the way the trajectory prompt asks for one: initial positions and
waypoints relative to the plan's first keypoint, rounded to millimeters.
"""

from __future__ import annotations

import json

import numpy as np

from keyscaffold.planning.answers import HAND
from keyscaffold.planning.plan import KeypointPlan


def positions(names: list[str], keypoints: np.ndarray, hand: np.ndarray) -> dict:
    """One waypoint as the trajectory prompt writes it, ``{name: [x, y, z], ..., "hand": ...}``,
    rounded to millimeters.

    Args:
        keypoints: Shape: (K, 3).
        hand: Shape: (3,).
    """
    rows = np.round(np.asarray(keypoints, dtype=np.float64), 3).tolist()
    return {**dict(zip(names, rows)), HAND: np.round(np.asarray(hand, float), 3).tolist()}


def plan_example(plan: KeypointPlan) -> dict:
    """A plan in the trajectory prompt's own format."""
    origin = plan.waypoints[0, 0]
    keypoints, hand = plan.waypoints - origin, plan.wrist_waypoints - origin
    names = plan.keypoint_names
    return {
        "plan_id": plan.plan_id,
        "initial": positions(names, keypoints[0], hand[0]),
        "plan": [positions(names, keypoints[i], hand[i]) for i in range(plan.num_waypoints)],
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


def format_examples(examples: list[dict]) -> str:
    """The few-shot section of the trajectory prompt (empty without examples)."""
    if not examples:
        return ""
    parts = ["\nPlans that worked in other scenes of this task (each relative to its own origin):"]
    for i, example in enumerate(examples, 1):
        parts.append(f"Example {i}, initial positions: {json.dumps(example['initial'])}")
        parts.append(f"Example {i}, plan: {json.dumps(example['plan'])}")
    return "\n".join(parts) + "\n"
