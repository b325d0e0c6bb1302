"""Record `keyscaffold bench` (env vs raw MuJoCo, 2 threads vs 1, PPO update share) as JSON.

Usage:
    .venv/bin/python benchmarks/throughput.py [--num-envs 128] [--seconds 5]
        writes benchmarks/results/throughput.json (move_apple)
    .venv/bin/python benchmarks/throughput.py --tasks all [--seconds 2]
        writes benchmarks/results/throughput_tasks.json (one row per registered task)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.benchmark import run_benchmark
from keyscaffold.planning.plan import atomic_write_text
from keyscaffold.provenance import provenance
from keyscaffold.tasks import scaffold_task_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tasks", default="", help="comma-separated task names, or 'all'")
    args = parser.parse_args()
    names = (
        scaffold_task_names() if args.tasks == "all" else [t for t in args.tasks.split(",") if t]
    )
    command = f"python benchmarks/throughput.py --num-envs {args.num_envs} --seconds {args.seconds}"
    meta = provenance()
    out = Path(__file__).parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    if not names:
        result = run_benchmark(num_envs=args.num_envs, seconds=args.seconds)
        result.update(command=command, **meta)
        atomic_write_text(out / "throughput.json", json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
        return
    rows = []
    for name in names:
        row = run_benchmark(task=name, num_envs=args.num_envs, seconds=args.seconds)
        row.update(command=f"{command} --tasks {name}", **meta)
        rows.append(row)
        print(json.dumps(row), flush=True)
        # written after every task, so an interrupted run keeps what it measured
        atomic_write_text(out / "throughput_tasks.json", json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
