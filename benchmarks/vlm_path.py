"""The VLM path with answers as real models write them, next to oracle plans of the same states.

A local OpenAI-compatible server answers every question `keyscaffold plan --planner vlm` asks with
answers made from the scene's truth (`keyscaffold.planning.truth_answers`): `--errors exact` gives
the true keypoints' pixels and the scripted motion; `--errors realistic` gives them with the errors
real answers show (pixels 10-20 px off, the motion 2-5 cm off after the first waypoint as one
smooth offset shared by the hand and whatever moves, the hand 2-3 cm too high or too low from the
grasp on, varied formats). The plans
go through the evaluation protocol (`keyscaffold benchmark`): `--seeds` training seeds with one
budget, the best checkpoint on validation plans, the same held-out test states for every seed.
`--baseline oracle` puts oracle plans of the same train, validation and test states, with the same
wrist-orientation noise, through the same protocol with the same budget.

Usage:
    .venv/bin/python benchmarks/vlm_path.py --task move_apple --errors realistic --seeds 3
        plans, trains and evaluates (or resumes) runs/vlm_path/move_apple/{plans_realistic,
        vlm_realistic,oracle}; one row per (task, answers, planner, training seed) goes into
        benchmarks/results/vlm_path_tasks.json (a rerun of the same command replaces its rows and
        keeps the replaced ones under `earlier`; other rows stay)
    .venv/bin/python benchmarks/vlm_path.py --task move_apple --dry-run
        the same path with 2/1/1 plans, 1 seed and 3 s of training in a temporary folder: a smoke
        check that prints its rows and writes no result
    .venv/bin/python benchmarks/vlm_path.py --table
        the docs/results.md table ("VLM path with realistic answers")

The answer server is keyscaffold/vlm/local_server.py, the one the tests use.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import asdict
from functools import reduce
from pathlib import Path

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.commands import make_plans
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.planning import PLAN_ORIENTATION_NOISE
from keyscaffold.planning.plan_check import check_summary
from keyscaffold.planning.truth_answers import AnswerBook, AnswerErrors
from keyscaffold.planning.vlm_planner import CHECK_FILE, PlanningSettings
from keyscaffold.protocol import Protocol, run_protocol
from keyscaffold.provenance import keep_in_list
from keyscaffold.tasks import scaffold_task_names
from keyscaffold.util import atomic_write_text
from keyscaffold.vlm.client import VLMConfig
from keyscaffold.vlm.local_server import FakeVLMServer, Reply

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "vlm_path_tasks.json"
DEFAULT_OUT = ROOT / "runs" / "vlm_path"
MODEL = "truth"
"""The model name the planner sends; the local server answers any."""
WAYPOINTS = 20
DRY_RUN = {
    "seeds": 1,
    "minutes": 0.05,
    "train_plans": 2,
    "val_plans": 1,
    "test_plans": 1,
    "trials_per_plan": 1,
    "num_envs": 8,
}
"""Settings of ``--dry-run``: every step runs, on tiny counts and seconds of training."""
ROW_KEY = ("task", "answers", "planner", "seed")
PROVENANCE = ("commit", "date", "machine", "cores", "python")
SUMMARY_FIELDS = ("planned", "failed", "failures_by_kind", "pending")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=scaffold_task_names(), default="move_apple")
    parser.add_argument("--errors", choices=("exact", "realistic"), default="realistic")
    parser.add_argument("--baseline", choices=("oracle", "none"), default="oracle")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds")
    parser.add_argument("--minutes", type=float, default=15.0, help="training minutes per seed")
    parser.add_argument("--train-plans", type=int, default=50)
    parser.add_argument("--val-plans", type=int, default=10, help="best checkpoint by these")
    parser.add_argument("--test-plans", type=int, default=20)
    parser.add_argument("--trials-per-plan", type=int, default=2)
    parser.add_argument("--orientation-noise", type=float, default=PLAN_ORIENTATION_NOISE)
    parser.add_argument(
        "--check-shift",
        type=float,
        default=PlanningSettings.check_shift_m,
        help="the plan check's shift step (m); 0: plans as answered",
    )
    parser.add_argument("--num-envs", type=int, default=None, help="default: the profile's")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="training")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--dry-run", action="store_true", help="smoke check; writes no result")
    parser.add_argument("--table", action="store_true", help="print the docs table and stop")
    return parser.parse_args(argv)


def command_line(args: argparse.Namespace) -> str:
    """The command that repeats this run, every setting spelled out."""
    parts = ["python benchmarks/vlm_path.py"]
    for name, value in vars(args).items():
        if name in ("dry_run", "table") or value is None or (name == "set" and not value):
            continue
        shown = " ".join(value) if name == "set" else value
        parts.append(f"--{name.replace('_', '-')} {shown}")
    return " ".join(parts)


def split_counts(args: argparse.Namespace) -> dict[str, int]:
    """States planned per split (validation may be 0: no best-checkpoint choice)."""
    counts = {"train": args.train_plans, "val": args.val_plans, "test": args.test_plans}
    return {split: count for split, count in counts.items() if count}


def answer_book(args: argparse.Namespace, errors: AnswerErrors) -> AnswerBook:
    """The answers to every request the VLM planner will send for the run's states."""
    with tempfile.TemporaryDirectory() as scratch:
        books = [
            AnswerBook(
                PlanningSettings(
                    args.task,
                    split,
                    0,
                    count,
                    model=MODEL,
                    num_waypoints=WAYPOINTS,
                    orientation_noise=args.orientation_noise,
                ),
                Path(scratch) / split,
                errors,
            )
            for split, count in split_counts(args).items()
        ]
    return reduce(AnswerBook.merge, books)


