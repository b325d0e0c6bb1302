"""Which fingers close a per-finger task open loop, and how closure noise on each finger hurts.

Usage:
    .venv/bin/python benchmarks/finger_roles.py [--task close_scissors] [--states 40]
        [--close-after 150] [--noise 0.3]
        writes the task's entry of benchmarks/results/finger_roles.json (a list, one entry per
        task and setting; a rerun keeps the entry it replaces under ``earlier``)

The oracle plans are executed without a policy (``keyscaffold.tasks.open_loop``): the wrist
follows the plan and the fingers close at the plan's pace from its grasp waypoint. Three tables:

- ``subsets``: every non-empty subset of the fingers closing (the others held open);
- ``noise_per_finger``: all fingers closing, Gaussian noise of ``--noise`` (in closure units,
  clipped to the closure range) added to one finger's closure at every step, as a PPO policy's
  exploration adds it;
- ``noise_per_phase``: the same noise on one finger only inside a window of steps (approach,
  descent, grasp, squeeze), for the finger whose noise hurts most;
- ``filtered_noise``: noise on every finger, passed through the env's moving average of grip
  actions with a newest-action weight of 0.9 (the default ``env.action_ema``) or 0.1 (a slow
  ``env.grip_action_ema``), for noise ``--noise`` and 1.0.

Success is the task's own; ``within_start_limit`` also asks that no keypoint strayed beyond the
task's start limit from the plan (the env's tracking limit).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.provenance import keep_in_list, provenance
from keyscaffold.tasks import make_task
from keyscaffold.tasks.open_loop import Driver
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "finger_roles.json"


def drive(task, plans, close_after: int, grip) -> dict:
    """Success of the plans driven open loop with ``grip(step, closure)`` as the grip actions
    (``closure``: the scripted closure broadcast to every grip action, shape (B, G))."""
    driver = Driver(task, [p.initial_state for p in plans], threads=2)
    result = driver.follow(plans, close_after=close_after, grip=grip)
    success = result["success"]
    within = success & (result["stray"] < task.start_limit)
    return {
        "success_rate": float(success.mean()),
        "success_ci95": wilson_interval(int(success.sum()), len(success)),
        "within_start_limit": float(within.mean()),
        "median_stray_m": float(np.median(result["stray"])),
        "num_episodes": len(success),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="close_scissors")
    parser.add_argument("--states", type=int, default=40)
    parser.add_argument("--close-after", type=int, default=150)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    task = make_task(args.task)
    names = task.actions().grip_names
    if len(names) < 2:
        raise SystemExit(f"{task.name} closes with one action ({names}); pick a per-finger task")
    plans = oracle_plans(task, "train", 0, args.states, 20, 0.0)
    rng = np.random.default_rng(args.seed)
    steps = task.episode_steps
    grasp = int(plans[0].provenance["grasp_waypoint"] / (plans[0].num_waypoints - 1) * (steps - 1))

    def noisy(finger: int, window: tuple[int, int] = (0, steps)):
        def grip(step: int, closure: np.ndarray) -> np.ndarray:
            if window[0] <= step < window[1]:
                closure[:, finger] += rng.normal(0.0, args.noise, len(closure))
            return closure

        return grip

    subsets = []
    for mask in itertools.product((0.0, 1.0), repeat=len(names)):
        if any(mask):
            row = drive(task, plans, args.close_after, lambda _, c, m=mask: c * np.array(m))
            subsets.append({"closing": [n for n, m in zip(names, mask) if m], **row})
            print(f"closing {subsets[-1]['closing']}: {row['success_rate']:.2f}", flush=True)
    per_finger = []
    for finger, name in enumerate(names):
        row = drive(task, plans, args.close_after, noisy(finger))
        per_finger.append({"noisy": name, **row})
        print(f"noise on {name}: {row['success_rate']:.2f}", flush=True)
    worst = min(range(len(names)), key=lambda f: per_finger[f]["within_start_limit"])
    lowered = int(0.35 * (steps - 1))
    windows = {
        "approach": (0, int(0.2 * (steps - 1))),
        "descent": (int(0.2 * (steps - 1)), lowered),
        "grasp": (lowered, grasp),
        "squeeze": (grasp, steps),
    }
    per_phase = []
    for phase, window in windows.items():
        row = drive(task, plans, args.close_after, noisy(worst, window))
        per_phase.append({"noisy": names[worst], "phase": phase, "steps": list(window), **row})
        print(f"noise on {names[worst]} in {phase} {window}: {row['success_rate']:.2f}", flush=True)
    filtered = []
    for std in (args.noise, 1.0):
        for weight in (0.9, 0.1):
            average = np.zeros((len(plans), len(names)))

            def smoothed(step: int, closure: np.ndarray, std=std, weight=weight) -> np.ndarray:
                nonlocal average
                if step == 0:
                    average = np.zeros_like(closure)
                noisy_closure = closure + rng.normal(0.0, std, closure.shape)
                average = weight * noisy_closure + (1.0 - weight) * average
                return average.copy()

            row = drive(task, plans, args.close_after, smoothed)
            filtered.append({"noise": std, "newest_action_weight": weight, **row})
            print(
                f"noise {std:g} on every finger, filter weight {weight:g}: "
                f"{row['success_rate']:.2f}",
                flush=True,
            )
    command = (
        f"python benchmarks/finger_roles.py --task {task.name} --states {args.states} "
        f"--close-after {args.close_after} --noise {args.noise:g} --seed {args.seed}"
    )
    result = {
        "task": task.name,
        "clean": drive(task, plans, args.close_after, lambda _, c: c),
        "subsets": subsets,
        "noise_per_finger": per_finger,
        "noise_per_phase": per_phase,
        "filtered_noise": filtered,
        "command": command,
        **provenance(),
    }
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    atomic_write_text(RESULTS, json.dumps(keep_in_list(kept, result), indent=2) + "\n")


if __name__ == "__main__":
    main()
