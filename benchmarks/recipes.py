"""Learning recipes under the plans' wrist-orientation noise: `keyscaffold benchmark` per variant.

Usage:
    .venv/bin/python benchmarks/recipes.py --variants curriculum --seeds 1 --iterations 1000
        runs (or resumes) runs/recipes/<variant> and writes one row per variant into
        benchmarks/results/recipes.json (rows of other variants are kept)

Each variant is the CPU profile with some `--set` overrides, trained on oracle plans that carry
the pi/8 noise VLM plans carry (50 training, 10 validation, 20 held-out test states x 2 trials).
With --iterations the runs stop at an iteration count rather than a wall-time budget, so variants
compare fairly on a machine that is busy with other work; without it, --minutes is the budget.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.planning import PLAN_ORIENTATION_NOISE
from keyscaffold.protocol import Protocol, run_protocol
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "recipes.json"

FULL_RESIDUAL = (
    "env.wrist_rotation_scale=1.0",
    "ppo.rotation_noise_std=0.075",
    "env.orientation_curriculum=0.5",
)
"""The CPU profile's rotation settings today, named so its variants reproduce if it changes."""

POSITION_5CM = (*FULL_RESIDUAL, "env.wrist_position_scale=0.05")
"""The CPU profile's rotation and position residual settings today (``position_residual_0.05``)."""

FLOAT32_UPDATE = ("ppo.mixed_precision=off", "ppo.fused_optimizer=false")
"""The update's number format and Adam before bfloat16 autocast became the profile's default."""

CONTACT_FOUND = ("contact_found=0.05", "success_found=-1")
"""The fresh start's rule before a training success was needed as well: contact alone."""

GRASP_WITH_SUCCESS = ("contact_found=0.05", "success_found=0")
"""The fresh start's rule before contact was dropped from it: contact and a training success."""

UPDATE_BEFORE = (
    "ppo.critic_hidden_dims=256,128,64",
    "ppo.num_mini_batches=4",
    *FLOAT32_UPDATE,
    *CONTACT_FOUND,
)
"""The critic (the actor's layers), mini-batch count, update and fresh-start rule the variants
were measured with."""

BF16_UPDATE = (
    *POSITION_5CM,
    "ppo.critic_hidden_dims=256,128,64",
    "ppo.num_mini_batches=4",
    "ppo.mixed_precision=bf16",
    "ppo.fused_optimizer=true",
)
"""A bfloat16 update with a fused Adam (measured 2026-11-22), the output layers with the rest."""

POSITION_10CM = "env.wrist_position_scale=0.1"
"""The position residual of the variants measured before ±5 cm became the profile's default."""

_VARIANTS_BEFORE: dict[str, tuple[str, ...]] = {
    "profile_before": (
        "env.wrist_rotation_scale=0.25",
        "ppo.rotation_noise_std=0.3",
        "env.orientation_curriculum=0",
        POSITION_10CM,
    ),
    "wide_rotation_small_noise": (
        "env.wrist_rotation_scale=0.5",
        "ppo.rotation_noise_std=0.1",
        "env.orientation_curriculum=0",
        POSITION_10CM,
    ),
    "curriculum": (
        "env.wrist_rotation_scale=0.5",
        "ppo.rotation_noise_std=0.15",
        "env.orientation_curriculum=0.5",
        POSITION_10CM,
    ),
    "curriculum_full_residual": (*FULL_RESIDUAL, POSITION_10CM),
    "full_residual_randomized": (*FULL_RESIDUAL, POSITION_10CM, "env.randomization.enabled=true"),
    "full_residual_4_epochs": (*FULL_RESIDUAL, POSITION_10CM, "ppo.num_learning_epochs=4"),
    "position_residual_0.05": POSITION_5CM,
    "position_residual_0.05_randomized": (*POSITION_5CM, "env.randomization.enabled=true"),
}

