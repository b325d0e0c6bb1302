"""Does a trained policy need its exploration noise? Success with the mean action against sampled
actions, on the plans it trained on and on held-out ones, and where its mean actions sit.

Usage:
    .venv/bin/python benchmarks/policy_noise.py RUN [--checkpoint latest] [--plans 10] [--name NAME]
        RUN: a `keyscaffold benchmark` seed's train folder (runs/tasks/close_pliers/seed_0/train);
        adds (or replaces) row NAME in benchmarks/results/policy_noise.json

A policy that succeeds when its actions are sampled but not with its mean has learned to rely on
the noise (a jiggling wrist that knocks a tool shut): its deterministic evaluation, which
`keyscaffold eval` and validation use, fails. The mean actions are read on the held-out plans.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.planning.plan import load_plan_set
from keyscaffold.provenance import keep_earlier, provenance
from keyscaffold.rl.checkpoints import load_runner
from keyscaffold.rl.rollout import Validator
from keyscaffold.rl.run_folder import checkpoint_file, load_run_config, run_plans_dir
from keyscaffold.tasks import make_task
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "policy_noise.json"
TRIALS = 2
SAMPLING_SEED = 0


def measure(run: Path, checkpoint: str, num_plans: int) -> dict:
    """Deterministic and sampled success on the run's train and validation plans; the learned
    noise and the mean actions on the validation plans."""
    policy_file = checkpoint_file(run, checkpoint)
    task = make_task(json.loads((run / "config.json").read_text())["task"])
    config = load_run_config(run)
    plan_root = run_plans_dir(run).parent.parent
    row: dict = {"task": task.name, "checkpoint": checkpoint}
    means: list[np.ndarray] = []
    for split in ("train", "val"):
        plans = load_plan_set(plan_root / split / "oracle", task.name)[:num_plans]
        validator = Validator.for_plans(task, plans, config.env, TRIALS, seed=123)
        runner = load_runner(policy_file, validator.env)
        mean_policy, actor = runner.get_inference_policy(), runner.alg.actor
        actor.eval()
        means.clear()  # the mean actions of the last split (held-out plans) are reported

        def deterministic(obs, policy=mean_policy):
            action = policy(obs)
            means.append(action.numpy().copy())
            return action

        deterministic_success = validator(deterministic)
        torch.manual_seed(SAMPLING_SEED)  # the sampled episodes repeat too
        row[split] = {
            "episodes": validator.num_episodes,
            "deterministic": deterministic_success,
            "sampled": validator(lambda obs, a=actor: a(obs, stochastic_output=True)),
        }
    actions = np.concatenate(means)
    row["action_names"] = list(validator.env.action_spec.names)
    row["mean_action"] = [round(float(v), 3) for v in actions.mean(axis=0)]
    row["mean_action_outside_bounds"] = round(float((np.abs(actions) > 1).mean()), 3)
    # a state-dependent noise (ppo.state_dependent_std): its mean over the last states sampled
    std = getattr(actor.distribution, "std_param", None)
    std = actor.distribution.std.mean(dim=0) if std is None else std
    row["noise_std"] = [round(float(v), 3) for v in std.detach()]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--checkpoint", default="latest", choices=("best", "latest", "final"))
    parser.add_argument("--plans", type=int, default=10, help="plans per split (x2 trials)")
    parser.add_argument("--name", default="", help="row name; default: TASK_CHECKPOINT")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    torch.set_num_threads(1)
    row = measure(args.run, args.checkpoint, args.plans)
    name = args.name or f"{row['task']}_{args.checkpoint}"
    run = args.run.resolve()
    shown = run.relative_to(ROOT) if run.is_relative_to(ROOT) else run
    row = {
        "name": name,
        **row,
        "run": str(shown),
        "note": args.note,
        "command": f"python benchmarks/policy_noise.py {shown} --checkpoint {args.checkpoint} "
        f"--plans {args.plans} --name {name}",
        **provenance(),
    }
    rows = {r["name"]: r for r in json.loads(RESULTS.read_text())} if RESULTS.exists() else {}
    rows[name] = keep_earlier(row, rows.get(name))
    atomic_write_text(RESULTS, json.dumps(list(rows.values()), indent=2) + "\n")
    print(json.dumps({k: row[k] for k in ("name", "train", "val")}))


if __name__ == "__main__":
    main()
