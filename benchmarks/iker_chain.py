"""Multi-step IKER with the oracle code planner: seeded runs of a chained task on a skill library.

Usage:
    .venv/bin/python benchmarks/iker_chain.py --task shoes_on_rack --states 10 --minutes 8 \
        --runs 10 --perturb 0.05
        builds a skill library (``keyscaffold.iker.library``: one policy per skill, trained for 8
        minutes on the stage goals of 10 training scenes, half of them displaced between stages),
        then runs the IKER loop on 10 held-out seeds reusing those policies; the second half of
        the runs has an object moved by up to 5 cm between stages, which the next stage must see
        and recover from. Writes benchmarks/results/iker_chain.json.

Finished library parts and finished runs under ``--out`` are reused, so an interrupted benchmark
resumes. A run succeeds when every stage has run and the task's own judge says the scene is done.
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
from keyscaffold.planning.oracle import split_seeds
from keyscaffold.planning.plan import atomic_write_text
from keyscaffold.provenance import provenance
from keyscaffold.rl.keypoint_env import KeypointEnvConfig
from keyscaffold.rl.train import apply_overrides

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "iker_chain.json"


def run_row(summary: dict, perturb: float) -> dict:
    """What the results file keeps of one run."""
    return {
        "seed": summary["seed"],
        "perturb": perturb,
        "success": summary["success"],
        "stages": len(summary["stages"]),
        "stage_success": summary["stage_success"],
        "failure": summary["failure"],
        "policies_reused": sum(1 for s in summary["stages"] if s.get("reused_policy")),
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns what it writes to the results file."""
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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "iker_chain")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    command = (
        f"python benchmarks/iker_chain.py --task {args.task} --states {args.states} "
        f"--val-states {args.val_states} --minutes {args.minutes:g} --runs {args.runs} --perturb {args.perturb:g} "
        f"--seed {args.seed}" + "".join(f" --set {item}" for item in args.overrides)
    )
    env_config = apply_overrides(KeypointEnvConfig(), tuple(args.overrides))
    out = args.out / args.task
    library_dir = out / "library"
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
        folder = out / "runs" / f"seed_{seed}"
        summary = resume_iker(
            args.task,
            folder,
            planner="oracle",
            seed=seed,
            perturb=perturb,
            env_config=env_config,
            skills=library_dir,
        )
        runs.append(run_row(summary, perturb))
        print(json.dumps(runs[-1]))
    successes = sum(r["success"] for r in runs)
    result = {
        "task": args.task,
        "planner": "oracle",
        "runs": runs,
        "successes": successes,
        "num_runs": len(runs),
        "success_rate": successes / len(runs),
        "success_ci95": list(wilson_interval(successes, len(runs))),
        "perturbed_successes": sum(r["success"] for r in runs if r["perturb"] > 0),
        "num_perturbed": sum(1 for r in runs if r["perturb"] > 0),
        "library": {
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
        },
        "overrides": list(args.overrides),
        "command": command,
        **provenance(),
        "total_s": time.perf_counter() - started,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.results, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("task", "successes", "num_runs", "success_ci95")}))
    return result


if __name__ == "__main__":
    main()
