"""How often oracle plans succeed open loop as their wrist-orientation noise grows.

Usage:
    .venv/bin/python benchmarks/open_loop_noise.py [--task move_apple] [--states 24]
        writes the task's entry of benchmarks/results/open_loop_noise.json (a list, one entry
        per task; other tasks' entries are kept)

Each plan is executed without a policy: the wrist follows the plan and the hand closes from the
plan's grasp waypoint on (the scripted grasp of the physics tests), fast or, with
``--close-after``, at a given pace; ``success_within_start_limit`` also asks that no keypoint
strayed beyond the task's start limit from the plan (the env's tracking limit in training).
The drop in success shows how much of the noise a learned residual has to undo.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.provenance import keep_in_list, provenance
from keyscaffold.tasks import make_task
from keyscaffold.tasks.open_loop import Driver
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "open_loop_noise.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="move_apple")
    parser.add_argument("--states", type=int, default=24)
    parser.add_argument(
        "--close-after",
        type=int,
        default=0,
        help="close the hand over this many steps from the grasp waypoint (0: in the 20 before it)",
    )
    args = parser.parse_args()
    task = make_task(args.task)
    rows = []
    for fraction in (0, 1 / 32, 1 / 16, 1 / 8):
        noise = math.pi * fraction
        plans = oracle_plans(task, "train", 0, args.states, 20, noise)
        drive = Driver(task, [p.initial_state for p in plans], threads=2)
        result = drive.follow(plans, close_after=args.close_after)
        success = result["success"]
        tracked = success & (result["stray"] < task.start_limit)
        rows.append(
            {
                "orientation_noise": noise,
                "label": f"pi*{fraction:g}",
                "success_rate": float(success.mean()),
                "success_ci95": wilson_interval(int(success.sum()), len(success)),
                "num_episodes": len(success),
                "success_within_start_limit": float(tracked.mean()),
            }
        )
        print(
            f"noise {noise:.3f} rad: open-loop success {success.mean():.2f}, "
            f"{tracked.mean():.2f} within the start limit"
        )
    command = f"python benchmarks/open_loop_noise.py --task {args.task} --states {args.states}"
    command += f" --close-after {args.close_after}" if args.close_after else ""
    result = {"task": task.name, "rows": rows, "command": command, **provenance()}
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    kept = [kept] if isinstance(kept, dict) else kept
    atomic_write_text(RESULTS, json.dumps(keep_in_list(kept, result), indent=2) + "\n")


if __name__ == "__main__":
    main()
