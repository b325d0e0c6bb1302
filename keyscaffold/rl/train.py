"""PPO training with rsl_rl: the time-bounded collect/update loop, fresh starts, validation,
resume.

The pieces a run is made of live beside it: settings in ``rl/config.py``, the runner in
``rl/runner.py``, the run folder in ``rl/run_folder.py``, checkpoints in ``rl/checkpoints.py``,
``metrics.csv`` in ``rl/metrics.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rsl_rl.runners import OnPolicyRunner

from keyscaffold.planning.plan import KeypointPlan
from keyscaffold.rl.batched_env import BatchedEnv
from keyscaffold.rl.checkpoints import save_checkpoint
from keyscaffold.rl.config import TrainConfig
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.rl.metrics import METRICS_HEAD, METRICS_TAIL, MetricsLog
from keyscaffold.rl.rollout import Validator
from keyscaffold.rl.run_folder import (
    check_run_folder,
    run_config_json,
    start_run_folder,
)
from keyscaffold.rl.runner import collect_rollout, make_runner, runner_config
from keyscaffold.tasks.base import Task


def train(
    task: Task,
    plans: list[KeypointPlan],
    run_dir: Path,
    config: TrainConfig,
    plans_dir: str = "",
    resume: bool = False,
    show_progress: bool = True,
    validation_plans: list[KeypointPlan] | None = None,
) -> Path:
    """Train a residual tracking policy; returns the path of the final checkpoint.

    With ``resume`` the run continues from ``run_dir/checkpoints/latest.pt``: PPO weights, optimizer,
    normalizer, iteration count, elapsed time, best validation success and random generators are
    restored. With ``validation_plans`` (held-out states) the policy is validated every
    ``config.validation_interval`` iterations and at the end; the best one is kept as
    ``checkpoints/best.pt`` (a later policy replaces it when it validates at least as well).
    """
    check_run_folder(Path(run_dir), resume)  # before the worlds are built
    env = ScaffoldEnv(task, plans, config.env, seed=config.seed)
    validator = None
    if validation_plans and config.validation_interval > 0:
        validator = Validator.for_plans(
            task, validation_plans, config.env, config.validation_trials, seed=config.seed
        )
    description = run_config_json(task, config, plans_dir, env)
    if validator is not None:
        description["validation"] = {
            "plans": [p.plan_id for p in validation_plans],
            "episodes": validator.num_episodes,
        }
    return train_env(env, run_dir, config, description, resume, show_progress, validator)


def train_env(
    env: BatchedEnv,
    run_dir: Path,
    config: TrainConfig,
    description: dict,
    resume: bool = False,
    show_progress: bool = True,
    validator=None,
) -> Path:
    """Train PPO on any keyscaffold ``VecEnv`` (scaffold tracking, IKER keypoint targets).

    ``description`` goes to ``config.json`` (``train`` is read back by ``load_run_config``). The
    env is a ``BatchedEnv`` (``rl/batched_env.py``): its ``metric_logs`` name the ``metrics.csv``
    columns and ``set_training_progress`` moves its curricula. ``validator(policy) -> success`` is optional.
    Returns the final checkpoint's path; see ``train`` for resuming and ``best.pt``.
    """
    run_dir = Path(run_dir)
    latest = check_run_folder(run_dir, resume)
    torch.manual_seed(config.seed)
    runner = make_runner(env, config.ppo, config.save_interval)
    loop = _LoopState()
    if resume:
        loaded = torch.load(latest, weights_only=False)
        runner.alg.load(loaded, None, strict=True)
        info = loaded["infos"]
        loop = _LoopState(
            info["iteration"] + 1,
            info["elapsed_s"],
            info.get("best_val", -1.0),
            **{k: info[k] for k in _ATTEMPT_FIELDS if k in info},
        )
        env.rng.bit_generator.state = info["env_rng"]
        torch.set_rng_state(info["torch_rng"])
    else:
        start_run_folder(run_dir, description)
    # what the policy reads and what its actions become, beside its checkpoints
    actor = runner_config(config.ppo, config.save_interval)["actor"]
    replace(env.io, network=actor).save(run_dir)
    return _loop(runner, env, run_dir, config, loop, validator, show_progress)


@dataclass
class _LoopState:
    """Where a training run stands: next iteration, elapsed wall time, best validation success,
    and the current attempt (``TrainConfig.restart_without_contact``): its number, the iteration
    and wall time it began at, and whether it has found the task (``found_contact``, the name
    checkpoints keep)."""

    iteration: int = 0
    elapsed_s: float = 0.0
    best_val: float = -1.0
    attempt: int = 0
    attempt_iteration: int = 0
    attempt_elapsed_s: float = 0.0
    found_contact: bool = False


_ATTEMPT_FIELDS = ("attempt", "attempt_iteration", "attempt_elapsed_s", "found_contact")


def _raw_contact(logs: dict) -> float | None:
    """The iteration's contact reward per step divided by its weight; None without one."""
    weight = logs.get("/curriculum/contact_weight", 1.0)
    if "/reward/contact" not in logs or weight <= 0:
        return None
    return logs["/reward/contact"] / weight


def _attempt_progress(config: TrainConfig, loop: _LoopState, iteration: int, elapsed: float):
    """Training progress in [0, 1] of the current attempt, which has what was left of the
    iteration and wall-time budgets when it began."""
    by_iterations = (iteration - loop.attempt_iteration) / max(
        config.max_iterations - loop.attempt_iteration, 1
    )
    budget_s = config.minutes * 60.0
    by_time = (elapsed - loop.attempt_elapsed_s) / max(budget_s - loop.attempt_elapsed_s, 1e-9)
    return max(by_iterations, by_time)


