"""Contract tests over every registered task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.tasks import make_task, task_names

TASKS = task_names()


@pytest.fixture(scope="module", params=TASKS)
def env_factory(request):
    task = make_task(request.param)
    plans = oracle_plans(task, "train", 0, 3)

    def make(seed=0, num_envs=4):
        return ScaffoldEnv(task, plans, EnvConfig(num_envs=num_envs, num_threads=1), seed=seed)

    return task, make


def test_registry_knows_tasks():
    assert "move_apple" in TASKS
    with pytest.raises(KeyError, match="Did you mean 'move_apple'"):
        make_task("move_aple")


@pytest.mark.parametrize("name", TASKS)
def test_task_declares_everything(name):
    task = make_task(name)
    assert task.instruction and task.keypoints and task.start_limit > 0
    doc = task.__class__.__doc__
    for part in ("Description:", "Randomizations:", "Success:"):
        assert part in doc
    state = task.sample_initial_state(7)
    assert state == task.sample_initial_state(7)
    assert state != task.sample_initial_state(8)


def test_seeded_reset_is_deterministic(env_factory):
    _, make = env_factory
    a, b = make(seed=3), make(seed=3)
    torch.testing.assert_close(a.get_observations()["policy"], b.get_observations()["policy"])
    actions = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (4, 7)).astype(np.float32))
    for _ in range(5):
        oa, ra, _, _ = a.step(actions)
        ob, rb, _, _ = b.step(actions)
    torch.testing.assert_close(oa["policy"], ob["policy"])
    torch.testing.assert_close(ra, rb)
    c = make(seed=4)
    assert not torch.equal(
        c.get_observations()["policy"], make(seed=3).get_observations()["policy"]
    )


def test_bad_actions_are_rejected(env_factory):
    _, make = env_factory
    env = make()
    with pytest.raises(ValueError, match="NaN"):
        env.step(torch.full((4, 7), float("nan")))
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.zeros(4, 6))


def test_success_is_false_at_reset(env_factory):
    task, make = env_factory
    env = make()
    assert not task.success(env.worlds.keypoints()).any()


def test_observation_and_step_shapes(env_factory):
    _, make = env_factory
    env = make()
    obs = env.get_observations()
    assert obs["policy"].shape[0] == 4 and obs["policy"].dtype == torch.float32
    obs, reward, done, extras = env.step(torch.zeros(4, 7))
    assert reward.shape == (4,) and done.shape == (4,) and extras["time_outs"].shape == (4,)
    assert {"/reward/tracking", "/reward/contact", "/reward/action"} <= set(extras["log"])
    assert torch.isfinite(obs["policy"]).all()


def test_episode_times_out_at_episode_length(env_factory):
    task, make = env_factory
    env = make(num_envs=2)
    env.config = EnvConfig(num_envs=2, num_threads=1, terminate=False)
    for t in range(task.episode_steps):
        _, _, done, extras = env.step(torch.zeros(2, 7))
        if t < task.episode_steps - 1:
            assert not done.any()
    assert done.all() and extras["time_outs"].all()
    assert (env.episode_length_buf == 0).all()


def test_tracking_limit_curriculum(env_factory):
    task, make = env_factory
    env = make()
    env.set_training_progress(0.0)
    assert env.tracking_limit == pytest.approx(task.start_limit)
    env.set_training_progress(1.0)
    assert env.tracking_limit == pytest.approx(task.start_limit / 2)
