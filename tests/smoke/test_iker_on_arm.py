"""IKER on an arm that carries the gripper: book_push on the xArm, its base from the placement
table, runs end to end with the oracle, once with ideal execution and once with the smallest
training run; a robot whose tool is not the gripper is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from iker_scene import tiny_iker_run

from keyscaffold.iker.loop import run_iker
from keyscaffold.iker.run_settings import IkerSettings
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import InitialState

TASK = "book_push@xarm_gripper"
TINY = tiny_iker_run()


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_iker_pushes_the_book_with_the_xarm(tmp_path):
    placed = make_task(TASK).robot()
    assert placed.name == "xarm_gripper@x=0.95,y=0.00,z=0.90,yaw=3.14"
    out = tmp_path / "ideal"
    summary = run_iker(TASK, out, IkerSettings(execution="ideal", **TINY))
    assert summary["task"] == TASK and summary["failure"] is None
    (stage,) = summary["stages"]
    assert stage["object"] == "book" and stage["mode"] == "push"
    assert stage["success"] is True and stage["final_distance"] < 0.01
    assert summary["success"] is True
    # the arm rests where the stage left the wrist (rest_qpos raises when it cannot)
    end = InitialState.from_json(_json(out / "stage_0/state_end.json"))
    assert placed.rest_qpos(np.array([end.wrist]), placed.open_pose()).shape[1] == 9

    out = tmp_path / "policy"
    summary = run_iker(TASK, out, IkerSettings(**TINY))
    (stage,) = summary["stages"]
    assert stage["object"] == "book" and stage["policy"] == "stage_0/policy"
    assert stage["failure"] in (None, "missed_targets", "left_workspace")
    assert _json(out / "stage_0/policy/config.json")["embodiment"] == placed.name
    assert (out / "stage_0/policy/checkpoints/latest.pt").exists()


def test_iker_refuses_a_robot_that_carries_the_hand(tmp_path):
    with pytest.raises(ValueError, match="IKER runs on the parallel gripper.*FloatingHand"):
        run_iker("move_apple@iiwa_hand", tmp_path / "run")
