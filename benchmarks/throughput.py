"""Record `keyscaffold bench` (env vs raw MuJoCo, 2 threads vs 1, PPO update share) as JSON.

Usage:
    .venv/bin/python benchmarks/throughput.py [--num-envs 128] [--seconds 5]
        writes benchmarks/results/throughput.json (move_apple)
    .venv/bin/python benchmarks/throughput.py --tasks all [--seconds 2]
        writes benchmarks/results/throughput_tasks.json (one row per registered task)
    --repeats 3 measures each row three times and reports the median of every figure (the
    ratios of each repeat stay in the row); a task's previous row is kept under `earlier`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.benchmark import run_benchmark
from keyscaffold.provenance import keep_earlier, provenance
from keyscaffold.tasks import scaffold_task_names
from keyscaffold.util import atomic_write_text

RATIOS = (
    "env_vs_raw_ratio",
    "two_vs_one_worker_ratio",
    "randomized_vs_plain_ratio",
    "real_robot_vs_plain_ratio",
    "ppo_update_share",
)


def measure(repeats: int, **kwargs) -> dict:
    """`run_benchmark` ``repeats`` times: the median of every number, and each repeat's ratios."""
    runs = [run_benchmark(**kwargs) for _ in range(repeats)]
    if repeats == 1:
        return runs[0]
    row = dict(runs[0])
    for key, value in row.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            median = statistics.median(r[key] for r in runs)
            row[key] = round(median) if isinstance(value, int) else round(median, 3)
    row["repeats"] = [{k: r[k] for k in RATIOS if k in r} for r in runs]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tasks", default="", help="comma-separated task names, or 'all'")
    parser.add_argument("--repeats", type=int, default=1, help="report the median of N runs")
    args = parser.parse_args()
    names = (
        scaffold_task_names() if args.tasks == "all" else [t for t in args.tasks.split(",") if t]
    )
    command = f"python benchmarks/throughput.py --num-envs {args.num_envs} --seconds {args.seconds}"
    if args.repeats > 1:
        command += f" --repeats {args.repeats}"
    meta = provenance()
    out = Path(__file__).parent / "results"
    out.mkdir(parents=True, exist_ok=True)
    if not names:
        path = out / "throughput.json"
        result = measure(args.repeats, num_envs=args.num_envs, seconds=args.seconds)
        result.update(command=command, **meta)
        previous = json.loads(path.read_text()) if path.exists() else None
        atomic_write_text(path, json.dumps(keep_earlier(result, previous), indent=2) + "\n")
        print(json.dumps(result))
        return
    path = out / "throughput_tasks.json"
    rows = {r["task"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    for name in names:
        row = measure(args.repeats, task=name, num_envs=args.num_envs, seconds=args.seconds)
        row.update(command=f"{command} --tasks {name}", **meta)
        rows[name] = keep_earlier(row, rows.get(name))
        print(json.dumps({k: row[k] for k in ("task", *RATIOS) if k in row}), flush=True)
        # written after every task, so an interrupted run keeps what it measured
        atomic_write_text(path, json.dumps(list(rows.values()), indent=2) + "\n")


if __name__ == "__main__":
    main()
