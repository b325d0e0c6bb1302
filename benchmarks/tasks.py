"""Oracle-plan results of every task: `keyscaffold benchmark` per task, one row each.

Usage:
    .venv/bin/python benchmarks/tasks.py --tasks all --minutes 10 --seeds 1
        runs (or resumes) runs/tasks/<task> for each task and writes
        benchmarks/results/tasks.json (one row per task, kept across runs) and
        docs/curves/<task>.png (training curve of seed 0)
    .venv/bin/python benchmarks/tasks.py --tasks move_apple@iiwa_hand
        the same for a task on an arm (its base placed for the task)

Every row is a `keyscaffold benchmark` run with oracle plans: 50 training states, 10 validation
states (best checkpoint), 20 held-out test states x 2 trials. A task already benchmarked with the
same settings is read back, not trained again.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.protocol import Protocol, run_protocol
from keyscaffold.provenance import keep_earlier
from keyscaffold.tasks import scaffold_task_names, task_names
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "tasks.json"
DEFAULT_OUT = ROOT / "runs" / "tasks"


def task_row(summary: dict, command: str) -> dict:
    """The row of one task's benchmark in tasks.json."""
    seeds = summary["per_seed"]
    return {
        "task": summary["task"],
        "success_rate": summary["success_mean"],
        "success_std": summary["success_std"],
        "success_ci95": summary["pooled_success_ci95"],
        "num_episodes": summary["pooled_episodes"],
        "seeds": len(seeds),
        "seed_success": [r["success_rate"] for r in seeds],
        "train_minutes": summary["minutes"],
        "iterations": [r["iterations"] for r in seeds],
        "env_steps": [r["env_steps"] for r in seeds],
        "best_val_success": [r["best_val_success"] for r in seeds],
        "latest_success_rate": summary.get("latest_success_mean"),
        "restarts": [r.get("restarts") for r in seeds],
        "update_share": [r.get("update_share") for r in seeds],
        "orientation_noise": summary["settings"]["orientation_noise"],
        "overrides": summary["settings"]["overrides"],
        "failure_breakdown": summary["failure_breakdown"],
        "command": command,
        "benchmark_command": summary["command"],
        "date": summary["date"],
        "commit": summary["commit"],
        "machine": summary["machine"],
        "cores": summary["cores"],
    }


def _joined(values: list | None, form: str) -> str:
    """Per-seed values of a row, comma-separated; empty for rows that predate the field."""
    return ", ".join(form.format(v) for v in values or () if v is not None)


def markdown_table(rows: list[dict]) -> str:
    """The docs/results.md table of tasks.json rows."""
    lines = [
        "| task | success | 95% CI | episodes | seeds | train min | iterations | best val | "
        "last ckpt | fresh starts | update share | failures: incomplete tracking / tracked but "
        "failed | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r["success_ci95"]
        f = r["failure_breakdown"]
        latest = r["latest_success_rate"]
        lines.append(
            f"| {r['task']} | **{r['success_rate']:.2f}** | {low:.2f}-{high:.2f} | "
            f"{r['num_episodes']} | {r['seeds']} | {r['train_minutes']:g} | "
            f"{', '.join(map(str, r['iterations']))} | "
            f"{', '.join(f'{v:.2f}' for v in r['best_val_success'] if v is not None)} | "
            f"{'' if latest is None else f'{latest:.2f}'} | "
            f"{_joined(r.get('restarts'), '{}')} | {_joined(r.get('update_share'), '{:.2f}')} | "
            f"{f.get('incomplete_tracking', 0)} / {f.get('tracked_but_failed', 0)} | {r['commit']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="all", help="comma-separated task names, or 'all'")
    parser.add_argument("--minutes", type=float, default=10.0, help="training minutes per seed")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--orientation-noise", type=float, default=0.0)
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="training overrides on top of the CPU profile (as `keyscaffold train --set`)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--table", action="store_true", help="print the markdown table and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(RESULTS.read_text())))
        return
    names = (
        scaffold_task_names() if args.tasks == "all" else [t for t in args.tasks.split(",") if t]
    )
    out = args.out.resolve()
    rows = {r["task"]: r for r in json.loads(RESULTS.read_text())} if RESULTS.exists() else {}
    for name in names:
        command = (
            f"python benchmarks/tasks.py --tasks {name} --minutes {args.minutes:g} "
            f"--seeds {args.seeds} --orientation-noise {args.orientation_noise:g}"
        )
        overrides = " ".join(args.set)
        if overrides:
            command += f" --set {overrides}"
        if out != DEFAULT_OUT:
            command += f" --out {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}"
        protocol = Protocol(
            task=name,
            seeds=args.seeds,
            minutes=args.minutes,
            orientation_noise=args.orientation_noise,
            overrides=tuple(args.set),
        )
        folder = out / name
        benchmark_command = (
            f"keyscaffold benchmark {name} --seeds {args.seeds} --minutes {args.minutes:g} "
            f"--orientation-noise {args.orientation_noise:g} --out {folder.relative_to(ROOT)}"
            + (f" --set {overrides}" if overrides else "")
            if folder.is_relative_to(ROOT)
            else ""
        )
        summary = run_protocol(protocol, folder, command=benchmark_command)
        row, previous = task_row(summary, command), rows.get(name)
        # a run with other settings replaces the row; the one it replaces stays beside it. A
        # rerun of the same command replaces its own row but keeps the rows that one kept.
        same = previous is not None and previous["command"] == command
        if same and previous.get("earlier"):
            row["earlier"] = previous["earlier"]
        rows[name] = keep_earlier(row, None if same else previous)
        # written after every task, so an interrupted run keeps what it measured
        # registered tasks in order, each followed by its runs on other embodiments (task@arm)
        known = task_names()
        ordered = sorted(
            (r for r in rows.values() if r["task"].split("@")[0] in known),
            key=lambda r: (known.index(r["task"].split("@")[0]), r["task"]),
        )
        atomic_write_text(RESULTS, json.dumps(ordered, indent=2) + "\n")
        curve = folder / "seed_0" / "train" / "curve.png"
        if curve.exists():
            target = ROOT / "docs" / "curves" / f"{name}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(curve, target)
        print(json.dumps({k: rows[name][k] for k in ("task", "success_rate", "success_ci95")}))


if __name__ == "__main__":
    main()
