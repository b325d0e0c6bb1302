from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from keyscaffold.planning.oracle import oracle_plan, oracle_plans, split_seeds
from keyscaffold.planning.plan import KeypointPlan, PlanError, load_plan_set, save_plan_set


def test_plan_json_round_trip(move_apple, tmp_path):
    plan = oracle_plan(move_apple, 3)
    again = KeypointPlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again.plan_id == plan.plan_id and again.keypoint_names == plan.keypoint_names
    np.testing.assert_array_equal(again.waypoints, plan.waypoints)
    np.testing.assert_array_equal(again.wrist_waypoints, plan.wrist_waypoints)
    assert again.initial_state == plan.initial_state
    assert again.provenance["planner"] == "oracle"


def test_plan_set_round_trip(move_apple, tmp_path):
    plans = oracle_plans(move_apple, "train", 0, 3)
    folder = save_plan_set(plans, tmp_path / "move_apple" / "train" / "oracle")
    loaded = load_plan_set(tmp_path)  # a root with exactly one plan set below it
    assert [p.plan_id for p in loaded] == [p.plan_id for p in plans]
    assert (folder / "index.json").exists()
    assert not list(folder.glob("*.tmp"))
    with pytest.raises(PlanError, match="not 'other'"):
        load_plan_set(folder, task="other")


def test_plan_interpolation_shapes(move_apple):
    plan = oracle_plan(move_apple, 0)
    keypoints, wrist = plan.interpolate(300)
    assert keypoints.shape == (300, 2, 3) and wrist.shape == (300, 6)
    np.testing.assert_allclose(keypoints[0], plan.waypoints[0])
    np.testing.assert_allclose(wrist[-1, :3], plan.wrist_waypoints[-1])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: replace(p, waypoints=p.waypoints * np.nan), "NaN"),
        (lambda p: replace(p, waypoints=p.waypoints[:, :1]), "shape"),
        (lambda p: replace(p, wrist_waypoints=p.wrist_waypoints[:-1]), "wrist waypoints"),
        (lambda p: replace(p, waypoints=p.waypoints + 5.0), "outside the workspace"),
    ],
)
def test_plan_validation_rejects_bad_plans(move_apple, change, message):
    plan = change(oracle_plan(move_apple, 0))
    with pytest.raises(PlanError, match=message):
        plan.validate(*move_apple.workspace())


def test_wrong_schema_version_is_refused(move_apple):
    data = oracle_plan(move_apple, 0).to_json()
    data["schema_version"] = 99
    with pytest.raises(PlanError, match="schema version"):
        KeypointPlan.from_json(data)


def test_splits_never_share_initial_states():
    splits = [
        set(split_seeds(name, seed, 500)) for name in ("train", "test", "val") for seed in (0, 1)
    ]
    assert sum(len(s) for s in splits) == len(set().union(*splits))
    with pytest.raises(ValueError, match="unknown split"):
        split_seeds("validation", 0, 1)


def test_missing_plan_set_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="keyscaffold plan"):
        load_plan_set(tmp_path / "nothing")


def test_version_1_plan_files_still_load(move_apple):
    data = oracle_plan(move_apple, 0).to_json()
    data["schema_version"] = 1
    data["initial_state"].pop("joints")
    plan = KeypointPlan.from_json(data)
    assert plan.initial_state.joints == {}
    assert plan.wrist_orientations().shape == (plan.num_waypoints, 3)
    _, wrist = plan.interpolate(50)
    np.testing.assert_allclose(wrist[:, 3:], np.repeat(plan.wrist_orientation[None], 50, 0))


def test_per_waypoint_wrist_orientation_is_interpolated_and_checked(move_apple):
    plan = oracle_plan(move_apple, 0)
    turning = np.linspace([0, 0, 0], [0, 0, 1.0], plan.num_waypoints)
    _, wrist = replace(plan, wrist_orientation=turning).interpolate(plan.num_waypoints)
    np.testing.assert_allclose(wrist[:, 5], turning[:, 2])
    with pytest.raises(PlanError, match="wrist orientation must have shape"):
        replace(plan, wrist_orientation=turning[:3]).validate(*move_apple.workspace())