def _task_found(config: TrainConfig, contact: float | None, success: float | None) -> bool:
    """Whether an iteration that logged ``contact`` (None: the env has no contact term) and the
    training-episode ``success`` (None: no episode ended) shows the task found: each threshold
    of ``config`` at 0 or above must be exceeded."""
    if config.success_found >= 0 and (success is None or success <= config.success_found):
        return False
    return config.contact_found < 0 or (contact is not None and contact > config.contact_found)


def _should_restart(
    config: TrainConfig, loop: _LoopState, iteration: int, contact, success, allowed: bool = True
) -> bool:
    """Whether the attempt that logged ``contact`` and ``success`` at ``iteration`` has missed
    its chance to find the task (records ``loop.found_contact`` when it has found it)."""
    if _task_found(config, contact, success):
        loop.found_contact = True
    return (
        allowed
        and config.restart_without_contact > 0
        and not loop.found_contact
        and loop.attempt < config.max_restarts
        and iteration + 1 - loop.attempt_iteration >= config.restart_without_contact
    )


def _loop(
    runner: OnPolicyRunner,
    env: BatchedEnv,
    run_dir: Path,
    config: TrainConfig,
    loop: _LoopState,
    validator: Validator | None,
    show_progress: bool,
) -> Path:
    budget_s = config.minutes * 60.0
    metrics = MetricsLog(run_dir, (*METRICS_HEAD, *env.metric_logs, *METRICS_TAIL))
    checkpoints = run_dir / "checkpoints"
    latest = checkpoints / "latest.pt"
    steps_per_iter = config.ppo.num_steps_per_env * env.num_envs
    obs = env.get_observations()
    runner.alg.train_mode()
    clock = time.perf_counter()
    start_iteration, elapsed_before = loop.iteration, loop.elapsed_s
    iteration, elapsed = start_iteration, elapsed_before

    def loop_state(done: int) -> dict:
        return {
            "iteration": done,
            "elapsed_s": elapsed,
            "best_val": loop.best_val,
            **{k: getattr(loop, k) for k in _ATTEMPT_FIELDS},
            "env_rng": env.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def validate(done: int) -> float:
        """Validation success of the current policy; keeps it as best.pt when it is the best."""
        success = validator(runner.alg.get_policy())
        runner.alg.train_mode()
        if success >= loop.best_val:
            loop.best_val = success
            save_checkpoint(runner, checkpoints / "best.pt", loop_state(done))
        return success

    state = loop_state(iteration - 1)
    validated_at = None
    progress = Progress(
        TextColumn("[bold]train[/] it {task.fields[it]}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("success {task.fields[success]:.2f}"),
        TimeElapsedColumn(),
        disable=not show_progress,
    )
    with progress:
        bar = progress.add_task(
            "train", total=budget_s, it=iteration, success=0.0, completed=elapsed
        )
        while iteration < config.max_iterations and elapsed < budget_s:
            env.set_training_progress(_attempt_progress(config, loop, iteration, elapsed))
            t0 = time.perf_counter()
            obs, logs = collect_rollout(runner, env, obs, config.ppo.num_steps_per_env)
            t1 = time.perf_counter()
            losses = runner.alg.update()
            t2 = time.perf_counter()
            elapsed = elapsed_before + (t2 - clock)
            last = iteration + 1 >= config.max_iterations or elapsed >= budget_s
            val_success = ""
            if validator is not None and (
                (iteration + 1) % config.validation_interval == 0 or last
            ):
                val_success = validate(iteration)
                validated_at = iteration
            row = {
                "iteration": iteration,
                "minutes": elapsed / 60.0,
                "env_steps": (iteration + 1) * steps_per_iter,
                "success": logs.get("/episode/success", ""),
                **{column: logs.get(key, "") for column, key in env.metric_logs.items()},
                "collect_s": t1 - t0,
                "update_s": t2 - t1,
                "val_success": val_success,
                "attempt": loop.attempt,
            }
            metrics.write(row, losses)
            if row["success"] != "":
                progress.update(bar, success=row["success"])
            progress.update(bar, completed=min(elapsed, budget_s), it=iteration)
            restart = not last and _should_restart(
                config,
                loop,
                iteration,
                _raw_contact(logs),
                logs.get("/episode/success"),
                env.fresh_start,
            )
            if restart:
                progress.console.print(
                    f"task not found after {iteration + 1 - loop.attempt_iteration} iterations: "
                    f"starting over with a fresh policy (restart {loop.attempt + 1} of "
                    f"{config.max_restarts})"
                )
                torch.manual_seed(config.seed + 1000 * (loop.attempt + 1))
                runner = make_runner(env, config.ppo, config.save_interval)
                runner.alg.train_mode()
                obs = env.reset()
                loop.attempt += 1
                loop.attempt_iteration, loop.attempt_elapsed_s = iteration + 1, elapsed
                loop.best_val = -1.0  # best.pt is the new attempt's from its first validation
            state = loop_state(iteration)
            if restart or (iteration + 1) % config.save_interval == 0:
                save_checkpoint(runner, latest, state)
            iteration += 1
    if validator is not None and validated_at is None and iteration > 0:
        validate(iteration - 1)  # a resumed run that had nothing left to do
        state = loop_state(iteration - 1)
    save_checkpoint(runner, latest, state)
    final = run_dir / "checkpoints" / "final.pt"
    save_checkpoint(runner, final, state)
    metrics.close()
    return final
