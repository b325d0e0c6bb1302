"""`keyscaffold bench` at two commits in one run on this machine: the change's cost in speed.

Usage:
    .venv/bin/python benchmarks/bench_compare.py --base abbdfd8 [--rounds 3] [--seconds 3]
        writes benchmarks/results/bench_compare.json

The base commit is checked out into a temporary git worktree and run with this checkout's
virtual environment (its own source first on the path); the rounds alternate base and head, so
that both see the same machine state, and every figure is the median over the rounds. The
head/base ratio of every figure is reported; a restructuring should keep them near 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from base_commit import alternating_rounds, short_commit

from keyscaffold.provenance import keep_earlier, provenance
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
FIGURES = (
    "env_steps_per_s",
    "raw_steps_per_s",
    "env_vs_raw_ratio",
    "env_steps_per_s_1_thread",
    "two_vs_one_worker_ratio",
    "env_steps_per_s_randomized",
    "randomized_vs_plain_ratio",
    "ppo_update_share",
)


def bench(source: Path, args: argparse.Namespace) -> dict:
    """One `keyscaffold bench --json` of the package in ``source``."""
    env = {**os.environ, "PYTHONPATH": str(source), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    command = [
        sys.executable,
        "-c",
        "import sys; from keyscaffold.cli import main; sys.exit(main())",
        "bench",
        "--json",
        "--task",
        args.task,
        "--num-envs",
        str(args.num_envs),
        "--seconds",
        str(args.seconds),
    ]
    out = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--task", default="move_apple")
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/bench_compare.json")
    args = parser.parse_args()
    base_commit = short_commit(args.base)
    runs = alternating_rounds(
        args.base,
        args.rounds,
        lambda source: bench(source, args),
        lambda result: f"{result['env_steps_per_s']} env steps/s",
    )
    median = {
        name: {k: statistics.median(r[k] for r in rows) for k in FIGURES if k in rows[0]}
        for name, rows in runs.items()
    }
    ratio = {
        k: round(median["head"][k] / median["base"][k], 3)
        for k in median["head"]
        if median["base"].get(k)
    }
    row = {
        "task": args.task,
        "num_envs": args.num_envs,
        "rounds": args.rounds,
        "base_commit": base_commit,
        "base": median["base"],
        "head": median["head"],
        "head_over_base": ratio,
        "runs": runs,
        "command": " ".join(["python", "benchmarks/bench_compare.py", *sys.argv[1:]]),
        **provenance(),
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else None
    row = keep_earlier(row, previous)
    atomic_write_text(args.out, json.dumps(row, indent=2))
    print(json.dumps(ratio, indent=2))


if __name__ == "__main__":
    main()
