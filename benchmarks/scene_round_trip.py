"""Built-in tasks against the tasks made from their exported scene files, on the same states.

Usage:
    .venv/bin/python benchmarks/scene_round_trip.py --task shoe_place --states 10 --ideal-only
    .venv/bin/python benchmarks/scene_round_trip.py --task shoe_place --states 20 --minutes 10 \
        --seeds 3
    .venv/bin/python benchmarks/scene_round_trip.py --task move_apple --states 20 --minutes 10
        write the command's entry of benchmarks/results/scene_round_trip.json (one entry per
        command; an earlier entry of the same command is kept under ``earlier``)
    .venv/bin/python benchmarks/scene_round_trip.py --task move_apple --dry-run
        every step on tiny counts (under a minute); results stay in the run folder

The task's scene is exported once (seed 0, ``keyscaffold scene export``; move_apple with
``--success-tolerance 0.1``) to OUT/<task>/scene and read as ``scene:<task>``. The built-in task
lends the task from the file its answers by name (``keyscaffold.evaluation.scene_round_trip``) and
both run on the built-in task's test states (seeds 1000000 on):

- IKER (shoe_place): ideal runs (``run_iker``, execution ``ideal``: the oracle's targets, no
  training) on N states, each task by its own verdict (built-in: the shoe stands on the shelf;
  from the file: the stage reached its targets), the built-in rule on the end states of the runs
  from the file, and how far their objects end from the built-in runs' (``end_gap_m``). With
  ``--minutes``: one policy per task and training seed (``--seeds``, default 1) trained M
  minutes on the oracle goals of 10 training states and tested on N states x 2 trials
  (``heldout_evaluation``; seed s draws its states from split seed s, the same for both tasks):
  keypoint success pooled over the seeds and per seed, the built-in rule beside it for the
  built-in task.
- Scaffold (move_apple): the oracle plans (no orientation noise) of N states followed open loop
  (``Driver.follow``), each task by its own rule (from the file: every keypoint within the
  tolerance of its plan's final waypoint). With ``--minutes``: ``--seeds`` seeds of ``run_protocol``
  per task, M minutes each, on the same 50 training, 10 validation and N test plans x 2 trials.

The two agree when their success rates differ by at most ``AGREEMENT``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from dataclasses import replace
from pathlib import Path
from statistics import mean

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.cli import main as cli
from keyscaffold.commands import make_plans
from keyscaffold.evaluation.scene_round_trip import (
    judged_by,
    open_loop_success,
    register_with_oracle,
    scene_plan_set,
)
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.iker.evaluate import heldout_evaluation
from keyscaffold.iker.loop import resume_iker
from keyscaffold.iker.run_settings import IkerSettings
from keyscaffold.planning.oracle import split_seeds
from keyscaffold.planning.plan import load_plan_set
from keyscaffold.protocol import Protocol, run_protocol
from keyscaffold.provenance import keep_in_list, provenance
from keyscaffold.rl.config import apply_overrides, profile_config
from keyscaffold.rl.keypoint_env import KeypointEnvConfig
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import InitialState
from keyscaffold.tasks.from_scene import register_scene_task
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "scene_round_trip.json"
TASKS = {"shoe_place": "iker", "move_apple": "scaffold"}
"""The tasks this measures and their mode."""
TOLERANCE = {"move_apple": 0.1}
"""``--success-tolerance`` of a scaffold task's export (m): move_apple's own rule asks the apple
within 0.10 m of a point 2 cm above the plan's final apple waypoint."""
AGREEMENT = 0.10
"""Largest difference of success rates for the task from the file to count as the built-in."""
TRAIN_STATES, VAL_STATES, TRIALS = {"iker": 10, "scaffold": 50}, {"iker": 5, "scaffold": 10}, 2
DRY = {"states": 2, "minutes": 0.03, "train": 2, "val": 0, "trials": 1, "num_envs": 8}
"""Counts of ``--dry-run``."""


