"""Domain randomization: per-world physics drawn at reset, within its ranges, seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from keyscaffold.geometry import quaternion_yaw, turn_quaternions_about_z, yaw_quaternion
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.sim.randomization import Randomization
from keyscaffold.tasks import make_task


@pytest.fixture(scope="module")
def apple():
    task = make_task("move_apple")
    return task, oracle_plans(task, "train", 0, 2, 5)


def _env(task, plans, enabled=True, seed=0, **settings):
    config = EnvConfig(num_envs=6, randomization=Randomization(enabled=enabled, **settings))
    return ScaffoldEnv(task, plans, config, seed=seed)


def test_each_world_draws_its_own_physics_within_the_ranges(apple):
    task, plans = apple
    env = _env(task, plans)
    model, r = env.worlds.model, env.randomizer
    apple_id = env.worlds.index.body_ids["apple"]
    masses = r.mass[:, apple_id] / model.body_mass[apple_id]
    assert np.all((masses >= 0.3) & (masses <= 2.0)) and np.ptp(masses) > 0.05
    friction = r.friction[:, r.object_geoms, 0] / model.geom_friction[r.object_geoms, 0]
    assert np.all((friction >= 0.3 - 1e-9) & (friction <= 1.8 + 1e-9))
    gains = r.gain[:, r.robot_actuators, 0] / model.actuator_gainprm[r.robot_actuators, 0]
    assert np.all((gains >= 0.8) & (gains <= 1.2)) and len(r.robot_actuators) == model.nu
    # the affine bias follows the gain, so each actuator still servoes to its target
    np.testing.assert_allclose(r.bias[:, r.robot_actuators, 1], -r.gain[:, r.robot_actuators, 0])
    # inertia scales with mass
    np.testing.assert_allclose(
        r.inertia[:, apple_id] / model.body_inertia[apple_id], masses[:, None].repeat(3, 1)
    )
    # a reset of one world changes only that world's draw
    before = r.mass[:, apple_id].copy()
    env._reset_worlds(np.array([2]))
    changed = np.flatnonzero(r.mass[:, apple_id] != before)
    assert changed.tolist() == [2]


def test_randomization_is_seeded_and_off_by_default(apple):
    task, plans = apple
    a, b = _env(task, plans, seed=3), _env(task, plans, seed=3)
    np.testing.assert_array_equal(a.randomizer.mass, b.randomizer.mass)
    for _ in range(3):
        oa, *_ = a.step(torch.zeros(6, a.num_actions))
        ob, *_ = b.step(torch.zeros(6, b.num_actions))
    torch.testing.assert_close(oa["policy"], ob["policy"])
    assert _env(task, plans, enabled=False).randomizer is None
    evaluation = a.config.for_evaluation(4)
    assert not evaluation.randomization.enabled


def test_observation_noise_reaches_only_the_policy_input(apple):
    task, plans = apple
    quiet = _env(task, plans, observation_noise=0.0, action_noise=0.0, seed=1)
    noisy = _env(task, plans, observation_noise=0.01, action_noise=0.0, seed=1)
    np.testing.assert_array_equal(quiet.worlds.qpos, noisy.worlds.qpos)
    assert not torch.equal(quiet.get_observations()["policy"], noisy.get_observations()["policy"])


def test_start_yaw_turns_objects_about_z():
    q = np.array([yaw_quaternion(0.3), yaw_quaternion(-1.0)])
    turned = turn_quaternions_about_z(q, np.array([0.2, 0.5]))
    assert quaternion_yaw(turned[0]) == pytest.approx(0.5)
    assert quaternion_yaw(turned[1]) == pytest.approx(-0.5)
    np.testing.assert_allclose(np.linalg.norm(turned, axis=1), 1.0)


def test_bad_ranges_are_refused(apple):
    task, plans = apple
    with pytest.raises(ValueError, match="object_mass"):
        _env(task, plans, object_mass=(2.0, 1.0))
    with pytest.raises(ValueError, match="action_noise"):
        _env(task, plans, action_noise=-0.1)


def test_derived_constants_follow_the_drawn_masses(apple):
    task, plans = apple
    env = _env(task, plans)
    apple_id = env.worlds.index.body_ids["apple"]
    invweight = env.worlds.batch.expanded("body_invweight0")
    assert invweight is not None  # made per world by the randomizer's set_const
    masses = env.randomizer.mass[:, apple_id]
    # a lighter apple has the larger inverse weight
    lighter, heavier = np.argmin(masses), np.argmax(masses)
    assert invweight[lighter, apple_id, 0] > invweight[heavier, apple_id, 0]


def test_light_objects_keep_the_physics_stable(capfd):
    # With masses scaled but inverse weights left at the model's, the randomized hammer scene
    # made MuJoCo report unstable simulations and silently reset those worlds.
    task = make_task("hammer")
    config = EnvConfig(
        num_envs=128,
        num_threads=2,
        randomization=Randomization(enabled=True, object_mass=(0.3, 2.0)),
    )
    env = ScaffoldEnv(task, oracle_plans(task, "train", 0, 8), config, seed=0)
    actions = torch.from_numpy(
        np.random.default_rng(0).uniform(-0.3, 0.3, (128, env.num_actions)).astype(np.float32)
    )
    for _ in range(60):
        env.step(actions)
    assert "WARNING" not in capfd.readouterr().err
