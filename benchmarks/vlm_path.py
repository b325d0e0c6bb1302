"""The VLM path with a model that answers correctly: how much do lifting and orientation noise cost?

A local OpenAI-compatible server (the test suite's) answers every keypoint question with the true
keypoints' pixels and every trajectory question with the scripted motion, so the plans carry only
what the VLM path itself adds: keypoints on the visible surface (not the object's center) and the
±π/8 wrist-orientation noise. Plans, training and evaluation run through the real CLI.

Usage: .venv/bin/python benchmarks/vlm_path.py [--minutes 15] [--train-plans 50] [--val-plans 10]
        [--test-plans 20] [--orientation-noise 0.3927]

As in `keyscaffold benchmark`, validation plans (from the same VLM path) pick the best checkpoint,
which the evaluation uses.
Writes benchmarks/results/vlm_path.json (and a run folder under runs/bench_vlm_path).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_vlm import FakeVLMServer, Reply  # noqa: E402
from vlm_answers import AnswerBook  # noqa: E402

import keyscaffold  # noqa: E402,F401  (sets the headless GL backend)
from keyscaffold.cli import main as cli  # noqa: E402
from keyscaffold.planning import PLAN_ORIENTATION_NOISE  # noqa: E402
from keyscaffold.planning.plan import atomic_write_text  # noqa: E402
from keyscaffold.planning.vlm_planner import PlanningSettings  # noqa: E402
from keyscaffold.provenance import provenance  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--train-plans", type=int, default=50)
    parser.add_argument("--val-plans", type=int, default=10, help="best checkpoint by these")
    parser.add_argument("--test-plans", type=int, default=20)
    parser.add_argument("--trials-per-plan", type=int, default=2)
    parser.add_argument("--orientation-noise", type=float, default=PLAN_ORIENTATION_NOISE)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_vlm_path")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="training overrides"
    )
    parser.add_argument("--result", default="", help="result file name (default by noise)")
    args = parser.parse_args()
    out = args.out
    noise = {"orientation_noise": args.orientation_noise}
    book = AnswerBook(
        PlanningSettings("move_apple", "train", 0, args.train_plans, model="m", **noise),
        out / "book" / "train",
    )
    for split, count in (("val", args.val_plans), ("test", args.test_plans)):
        book = book.merge(
            AnswerBook(
                PlanningSettings("move_apple", split, 0, count, model="m", **noise),
                out / "book" / split,
            )
        )
    with FakeVLMServer(lambda body: Reply(content=book.answer(body))) as server:
        vlm = ["--planner", "vlm", "--base-url", server.url, "--model", "m", "--no-use-cache"]
        vlm += ["--orientation-noise", str(args.orientation_noise), "--out", str(out / "plans")]
        splits = (("train", args.train_plans), ("val", args.val_plans), ("test", args.test_plans))
        for split, count in splits:
            if cli(["plan", "move_apple", "--split", split, "--num-plans", str(count), *vlm]):
                raise SystemExit("planning failed")
    plans = out / "plans" / "move_apple"
    start = time.time()
    cli(
        [
            "train",
            "move_apple",
            "--plans",
            str(plans / "train/vlm"),
            "--out",
            str(out / "train"),
            "--minutes",
            str(args.minutes),
            "--val-plans",
            str(plans / "val/vlm"),
            *(["--set", *args.set] if args.set else []),
        ]
    )
    cli(
        [
            "eval",
            "move_apple",
            "--policy",
            str(out / "train"),
            "--plans",
            str(plans / "test/vlm"),
            "--out",
            str(out / "eval"),
            "--trials-per-plan",
            str(args.trials_per_plan),
        ]
    )
    summary = json.loads((out / "eval" / "eval.json").read_text())
    result = {
        "success_rate": summary["success_rate"],
        "success_ci95": summary["success_ci95"],
        "num_episodes": summary["num_episodes"],
        "failure_breakdown": summary["failure_breakdown"]["counts"],
        "train_minutes": args.minutes,
        "checkpoint": f"best on {args.val_plans} VLM validation plans",
        "orientation_noise": args.orientation_noise,
        "overrides": args.set,
        "wall_minutes": round((time.time() - start) / 60, 1),
        "command": " ".join(["python benchmarks/vlm_path.py", *sys.argv[1:]]),
        **provenance(),
    }
    rad = args.orientation_noise
    default = "vlm_path" if math.isclose(rad, PLAN_ORIENTATION_NOISE) else f"vlm_path_noise{rad:g}"
    name = args.result or ("vlm_path_no_orientation_noise" if rad == 0 else default) + ".json"
    path = ROOT / "benchmarks" / "results" / name
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
