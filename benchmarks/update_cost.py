"""Seconds per PPO update of the CPU profile and of cheaper variants, measured in one run.

Usage:
    .venv/bin/python benchmarks/update_cost.py [--rounds 12]
        writes benchmarks/results/update_cost.json (the run it replaces stays under ``earlier``)

Every variant updates on one rollout of its own (128 move_apple worlds x its
``num_steps_per_env``, 24 in the profile: 3,072 samples) collected from the same start; the updates of all variants are interleaved round by
round, so a busy machine slows them alike, and each reports the median of its rounds after two
warm-up rounds. The variants are `--set` overrides of the CPU profile; what they do to success
is in docs/training.md ("Where the time goes"). ``loop_adam`` is the profile's update before the
fused Adam; ``native_bf16`` says whether this CPU computes bfloat16 natively.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.provenance import keep_earlier, provenance
from keyscaffold.rl.config import profile_config, update_autocast
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.rl.runner import collect_rollout, make_runner
from keyscaffold.tasks import make_task
from keyscaffold.util import atomic_write_text

VARIANTS: dict[str, tuple[str, ...]] = {
    "profile": (),
    "loop_adam": ("ppo.fused_optimizer=false",),
    "bf16": ("ppo.mixed_precision=bf16",),
    "critic_128_64": ("ppo.critic_hidden_dims=128,64",),
    "2_mini_batches": ("ppo.num_mini_batches=2",),
    "critic_128_64_2_mini_batches": ("ppo.critic_hidden_dims=128,64", "ppo.num_mini_batches=2"),
    "4_epochs": ("ppo.num_learning_epochs=4",),
    "bf16_2_mini_batches": ("ppo.mixed_precision=bf16", "ppo.num_mini_batches=2"),
    "36_steps": ("ppo.num_steps_per_env=36",),
    "48_steps": ("ppo.num_steps_per_env=48",),
}


AUTO = ("ppo.mixed_precision=auto",)


def measure(rounds: int) -> tuple[dict[str, float], dict[str, int]]:
    """Median seconds per update of each variant over ``rounds`` interleaved rounds, and the
    samples each variant's update learns from."""
    task = make_task("move_apple")
    plans = oracle_plans(task, "train", 0, 16)
    profile = profile_config("cpu")
    env = ScaffoldEnv(task, plans, profile.env)
    runners, samples = {}, {}
    for name, overrides in VARIANTS.items():
        torch.manual_seed(0)
        ppo = profile_config("cpu", overrides=overrides).ppo
        runner = make_runner(env, ppo)
        runner.alg.train_mode()
        collect_rollout(runner, env, env.reset(), ppo.num_steps_per_env)
        runners[name] = runner
        samples[name] = env.num_envs * ppo.num_steps_per_env
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds + 2):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.alg.update()  # leaves the rollout in storage: the next round reuses it
            times[name].append(time.perf_counter() - start)
    medians = {name: round(statistics.median(ts[2:]), 4) for name, ts in times.items()}
    return medians, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    seconds, samples = measure(args.rounds)
    base = seconds["profile"]
    result = {
        "task": "move_apple",
        "samples_per_update": samples,
        "update_ms_per_1000_samples": {
            name: round(1000 * 1000 * s / samples[name], 2) for name, s in seconds.items()
        },
        "native_bf16": update_autocast(profile_config("cpu", overrides=AUTO).ppo),
        "update_s_median": seconds,
        "vs_profile": {name: round(s / base, 3) for name, s in seconds.items()},
        "overrides": {name: list(o) for name, o in VARIANTS.items()},
        "command": f"python benchmarks/update_cost.py --rounds {args.rounds}",
        **provenance(),
    }
    path = Path(__file__).parent / "results" / "update_cost.json"
    previous = json.loads(path.read_text()) if path.exists() else None
    atomic_write_text(path, json.dumps(keep_earlier(result, previous), indent=2) + "\n")
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
