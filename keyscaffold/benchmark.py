"""Throughput measured in one run: env vs raw MuJoCo, 2 threads vs 1, PPO update share."""

from __future__ import annotations

import time
from dataclasses import replace

import mujoco
import mujoco.rollout
import numpy as np
import torch

from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.config import TrainConfig
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.rl.runner import collect_rollout as _collect
from keyscaffold.rl.runner import make_runner
from keyscaffold.sim.randomization import Randomization
from keyscaffold.tasks import make_task

RAW_HOVER_STEPS = 24
"""Control steps of each rollout call of the held-pose baseline."""


def _timed_loop(body, seconds: float) -> tuple[int, float]:
    """Call ``body`` until ``seconds`` pass; returns (calls, elapsed)."""
    body()  # warm-up
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        body()
        calls += 1
    return calls, elapsed


def _random_actions(env: ScaffoldEnv) -> torch.Tensor:
    """The fixed random actions the env is stepped with, shape: (num_envs, num_actions)."""
    rng = np.random.default_rng(0)
    return torch.from_numpy(
        rng.uniform(-0.3, 0.3, (env.num_envs, env.num_actions)).astype(np.float32)
    )


def recorded_physics(env: ScaffoldEnv, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Every world's state now and the controls the env applies over the next ``steps`` control
    steps with the benchmark's random actions, read as sent to the physics. Worlds do not end
    early on lost tracking while recording, so replayed from that state, the controls give the
    physics the env did, contacts included (``steps`` up to the episode length).

    Returns:
        States, shape: (num_envs, S), and controls per physics step, shape:
        (num_envs, steps * substeps, nu).
    """
    state, actions, config = env.worlds.snapshot(), _random_actions(env), env.config
    env.config = replace(config, terminate=False)  # no world restarts mid-way
    try:
        with env.worlds.recording() as applied:
            for _ in range(steps):
                env.step(actions)
    finally:
        env.config = config
    control = np.repeat(np.stack(applied, axis=1), env.config.physics.substeps, axis=1)
    return state, control


def held_physics(env: ScaffoldEnv, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Every world's state now with its current controls held for ``steps`` control steps: at a
    reset, the hand hovering at its start pose and touching nothing (a lighter baseline)."""
    nstep = steps * env.config.physics.substeps
    control = env.worlds.controls()[:, None].repeat(nstep, axis=1)
    return env.worlds.snapshot(), control


def raw_steps_per_second(
    model: mujoco.MjModel, state: np.ndarray, control: np.ndarray, threads: int, seconds: float
) -> float:
    """Physics steps/s of ``mujoco.rollout`` replaying ``control`` (B, N, nu) from ``state``
    (B, S) on ``threads`` threads: the same physics with no policy and no Python per step."""
    datas = [mujoco.MjData(model) for _ in range(threads)]
    nstep = control.shape[1]
    with mujoco.rollout.Rollout(nthread=threads) as runner:
        calls, elapsed = _timed_loop(
            lambda: runner.rollout(model, datas, state, control, nstep=nstep), seconds
        )
    return calls * len(state) * nstep / elapsed


def env_steps_per_second(env: ScaffoldEnv, seconds: float) -> float:
    """Physics steps/s of the env stepped with random actions (observation and reward included)."""
    actions = _random_actions(env)
    calls, elapsed = _timed_loop(lambda: env.step(actions), seconds)
    return calls * env.num_envs * env.config.physics.substeps / elapsed


def ppo_update_share(env: ScaffoldEnv, config: TrainConfig, iterations: int = 4) -> float:
    """Share of a training iteration spent in the PPO update, with the CPU profile."""
    runner = make_runner(env, config.ppo)
    runner.alg.train_mode()
    obs = env.get_observations()
    collect = update = 0.0
    for i in range(iterations + 1):
        t0 = time.perf_counter()
        obs, _ = _collect(runner, env, obs, config.ppo.num_steps_per_env)
        t1 = time.perf_counter()
        runner.alg.update()
        t2 = time.perf_counter()
        if i > 0:  # the first iteration warms caches up
            collect, update = collect + t1 - t0, update + t2 - t1
    return update / (collect + update)


def run_benchmark(task: str = "move_apple", num_envs: int = 128, seconds: float = 3.0) -> dict:
    """All benchmark quantities of one task's scene in one process, on this machine's cores."""
    task = make_task(task)
    plans = oracle_plans(task, "train", 0, 16)
    train_config = TrainConfig()
    env_config = replace(train_config.env, num_envs=num_envs)
    envs = {t: ScaffoldEnv(task, plans, replace(env_config, num_threads=t)) for t in (1, 2)}
    model = envs[2].worlds.model
    # Both baselines start from the freshly reset worlds: one holds the start pose, the other
    # replays a whole episode of the env's own controls.
    hover = held_physics(envs[2], RAW_HOVER_STEPS)
    replay = recorded_physics(envs[2], envs[2].max_episode_length)
    raw = raw_steps_per_second(model, *replay, 2, seconds)
    raw_hover = raw_steps_per_second(model, *hover, 2, seconds)
    env2 = env_steps_per_second(envs[2], seconds)
    env1 = env_steps_per_second(envs[1], seconds)
    raw1 = raw_steps_per_second(model, *replay, 1, seconds)
    env_dr, env_real = (
        env_steps_per_second(
            ScaffoldEnv(task, plans, replace(env_config, randomization=profile)), seconds
        )
        for profile in (Randomization(enabled=True), Randomization.real_robot())
    )
    share = ppo_update_share(envs[2], replace(train_config, env=env_config))
    return {
        "task": task.name,
        "num_actions": envs[2].num_actions,
        "num_envs": num_envs,
        "physics_steps_per_control_step": env_config.physics.substeps,
        "env_steps_per_s": round(env2),
        "raw_steps_per_s": round(raw),
        "env_vs_raw_ratio": round(env2 / raw, 3),
        "raw_hover_steps_per_s": round(raw_hover),
        "env_vs_raw_hover_ratio": round(env2 / raw_hover, 3),
        "env_steps_per_s_1_thread": round(env1),
        "raw_steps_per_s_1_thread": round(raw1),
        "two_vs_one_worker_ratio": round(env2 / env1, 3),
        "env_steps_per_s_randomized": round(env_dr),
        "randomized_vs_plain_ratio": round(env_dr / env2, 3),
        "env_steps_per_s_real_robot": round(env_real),
        "real_robot_vs_plain_ratio": round(env_real / env2, 3),
        "ppo_update_share": round(share, 3),
        "cpu_count": torch.get_num_threads(),
    }
