"""Validation during training, the best checkpoint, robust evaluation pictures, the benchmark."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from keyscaffold.cli import main
from keyscaffold.evaluation import evaluate as evaluate_module
from keyscaffold.evaluation.evaluate import evaluate
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.planning.plan import load_plan_set, orientation_noise
from keyscaffold.rl import rollout as rollout_module
from keyscaffold.rl.config import TrainConfig, cpu_profile
from keyscaffold.rl.rollout import Validator
from keyscaffold.rl.train import train
from keyscaffold.tasks import make_task


def run(*args: str) -> int:
    return main(list(args))


@pytest.fixture(scope="module")
def task():
    return make_task("move_apple")


def tiny_config(**changes) -> TrainConfig:
    ppo, env = cpu_profile()
    config = TrainConfig(minutes=5.0, ppo=ppo, env=replace(env, num_envs=8))
    return replace(config, **changes)


def test_validator_repeats_the_same_episodes(task):
    plans = oracle_plans(task, "val", 0, 2)
    validator = Validator.for_plans(task, plans, tiny_config().env, trials=2, seed=3)
    assert validator.num_episodes == 4
    policy = lambda obs: torch.zeros(4, validator.env.num_actions)  # noqa: E731
    validator(policy)
    first = validator.env.last_episode["return"].copy()
    validator(policy)
    np.testing.assert_array_equal(first, validator.env.last_episode["return"])
    # the two trials of one plan start from different noise
    assert first[0] != first[1]


def test_best_checkpoint_is_the_best_validated_policy(task, tmp_path, monkeypatch):
    scores = iter([0.2, 0.6, 0.4])
    monkeypatch.setattr(rollout_module.Validator, "__call__", lambda self, policy: next(scores))
    plans = oracle_plans(task, "train", 0, 2)
    config = tiny_config(max_iterations=6, validation_interval=2)
    train(task, plans, tmp_path, config, validation_plans=oracle_plans(task, "val", 0, 1))
    best = torch.load(tmp_path / "checkpoints/best.pt", weights_only=False)["infos"]
    assert best["iteration"] == 3 and best["best_val"] == 0.6  # validated after iterations 2, 4, 6
    rows = (tmp_path / "metrics.csv").read_text().strip().splitlines()
    header = rows[0].split(",")
    values = [r.split(",")[header.index("val_success")] for r in rows[1:]]
    assert values == ["", "0.2", "", "0.6", "", "0.4"]
    test_plans = oracle_plans(task, "test", 0, 1)
    chosen = evaluate(task, test_plans, tmp_path, tmp_path / "eval", media=False)
    assert chosen["checkpoint"].endswith("best.pt")
    last = evaluate(task, test_plans, tmp_path, tmp_path / "e2", media=False, checkpoint="latest")
    assert last["checkpoint"].endswith("latest.pt")


def test_run_without_validation_plans_evaluates_latest(task, tmp_path):
    train(task, oracle_plans(task, "train", 0, 2), tmp_path, tiny_config(max_iterations=1))
    assert not (tmp_path / "checkpoints/best.pt").exists()
    result = evaluate(task, oracle_plans(task, "test", 0, 1), tmp_path, tmp_path / "e", media=False)
    assert result["checkpoint"].endswith("latest.pt")


def test_eval_json_survives_a_picture_that_cannot_be_drawn(
    task, tmp_path, monkeypatch, sparse_video
):
    train(task, oracle_plans(task, "train", 0, 2), tmp_path, tiny_config(max_iterations=1))

    def behind_camera(*args, **kwargs):
        raise ValueError("a point lies behind the camera")

    monkeypatch.setattr(evaluate_module, "draw_keypoint_overlay", behind_camera)
    with pytest.warns(UserWarning, match="overlay"):
        result = evaluate(task, oracle_plans(task, "test", 0, 1), tmp_path, tmp_path / "eval")
    saved = json.loads((tmp_path / "eval/eval.json").read_text())
    assert saved["num_episodes"] == 1 and saved["success_rate"] == result["success_rate"]
    assert "behind the camera" in saved["media"]["skipped"]["overlay"]
    assert saved["media"]["video"] == "rollout.mp4" and (tmp_path / "eval/failures.png").exists()


def test_oracle_orientation_noise_matches_the_vlm_draw(tmp_path):
    out = str(tmp_path)
    assert run("plan", "move_apple", "--num-plans", "3", "--out", out) == 0
    noisy = ["plan", "move_apple", "--num-plans", "3", "--out", out, "--orientation-noise", "0.3"]
    assert run(*noisy) == 0
    clean = load_plan_set(tmp_path / "move_apple/train/oracle")
    shaken = load_plan_set(tmp_path / "move_apple/train/oracle_noise0.30")
    for a, b in zip(clean, shaken):
        offset = b.wrist_orientation - a.wrist_orientation
        np.testing.assert_allclose(offset, orientation_noise(a.initial_state.seed, 0.3))
        assert 0 < np.abs(offset).max() <= 0.3
        np.testing.assert_array_equal(a.waypoints, b.waypoints)
    assert shaken[0].provenance["orientation_noise"] == 0.3


def test_benchmark_trains_seeds_and_resumes(tmp_path, capsys, sparse_video):
    out = tmp_path / "bench"
    args = [
        "benchmark",
        "move_apple",
        "--seeds",
        "2",
        "--minutes",
        "0.03",
        "--train-plans",
        "3",
        "--val-plans",
        "1",
        "--test-plans",
        "2",
        "--trials-per-plan",
        "1",
        "--num-envs",
        "8",
        "--out",
        str(out),
        "--set",
        "ppo.rotation_noise_std=0.2",
    ]
    assert run(*args) == 0
    summary = json.loads((out / "benchmark.json").read_text())
    assert summary["task"] == "move_apple" and summary["seeds"] == [0, 1] and summary["complete"]
    assert summary["minutes"] == 0.03 and summary["pooled_episodes"] == 4
    for row in summary["per_seed"]:
        assert row["num_episodes"] == 2 and row["checkpoint"] == "best.pt"
        low, high = row["success_ci95"]
        assert 0 <= low <= row["success_rate"] <= high <= 1
        assert "latest_success_rate" in row and row["validations"] >= 1
    rates = [r["success_rate"] for r in summary["per_seed"]]
    assert summary["success_mean"] == pytest.approx(np.mean(rates))
    assert summary["success_std"] == pytest.approx(np.std(rates))
    assert sum(summary["failure_breakdown"].values()) == 4
    assert summary["command"].startswith("keyscaffold benchmark move_apple --seeds 2")
    assert summary["command"].endswith("--set ppo.rotation_noise_std=0.2")
    assert summary["settings"]["overrides"] == ["ppo.rotation_noise_std=0.2"]
    trained = json.loads((out / "seed_0/train/config.json").read_text())["train"]
    assert trained["ppo"]["rotation_noise_std"] == 0.2
    for key in ("commit", "machine", "date"):
        assert summary[key]
    assert (out / "benchmark.png").stat().st_size > 1000
    # both seeds meet the same held-out episodes
    evals = [json.loads((out / f"seed_{s}/eval/eval.json").read_text()) for s in (0, 1)]
    assert [e["plan_id"] for e in evals[0]["episodes"]] == [
        e["plan_id"] for e in evals[1]["episodes"]
    ]

    final = out / "seed_1/train/checkpoints/final.pt"
    stamp = final.stat().st_mtime_ns
    assert run(*args) == 0  # resumes: nothing left to train or evaluate
    assert final.stat().st_mtime_ns == stamp
    assert json.loads((out / "benchmark.json").read_text())["per_seed"] == summary["per_seed"]
    changed = [a if a != "0.03" else "0.05" for a in args]
    capsys.readouterr()
    assert run(*changed) == 2
    assert "minutes" in capsys.readouterr().err
    assert run(*args[:-1], "ppo.rotation_noise_std=0.3") == 2
    assert "overrides" in capsys.readouterr().err
    at = args.index("--seeds") + 1
    assert run(*args[:at], "1", *args[at + 1 :]) == 2
    assert "seeds" in capsys.readouterr().err
    # more seeds extend the benchmark: the first two are read back, not trained again
    assert run(*args[:at], "3", *args[at + 1 :]) == 0
    assert final.stat().st_mtime_ns == stamp
    extended = json.loads((out / "benchmark.json").read_text())
    assert extended["seeds"] == [0, 1, 2] and extended["complete"]
    assert extended["per_seed"][:2] == summary["per_seed"]
    assert json.loads((out / "protocol.json").read_text())["seeds"] == 3


def test_benchmark_plan_sets_take_the_given_ones(tmp_path):
    from keyscaffold.protocol import Protocol, _plan_sets

    given = Protocol("move_apple", train_plans=1, val_plans=1, test_plans=1, plans_val="vlm/val")
    sets = _plan_sets(given, tmp_path)
    assert str(sets["val"]) == "vlm/val"
    assert sets["train"].parent.name == "train" and sets["test"].parent.name == "test"
    assert len(load_plan_set(sets["train"])) == 1
    # --val-plans 0 turns validation off even when a validation set is given
    assert _plan_sets(replace(given, val_plans=0), tmp_path)["val"] is None


def test_an_older_benchmark_folder_resumes_with_new_settings_at_their_defaults(tmp_path):
    from keyscaffold.protocol import Protocol, saved_settings

    written = asdict(Protocol("move_apple"))
    for added_later in ("plans_val", "overrides"):
        del written[added_later]
    (tmp_path / "protocol.json").write_text(json.dumps(written))
    saved = saved_settings(tmp_path / "protocol.json")
    assert saved == json.loads(json.dumps(asdict(Protocol("move_apple"))))
