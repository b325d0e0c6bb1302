"""IKER with the oracle code planner: seeded runs of a task, stage by stage, on a skill library.

Usage:
    .venv/bin/python benchmarks/iker_chain.py --task shoes_on_rack --states 10 --minutes 8 \
        --runs 10 --perturb 0.05
        builds a skill library (``keyscaffold.iker.library``: one policy per skill, trained for 8
        minutes on the stage goals of 10 training scenes, half of them displaced between stages),
        then runs the IKER loop on 10 held-out seeds reusing those policies; the second half of
        the runs has an object moved by up to 5 cm between stages, which the next stage must see
        and recover from. Writes benchmarks/results/iker_chain.json.
    .venv/bin/python benchmarks/iker_chain.py --task shoes_on_rack --ideal --target-noise 0.02 \
        --runs 10 --perturb 0
        trains nothing: answers like a competent model's (the oracle's stage code with every
        target off by up to 2 cm per axis, drawn per run and stage) executed ideally (each
        stage's object put where its targets say, then the scene settles). Keeps one entry per
        command in benchmarks/results/iker_ideal.json. Works for every IKER task; a single-step
        one has no stage after which to displace anything and needs ``--perturb 0``.

Finished library parts and finished runs under ``--out`` are reused, so an interrupted benchmark
resumes; the entry names the runs another commit made (``runs_from_other_commits``). A run succeeds when every stage has run and the task's own judge says the scene is done.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.iker.library import build_skill_library
from keyscaffold.iker.loop import resume_iker
from keyscaffold.iker.run_settings import IkerSettings
from keyscaffold.planning.oracle import split_seeds
from keyscaffold.provenance import keep_earlier, keep_in_list, provenance
from keyscaffold.rl.config import apply_overrides
from keyscaffold.rl.keypoint_env import KeypointEnvConfig
from keyscaffold.tasks import make_task
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "iker_chain.json"
IDEAL_RESULTS = ROOT / "benchmarks" / "results" / "iker_ideal.json"


def run_row(summary: dict, perturb: float) -> dict:
    """What the results file keeps of one run: its verdict, each stage's mean keypoint distance
    to its targets after settling (m; None for a stage that did not execute) and the task judge's
    metrics after the last executed stage (why a run whose stages all landed still failed)."""
    return {
        "seed": summary["seed"],
        "perturb": perturb,
        "success": summary["success"],
        "stages": len(summary["stages"]),
        "stage_success": summary["stage_success"],
        "failure": summary["failure"],
        "stage_failures": [s["failure"] for s in summary["stages"] if s["failure"]],
        "policies_reused": sum(1 for s in summary["stages"] if s.get("reused_policy")),
        "final_distances": [s.get("final_distance") for s in summary["stages"]],
        "task_metrics": next(
            (s["task_metrics"] for s in reversed(summary["stages"]) if s.get("task_metrics")), {}
        ),
        "commit": summary.get("commit"),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="shoes_on_rack")
    parser.add_argument("--states", type=int, default=10, help="training scenes of the library")
    parser.add_argument("--minutes", type=float, default=8.0, help="training minutes per skill")
    parser.add_argument("--runs", type=int, default=10, help="held-out seeded runs")
    parser.add_argument(
        "--val-states", type=int, default=4, help="validation scenes of the library's skills"
    )
    parser.add_argument(
        "--perturb", type=float, default=0.05, help="displacement (m) in the second half of runs"
    )
    parser.add_argument(
        "--ideal", action="store_true", help="train nothing: put each object at its targets"
    )
    parser.add_argument(
        "--target-noise", type=float, default=0.0, help="oracle targets off by up to this (m)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "iker_chain")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    return parser.parse_args(argv)


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces the measurement (the training flags only when it trains)."""
    training = (
        ""
        if args.ideal
        else f" --states {args.states} --val-states {args.val_states} --minutes {args.minutes:g}"
    )
    return (
        f"python benchmarks/iker_chain.py --task {args.task}{training} --runs {args.runs} "
        f"--perturb {args.perturb:g} --seed {args.seed}"
        + (" --ideal" if args.ideal else "")
        + (f" --target-noise {args.target_noise:g}" if args.target_noise else "")
        + "".join(f" --set {item}" for item in args.overrides)
    )


