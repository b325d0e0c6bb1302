"""The evaluation protocol: several training seeds, one budget, the same held-out episodes.

``keyscaffold benchmark TASK --seeds 3 --minutes M --out DIR`` makes train, validation and test
plans (oracle by default, with the wrist-orientation noise VLM plans carry), trains every seed with
the same budget and evaluates each on the same held-out states and trials. Every step leaves its
files behind (plans, run folders with checkpoints, ``eval.json``), so running the command again
resumes where it stopped. ``DIR/benchmark.json`` is written after every seed, the picture after it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import numpy as np

from keyscaffold.commands import evaluate_policy, make_plans, train_policy
from keyscaffold.evaluation.failures import CATEGORIES
from keyscaffold.evaluation.media import plot_seeds
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.planning import PLAN_ORIENTATION_NOISE
from keyscaffold.provenance import provenance
from keyscaffold.rl.config import TrainConfig, profile_config
from keyscaffold.rl.metrics import training_record
from keyscaffold.tasks import make_task
from keyscaffold.util import atomic_write_text

PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class Protocol:
    """What a benchmark runs; a resumed benchmark must be given the same."""

    task: str
    seeds: int = 3
    """Training seeds (0 .. seeds-1)."""
    minutes: float = 15.0
    """Training wall time per seed."""
    train_plans: int = 50
    val_plans: int = 10
    """Held-out validation states that pick each run's best checkpoint (0: keep the last)."""
    test_plans: int = 20
    trials_per_plan: int = 2
    """Test episodes per held-out state, each with different start noise."""
    orientation_noise: float = PLAN_ORIENTATION_NOISE
    """Wrist-orientation noise of the oracle plans (rad); VLM plans carry pi/8 by default."""
    plans_train: str = ""
    """A plan set to train on instead of oracle plans (any planner)."""
    plans_test: str = ""
    """A plan set to test on instead of oracle plans."""
    plans_val: str = ""
    """A plan set to validate on instead of oracle plans (e.g. held-out VLM plans)."""
    profile: str = "cpu"
    num_envs: int | None = None
    overrides: tuple[str, ...] = ()
    """Training settings changed from the profile (``--set NAME=VALUE``)."""

    def validate(self) -> None:
        for name in ("seeds", "train_plans", "test_plans", "trials_per_plan"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if self.minutes <= 0:
            raise ValueError(f"--minutes must be positive, got {self.minutes}")
        if self.val_plans < 0:
            raise ValueError(f"--val-plans must be >= 0, got {self.val_plans}")
        if self.orientation_noise < 0:
            raise ValueError(f"--orientation-noise must be >= 0, got {self.orientation_noise}")
        self.train_config(0)  # an unknown profile is refused before any plan is made

    def train_config(self, seed: int) -> TrainConfig:
        return profile_config(
            self.profile,
            self.num_envs,
            self.overrides,
            task=make_task(self.task),
            minutes=self.minutes,
            seed=seed,
        )


def _plan_sets(protocol: Protocol, out: Path) -> dict[str, Path | None]:
    """Train, validation and test plan sets: the given ones, oracle plans for the rest."""
    settings = {"orientation_noise": protocol.orientation_noise}
    counts = {"train": protocol.train_plans, "val": protocol.val_plans, "test": protocol.test_plans}
    given = {"train": protocol.plans_train, "val": protocol.plans_val, "test": protocol.plans_test}
    sets: dict[str, Path | None] = {}
    for split, count in counts.items():
        if split == "val" and not count:
            sets[split] = None  # no validation: the run keeps its last checkpoint
        elif given[split]:
            sets[split] = Path(given[split])
        else:
            sets[split] = make_plans(
                protocol.task, count, split, 0, 20, out / "plans", settings=settings
            )
    return sets


def _training_summary(run: Path) -> dict:
    """Iterations, minutes, the best validation success and how fast a finished run learned."""
    record = training_record(run)
    share = record["update_share"]
    return {
        "iterations": record["iterations"],
        "train_minutes": round(record["minutes"], 2),
        "env_steps": record["env_steps"],
        "best_val_success": record["best_val_success"],
        "validations": record["validations"],
        "minutes_to_best_val": record["minutes_to_best_val"],
        "minutes_to_learned": record["minutes_to_learned"],
        "restarts": record["restarts"],
        "update_share": None if share is None else round(share, 3),
    }


def _seed_row(seed: int, run: Path, evals: dict[str, dict]) -> dict:
    best = evals["best"]
    row = {
        "seed": seed,
        "run": str(run),
        "success_rate": best["success_rate"],
        "success_ci95": best["success_ci95"],
        "num_episodes": best["num_episodes"],
        "successes": sum(e["success"] for e in best["episodes"]),
        "checkpoint": Path(best["checkpoint"]).name,
        "failure_breakdown": best["failure_breakdown"]["counts"],
        **_training_summary(run),
    }
    if "latest" in evals:
        row["latest_success_rate"] = evals["latest"]["success_rate"]
        row["latest_success_ci95"] = evals["latest"]["success_ci95"]
    return row


def summarize(protocol: Protocol, rows: list[dict], command: str, meta: dict) -> dict:
    """``benchmark.json``: per-seed rows, their mean and spread, the pooled interval.

    ``meta`` is the ``provenance()`` taken when the run started (the commit that ran).
    """
    rates = np.array([r["success_rate"] for r in rows])
    successes = sum(r["successes"] for r in rows)
    episodes = sum(r["num_episodes"] for r in rows)
    failures = {c: sum(r["failure_breakdown"].get(c, 0) for r in rows) for c in CATEGORIES}
    summary = {
        "protocol_version": PROTOCOL_VERSION,
        "task": protocol.task,
        "seeds": [r["seed"] for r in rows],
        "seeds_planned": protocol.seeds,
        "complete": len(rows) == protocol.seeds,
        "minutes": protocol.minutes,
        "success_mean": float(rates.mean()) if len(rows) else None,
        "success_std": float(rates.std()) if len(rows) else None,
        "pooled_success_rate": successes / episodes if episodes else None,
        "pooled_success_ci95": list(wilson_interval(successes, episodes)),
        "pooled_episodes": episodes,
        "failure_breakdown": failures,
        "per_seed": rows,
        "settings": asdict(protocol),
        "command": command,
        **meta,
    }
    latest = [r["latest_success_rate"] for r in rows if "latest_success_rate" in r]
    if latest and len(latest) == len(rows):
        summary["latest_success_mean"] = float(np.mean(latest))
    return summary


def saved_settings(path: Path) -> dict:
    """A benchmark's ``protocol.json`` as plain data; settings added to ``Protocol`` after it was
    written take their defaults, so older benchmarks still resume."""
    defaults = {f.name: f.default for f in fields(Protocol) if f.default is not MISSING}
    return json.loads(json.dumps({**defaults, **json.loads(Path(path).read_text())}))


def run_protocol(
    protocol: Protocol, out: Path, command: str = "", show_progress: bool = True
) -> dict:
    """Run (or resume) a benchmark in ``out``; returns the ``benchmark.json`` content."""
    protocol.validate()
    out = Path(out)
    settings_path = out / "protocol.json"
    current = json.loads(json.dumps(asdict(protocol)))
    saved = None
    if settings_path.exists():
        saved = saved_settings(settings_path)
        # More seeds extend a benchmark: the seeds it already has keep their runs.
        changed = sorted(
            k
            for k in current
            if saved.get(k) != current[k] and not (k == "seeds" and current[k] > saved[k])
        )
        if changed:
            raise ValueError(
                f"{out} holds a benchmark with other settings ({', '.join(changed)} differ); "
                "run it with the same settings to resume (or more --seeds to add seeds), "
                "or pick a new --out"
            )
    if saved != current:
        atomic_write_text(settings_path, json.dumps(asdict(protocol), indent=2))
    meta = provenance()
    plans = _plan_sets(protocol, out)
    rows: list[dict] = []
    summary: dict = {}
    for seed in range(protocol.seeds):
        folder = out / f"seed_{seed}"
        run = folder / "train"
        if not (run / "checkpoints" / "final.pt").exists():
            resume = (run / "checkpoints" / "latest.pt").exists()
            train_policy(
                protocol.task,
                plans["train"],
                run,
                protocol.train_config(seed),
                resume=resume,
                val_plans_dir=plans["val"],
            )
        evals = {}
        which = ["best", "latest"] if (run / "checkpoints" / "best.pt").exists() else ["best"]
        for checkpoint in which:
            eval_dir = folder / ("eval" if checkpoint == "best" else "eval_latest")
            if not (eval_dir / "eval.json").exists():
                evaluate_policy(
                    protocol.task,
                    run,
                    plans["test"],
                    eval_dir,
                    protocol.trials_per_plan,
                    seed=0,  # every training seed meets the same held-out episodes
                    checkpoint=checkpoint,
                )
            evals[checkpoint] = json.loads((eval_dir / "eval.json").read_text())
        rows.append(_seed_row(seed, run, evals))
        summary = summarize(protocol, rows, command, meta)
        atomic_write_text(out / "benchmark.json", json.dumps(summary, indent=2))
    try:
        plot_seeds(summary, out / "benchmark.png")
    except Exception as error:  # the numbers are already on disk
        warnings.warn(f"benchmark picture skipped: {error}", stacklevel=2)
    return summary
