"""The real-robot randomization profile on an arm task: the arm's gains and damping drawn per world
(once, from the seed), keypoint noise that reaches only the policy, the robot's targets delayed by
whole control steps, the profile named from ``--set``, and nothing changed with it off."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.config import profile_config
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.sim.randomization import CommandDelay, Randomization
from keyscaffold.tasks import make_task

WORLDS = 4
QUIET = Randomization(
    enabled=True,
    robot_gain=(1.0, 1.0),
    robot_damping=(1.0, 1.0),
    start_position=0.0,
    start_yaw=0.0,
    observation_noise=0.0,
    action_noise=0.0,
)
"""Randomization on, every draw and noise off: the base the delay is measured against."""


@pytest.fixture(scope="module")
def arm_task():
    task = make_task("place_bottle_on_plate")
    return task, oracle_plans(task, "train", 0, 3)


def _env(arm_task, randomization: Randomization, seed: int = 0) -> ScaffoldEnv:
    task, plans = arm_task
    config = EnvConfig(num_envs=WORLDS, num_threads=1, randomization=randomization)
    return ScaffoldEnv(task, plans, config, seed=seed)


def _actions(env: ScaffoldEnv, steps: int) -> list[torch.Tensor]:
    rng = np.random.default_rng(1)
    return [
        torch.from_numpy(rng.uniform(-1, 1, (WORLDS, env.num_actions)).astype(np.float32))
        for _ in range(steps)
    ]


def test_arm_gains_and_damping_differ_per_world_are_seeded_and_kept_across_resets(arm_task):
    env = _env(arm_task, Randomization.real_robot(), seed=3)
    r, model = env.randomizer, env.worlds.model
    arm = [model.actuator(f"act_{j}").id for j in env.robot.arm_joint_names()]
    assert set(arm) <= set(r.robot_actuators.tolist())
    gains = r.gain[:, arm, 0] / model.actuator_gainprm[arm, 0]
    assert np.all((gains >= 0.7) & (gains <= 1.3)) and np.ptp(gains, axis=0).min() > 0.01
    # kp and the servo's bias move together; kv follows the joint's damping factor
    np.testing.assert_allclose(r.bias[:, arm, 1], -r.gain[:, arm, 0])
    dofs = model.jnt_dofadr[model.actuator_trnid[arm, 0]]
    damping = r.damping[:, dofs] / model.dof_damping[dofs]
    np.testing.assert_allclose(r.bias[:, arm, 2] / model.actuator_biasprm[arm, 2], damping)
    again = _env(arm_task, Randomization.real_robot(), seed=3)
    np.testing.assert_array_equal(again.randomizer.gain, r.gain)
    other = _env(arm_task, Randomization.real_robot(), seed=4)
    assert not np.array_equal(other.randomizer.gain[:, arm], r.gain[:, arm])
    # drawn once: a reset keeps the world's robot, but draws its objects again
    before_gain, before_mass = r.gain.copy(), r.mass.copy()
    env._reset_worlds(np.array([1]))
    np.testing.assert_array_equal(r.gain, before_gain)
    assert not np.array_equal(r.mass[1], before_mass[1])


@pytest.mark.parametrize("k", [1, 2])
def test_a_delay_of_k_steps_applies_the_targets_of_k_steps_before(arm_task, k):
    def targets_of(randomization):
        env = _env(arm_task, randomization)
        seen, controls = [], env.controller.controls

        def record(wrist, joints):
            seen.append(np.concatenate([wrist, joints], axis=1))
            return controls(wrist, joints)

        env.controller.controls = record
        for action in _actions(env, 8):
            env.step(action)
        return np.array(seen)

    prompt = targets_of(QUIET)
    late = targets_of(replace(QUIET, action_delay=(k, k)))
    np.testing.assert_array_equal(late[k:], prompt[:-k])
    np.testing.assert_array_equal(late[:k], np.repeat(prompt[:1], k, axis=0))


def test_delays_are_drawn_per_world_within_the_range():
    delay = CommandDelay(64, (1, 2))
    delay.reset(np.arange(64), np.random.default_rng(0))
    assert set(delay.delay.tolist()) == {1, 2}
    steps = [np.full((64, 2), float(t)) for t in range(4)]
    out = [delay(s) for s in steps]
    np.testing.assert_array_equal(out[3][:, 0], 3 - delay.delay)


def test_keypoint_noise_reaches_only_the_policy_input(arm_task):
    quiet = _env(arm_task, QUIET, seed=1)
    noisy = _env(arm_task, replace(QUIET, keypoint_noise=0.005), seed=1)
    for action in _actions(quiet, 3):
        quiet_obs, *_ = quiet.step(action)
        noisy_obs, *_ = noisy.step(action)
    np.testing.assert_array_equal(quiet.worlds.keypoints(), noisy.worlds.keypoints())
    assert not torch.equal(quiet_obs["policy"], noisy_obs["policy"])


def test_the_profile_switched_off_gives_the_same_rollout_bit_for_bit(arm_task):
    plain = _env(arm_task, Randomization(), seed=2)
    off = _env(arm_task, replace(Randomization.real_robot(), enabled=False), seed=2)
    for action in _actions(plain, 10):
        a = plain.step(action)
        b = off.step(action)
        torch.testing.assert_close(a[0]["policy"], b[0]["policy"], rtol=0, atol=0)
        torch.testing.assert_close(a[1], b[1], rtol=0, atol=0)


def test_the_profile_is_named_from_the_training_settings():
    config = profile_config("cpu", 4, ("env.randomization=real_robot",))
    assert config.env.randomization == Randomization.real_robot()
    tuned = profile_config(
        "cpu", 4, ("env.randomization=real_robot", "env.randomization.action_delay=2,2")
    )
    assert tuned.env.randomization.action_delay == (2, 2)
    assert tuned.env.randomization.keypoint_noise == Randomization.real_robot().keypoint_noise
    with pytest.raises(ValueError, match="--set env.randomization: unknown randomization preset"):
        profile_config("cpu", 4, ("env.randomization=sim_robot",))
    with pytest.raises(ValueError, match="action_delay"):
        replace(Randomization.real_robot(), action_delay=(2, 1)).validate()