def export(task: str, out: Path) -> Path:
    """The task's scene exported at seed 0 to ``out/scene`` (kept when it is there), as
    ``out/scene/<task>.json`` so that its task is ``scene:<task>``; returns that file."""
    path = out / "scene" / f"{task}.json"
    if not path.exists():
        if (out / "scene").exists():
            shutil.rmtree(out / "scene")
        tolerance = ["--success-tolerance", str(TOLERANCE[task])] if task in TOLERANCE else []
        args = ["scene", "export", task, "--seed", "0", "--out", str(out / "scene"), *tolerance]
        if cli(args) != 0:
            raise SystemExit(f"scene export {task} failed")
        shutil.copyfile(out / "scene" / "scene.json", path)
    return path


def rates(successes: list[bool]) -> dict:
    """Success rate, 95% Wilson interval, successes and episodes."""
    hits, n = sum(bool(s) for s in successes), len(successes)
    return {
        "success_rate": hits / n if n else None,
        "success_ci95": list(wilson_interval(hits, n)),
        "successes": hits,
        "num_episodes": n,
    }


def compared(built_in: dict, from_file: dict, **extra) -> dict:
    """Both tasks' rates, their difference (from the file minus built-in) and the agreement."""
    difference = from_file["success_rate"] - built_in["success_rate"]
    agree = abs(difference) <= AGREEMENT + 1e-9
    return {"built_in": built_in, "from_file": from_file, "difference": difference,
            f"within_{AGREEMENT:.2f}": agree, **extra}  # fmt: skip


# ----------------------------------------------------------------------------- IKER
def end_state(run: Path) -> InitialState:
    """The state after the last executed stage of an IKER run folder."""
    last = max(run.glob("stage_*/state_end.json"), key=lambda p: int(p.parent.name[6:]))
    return InitialState.from_json(json.loads(last.read_text()))


def iker_ideal(task: str, scene_task: str, seeds: list[int], out: Path) -> dict:
    """Ideal IKER runs of both tasks on ``seeds``; each run's verdict, stage success, failure."""
    builtin = make_task(task)
    runs: dict[str, list[dict]] = {"built_in": [], "from_file": []}
    for seed in seeds:
        for key, name in (("built_in", task), ("from_file", scene_task)):
            folder = out / "ideal" / key / f"seed_{seed}"
            summary = resume_iker(name, folder, IkerSettings(execution="ideal", seed=seed))
            row = {
                "seed": seed,
                "success": bool(summary["success"]),
                "stage_success": bool(summary["stage_success"]) and all(summary["stage_success"]),
                "failure": summary["failure"],
            }
            if key == "from_file" and list(folder.glob("stage_*/state_end.json")):
                row["built_in_rule"] = judged_by(builtin, end_state(folder))
                row["end_gap_m"] = end_gap(out / "ideal" / "built_in" / f"seed_{seed}", folder)
            runs[key].append(row)
    file_runs = runs["from_file"]
    gaps = [r["end_gap_m"] for r in file_runs if r.get("end_gap_m") is not None]
    return compared(
        rates([r["success"] for r in runs["built_in"]]),
        rates([r["success"] for r in file_runs]),
        how="IKER runs with ideal execution (oracle targets, no training), each task's verdict",
        built_in_rule_on_file_runs=rates([r.get("built_in_rule", False) for r in file_runs]),
        end_gap_m={"mean": mean(gaps), "max": max(gaps)} if gaps else None,
        runs=runs,
    )


def end_gap(built_in: Path, from_file: Path) -> float | None:
    """The farthest any movable object ends from where it ends in the built-in run of the same
    state (m); None when either run executed no stage."""
    if not list(built_in.glob("stage_*/state_end.json")):
        return None
    mine, theirs = end_state(from_file).objects, end_state(built_in).objects
    return max(math.dist(mine[name][:3], theirs[name][:3]) for name in theirs)


