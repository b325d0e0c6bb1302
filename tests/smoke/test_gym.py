"""The gymnasium environments of ``keyscaffold.gym`` on move_apple, with few worlds and states."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, VectorEnv

import keyscaffold.gym
from keyscaffold.rl.env import EnvConfig
from keyscaffold.tasks import make_task, scaffold_task_names, task_names

ID = "keyscaffold/move_apple-v0"


def _steps(envs: VectorEnv, seed: int, count: int) -> list[np.ndarray]:
    """Observations of a seeded reset and ``count`` steps of seeded random actions."""
    obs, _ = envs.reset(seed=seed)
    envs.action_space.seed(seed)
    seen = [obs]
    for _ in range(count):
        obs, *_ = envs.step(envs.action_space.sample())
        seen.append(obs)
    return seen


def test_every_scaffold_task_is_registered_and_no_iker_task():
    assert keyscaffold.gym.register_envs() == [
        keyscaffold.gym.env_id(n) for n in scaffold_task_names()
    ]
    for name in task_names():
        registered = keyscaffold.gym.env_id(name) in gymnasium.registry
        assert registered == ("scaffold" in make_task(name).modes), name


def test_make_vec_steps_batched_worlds_and_a_seed_repeats(train_plans):
    envs = gymnasium.make_vec(ID, num_envs=3, num_states=2, config=EnvConfig(num_threads=1))
    assert isinstance(envs, VectorEnv) and envs.unwrapped.scaffold.num_envs == 3
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.single_observation_space.dtype == np.float32
    assert envs.single_action_space.shape == (envs.unwrapped.scaffold.num_actions,)
    obs, _ = envs.reset(seed=5)
    assert obs.shape == (3, *envs.single_observation_space.shape) and obs.dtype == np.float32
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert obs in envs.observation_space
    assert reward.shape == terminated.shape == truncated.shape == (3,)
    assert info["success"].dtype == bool and info["success"].shape == (3,)
    first, second = _steps(envs, 5, 4), _steps(envs, 5, 4)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], _steps(envs, 6, 0)[0])
    # the caller's own plans, through the module-named id
    own = gymnasium.make_vec(
        f"keyscaffold.gym:{ID}", num_envs=2, plans=train_plans[:1], config=EnvConfig(num_threads=1)
    )
    assert own.unwrapped.scaffold.plans == train_plans[:1]
    envs.close()
    own.close()


def test_ended_episodes_reset_in_the_same_step_with_final_obs_and_success():
    # a tracking limit of a micrometre: every world strays and terminates at the first step
    config = EnvConfig(num_threads=1, initial_limit_scale=1e-6)
    envs = gymnasium.make_vec(ID, num_envs=2, num_states=2, config=config)
    envs.reset(seed=0)
    obs, _, terminated, truncated, info = envs.step(np.zeros((2, *envs.single_action_space.shape)))
    assert terminated.all() and not truncated.any()
    assert info["_final_obs"].all() and info["_final_info"].all()
    assert info["success"].dtype == bool and not info["success"].any()
    assert info["final_info"]["episode_length"].tolist() == [1, 1]
    # the last observation entry is the episode's phase: the new episode's is 0
    assert (obs[:, -1] == 0).all() and (info["final_obs"][:, -1] > 0).all()

    # without termination every world reaches the time limit: truncated
    untimed = gymnasium.make_vec(
        ID, num_envs=2, num_states=2, config=EnvConfig(num_threads=1, terminate=False)
    )
    untimed.reset(seed=0)
    for step in range(make_task("move_apple").episode_steps):
        _, _, terminated, truncated, info = untimed.step(np.zeros((2, 7), np.float32))
        assert not terminated.any()
        assert truncated.all() == (step == make_task("move_apple").episode_steps - 1)
    assert info["success"].dtype == bool and info["_success"].all()


def test_single_world_env_passes_the_env_checker():
    env = gymnasium.make(ID, num_states=2, config=EnvConfig(num_threads=1))
    assert env.unwrapped.vector_env.scaffold.num_envs == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    # observations are unbounded (positions, velocities): only that may be warned about
    complaints = [str(w.message) for w in caught if "WARN" in str(w.message)]
    assert all("infinity" in c for c in complaints), complaints
    env.close()


def test_bad_task_names_say_what_exists():
    with pytest.raises(gymnasium.error.Error, match="nope"):
        gymnasium.make_vec("keyscaffold/nope-v0", num_envs=2)
    with pytest.raises(KeyError, match="unknown task 'nope'"):
        keyscaffold.gym.ScaffoldVectorEnv("nope", 2)
    with pytest.raises(ValueError, match="IKER task"):
        keyscaffold.gym.ScaffoldVectorEnv("shoe_place", 2)
