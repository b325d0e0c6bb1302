"""Held-out results of IKER's training on the single-step IKER tasks, one row per task and reward.

Usage:
    .venv/bin/python benchmarks/iker_tasks.py --tasks all --minutes 10 --reward keypoints
        trains one policy per task on the oracle goals of 10 training states and evaluates it on
        20 held-out states x 2 trials (keyscaffold.iker.evaluate.heldout_evaluation), under
        runs/iker_tasks/<task>/<reward>; writes benchmarks/results/iker_tasks.json (rows kept
        across runs, keyed by task and reward)
    .venv/bin/python benchmarks/iker_tasks.py --tasks book_push --minutes 10 --reward object_pose
        the object-pose baseline reward on the same states
    .venv/bin/python benchmarks/iker_tasks.py --tasks shoe_place --set rewards.keypoint_sharpness=3
        a variant of the keypoint env's settings (KeypointEnvConfig fields, dotted as for
        ``keyscaffold train --set``); its rows are kept apart from the default's

A finished training run in the output folder is reused, so a rerun only evaluates again.
Success is the mean keypoint distance below 5 cm at the episode's end; the task's own success
(judged after the gripper lets go) is reported beside it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.iker.evaluate import heldout_evaluation
from keyscaffold.rl.config import apply_overrides, profile_config
from keyscaffold.rl.keypoint_env import REWARDS, KeypointEnvConfig
from keyscaffold.tasks import make_task, task_names
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "iker_tasks.json"


def single_step_tasks() -> list[str]:
    """The registered IKER tasks with one stage."""
    names = []
    for name in task_names():
        task = make_task(name)
        if "iker" in task.modes and task.num_stages() == 1:
            names.append(name)
    return names


def task_row(summary: dict, command: str) -> dict:
    """The row of one task and reward in iker_tasks.json."""
    keys = (
        "task",
        "reward",
        "success_rate",
        "success_ci95",
        "task_success_rate",
        "task_success_ci95",
        "num_episodes",
        "num_train_states",
        "num_test_states",
        "trials",
        "keypoint_counts",
        "keypoint_slots",
        "mean_keypoint_distance",
        "train_minutes",
        "training",
        "overrides",
        "skipped",
        "date",
        "commit",
        "machine",
        "cores",
    )
    later = ("checkpoint", "last_checkpoint", "validation")  # absent from older summaries
    return {
        **{key: summary[key] for key in keys},
        **{key: summary[key] for key in later if key in summary},
        "command": command,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the benchmark; returns the rows written (and prints one JSON line per task)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="all", help="comma-separated task names, or 'all'")
    parser.add_argument("--minutes", type=float, default=10.0, help="training minutes per task")
    parser.add_argument("--reward", choices=REWARDS, default="keypoints")
    parser.add_argument("--train-states", type=int, default=10)
    parser.add_argument("--test-states", type=int, default=20)
    parser.add_argument(
        "--val-states", type=int, default=5, help="validation states (0: test the last policy)"
    )
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=None, help="default: KeypointEnvConfig's")
    parser.add_argument("--max-iterations", type=int, default=100_000)
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "iker_tasks")
    parser.add_argument("--results", type=Path, default=RESULTS, help="rows file to update")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a KeypointEnvConfig setting, e.g. rewards.keypoint_sharpness=3 (repeatable)",
    )
    args = parser.parse_args(argv)
    names = single_step_tasks() if args.tasks == "all" else [t for t in args.tasks.split(",") if t]
    results = args.results
    rows = json.loads(results.read_text()) if results.exists() else []
    by_key = {(r["task"], r["reward"], tuple(r.get("overrides", []))): r for r in rows}
    variant = tuple(args.overrides)
    env_config = apply_overrides(KeypointEnvConfig(), variant)
    if args.num_envs is not None:
        env_config = replace(env_config, num_envs=args.num_envs)
    train = profile_config("cpu", max_iterations=args.max_iterations)
    written = []
    for name in names:
        command = (
            f"python benchmarks/iker_tasks.py --tasks {name} --minutes {args.minutes:g} "
            f"--reward {args.reward} --train-states {args.train_states} "
            f"--test-states {args.test_states} --val-states {args.val_states} "
            f"--trials {args.trials} --seed {args.seed}"
            + (f" --num-envs {args.num_envs}" if args.num_envs is not None else "")
            + (f" --max-iterations {args.max_iterations}" if args.max_iterations != 100_000 else "")
            + "".join(f" --set {item}" for item in variant)
        )
        folder = args.out / name / "__".join([args.reward, *variant]).replace("=", "-")
        summary = heldout_evaluation(
            name,
            folder,
            num_train=args.train_states,
            num_test=args.test_states,
            num_val=args.val_states,
            trials=args.trials,
            minutes=args.minutes,
            reward=args.reward,
            seed=args.seed,
            train=train,
            env_config=env_config,
            image_size=args.image_size,
            command=command,
        )
        row = task_row({**summary, "overrides": list(variant)}, command)
        by_key[(name, args.reward, variant)] = row
        written.append(row)
        # written after every task, so an interrupted run keeps what it measured
        ordered = sorted(
            by_key.values(), key=lambda r: (r["task"], r["reward"], r.get("overrides", []))
        )
        results.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(results, json.dumps(ordered, indent=2) + "\n")
        print(json.dumps({k: row[k] for k in ("task", "reward", "success_rate", "success_ci95")}))
    return written


if __name__ == "__main__":
    main()
