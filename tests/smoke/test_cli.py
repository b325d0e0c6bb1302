"""Smoke tests: the real command line with tiny budgets."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from keyscaffold.cli import main
from keyscaffold.rl.metrics import training_record


def run(*args: str) -> int:
    return main(list(args))


@pytest.fixture(scope="module")
def plan_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("plans")
    assert (
        run("plan", "move_apple", "--num-plans", "4", "--split", "train", "--out", str(root)) == 0
    )
    assert run("plan", "move_apple", "--num-plans", "2", "--split", "test", "--out", str(root)) == 0
    return root


def test_tasks_lists_move_apple(capsys):
    from keyscaffold.tasks import make_task, task_names

    assert run("tasks") == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("move_apple ") for line in lines)
    # the instruction column starts at the same place on every row, long arm names included
    starts = {line.index(make_task(line.split()[0]).instruction) for line in lines[1:]}
    assert len(starts) == 1 and len(lines) == len(task_names()) + 1


def test_render_writes_images_and_calibration(tmp_path):
    assert run("render", "move_apple", "--seed", "0", "--out", str(tmp_path), "--size", "256") == 0
    depth = np.load(tmp_path / "depth.npy")
    segmentation = np.load(tmp_path / "segmentation.npy")
    camera = json.loads((tmp_path / "camera.json").read_text())
    assert depth.shape == (256, 256) and depth.dtype == np.float32
    assert 0.3 < float(np.median(depth)) < 5.0
    assert segmentation.shape == (256, 256) and (segmentation >= 0).any()
    assert np.array(camera["intrinsics"]).shape == (3, 3)
    assert (tmp_path / "rgb.png").stat().st_size > 1000 and (tmp_path / "overlay.png").exists()


def test_train_splits_differ(plan_root):
    train = json.loads((plan_root / "move_apple/train/oracle/index.json").read_text())["plans"]
    test = json.loads((plan_root / "move_apple/test/oracle/index.json").read_text())["plans"]
    assert not set(train) & set(test)


def test_train_eval_resume(plan_root, tmp_path):
    run_dir = tmp_path / "run"
    train_plans = str(plan_root / "move_apple/train/oracle")
    args = ["train", "move_apple", "--plans", train_plans, "--out", str(run_dir), "--num-envs", "8"]
    assert run(*args, "--max-iterations", "2") == 0
    assert (run_dir / "checkpoints/latest.pt").exists() and (run_dir / "curve.png").exists()
    rows = (run_dir / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + 2 iterations
    # same folder without --resume is refused, with --resume it continues the count
    assert run(*args, "--max-iterations", "3") == 2
    assert run(*args, "--max-iterations", "3", "--resume") == 0
    rows = (run_dir / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 4 and rows[-1].startswith("2,")

    out = tmp_path / "eval"
    test_plans = str(plan_root / "move_apple/test/oracle")
    assert (
        run(
            "eval",
            "move_apple",
            "--policy",
            str(run_dir),
            "--plans",
            test_plans,
            "--out",
            str(out),
            "--trials-per-plan",
            "2",
        )
        == 0
    )
    result = json.loads((out / "eval.json").read_text())
    assert result["num_episodes"] == 4 and len(result["episodes"]) == 4
    low, high = result["success_ci95"]
    assert 0.0 <= low <= result["success_rate"] <= high <= 1.0
    assert set(result["episodes"][0]) == {
        "plan_id",
        "seed",
        "success",
        "tracked_to_end",
        "return",
        "length",
        "category",
        "task_metrics",
    }
    assert all(e["length"] == 300 for e in result["episodes"])
    # each episode keeps the task's own metric at its end (m)
    assert all(0.0 <= e["task_metrics"]["apple_to_target"] < 2.0 for e in result["episodes"])
    assert (out / "rollout.mp4").stat().st_size > 1000 and (out / "overlay.png").exists()
    # Oracle plans have no detection errors; every episode lands in exactly one category.
    counts = result["failure_breakdown"]["counts"]
    assert sum(counts.values()) == 4 and counts["keypoint_detection_error"] == 0
    assert counts["success"] == sum(e["success"] for e in result["episodes"])
    assert (out / "failures.png").stat().st_size > 1000


def test_a_run_without_contact_starts_over_and_resumes_its_attempt(plan_root, tmp_path):
    """A contact threshold no run reaches forces the fresh start after 2 iterations; the attempt
    is logged, survives a resume, and the run stops starting over at max_restarts."""
    train_plans = str(plan_root / "move_apple/train/oracle")

    def train(out, iterations, *settings):
        base = ["train", "move_apple", "--plans", train_plans, "--out", str(out), "--num-envs"]
        return run(*base, "8", "--max-iterations", str(iterations), *settings)

    run_dir = tmp_path / "run"
    never = ["--set", "restart_without_contact=2", "contact_found=100", "max_restarts=1"]
    assert train(run_dir, 4, *never) == 0
    record = training_record(run_dir)
    assert (record["restarts"], record["attempt_start_iteration"]) == (1, 2)
    assert train(run_dir, 6, "--resume", *never) == 0
    with (run_dir / "metrics.csv").open(newline="") as handle:
        attempts = [int(r["attempt"]) for r in csv.DictReader(handle)]
    assert attempts == [0, 0, 1, 1, 1, 1]  # one restart allowed, kept across the resume
    # A threshold every run passes: no restart.
    assert (
        train(
            tmp_path / "found",
            4,
            "--set",
            "restart_without_contact=2",
            "contact_found=-1",
            "success_found=-1",
        )
        == 0
    )
    assert training_record(tmp_path / "found")["restarts"] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["plan", "move_aple"], "Did you mean 'move_apple'"),
        (["train", "move_apple", "--plans", "/nonexistent"], "no plan set"),
        (
            ["eval", "move_apple", "--policy", "/nonexistent", "--plans", "/nonexistent"],
            "no plan set",
        ),
        (["plan", "move_apple", "--num-plans", "0"], "at least 1"),
    ],
)
def test_bad_input_gets_one_line_error(args, message, capsys, tmp_path):
    assert run(*args, *(["--out", str(tmp_path)] if args[0] == "plan" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "keyscaffold.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "demo" in result.stdout and "train" in result.stdout


def test_bench_json_keys(capsys):
    assert run("bench", "--json", "--num-envs", "16", "--seconds", "0.3") == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in (
        "env_steps_per_s",
        "raw_steps_per_s",
        "env_vs_raw_ratio",
        "two_vs_one_worker_ratio",
        "randomized_vs_plain_ratio",
        "real_robot_vs_plain_ratio",
        "ppo_update_share",
    ):
        assert result[key] > 0
