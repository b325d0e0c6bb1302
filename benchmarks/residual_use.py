"""How a trained policy uses its wrist-rotation residual against the plans' orientation noise.

Usage:
    .venv/bin/python benchmarks/residual_use.py --run RUN --plans PLAN_DIR [--label NAME]
        drives the run's best checkpoint through every plan of PLAN_DIR x 2 trials (evaluation
        settings) and adds a row to benchmarks/results/residual_use.json (rows keyed by label)

At one control step (default 200, mid-carry for move_apple) it reads each episode's rotation
residual (the averaged action times the run's rotation scale): how many episodes hold an axis at
its bound, and how well the residual follows minus the plan's own orientation offset (Pearson
correlation per hinge; undefined for plans without noise).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.planning.plan import load_plan_set, plan_orientation_offset
from keyscaffold.provenance import provenance
from keyscaffold.rl.checkpoints import load_policy
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.rl.rollout import run_episode
from keyscaffold.rl.run_folder import checkpoint_file, load_run_config
from keyscaffold.tasks import make_task
from keyscaffold.util import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "residual_use.json"
AT_BOUND = 0.98
"""A residual beyond this fraction of its range counts as held at the bound."""


def residual_use(run: Path, plans_dir: Path, step: int, trials: int = 2) -> dict:
    """The row of one policy (see the module docstring)."""
    config = load_run_config(run)
    plans = load_plan_set(plans_dir)
    task = make_task(plans[0].task)
    env = ScaffoldEnv(task, plans, config.env.for_evaluation(len(plans) * trials), seed=0)
    policy = load_policy(checkpoint_file(run, "best"), env)
    env.assign_plans(np.repeat(np.arange(len(plans)), trials))
    rotation = env.action_spec.rotation_slice
    scale = config.env.wrist_rotation_scale
    seen: dict[str, np.ndarray] = {}

    def read(t: int, _dones: np.ndarray) -> None:
        if t == step:
            seen["residual"] = env.action_avg[:, rotation] * scale

    run_episode(env, policy, on_step=read)
    residual = seen["residual"]
    offset = np.array([plan_orientation_offset(plans[i // trials]) for i in range(env.num_envs)])
    at_bound = np.abs(residual) > AT_BOUND * scale
    noisy = offset.std(axis=0) > 0
    return {
        "run": str(run),
        "plans": str(plans_dir),
        "task": task.name,
        "step": step,
        "episodes": env.num_envs,
        "success_rate": float(env.last_episode["success"].mean()),
        "rotation_scale": scale,
        "episodes_with_an_axis_at_bound": int(at_bound.any(axis=1).sum()),
        "episodes_at_bound_per_axis": at_bound.sum(axis=0).tolist(),
        "residual_vs_minus_offset_correlation": [
            float(np.corrcoef(residual[:, a], -offset[:, a])[0, 1]) if noisy[a] else None
            for a in range(residual.shape[1])
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a training run folder")
    parser.add_argument("--plans", type=Path, required=True, help="held-out plan set")
    parser.add_argument("--step", type=int, default=200)
    parser.add_argument("--label", default="", help="row key (default: the run folder)")
    args = parser.parse_args()
    label = args.label or str(args.run)
    row = {"label": label, **residual_use(args.run, args.plans, args.step)}
    row["command"] = (
        f"python benchmarks/residual_use.py --run {args.run} --plans {args.plans} "
        f"--step {args.step} --label {label}"
    )
    row.update(provenance())
    rows = {r["label"]: r for r in json.loads(RESULTS.read_text())} if RESULTS.exists() else {}
    rows[label] = row
    atomic_write_text(RESULTS, json.dumps(list(rows.values()), indent=2) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