def library_record(library: dict, args: argparse.Namespace) -> dict:
    """What the results file keeps of the skill library a trained benchmark built."""
    return {
        "states": args.states,
        "val_states": args.val_states,
        "minutes_per_skill": args.minutes,
        "skills": {
            key: {
                "goals": skill["goals"],
                "training": skill["training"],
                "validation_seeds": skill.get("validation_seeds", []),
            }
            for key, skill in library["skills"].items()
        },
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns what it writes to the results file (its entry, for
    ``--ideal``, whose results file keeps one entry per command)."""
    args = parse_args(argv)
    if args.perturb > 0 and make_task(args.task).num_stages() == 1:
        raise SystemExit(f"{args.task} has one stage: nothing to displace between stages")
    started = time.perf_counter()
    command = command_line(args)
    env_config = apply_overrides(KeypointEnvConfig(), tuple(args.overrides))
    out = args.out / args.task
    library, library_dir = None, out / "library"
    if args.ideal:
        out = out / f"ideal_noise{args.target_noise:g}_perturb{args.perturb:g}"
    else:
        library = build_skill_library(
            args.task,
            library_dir,
            num_states=args.states,
            num_val_states=args.val_states,
            minutes=args.minutes,
            seed=args.seed,
            perturb=args.perturb,
            env_config=env_config,
            command=command,
            show_progress=True,
        )
    runs = []
    for position, seed in enumerate(split_seeds("test", args.seed, args.runs)):
        perturb = args.perturb if position >= args.runs // 2 else 0.0
        settings = IkerSettings(
            planner="oracle",
            seed=seed,
            perturb=perturb,
            env_config=env_config,
            skills=None if args.ideal else library_dir,
            execution="ideal" if args.ideal else "policy",
            target_noise=args.target_noise,
        )
        summary = resume_iker(args.task, out / "runs" / f"seed_{seed}", settings)
        runs.append(run_row(summary, perturb))
        print(json.dumps(runs[-1]))
    successes = sum(r["success"] for r in runs)
    meta = provenance()
    result = {
        "task": args.task,
        "planner": "oracle",
        "execution": "ideal" if args.ideal else "policy",
        "target_noise": args.target_noise,
        "runs": runs,
        "successes": successes,
        "num_runs": len(runs),
        "success_rate": successes / len(runs),
        "success_ci95": list(wilson_interval(successes, len(runs))),
        "perturbed_successes": sum(r["success"] for r in runs if r["perturb"] > 0),
        "num_perturbed": sum(1 for r in runs if r["perturb"] > 0),
        "library": None if library is None else library_record(library, args),
        "overrides": list(args.overrides),
        "command": command,
        **meta,
        # finished runs found under --out are reused: the seeds of those another commit made
        "runs_from_other_commits": [r["seed"] for r in runs if r["commit"] != meta["commit"]],
        "total_s": time.perf_counter() - started,
    }
    write_result(args, result)
    print(json.dumps({k: result[k] for k in ("task", "successes", "num_runs", "success_ci95")}))
    return result


def write_result(args: argparse.Namespace, result: dict) -> None:
    """A trained benchmark's file holds its latest result, the ones before under ``earlier``
    (``provenance.keep_earlier``); ``--ideal``'s keeps one entry per command
    (``provenance.keep_in_list``)."""
    path = args.results or (IDEAL_RESULTS if args.ideal else RESULTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(path.read_text()) if path.exists() else None
    if args.ideal:
        payload: dict | list = keep_in_list(kept or [], result)
    else:
        payload = keep_earlier(result, kept)
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
