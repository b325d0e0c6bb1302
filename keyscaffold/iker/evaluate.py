"""Held-out evaluation of IKER's training on single-step tasks: one policy, many scenes.

``heldout_evaluation`` asks the task's oracle for the stage code of N training states and M test
states (each through the sandbox and the contract check, ``codegen.CodeWork``), trains one PPO
policy on the training goals (one goal per state, start noise per episode) and runs it on every
test goal ``trials`` times with different start noise. An episode succeeds when the mean keypoint
distance to the targets is below 5 cm at its last step; the task's own ``evaluate`` is also
judged, after the gripper lets go and the scene settles. Both rates come with 95% Wilson
intervals. Training validates the policy on the goals of a few more states (the val split) and
keeps the best one, which is what is tested; the run's last policy is tested too
(``last_checkpoint``), so what keeping the best is worth is measured in every run.

How many candidates the camera sees on the object varies with the scene, so goals differ in
their number of keypoints; the env's keypoint slots take any number up to ``keypoint_slots``
(``keyscaffold.rl.keypoint_env``), so one policy serves them all. A state whose oracle code fails
(or says ``done`` at the start) is skipped and recorded; test seeds are drawn until ``num_test``
usable states are found (at most three times as many tried).

Folder::

    heldout.json          rates, intervals, episodes, seeds, skipped states, training, provenance
    codegen_train/        the oracle's code for the training states (CodeWork folder)
    codegen_test_<b>/     the same for the test states, batch by batch of ``num_test`` seeds
    codegen_val/          the same for the validation states
    policy/               the training run (train_env); an existing final checkpoint is reused
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.iker.code_settings import CodeSettings
from keyscaffold.iker.codegen import CodeWork
from keyscaffold.iker.keypoints import propose
from keyscaffold.iker.skills import (
    SETTLE_STEPS,
    execute,
    execution_config,
    fixture_bodies,
    goal_from_spec,
    load_skill,
    train_skill,
)
from keyscaffold.planning.oracle import split_seeds
from keyscaffold.provenance import provenance
from keyscaffold.rl.config import TrainConfig, profile_config
from keyscaffold.rl.keypoint_env import REWARDS, KeypointEnv, KeypointEnvConfig, KeypointGoal
from keyscaffold.rl.metrics import training_record
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.sim.scene import PhysicsConfig
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import Task, TaskMonitor
from keyscaffold.util import atomic_write_text

RESULT_FILE = "heldout.json"


def oracle_goals(
    task: Task,
    seeds: list[int],
    folder: Path,
    image_size: int = 512,
    physics: PhysicsConfig | None = None,
) -> tuple[dict[int, KeypointGoal], dict[int, str]]:
    """The oracle's single-step goal of each initial state, through the sandbox.

    Args:
        task: A single-step IKER task (with ``oracle_code``).
        seeds: Initial-state seeds.
        folder: The ``CodeWork`` folder (reopened when it exists).
        image_size: Width and height of the scene pictures the candidates come from (pixels).
        physics: ``PhysicsConfig`` of the model (default: the task's default).

    Returns:
        Goals by seed, and for every seed without one the failure kind of its code.
    """
    settings = CodeSettings.for_task(task, seeds=seeds, multi_step=False, source="oracle")
    work = CodeWork(folder, settings, oracle=task.oracle_code)
    model = task.build_model(physics)
    renderer = SceneRenderer(model, image_size, image_size, quality=True)
    objects, fixtures = task.movable_objects(), fixture_bodies(task)
    states = {seed: task.sample_initial_state(seed) for seed in seeds}
    try:
        for seed in seeds:
            if work.waiting_for(seed) == "observe":
                data = task.state_data(model, states[seed])
                frame = renderer.frame(data, task.camera.name)
                work.observe(seed, 0, propose(model, data, frame, objects, fixtures))
    finally:
        renderer.close()
    work.run()
    goals, failures = {}, {}
    for seed in seeds:
        spec = work.stage_spec(seed, 0)
        if spec is None or spec.done:
            failure = work.failure(seed)
            if spec is not None:
                failures[seed] = "done_at_start"
            else:
                failures[seed] = "no_stage" if failure is None else failure.kind
            continue
        goals[seed] = goal_from_spec(task, states[seed], spec, work.candidates(seed, 0))
    return goals, failures


def heldout_evaluation(
    task_name: str,
    out: Path,
    num_train: int = 10,
    num_test: int = 20,
    trials: int = 2,
    num_val: int = 5,
    minutes: float = 10.0,
    reward: str = "keypoints",
    seed: int = 0,
    train: TrainConfig | None = None,
    env_config: KeypointEnvConfig | None = None,
    image_size: int = 512,
    settle_steps: int = SETTLE_STEPS,
    command: str = "",
    show_progress: bool = False,
) -> dict:
    """Train one policy on oracle goals of ``num_train`` states and test it on held-out states.

    Args:
        task_name: A single-step IKER task (shoe_place, shoe_push, book_push, book_reorient).
        out: Result folder (see the module docstring); a finished training run in it is reused.
        num_train: Training states (train split seeds).
        num_test: Usable held-out states (test split seeds; disjoint from training).
        num_val: Validation states (val split seeds, disjoint from both): the policy is
            validated on them during training and the best one is tested (0: the last one).
        trials: Episodes per test state, each with different start noise.
        minutes: Training wall time.
        reward: ``keypoints`` (IKER) or ``object_pose`` (the baseline).
        seed: Seed of the splits and of training.
        train: PPO settings (default: the CPU profile); ``minutes`` and ``seed`` are replaced.
        env_config: Keypoint env settings (default ``KeypointEnvConfig()``); ``reward`` is
            replaced.
        image_size: Size of the scene pictures the candidates come from (pixels).
        settle_steps: Release steps after each episode, before the task judges the scene.
        command: The command line to record.
        show_progress: Progress bars while training and evaluating.

    Returns:
        The contents of ``heldout.json``: ``success_rate`` and ``success_ci95`` (keypoint
        success), ``task_success_rate`` and ``task_success_ci95``, ``episodes`` and the rest.

    Raises:
        ValueError: A multi-step task, an unknown reward, too few usable states.
    """
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
    if num_train < 1 or num_test < 1 or trials < 1:
        raise ValueError("num_train, num_test and trials must be at least 1")
    task = make_task(task_name)
    if "iker" not in task.modes or task.num_stages() != 1:
        raise ValueError(f"{task.name} is not a single-step IKER task; held-out runs need one")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train = replace(train or profile_config("cpu"), minutes=minutes, seed=seed)
    env_config = replace(env_config or KeypointEnvConfig(), reward=reward)
    physics = env_config.physics
    started = time.perf_counter()

    train_seeds = split_seeds("train", seed, num_train)
    goals, failures = oracle_goals(task, train_seeds, out / "codegen_train", image_size, physics)
    if not goals:
        raise ValueError(f"the oracle gave no usable goal for any training state: {failures}")
    skipped = {"train": failures}
    val_goals, skipped["val"] = (
        oracle_goals(
            task, split_seeds("val", seed, num_val), out / "codegen_val", image_size, physics
        )
        if num_val > 0
        else ({}, {})
    )

    test_goals: dict[int, KeypointGoal] = {}
    test_skipped: dict[int, str] = {}
    tried = split_seeds("test", seed, 3 * num_test)
    for start in range(0, len(tried), num_test):
        if len(test_goals) >= num_test:
            break
        batch = tried[start : start + num_test]
        folder = out / f"codegen_test_{start // num_test}"
        found, failed = oracle_goals(task, batch, folder, image_size, physics)
        test_skipped.update(failed)
        for seed_, goal in found.items():
            if len(test_goals) < num_test:
                test_goals[seed_] = goal
    skipped["test"] = test_skipped
    if not test_goals:
        raise ValueError(f"no usable held-out state among {len(tried)} tried: {test_skipped}")

    run_dir = out / "policy"
    train_started = time.perf_counter()
    if not (run_dir / "checkpoints" / "final.pt").exists():
        train_skill(
            task,
            list(goals.values()),
            run_dir,
            train,
            env_config,
            seed=seed,
            description={"train_seeds": sorted(goals), "validation_seeds": sorted(val_goals)},
            show_progress=show_progress,
            validation_goals=list(val_goals.values()),
        )
    train_s = time.perf_counter() - train_started

    test_seeds = sorted(test_goals)
    config = execution_config(env_config, len(test_seeds) * trials, noise=True)
    env = KeypointEnv(task, [test_goals[s] for s in test_seeds], config, seed=seed + 1)

    def test(which: str) -> list[dict]:
        """Every test goal ``trials`` times with the run's ``which`` checkpoint (same start
        noise for every checkpoint)."""
        policy = load_skill(run_dir, env, which)
        env.rng = np.random.default_rng(seed + 1)
        env.assign_goals(np.repeat(np.arange(len(test_seeds)), trials))
        monitor = TaskMonitor(task, env.worlds)
        result = execute(env, policy, settle_steps, monitor=monitor, show_progress=show_progress)
        return [
            {
                "seed": test_seeds[i // trials],
                "trial": i % trials,
                "success": bool(result["episode_success"][i]),
                "keypoint_distance": float(result["episode_distance"][i]),
                "final_distance": float(result["final_distance"][i]),
                "task_success": bool(result["task_success"][i]),
                "task_metrics": {
                    name: float(values[i]) for name, values in result["task_metrics"].items()
                },
            }
            for i in range(env.num_envs)
        ]

    has_best = (run_dir / "checkpoints" / "best.pt").exists()
    episodes = test("best")
    last_checkpoint = None
    if has_best:  # the same test with the run's last policy, to show what keeping the best is worth
        last = test("latest")
        hits = sum(e["success"] for e in last)
        last_checkpoint = {
            "success_rate": hits / len(last),
            "success_ci95": list(wilson_interval(hits, len(last))),
            "task_success_rate": sum(e["task_success"] for e in last) / len(last),
        }
    n = len(episodes)
    successes = sum(e["success"] for e in episodes)
    task_successes = sum(e["task_success"] for e in episodes)
    summary = {
        "task": task.name,
        "reward": reward,
        "keypoint_counts": sorted({len(g.keypoints_local) for g in goals.values()}),
        "keypoint_slots": env_config.keypoint_slots,
        "num_train_states": len(goals),
        "num_test_states": len(test_seeds),
        "trials": trials,
        "num_episodes": n,
        "success_rate": successes / n,
        "success_ci95": list(wilson_interval(successes, n)),
        "task_success_rate": task_successes / n,
        "task_success_ci95": list(wilson_interval(task_successes, n)),
        "mean_keypoint_distance": float(np.mean([e["keypoint_distance"] for e in episodes])),
        "checkpoint": "best" if has_best else "latest",
        "last_checkpoint": last_checkpoint,
        "validation": {"seeds": sorted(val_goals), "trials": train.validation_trials},
        "train_minutes": minutes,
        "training": training_record(run_dir),
        "train_s": train_s,
        "train_seeds": sorted(goals),
        "test_seeds": test_seeds,
        "skipped": {k: {str(s): why for s, why in v.items()} for k, v in skipped.items()},
        "settings": {
            "train": asdict(train),
            "keypoint_env": asdict(env_config),
            "image_size": image_size,
            "settle_steps": settle_steps,
            "seed": seed,
        },
        "episodes": episodes,
        "command": command,
        **provenance(),
        "total_s": time.perf_counter() - started,
    }
    atomic_write_text(out / RESULT_FILE, json.dumps(summary, indent=2))
    return summary