def plan_vlm(args: argparse.Namespace, errors: AnswerErrors, root: Path) -> dict[str, Path]:
    """VLM plan sets of every split, made by the real planner and client (the planner's
    ``plan --planner vlm`` path) from a local server that serves ``answer_book``'s answers."""
    book = answer_book(args, errors)
    settings = {"orientation_noise": args.orientation_noise, "check_shift_m": args.check_shift}
    with FakeVLMServer(lambda body: Reply(content=book.answer(body))) as server:
        config = VLMConfig(base_url=server.url, model=MODEL, use_cache=False)
        return {
            split: make_plans(
                args.task, count, split, 0, WAYPOINTS, root, "vlm", config, settings=settings
            )
            for split, count in split_counts(args).items()
        }


def planning_summary(args: argparse.Namespace, plan_sets: dict[str, Path] | None) -> dict:
    """Per split: states planned, failed (by kind) and pending; oracle plans never fail."""
    counts = split_counts(args)
    if plan_sets is None:
        return {s: {"planned": n, "failed": 0, "failures_by_kind": {}} for s, n in counts.items()}
    found = {}
    for split, folder in plan_sets.items():
        summary = json.loads((folder / "vlm" / "summary.json").read_text())
        found[split] = {k: summary.get(k) for k in SUMMARY_FIELDS}
        checks = folder / "vlm" / CHECK_FILE
        if checks.is_file():  # the plan check in simulation: replays that lost, plans shifted
            found[split]["check"] = check_summary(json.loads(checks.read_text()))
    return found


def protocol(args: argparse.Namespace, plan_sets: dict[str, Path] | None) -> Protocol:
    """The evaluation protocol of one planner: the given plan sets, or oracle plans of the same
    states and orientation noise; the same seeds, budget and test episodes either way."""
    given = {f"plans_{split}": str(path) for split, path in (plan_sets or {}).items()}
    return Protocol(
        task=args.task,
        seeds=args.seeds,
        minutes=args.minutes,
        train_plans=args.train_plans,
        val_plans=args.val_plans,
        test_plans=args.test_plans,
        trials_per_plan=args.trials_per_plan,
        orientation_noise=args.orientation_noise,
        num_envs=args.num_envs,
        overrides=tuple(args.set),
        **given,
    )


def rows_of(summary: dict, labels: dict, planning: dict, args: argparse.Namespace) -> list[dict]:
    """One row per training seed of a protocol summary (``benchmark.json``).

    ``all_test_states`` counts every test episode the protocol asked for, a state the planner
    could not plan as failed, so the VLM path and oracle plans compare over the same episodes.
    """
    episodes = args.test_plans * args.trials_per_plan
    provenance = {k: summary[k] for k in PROVENANCE}
    rows = []
    for seed_row in summary["per_seed"]:
        successes = seed_row["successes"]
        all_states = {
            "success_rate": successes / episodes,
            "success_ci95": list(wilson_interval(successes, episodes)),
            "num_episodes": episodes,
        }
        rows.append(
            {
                **labels,
                **seed_row,
                "all_test_states": all_states,
                "planning": planning,
                "settings": summary["settings"],
                "command": summary["command"],
                **provenance,
            }
        )
    return rows


def _measured(row: dict) -> dict:
    """What a row measured: everything but where and when (a resumed run that trained nothing
    measures the same)."""
    return {k: v for k, v in row.items() if k not in (*PROVENANCE, "earlier")}


def keep_row(entries: list[dict], row: dict) -> list[dict]:
    """``entries`` with ``row`` in: among the rows of its (task, answers, planner, seed), it
    replaces the one of its own command (kept under ``earlier``) or joins them; a row that
    measured nothing new leaves ``entries`` as they are."""
    row = json.loads(json.dumps(row))  # tuples as the file holds them, to compare
    same = [e for e in entries if all(e.get(k) == row[k] for k in ROW_KEY)]
    if any(_measured(e) == _measured(row) for e in same):
        return entries
    return [e for e in entries if e not in same] + keep_in_list(same, row)