def iker_trained(task: str, scene_task: str, states: int, minutes: float, seeds: int, out: Path,
                 dry: bool, overrides: tuple[str, ...] = ()) -> dict:  # fmt: skip
    """One policy per task and training seed on the oracle goals of the training states, tested
    on ``states`` (training seed ``s`` draws its states from split seed ``s``, the same for both
    tasks); rates pooled over the seeds, each seed's beside them. ``overrides`` change the
    keypoint env's settings of both tasks (``rewards.lift_sharpness=3``)."""
    counts = {"num_train": TRAIN_STATES["iker"], "num_val": VAL_STATES["iker"], "trials": TRIALS}
    train, env = profile_config("cpu"), apply_overrides(KeypointEnvConfig(), overrides)
    if dry:
        counts = {"num_train": DRY["train"], "num_val": DRY["val"], "trials": DRY["trials"]}
        train, env = profile_config("cpu", max_iterations=2), replace(env, num_envs=DRY["num_envs"])
    found: dict[str, list[dict]] = {"built_in": [], "from_file": []}
    for seed in range(seeds):
        for key, name in (("built_in", task), ("from_file", scene_task)):
            found[key].append(heldout_evaluation(
                name, out / "trained" / f"seed_{seed}" / key, num_test=states, minutes=minutes,
                seed=seed, train=train, env_config=env, **counts,
            ))  # fmt: skip
    row = {}
    for key, runs in found.items():
        episodes = [e["success"] for s in runs for e in s["episodes"]]
        row[key] = {**rates(episodes),
                    "per_seed": [{"seed": seed, **rates([e["success"] for e in s["episodes"]]),
                                  "iterations": s["training"]["iterations"],
                                  "test_seeds": s["test_seeds"], "skipped": s["skipped"]}
                                 for seed, s in enumerate(runs)]}  # fmt: skip
    task_hits = [e["task_success"] for s in found["built_in"] for e in s["episodes"]]
    row["built_in"]["task_success"] = rates(task_hits)
    how = "IKER policies per task on oracle goals, keypoint success on the test states"
    return compared(row["built_in"], row["from_file"], how=how, minutes=minutes, seeds=seeds,
                    overrides=list(overrides), **counts)  # fmt: skip


# ----------------------------------------------------------------------------- scaffold
def plan_counts(states: int, dry: bool) -> dict[str, int]:
    """Plans of each split of the scaffold comparison."""
    if dry:
        return {"train": DRY["train"], "val": DRY["val"], "test": states}
    return {"train": TRAIN_STATES["scaffold"], "val": VAL_STATES["scaffold"], "test": states}


def scaffold_plans(task: str, scene_task, counts: dict[str, int], out: Path) -> dict:
    """Built-in oracle plan sets (train, val, test; none for a count of 0) and the same plans as
    the scene task's."""
    sets: dict[str, dict[str, Path | None]] = {"built_in": {}, "from_file": {}}
    for split, count in counts.items():
        if not count:
            sets["built_in"][split] = sets["from_file"][split] = None
            continue
        folder = make_plans(task, count, split, 0, 20, out / "plans", show_progress=False)
        sets["built_in"][split] = folder
        file_set = out / "plans" / "from_file" / split
        sets["from_file"][split] = scene_plan_set(folder, scene_task, file_set)
    return sets


def scaffold_open_loop(task: str, scene_task, sets: dict) -> dict:
    """The test plans followed open loop in both tasks."""
    built = open_loop_success(make_task(task), load_plan_set(sets["built_in"]["test"]))
    from_file = open_loop_success(scene_task, load_plan_set(sets["from_file"]["test"]))
    how = "oracle plans followed open loop, each task's rule"
    return compared(rates(list(built)), rates(list(from_file)), how=how)


def scaffold_trained(task: str, scene_task, sets: dict, counts: dict, minutes: float, seeds: int,
                     out: Path, dry: bool) -> dict:  # fmt: skip
    """``seeds`` training seeds per task with the same budget, tested on the same test plans."""
    found = {}
    for key, name in (("built_in", task), ("from_file", scene_task.name)):
        plans = sets[key]
        protocol = Protocol(
            task=name, seeds=seeds, minutes=minutes, trials_per_plan=DRY["trials"] if dry else TRIALS,
            train_plans=counts["train"], val_plans=counts["val"], test_plans=counts["test"],
            plans_train=str(plans["train"]), plans_val=str(plans["val"] or ""),
            plans_test=str(plans["test"]), num_envs=DRY["num_envs"] if dry else None,
            orientation_noise=0.0,
        )  # fmt: skip
        found[key] = run_protocol(protocol, out / "trained" / key, show_progress=False)
    row = {k: {"success_rate": s["pooled_success_rate"], "success_ci95": s["pooled_success_ci95"],
               "successes": sum(r["successes"] for r in s["per_seed"]),
               "num_episodes": s["pooled_episodes"],
               "iterations": [r["iterations"] for r in s["per_seed"]]}
           for k, s in found.items()}  # fmt: skip
    how = "scaffold training seeds per task on the same oracle plans (run_protocol)"
    return compared(row["built_in"], row["from_file"], how=how, minutes=minutes, seeds=seeds)


