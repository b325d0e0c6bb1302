"""Which error of a model's answers breaks a plan: each error type alone, replayed open loop.

Usage:
    .venv/bin/python benchmarks/vlm_path_errors.py --task move_apple [--states 40]
        [--variants exact realistic] [--check-shift 0.025]
        writes the entry of its command in benchmarks/results/vlm_path_errors.json (a rerun
        replaces it and keeps the old one under ``earlier``; other entries stay); with
        ``--check-shift`` the plans go through the plan check in simulation (default: as answered)

For one task's test states, the real VLM planner (``plan --planner vlm`` against the local
answer server) plans from answers made from the truth with: no error, each error type of
``AnswerErrors`` alone (keypoint pixels, waypoint offsets, grasp height), and all of them
(``realistic``). Oracle plans of the same states are the reference. Per variant it reports how
many states were planned, how far the plans' keypoints start and end from the oracle's (m), how
far the wrist's grasp height is from the oracle's (m), and how often the plan succeeds when its
wrist path is replayed open loop with the scripted grasp (``tasks.open_loop.Driver``): no
policy, so the figure is what the plan alone is worth before a residual corrects it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
from vlm_path import MODEL, WAYPOINTS, answer_book  # the same answer book and planner

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.commands import make_plans
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.planning.plan import KeypointPlan, load_plan_set
from keyscaffold.planning.plan_check import check_summary
from keyscaffold.planning.truth_answers import AnswerErrors
from keyscaffold.provenance import keep_in_list, provenance
from keyscaffold.tasks import make_task, scaffold_task_names
from keyscaffold.tasks.open_loop import Driver
from keyscaffold.util import atomic_write_text
from keyscaffold.vlm.client import VLMConfig
from keyscaffold.vlm.local_server import FakeVLMServer, Reply

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "vlm_path_errors.json"
_REALISTIC = AnswerErrors()
VARIANTS = {
    "exact": AnswerErrors.none(),
    "pixels": AnswerErrors(_REALISTIC.pixel_error_px, None, None, True),
    "waypoints": AnswerErrors(None, _REALISTIC.waypoint_error_m, None, True),
    "grasp_height": AnswerErrors(None, None, _REALISTIC.grasp_height_error_m, True),
    "realistic": _REALISTIC,
}
"""Answer errors per variant: none, each type alone (with the varied formats), all."""


def vlm_plans(
    task: str, errors: AnswerErrors, states: int, noise: float, root: Path, check: float = 0.0
) -> dict:
    """Plans of the test split made by the VLM planner from ``errors``' answers, and its summary;
    ``check`` is the plan check's step (m; 0: the plans as answered)."""
    args = argparse.Namespace(
        task=task, train_plans=0, val_plans=0, test_plans=states, orientation_noise=noise
    )
    book = answer_book(args, errors)
    with FakeVLMServer(lambda body: Reply(content=book.answer(body))) as server:
        config = VLMConfig(base_url=server.url, model=MODEL, use_cache=False)
        folder = make_plans(
            task, states, "test", 0, WAYPOINTS, root, "vlm", config,
            settings={"orientation_noise": noise, "check_shift_m": check}, show_progress=False,
        )  # fmt: skip
    summary = json.loads((folder / "vlm" / "summary.json").read_text())
    plans = load_plan_set(folder) if summary.get("planned") else []
    return {"plans": plans, "summary": summary}


def compare(plan: KeypointPlan, oracle: KeypointPlan) -> dict:
    """How far a plan is from the oracle plan of its state (m): its keypoints' start and goal
    (mean over keypoints), and the wrist's height at the oracle's grasp waypoint."""
    grasp = int(oracle.provenance.get("grasp_waypoint", -1))
    row = {
        "start_error_m": float(np.linalg.norm(plan.waypoints[0] - oracle.waypoints[0], axis=-1).mean()),
        "goal_error_m": float(np.linalg.norm(plan.waypoints[-1] - oracle.waypoints[-1], axis=-1).mean()),
        "same_bodies": list(plan.keypoint_bodies) == list(oracle.keypoint_bodies),
    }  # fmt: skip
    if grasp >= 0:
        row["grasp_height_error_m"] = float(
            plan.wrist_waypoints[grasp, 2] - oracle.wrist_waypoints[grasp, 2]
        )
    return row


