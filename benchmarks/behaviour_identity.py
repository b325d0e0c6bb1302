"""Does a change keep training's behaviour? Train the same seed at a base commit and at head and
compare every learning column of ``metrics.csv`` (rewards, success, curricula) to the last digit.

Usage:
    .venv/bin/python benchmarks/behaviour_identity.py --base abbdfd8 [--task move_apple]
        [--iterations 12] [--plans 8]
        writes benchmarks/results/restructure_identity_<task>.json

The base commit is checked out into a temporary git worktree and run with this checkout's
virtual environment. Timing columns (minutes, collect and update seconds) are left out of the
comparison; everything else must match exactly for the change to count as behaviour-preserving.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from base_commit import checked_out, short_commit

from keyscaffold.provenance import keep_earlier, provenance
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"minutes", "collect_s", "update_s"}
TRAIN = """
import sys
from pathlib import Path
try:
    from keyscaffold.rl.config import TrainConfig, cpu_profile
except ImportError:  # before rl/train.py was split
    from keyscaffold.rl.train import TrainConfig, cpu_profile
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.train import train
from keyscaffold.tasks import make_task

task = make_task(sys.argv[1])
ppo, env = cpu_profile()
config = TrainConfig(minutes=60.0, max_iterations=int(sys.argv[2]), ppo=ppo, env=env, seed=0)
train(task, oracle_plans(task, "train", 0, int(sys.argv[3])), Path(sys.argv[4]), config,
      show_progress=False)
"""


def metrics(source: Path, args: argparse.Namespace, out: Path) -> list[dict]:
    """Train at ``source`` and read its metrics rows."""
    env = {**os.environ, "PYTHONPATH": str(source), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    command = [sys.executable, "-c", TRAIN, args.task, str(args.iterations), str(args.plans)]
    subprocess.run([*command, str(out)], cwd=source, env=env, check=True)
    with (out / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--task", default="move_apple")
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--plans", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.out = args.out or ROOT / f"benchmarks/results/restructure_identity_{args.task}.json"
    with checked_out(args.base) as worktree, tempfile.TemporaryDirectory() as folder:
        base = metrics(worktree, args, Path(folder) / "run_base")
        head = metrics(ROOT, args, Path(folder) / "run_head")
    shared = [c for c in base[0] if c in head[0] and c not in TIMING]
    differing = sorted({c for b, h in zip(base, head) for c in shared if b[c] != h[c]})
    row = {
        "task": args.task,
        "iterations": args.iterations,
        "plans": args.plans,
        "base_commit": short_commit(args.base),
        "columns_compared": shared,
        "rows_compared": min(len(base), len(head)),
        "identical": not differing and len(base) == len(head),
        "differing_columns": differing,
        "last_row_base": {c: base[-1][c] for c in shared},
        "last_row_head": {c: head[-1][c] for c in shared},
        "command": " ".join(["python", "benchmarks/behaviour_identity.py", *sys.argv[1:]]),
        **provenance(),
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else None
    atomic_write_text(args.out, json.dumps(keep_earlier(row, previous), indent=2))
    print(f"identical: {row['identical']}; differing columns: {differing}")


if __name__ == "__main__":
    main()