# ----------------------------------------------------------------------------- main
def measure(task: str, states: int, minutes: float, seeds: int, ideal_only: bool, out: Path,
            dry: bool, overrides: tuple[str, ...] = ()):  # fmt: skip
    """Export, then the ideal (open-loop) comparison and, with minutes, the trained one."""
    mode = TASKS[task]
    scene_file = export(task, out)
    shown = scene_file.relative_to(ROOT) if scene_file.is_relative_to(ROOT) else scene_file
    result: dict = {"task": task, "mode": mode, "scene_file": str(shown), "states": states}
    if mode == "iker":
        scene_task = register_with_oracle(scene_file, task).name
        result["ideal"] = iker_ideal(task, scene_task, split_seeds("test", 0, states), out)
        if minutes > 0 and not ideal_only:
            result["trained"] = iker_trained(task, scene_task, states, minutes, seeds, out, dry,
                                             overrides)  # fmt: skip
        return result
    scene_task = register_scene_task(scene_file)
    scene_task.require_scaffold()
    counts = plan_counts(states, dry)
    sets = scaffold_plans(task, scene_task, counts, out)
    result.update(success_tolerance=scene_task.tolerance, plans=counts)
    result["ideal"] = scaffold_open_loop(task, scene_task, sets)
    if minutes > 0 and not ideal_only:
        result["trained"] = scaffold_trained(task, scene_task, sets, counts, minutes, seeds, out,
                                             dry)  # fmt: skip
    return result


def command_line(args: argparse.Namespace) -> str:
    text = f"python benchmarks/scene_round_trip.py --task {args.task} --states {args.states}"
    text += " --ideal-only" if args.ideal_only else f" --minutes {args.minutes:g}"
    text += f" --seeds {args.seeds}" if args.seeds != 1 and not args.ideal_only else ""
    text += "".join(f" --set {item}" for item in args.overrides)
    text += f" --out {args.out}" if args.out else ""
    return text + (" --dry-run" if args.dry_run else "")


def main(argv: list[str] | None = None) -> dict:
    """Run the measurement; returns the entry written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--states", type=int, default=10, help="test states")
    parser.add_argument("--minutes", type=float, default=0.0, help="training minutes per task")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per task")
    parser.add_argument("--ideal-only", action="store_true", help="no training")
    parser.add_argument("--dry-run", action="store_true", help="tiny counts; results in --out")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V",
                        help="IKER only: a KeypointEnvConfig setting for both tasks, e.g. "
                        "rewards.lift_sharpness=3 (repeatable; use a fresh --out, finished "
                        "runs in it are reused)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="default runs/scene_round_trip")
    parser.add_argument("--results", type=Path, default=None, help="default: " + str(RESULTS))
    args = parser.parse_args(argv)
    if args.dry_run:
        args.states, args.minutes = DRY["states"], args.minutes or DRY["minutes"]
    if args.overrides and TASKS[args.task] != "iker":
        parser.error(f"--set changes IKER training only; {args.task} is a scaffold task")
    if args.states < 1 or args.minutes < 0 or args.seeds < 1:
        parser.error("--states and --seeds must be at least 1 and --minutes at least 0")
    base = args.out or ROOT / "runs" / (
        "scene_round_trip_dry" if args.dry_run else "scene_round_trip"
    )
    out = base / args.task
    results = args.results or (base / "scene_round_trip.json" if args.dry_run else RESULTS)
    started = time.perf_counter()
    result = measure(args.task, args.states, args.minutes, args.seeds, args.ideal_only, out,
                     args.dry_run, tuple(args.overrides))  # fmt: skip
    result = {**result, "command": command_line(args), **provenance(),
              "total_s": round(time.perf_counter() - started, 1)}  # fmt: skip
    kept = json.loads(results.read_text()) if results.exists() else []
    results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(results, json.dumps(keep_in_list(kept, result), indent=2) + "\n")
    for kind in ("ideal", "trained"):
        if kind in result:
            row = result[kind]
            print(f"{args.task} {kind}: built-in {row['built_in']['success_rate']:.2f}, from file "
                  f"{row['from_file']['success_rate']:.2f} ({row['difference']:+.2f})")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
