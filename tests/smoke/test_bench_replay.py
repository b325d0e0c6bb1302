"""The raw-physics baseline of `bench` replays the physics the env did."""

from __future__ import annotations

import mujoco
import mujoco.rollout
import numpy as np

from keyscaffold.benchmark import held_physics, recorded_physics
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.tasks import make_task


def test_recorded_controls_replay_the_env_physics():
    task = make_task("open_drawer")
    env = ScaffoldEnv(task, oracle_plans(task, "train", 0, 2), EnvConfig(num_envs=3, num_threads=1))
    held_state, held = held_physics(env, 4)
    state, control = recorded_physics(env, 12)
    substeps = env.config.physics.substeps
    assert control.shape == (3, 12 * substeps, env.worlds.model.nu)
    assert held.shape == (3, 4 * substeps, env.worlds.model.nu)
    np.testing.assert_array_equal(held_state, state)  # both start from the env's worlds
    # The controls change from step to step (the plan moves and actions are applied) ...
    assert np.abs(np.diff(control, axis=1)).max() > 1e-4
    datas = [mujoco.MjData(env.worlds.model)]
    with mujoco.rollout.Rollout(nthread=1) as runner:
        replayed, _ = runner.rollout(env.worlds.model, datas, state, control)
    # ... and replaying them from the recorded state lands every world where the env left it.
    nq = env.worlds.model.nq
    assert (env.episode_length_buf.numpy() == 12).all()  # no world was reset on the way
    np.testing.assert_allclose(replayed[:, -1, 1 : 1 + nq], env.worlds.qpos, atol=1e-6)
    # The env's step method is its own again.
    assert "step" not in vars(env.worlds)
