"""Task names as parts of paths: a scene task's ``scene:<stem>`` gives folder and file names
without a colon (which Windows refuses), built-in tasks keep their folders' names, and files keep
the task name and plan ids as they are."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from keyscaffold.commands import plan_set_folder
from keyscaffold.iker.skills import skill_folder
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.planning.plan import load_plan_set, save_plan_set
from keyscaffold.tasks import task_names
from keyscaffold.util import NOT_IN_PATHS, path_part


def test_built_in_task_folders_keep_their_names(tmp_path):
    names = [*task_names(), "move_apple@iiwa_hand", "shoe_place@xarm_gripper"]
    for name in names:
        assert path_part(name) == name
        folder = plan_set_folder(tmp_path, name, "train", "oracle", 20)
        assert folder == tmp_path / name / "train" / "oracle"
    assert skill_folder(tmp_path, "shoe_place/shoe/push").name == "shoe_place__shoe__push"


@pytest.mark.parametrize(
    "name, part",
    [("scene:mug", "scene-mug"), ("scene:a/b", "scene-a-b"), ('x<>"\\|?*\t.', "x--------")],
)
def test_unsafe_characters_become_dashes(name, part):
    assert path_part(name) == part


@pytest.mark.parametrize("name", ["", ".", "..", " "])
def test_a_name_with_nothing_left_is_refused(name):
    with pytest.raises(ValueError, match="cannot name a file or folder"):
        path_part(name)


def test_a_scene_task_s_plan_set_has_no_colon_in_its_paths(move_apple, tmp_path):
    name = "scene:move_apple"
    plans = [
        replace(p, task=name, plan_id=f"{name}_{p.initial_state.seed:07d}")
        for p in oracle_plans(move_apple, "train", 0, 2)
    ]
    folder = save_plan_set(plans, plan_set_folder(tmp_path, name, "train", "oracle", 20))
    assert folder == tmp_path / "scene-move_apple" / "train" / "oracle"
    written = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")]
    assert written and not any(c in path for path in written for c in NOT_IN_PATHS if c != "/")
    index = json.loads((folder / "index.json").read_text())
    assert index["task"] == name
    assert index["plans"] == [f"scene-move_apple_{p.initial_state.seed:07d}.json" for p in plans]
    loaded = load_plan_set(folder, name)
    assert [p.plan_id for p in loaded] == [p.plan_id for p in plans]
    assert {p.task for p in loaded} == {name}
    assert ":" not in skill_folder(tmp_path, f"{name}/apple/grasp").name