def run_planner(args: argparse.Namespace, planner: str, command: str) -> list[dict]:
    """Plan (VLM only), train and evaluate one planner; its rows."""
    folder = args.out / args.task
    answers = args.errors if planner == "vlm" else None
    plan_sets = None
    if planner == "vlm":
        plan_sets = plan_vlm(args, AnswerErrors.named(args.errors), folder / f"plans_{answers}")
    out = folder / (f"vlm_{answers}" if planner == "vlm" else "oracle")
    summary = run_protocol(protocol(args, plan_sets), out, command=command)
    labels = {"task": args.task, "answers": answers, "planner": planner}
    if planner == "vlm":
        labels["answer_errors"] = asdict(AnswerErrors.named(args.errors))
    return rows_of(summary, labels, planning_summary(args, plan_sets), args)


def pooled(rows: list[dict]) -> tuple[float, float, float, int, int]:
    """Success over every test episode of ``rows`` (planning failures count as failed): rate,
    95% interval, episodes, seeds."""
    successes = sum(r["successes"] for r in rows)
    episodes = sum(r["all_test_states"]["num_episodes"] for r in rows)
    return (successes / episodes, *wilson_interval(successes, episodes), episodes, len(rows))


def _cell(rows: list[dict]) -> str:
    if not rows:
        return "not measured yet"
    rate, low, high, episodes, seeds = pooled(rows)
    return (
        f"{rate:.2f} ({low:.2f}-{high:.2f}; {episodes} episodes, {seeds} seed{'s' * (seeds != 1)})"
    )


PROTOCOL_SETTINGS = (
    "task", "minutes", "train_plans", "val_plans", "test_plans", "trials_per_plan",
    "orientation_noise", "profile", "num_envs", "overrides",
)  # fmt: skip
"""The settings that make oracle rows comparable with realistic ones: the same states, budget
and noise (the answers' errors and the plan check do not touch oracle plans)."""


def same_protocol_oracle(entries: list[dict], vlm: list[dict]) -> list[dict]:
    """The oracle rows measured with ``vlm``'s protocol settings, for its training seeds: the
    latest row per seed (a run with ``--baseline none`` is compared with an earlier oracle run of
    the same states, budget and noise)."""
    if not vlm:
        return []
    settings = {k: vlm[-1]["settings"].get(k) for k in PROTOCOL_SETTINGS}
    latest = {}
    for entry in entries:
        if entry["planner"] == "oracle" and all(
            entry.get("settings", {}).get(k) == v for k, v in settings.items()
        ):
            latest[entry["seed"]] = entry
    return [latest[r["seed"]] for r in vlm if r["seed"] in latest]


def table(entries: list[dict]) -> str:
    """The docs/results.md table: per task, the realistic-answer rows of the latest command that
    measured them and the oracle rows of the same states, budget and noise
    (``same_protocol_oracle``), pooled over its seeds, and their difference. Runs with training overrides (``--set``) are experiments
    on the default path and stay out of it."""
    entries = [
        e
        for e in entries
        if not e.get("smoke_check")
        and not e.get("invalid")
        and not e.get("settings", {}).get("overrides")
    ]
    lines = ["| task | oracle plans | realistic answers | difference |", "|---|---|---|---|"]
    for task in scaffold_task_names():
        realistic = [e for e in entries if (e["task"], e["answers"]) == (task, "realistic")]
        command = realistic[-1]["command"] if realistic else None
        vlm = [e for e in realistic if e["command"] == command]
        oracle = same_protocol_oracle(entries, vlm)
        difference = "not measured yet"
        if oracle and vlm:
            difference = f"{pooled(vlm)[0] - pooled(oracle)[0]:+.2f}"
        lines.append(f"| {task} | {_cell(oracle)} | {_cell(vlm)} | {difference} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> list[dict]:
    """Every planner of the run; its rows, kept in ``args.results`` after each planner."""
    command = command_line(args)
    planners = ["vlm"] + (["oracle"] if args.baseline == "oracle" else [])
    rows: list[dict] = []
    for planner in planners:
        new = run_planner(args, planner, command)
        entries = json.loads(args.results.read_text()) if args.results.exists() else []
        for row in new:
            entries = keep_row(entries, {**row, "smoke_check": True} if args.dry_run else row)
        atomic_write_text(args.results, json.dumps(entries, indent=2) + "\n")
        rows += new
    return rows


def in_repository(path: Path) -> Path:
    """``path`` relative to the repository root when it lies inside it: the script runs there,
    so results record short paths."""
    path = path.resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out, args.results = in_repository(args.out), in_repository(args.results)
    os.chdir(ROOT)
    if args.table:
        print(table(json.loads(args.results.read_text()) if args.results.exists() else []))
        return
    if not args.dry_run:
        rows = run(args)
    else:
        with tempfile.TemporaryDirectory(prefix="vlm_path_dry_run_") as scratch:
            vars(args).update(DRY_RUN, out=Path(scratch), results=Path(scratch) / "rows.json")
            rows = run(args)
        print("dry run (smoke check): nothing was written outside a temporary folder")
    for row in rows:
        shown = ("task", "answers", "planner", "seed", "success_rate", "all_test_states")
        print(json.dumps({k: row[k] for k in shown}))


if __name__ == "__main__":
    main()
