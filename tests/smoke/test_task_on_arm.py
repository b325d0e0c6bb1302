"""A task on an arm by name through the command line: plan, train and eval
``move_apple@iiwa_hand``; the run records the placed arm, and loading it rebuilds the same task
and refuses an arm placed elsewhere."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from keyscaffold.cli import main
from keyscaffold.planning.plan import load_plan_set
from keyscaffold.rl.checkpoints import load_policy
from keyscaffold.rl.config import EnvConfig
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.tasks import make_task

TASK = "move_apple@iiwa_hand"


def test_train_and_eval_a_task_on_the_arm_round_trip(tmp_path, sparse_video):
    plans = tmp_path / "plans"
    for split, count in (("train", "2"), ("test", "1")):
        args = ["plan", TASK, "--num-plans", count, "--split", split, "--out", str(plans)]
        assert main(args) == 0
    run = tmp_path / "run"
    train = ["train", TASK, "--plans", str(plans / TASK / "train/oracle"), "--out", str(run)]
    assert main([*train, "--num-envs", "4", "--max-iterations", "2"]) == 0

    config = json.loads((run / "config.json").read_text())
    rebuilt = make_task(config["task"])
    assert config["task"] == TASK and rebuilt.name == TASK
    assert (
        config["embodiment"] == rebuilt.robot().name == "iiwa_hand@x=-0.27,y=-0.02,z=0.90,yaw=0.00"
    )
    assert config["action_spec"] == "closure" and len(config["action_names"]) == 7

    out = tmp_path / "eval"
    test_plans = str(plans / TASK / "test/oracle")
    args = ["eval", TASK, "--policy", str(run), "--plans", test_plans, "--out", str(out)]
    assert main(args) == 0
    result = json.loads((out / "eval.json").read_text())
    assert result["task"] == TASK and result["num_episodes"] == 1
    assert result["media"]["video"] == "rollout.mp4"

    # the arm's plans are the hand's: move_apple's plans load for the task on the arm
    assert len(load_plan_set(plans / TASK / "train/oracle", "move_apple")) == 2
    # a run whose arm stood elsewhere is refused, naming both bases
    moved = make_task(TASK)
    moved.robot = lambda: replace(
        rebuilt.robot(), base_position=(-0.3, 0.0, 0.9), name="iiwa_hand@moved"
    )
    env = ScaffoldEnv(moved, load_plan_set(test_plans), EnvConfig(num_envs=1, num_threads=1))
    with pytest.raises(
        ValueError, match=r"trained on embodiment 'iiwa_hand@x=-0.27.*iiwa_hand@moved"
    ):
        load_policy(run, env)
