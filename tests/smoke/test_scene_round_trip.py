"""A built-in task's exported scene, imported as a task, run against the built-in task on the same
states: `scene export --success-tolerance` writes what scaffold mode needs; the built-in IKER
oracle finds the imported shoe's candidates by name and its ideal runs agree with the built-in
task's; built-in oracle plans become the file task's plans, followed open loop with the same
outcome and failing the file's rule when their goal is moved; a file of another task is refused
by name; benchmarks/scene_round_trip.py writes its comparison."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from keyscaffold.cli import main
from keyscaffold.evaluation.scene_round_trip import (
    SceneWithOracle,
    judged_by,
    open_loop_success,
    register_with_oracle,
    scene_plan,
)
from keyscaffold.iker.loop import run_iker
from keyscaffold.iker.run_settings import IkerSettings
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.sim.scene_file_reader import read_scene_file
from keyscaffold.tasks import make_task, remove_task
from keyscaffold.tasks.base import InitialState
from keyscaffold.tasks.from_scene import SceneTask

ROOT = Path(__file__).resolve().parents[2]
SEED = 1_000_003


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """shoe_place and move_apple (with a success tolerance) exported at seed 0."""
    root = tmp_path_factory.mktemp("exported")
    assert main(["scene", "export", "shoe_place", "--out", str(root / "shoe_place")]) == 0
    args = ["scene", "export", "move_apple", "--success-tolerance", "0.1"]
    assert main([*args, "--out", str(root / "move_apple")]) == 0
    for task in ("shoe_place", "move_apple"):  # task name scene:<task>
        (root / task / f"{task}.json").write_text((root / task / "scene.json").read_text())
    yield root
    remove_task("scene:shoe_place")


def test_the_export_writes_the_success_tolerance_only_when_given(exported, tmp_path, capsys):
    assert read_scene_file(exported / "move_apple" / "scene.json").task.success_tolerance == 0.1
    assert read_scene_file(exported / "shoe_place" / "scene.json").task.success_tolerance is None
    out = tmp_path / "bad"
    assert main(["scene", "export", "move_apple", "--success-tolerance", "-1", "--out", str(out)])
    assert "success tolerance must be positive" in capsys.readouterr().err
    assert not out.exists()


def test_the_built_in_oracle_solves_the_imported_shoe_on_the_same_state(exported, tmp_path):
    task = register_with_oracle(exported / "shoe_place" / "shoe_place.json", "shoe_place")
    builtin = make_task("shoe_place")
    assert task.name == "scene:shoe_place" and "iker" in task.modes
    assert task.sample_initial_state(SEED) == builtin.sample_initial_state(SEED)
    # the derived workspace holds the whole rack, so every built-in shoe position lies inside
    assert task.workspace_low[1] < -0.4 and task.workspace_high[1] > 0.4
    runs = {}
    for name in ("shoe_place", task.name):
        settings = IkerSettings(execution="ideal", seed=SEED, image_size=256)
        runs[name] = run_iker(name, tmp_path / name.replace(":", "_"), settings)
    assert runs["shoe_place"]["success"] and runs[task.name]["success"]
    targets = json.loads((tmp_path / "scene_shoe_place/stage_0/targets.json").read_text())
    assert targets["object"] == "shoe" and targets["grasp_local"] == [-0.126, 0.0, 0.065]
    state = InitialState.from_json(
        json.loads((tmp_path / "scene_shoe_place/stage_0/state_end.json").read_text())
    )
    assert judged_by(builtin, state)  # the built-in rule: the shoe stands on the shelf
    assert not judged_by(builtin, builtin.sample_initial_state(SEED))


def test_a_file_of_another_task_is_refused_by_name(exported):
    scene = read_scene_file(exported / "move_apple" / "move_apple.json")
    with pytest.raises(ValueError, match=r"movable objects: \['shoe'\] in shoe_place.*apple"):
        SceneWithOracle(scene, make_task("shoe_place"))
    with pytest.raises(ValueError, match="no IKER stage oracle"):
        SceneWithOracle(scene, make_task("move_apple"))


def test_built_in_plans_become_the_file_tasks_plans_with_the_same_outcome(exported):
    builtin = make_task("move_apple")
    task = SceneTask(read_scene_file(exported / "move_apple" / "move_apple.json"))
    plans = oracle_plans(builtin, "test", 0, 2)
    mine = [scene_plan(plan, task) for plan in plans]
    assert mine[0].task == "scene:move_apple" and mine[0].plan_id == "scene:move_apple_1000000"
    assert mine[0].initial_state == plans[0].initial_state
    assert mine[0].keypoint_bodies == ["apple", "cutting_board"]
    np.testing.assert_allclose(mine[0].keypoint_local, plans[0].keypoint_local, atol=1e-9)
    assert open_loop_success(builtin, plans).all()
    assert open_loop_success(task, mine).all()
    # the file's rule is the plan's final waypoints: moved 15 cm away, the same motion fails
    moved = mine[0].waypoints.copy()
    moved[-1, 0, 0] += 0.15
    assert not open_loop_success(task, [replace(mine[0], waypoints=moved)])[0]


def test_the_benchmark_writes_both_rates_on_the_same_states(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "scene_round_trip", ROOT / "benchmarks/scene_round_trip.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        result = module.main(
            ["--task", "shoe_place", "--dry-run", "--ideal-only", "--out", str(tmp_path)]
        )
    finally:
        remove_task("scene:shoe_place")
    entry = json.loads((tmp_path / "scene_round_trip.json").read_text())[-1]
    command = entry["command"]
    assert "--ideal-only --out " in command and command.endswith(" --dry-run") and entry["commit"]
    ideal = entry["ideal"]
    assert ideal == result["ideal"] and "trained" not in entry
    runs = ideal["runs"]
    assert [r["seed"] for r in runs["built_in"]] == [r["seed"] for r in runs["from_file"]]
    for key in ("built_in", "from_file"):
        assert ideal[key]["num_episodes"] == 2
        low, high = ideal[key]["success_ci95"]
        assert low <= ideal[key]["success_rate"] <= high
    assert ideal["end_gap_m"]["max"] < 0.02  # the shoe ends where the built-in run leaves it
    assert (
        ideal["difference"]
        == ideal["from_file"]["success_rate"] - ideal["built_in"]["success_rate"]
    )