def open_loop(task_name: str, plans: list[KeypointPlan], oracle: dict | None = None) -> np.ndarray:
    """Each plan replayed open loop with the scripted grasp: success per plan, shape: (P,).

    A model's plan does not say when the hand closes (the policy learns it); the hand closes at
    the same fraction of the plan as in the oracle plan of its state (``oracle``: seed -> plan).
    """
    task = make_task(task_name)
    if oracle is not None:
        plans = [with_oracle_grasp(p, oracle[p.initial_state.seed]) for p in plans]
    drive = Driver(task, [p.initial_state for p in plans], threads=2)
    return np.asarray(drive.follow(plans)["success"], dtype=bool)


def with_oracle_grasp(plan: KeypointPlan, oracle: KeypointPlan) -> KeypointPlan:
    """``plan`` whose provenance names the grasp waypoint at the oracle plan's fraction."""
    fraction = oracle.provenance["grasp_waypoint"] / (oracle.num_waypoints - 1)
    grasp = int(round(fraction * (plan.num_waypoints - 1)))
    return dataclasses.replace(plan, provenance={**plan.provenance, "grasp_waypoint": grasp})


def variant_row(name: str, made: dict, oracle: dict[int, KeypointPlan], task: str) -> dict:
    """The result row of one answer variant."""
    plans = made["plans"]
    rows = [compare(p, oracle[p.initial_state.seed]) for p in plans]
    success = open_loop(task, plans, oracle) if plans else np.zeros(0, dtype=bool)
    mean = lambda key: float(np.mean([abs(r[key]) for r in rows if key in r])) if rows else None  # noqa: E731
    return {
        "answers": name,
        "planned": len(plans),
        "failures_by_kind": made["summary"].get("failures_by_kind", {}),
        "keypoints_on_oracle_bodies": int(sum(r["same_bodies"] for r in rows)),
        "mean_start_error_m": mean("start_error_m"),
        "mean_goal_error_m": mean("goal_error_m"),
        "mean_abs_grasp_height_error_m": mean("grasp_height_error_m"),
        "open_loop_success": float(success.mean()) if len(success) else 0.0,
        "open_loop_ci95": wilson_interval(int(success.sum()), max(len(success), 1)),
        "episodes": int(len(success)),
        **check_counts(plans),
    }


def check_counts(plans: list[KeypointPlan]) -> dict:
    """What the plan check in simulation did to ``plans`` (none when it was off), as
    ``check_lost``, ``check_shifted`` and ``check_judges_plans``."""
    checks = [p.provenance["check"] for p in plans if "check" in p.provenance]
    if not checks:
        return {}
    summary = check_summary(checks)
    return {
        "check_lost": summary["lost"],
        "check_shifted": summary["shifted"],
        "check_judges_plans": summary["replay_judges_plans"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=scaffold_task_names(), default="move_apple")
    parser.add_argument("--states", type=int, default=40)
    parser.add_argument("--orientation-noise", type=float, default=0.0)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--check-shift", type=float, default=0.0,
        help="the plan check's step (m); 0: the plans as answered",
    )  # fmt: skip
    args = parser.parse_args()
    task = make_task(args.task)
    oracle = oracle_plans(task, "test", 0, args.states, WAYPOINTS, args.orientation_noise)
    by_seed = {p.initial_state.seed: p for p in oracle}
    reference = open_loop(args.task, oracle)
    rows = [
        {
            "answers": "oracle",
            "planned": len(oracle),
            "open_loop_success": float(reference.mean()),
            "open_loop_ci95": wilson_interval(int(reference.sum()), len(reference)),
            "episodes": len(reference),
        }
    ]
    print(f"{args.task} oracle plans: open-loop success {reference.mean():.2f}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.variants:
            made = vlm_plans(
                args.task, VARIANTS[name], args.states, args.orientation_noise,
                Path(scratch) / name, args.check_shift,
            )  # fmt: skip
            rows.append(variant_row(name, made, by_seed, args.task))
            print(json.dumps(rows[-1]))
    command = (
        f"python benchmarks/vlm_path_errors.py --task {args.task} --states {args.states} "
        f"--orientation-noise {args.orientation_noise}"
    )
    if args.variants != list(VARIANTS):
        command += f" --variants {' '.join(args.variants)}"
    if args.check_shift > 0:
        command += f" --check-shift {args.check_shift}"
    result = {"task": args.task, "rows": rows, "command": command, **provenance()}
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    atomic_write_text(RESULTS, json.dumps(keep_in_list(kept, result), indent=2) + "\n")


if __name__ == "__main__":
    main()