VARIANTS: dict[str, tuple[str, ...]] = {
    **{name: (*overrides, *UPDATE_BEFORE) for name, overrides in _VARIANTS_BEFORE.items()},
    "small_critic": (
        *POSITION_5CM,
        "ppo.critic_hidden_dims=128,64",
        "ppo.num_mini_batches=4",
        *FLOAT32_UPDATE,
        *CONTACT_FOUND,
    ),
    "small_critic_2_minibatches": (
        *POSITION_5CM,
        "ppo.critic_hidden_dims=128,64",
        "ppo.num_mini_batches=2",
        *FLOAT32_UPDATE,
        *CONTACT_FOUND,
    ),
    "bf16_update": (*BF16_UPDATE, "ppo.float32_outputs=false", *CONTACT_FOUND),
    "bf16_update_grasp_with_success": (
        *BF16_UPDATE,
        "ppo.float32_outputs=false",
        *GRASP_WITH_SUCCESS,
    ),
    "bf16_update_float32_outputs": (*BF16_UPDATE, "ppo.float32_outputs=true"),
    "bf16_update_float32_outputs_48_steps": (
        *BF16_UPDATE,
        "ppo.float32_outputs=true",
        "ppo.num_steps_per_env=48",
    ),
}
"""Overrides of each variant. Each names every setting it tries, so it reproduces whatever the CPU
profile's defaults become (``position_residual_0.05`` is the profile's default now)."""


def recipe_row(variant: str, summary: dict) -> dict:
    """The row of one variant in recipes.json."""
    seeds = summary["per_seed"]
    return {
        "variant": variant,
        "overrides": summary["settings"]["overrides"],
        "task": summary["task"],
        "orientation_noise": summary["settings"]["orientation_noise"],
        "success_rate": summary["success_mean"],
        "success_std": summary["success_std"],
        "success_ci95": summary["pooled_success_ci95"],
        "num_episodes": summary["pooled_episodes"],
        "seeds": len(seeds),
        "per_seed_success": [s["success_rate"] for s in seeds],
        "last_checkpoint_success": [s.get("latest_success_rate") for s in seeds],
        "best_val_success": [s["best_val_success"] for s in seeds],
        "iterations": [s["iterations"] for s in seeds],
        "train_minutes": [s["train_minutes"] for s in seeds],
        "update_share": [s.get("update_share") for s in seeds],
        "fresh_starts": [s.get("restarts") for s in seeds],
        "minutes_to_learned": [s.get("minutes_to_learned") for s in seeds],
        "failure_breakdown": summary["failure_breakdown"],
        "command": summary["command"],
        "commit": summary["commit"],
        "machine": summary["machine"],
        "date": summary["date"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--iterations", type=int, default=0, help="stop at this iteration count")
    parser.add_argument(
        "--orientation-noise",
        type=float,
        default=PLAN_ORIENTATION_NOISE,
        help="wrist-orientation noise of the plans (rad); rows without pi/8 get their own key",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "recipes")
    args = parser.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    rows = (
        {r.get("key", r["variant"]): r for r in json.loads(RESULTS.read_text())}
        if RESULTS.exists()
        else {}
    )
    for name in names:
        overrides = VARIANTS[name]
        minutes = args.minutes
        if args.iterations:
            overrides = (*overrides, f"max_iterations={args.iterations}")
            minutes = max(minutes, 60.0)
        protocol = Protocol(
            task="move_apple",
            seeds=args.seeds,
            minutes=minutes,
            orientation_noise=args.orientation_noise,
            overrides=overrides,
        )
        key = (
            name
            if math.isclose(args.orientation_noise, PLAN_ORIENTATION_NOISE)
            else (f"{name}_noise{args.orientation_noise:g}")
        )
        folder = args.out / key
        command = (
            f"keyscaffold benchmark move_apple --seeds {args.seeds} --minutes {minutes} "
            f"--out {folder} --orientation-noise {args.orientation_noise} "
            f"--set {' '.join(overrides)}"
        )
        summary = run_protocol(protocol, folder, command=command)
        rows[key] = {**recipe_row(name, summary), "key": key}
        atomic_write_text(RESULTS, json.dumps(list(rows.values()), indent=2) + "\n")
        print(f"{name}: success {summary['success_mean']:.2f} {summary['pooled_success_ci95']}")


if __name__ == "__main__":
    main()
