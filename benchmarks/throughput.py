"""Record `keyscaffold bench` (env vs raw MuJoCo, 2 threads vs 1, PPO update share) as JSON.

Usage: .venv/bin/python benchmarks/throughput.py [--num-envs 128] [--seconds 5]
Writes benchmarks/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.benchmark import run_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    result = run_benchmark(num_envs=args.num_envs, seconds=args.seconds)
    result.update(
        command=f"python benchmarks/throughput.py --num-envs {args.num_envs} --seconds {args.seconds}",
        machine=platform.machine(),
        cores=os.cpu_count(),
        date=time.strftime("%Y-%m-%d"),
    )
    out = Path(__file__).parent / "results" / "throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
