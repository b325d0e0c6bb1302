"""Every registered task through the real command line with tiny budgets: render, oracle plans,
train, evaluate, and a Batch export of the VLM planner's first stage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keyscaffold.cli import main
from keyscaffold.tasks import make_task, task_names


@pytest.mark.parametrize("name", task_names())
def test_task_runs_end_to_end(name, tmp_path, sparse_video):
    task = make_task(name)
    assert main(["render", name, "--out", str(tmp_path / "render"), "--size", "160"]) == 0
    segmentation = np.load(tmp_path / "render" / "segmentation.npy")
    assert (segmentation >= 0).any()
    plans = tmp_path / "plans"
    for split, count in (("train", "3"), ("test", "2")):
        assert (
            main(["plan", name, "--num-plans", count, "--split", split, "--out", str(plans)]) == 0
        )
    run = tmp_path / "run"
    train = ["train", name, "--plans", str(plans / name / "train" / "oracle"), "--out", str(run)]
    assert main([*train, "--num-envs", "4", "--max-iterations", "1"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert len(config["action_names"]) == task.actions().num_actions
    evaluation = [
        "eval",
        name,
        "--policy",
        str(run),
        "--plans",
        str(plans / name / "test" / "oracle"),
        "--out",
        str(tmp_path / "eval"),
    ]
    assert main(evaluation) == 0
    result = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert result["task"] == name and result["num_episodes"] == 2
    assert result["media"]["video"] == "rollout.mp4"
    work = tmp_path / "batch"
    export = ["batch", "export", name, "--work", str(work), "--num-plans", "1"]
    assert main([*export, "--out", str(tmp_path / "requests.jsonl")]) == 0
    request = json.loads((tmp_path / "requests.jsonl").read_text().splitlines()[0])
    text = json.dumps(request)
    assert task.instruction in text and all(kp.name in text for kp in task.keypoints)


def test_unknown_task_is_a_clear_error(capsys):
    assert main(["plan", "open_drawr", "--num-plans", "1", "--out", "/tmp/none"]) == 2
    assert "Did you mean 'open_drawer'" in capsys.readouterr().err
