"""Per-call overhead of keyscaffold.sandbox.run_untrusted for a trivial function.

Usage:
    python benchmarks/sandbox_overhead.py [--calls 50] [--out PATH]

The summary is written to benchmarks/results/sandbox_overhead.json by default.

The trivial function does no work, so the measured wall time of each call is the
sandbox's overhead: static check, interpreter and numpy start-up in the child,
lock-down, JSON round trip and clean-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from keyscaffold.provenance import provenance
from keyscaffold.sandbox import run_untrusted

TRIVIAL = "def f(x):\n    return x\n"
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _bare_interpreter_ms(repeats: int) -> float:
    """Median wall time of ``python -I -S`` importing numpy, the floor of a fresh child."""
    numpy_root = str(Path(np.__file__).resolve().parent.parent)
    code = f"import sys; sys.path.insert(0, {numpy_root!r}); import numpy"
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, env=SINGLE_THREAD_ENV)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def measure(calls: int) -> dict[str, object]:
    """Run the benchmark and return its summary.

    Args:
        calls: Number of timed calls (one extra warm-up call is not timed).

    Returns:
        Summary with median, p90, min and max overhead in milliseconds.
    """
    kwargs = {"x": np.arange(3.0)}
    run_untrusted(TRIVIAL, "f", kwargs)
    load_before = os.getloadavg()
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        run_untrusted(TRIVIAL, "f", kwargs)
        durations.append(1000 * (time.perf_counter() - started))
    return {
        "calls": calls,
        "median_ms": round(statistics.median(durations), 2),
        "p90_ms": round(_percentile(durations, 90), 2),
        "min_ms": round(min(durations), 2),
        "max_ms": round(max(durations), 2),
        "bare_python_numpy_startup_median_ms": round(_bare_interpreter_ms(10), 2),
        "loadavg_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "numpy": np.__version__,
        **provenance(),
        "running_as_root": os.geteuid() == 0,
        "command": "python benchmarks/sandbox_overhead.py --calls 50",
    }


def main() -> None:
    """Parse arguments, run the benchmark, print and save the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "sandbox_overhead.json"
    )
    args = parser.parse_args()
    summary = measure(args.calls)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
