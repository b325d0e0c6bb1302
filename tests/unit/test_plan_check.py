"""The plan check in simulation: replays judge hand paths, lost ones are shifted, answers that
work are left as they are, and a set the scripted grip cannot replay is kept as answered."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.planning.plan_check import check_plans, check_summary, grasp_waypoint, shift_hand
from keyscaffold.tasks import make_task

TOO_HIGH = np.array([0.0, 0.0, 0.025])


@pytest.fixture(scope="module")
def apple():
    task = make_task("move_apple")
    return task, oracle_plans(task, "test", 0, 4, 20, 0.0)


def test_grasp_waypoint_is_the_one_before_the_keypoints_move(apple):
    _, plans = apple
    for plan in plans:
        assert grasp_waypoint(plan) == plan.provenance["grasp_waypoint"]
    still = dataclasses.replace(plans[0], waypoints=np.repeat(plans[0].waypoints[:1], 20, axis=0))
    assert grasp_waypoint(still) == 19


def test_a_hand_path_that_loses_the_apple_is_shifted_back(apple):
    task, plans = apple
    answered = [shift_hand(plans[0], TOO_HIGH), *plans[1:]]
    checked, records = check_plans(task, answered, 0.025)
    lost = records[0]
    assert lost["stray_m"] > lost["limit_m"] and lost["replay_judges_plans"]
    # the shift is one of the grid's (-step, 0 or +step per axis) and not none
    assert lost["shift_m"] is not None and any(lost["shift_m"])
    assert set(np.round(lost["shift_m"], 4)) <= {-0.025, 0.0, 0.025}
    assert lost["shifted_stray_m"] <= lost["limit_m"]
    # the shift moves every hand waypoint after the first, and the plan records its check
    moved = checked[0].wrist_waypoints - answered[0].wrist_waypoints
    assert np.allclose(moved[0], 0.0) and np.allclose(moved[1:], lost["shift_m"])
    assert checked[0].provenance["check"]["shift_m"] == lost["shift_m"]
    summary = {"lost": 1, "shifted": 1, "replay_judges_plans": True}
    assert check_summary(records) == summary
    assert check_summary([p.provenance["check"] for p in checked]) == summary
    # plans whose replay keeps their keypoints are left exactly as answered
    for plan, kept, record in zip(answered[1:], checked[1:], records[1:]):
        assert record["stray_m"] <= record["limit_m"] and "shift_m" not in record
        assert np.array_equal(kept.wrist_waypoints, plan.wrist_waypoints)
        assert np.array_equal(kept.waypoints, plan.waypoints)


def test_a_set_the_replay_mostly_loses_is_kept_as_answered(apple):
    task, plans = apple
    answered = [shift_hand(p, TOO_HIGH) for p in plans]
    checked, records = check_plans(task, answered, 0.025)
    assert all(r["stray_m"] > r["limit_m"] and not r["replay_judges_plans"] for r in records)
    for plan, kept in zip(answered, checked):
        assert np.array_equal(kept.wrist_waypoints, plan.wrist_waypoints)


def test_the_step_must_be_positive(apple):
    task, plans = apple
    with pytest.raises(ValueError, match="step"):
        check_plans(task, plans, 0.0)
