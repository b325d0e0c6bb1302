"""Training settings: profiles, ``--set`` overrides and per-action exploration noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from keyscaffold.planning.oracle import oracle_plan
from keyscaffold.rl.config import apply_overrides, profile_config, update_autocast
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.rl.runner import collect_rollout, make_runner
from keyscaffold.tasks import make_task


def test_overrides_replace_nested_settings_with_the_fields_types():
    config = profile_config(
        "cpu",
        None,
        (
            "env.wrist_rotation_scale=0.5",
            "ppo.rotation_noise_std=0.1",
            "ppo.hidden_dims=64,32",
            "env.terminate=false",
            "env.rewards.contact=0.25",
            "minutes=3",
        ),
    )
    assert config.env.wrist_rotation_scale == 0.5
    assert config.ppo.rotation_noise_std == 0.1
    assert config.ppo.hidden_dims == (64, 32)
    assert config.env.terminate is False
    assert config.env.rewards.contact == 0.25
    assert config.minutes == 3.0
    # everything not named keeps the profile's value
    base = profile_config("cpu")
    assert config.env.num_envs == base.env.num_envs
    assert config.ppo.closure_noise_std == base.ppo.closure_noise_std


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("env.wrist_rot=1", "has no 'wrist_rot'"),
        ("env=3", "is a group"),
        ("env.wrist_rotation_scale", "NAME=VALUE"),
        ("ppo.num_mini_batches=0.5", "cannot read '0.5' as int"),
        ("env.terminate=maybe", "cannot read 'maybe'"),
        ("minutes.x=1", "is a value"),
    ],
)
def test_bad_overrides_say_what_to_fix(item, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(profile_config("cpu"), [item])


def test_rotation_and_grip_exploration_noise_are_set_per_action():
    task = make_task("move_apple")
    plan = oracle_plan(task, 0, 5)
    config = profile_config("cpu", 4, ("ppo.rotation_noise_std=0.05",))
    env = ScaffoldEnv(task, [plan], config.env)
    std = make_runner(env, config.ppo).alg.get_policy().distribution.std_param.detach()
    spec = env.action_spec
    assert torch.allclose(std[:3], torch.tensor(config.ppo.init_noise_std))
    assert torch.allclose(std[spec.rotation_slice], torch.tensor(0.05))
    assert torch.allclose(std[spec.grip_slice], torch.tensor(config.ppo.closure_noise_std))


def test_state_dependent_noise_starts_at_the_configured_noise_and_learns_per_state():
    task = make_task("close_scissors")
    plan = oracle_plan(task, 0, 5)
    overrides = ("ppo.state_dependent_std=true", "ppo.actor_output_gain=0.5")
    config = profile_config("cpu", 8, overrides, task=task)
    env = ScaffoldEnv(task, [plan], config.env)
    runner = make_runner(env, config.ppo)
    policy, spec = runner.alg.get_policy(), env.action_spec
    obs = env.get_observations()
    with torch.no_grad():
        policy(obs, stochastic_output=True)
    std = policy.distribution.std
    assert std.shape == (8, env.num_actions)
    expected = torch.full((env.num_actions,), config.ppo.init_noise_std)
    expected[spec.rotation_slice] = config.ppo.rotation_noise_std
    expected[spec.grip_slice] = config.ppo.closure_noise_std
    assert torch.allclose(std, expected.expand_as(std), atol=1e-5)
    # one update makes the noise a function of the state
    runner.alg.train_mode()
    collect_rollout(runner, env, obs, 8)
    runner.alg.update()
    with torch.no_grad():
        policy(env.get_observations(), stochastic_output=True)
    assert policy.distribution.std.std(dim=0).max() > 0
    # the deterministic policy acts with the mean alone
    with torch.no_grad():
        assert torch.equal(runner.get_inference_policy()(obs), policy(obs, stochastic_output=False))


def test_actor_output_gain_shrinks_the_first_policys_mean_residual():
    task = make_task("move_apple")
    env = ScaffoldEnv(task, [oracle_plan(task, 0, 5)], profile_config("cpu", 4).env)
    obs = env.get_observations()

    def mean_action(gain: float) -> torch.Tensor:
        torch.manual_seed(3)
        config = profile_config("cpu", 4, (f"ppo.actor_output_gain={gain}",))
        policy = make_runner(env, config.ppo).alg.get_policy()
        with torch.no_grad():
            return policy(obs, stochastic_output=False)

    full, small = mean_action(1.0), mean_action(0.01)
    assert full.abs().max() > 0.02
    assert torch.allclose(small, 0.01 * full, atol=1e-6)


def test_training_record_reads_how_fast_and_how_well_a_run_learned(tmp_path):
    from keyscaffold.rl.metrics import LEARNED_WINDOW, training_record

    head = "iteration,minutes,env_steps,success,reward_x,collect_s,update_s,val_success\n"
    lines = [head]
    for i in range(30):  # success 0 for 10 iterations, then 1; validation every 10
        success = "" if i == 0 else ("0.0" if i < 10 else "1.0")
        val = {9: "0.5", 19: "1.0", 29: "1.0"}.get(i, "")
        lines.append(f"{i},{0.1 * (i + 1):.1f},{100 * (i + 1)},{success},0.1,0.2,0.1,{val}\n")
    (tmp_path / "metrics.csv").write_text("".join(lines))
    record = training_record(tmp_path)
    assert record["iterations"] == 30 and record["env_steps"] == 3000
    assert record["minutes"] == pytest.approx(3.0)
    assert record["validations"] == 3 and record["best_val_success"] == 1.0
    assert record["minutes_to_best_val"] == pytest.approx(2.0)  # the first 1.0, not the last
    # the mean of the last LEARNED_WINDOW logged successes first reaches 0.8 at iteration 17
    assert LEARNED_WINDOW == 10
    assert record["minutes_to_learned"] == pytest.approx(1.8)
    assert record["update_share"] == pytest.approx(0.1 / 0.3)  # collect 0.2 s, update 0.1 s

    (tmp_path / "metrics.csv").write_text(head)  # a run that has not logged an iteration yet
    empty = training_record(tmp_path)
    assert empty["iterations"] == 0 and empty["minutes_to_learned"] is None
    assert empty["update_share"] is None


def test_cpu_profile_can_undo_the_plans_orientation_noise():
    # a residual narrower than the noise pinned the policy at its bound and stalled move_apple
    # at 0.62 (docs/training.md); the noise grows over training, evaluation sees all of it
    from keyscaffold.planning import PLAN_ORIENTATION_NOISE

    config = profile_config("cpu")
    assert config.env.wrist_rotation_scale >= 2 * PLAN_ORIENTATION_NOISE
    assert 0 < config.env.orientation_curriculum < 1
    assert config.env.for_evaluation(4).orientation_curriculum == 0
    # the same turn in radians is explored as before the residual was widened (0.3 x 0.25 rad)
    rotation_rad = config.ppo.rotation_noise_std * config.env.wrist_rotation_scale
    assert rotation_rad == pytest.approx(0.075)


def _layer_widths(module: torch.nn.Module) -> list[int]:
    return [m.out_features for m in module.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize(
    ("overrides", "critic"),
    [
        (("ppo.hidden_dims=32,16", "ppo.critic_hidden_dims=24"), [24, 1]),
        (("ppo.hidden_dims=32,16", "ppo.critic_hidden_dims=()"), [32, 16, 1]),  # the actor's
    ],
)
def test_the_critic_takes_its_own_layers_or_the_actors(overrides, critic):
    task = make_task("move_apple")
    config = profile_config("cpu", 4, overrides)
    env = ScaffoldEnv(task, [oracle_plan(task, 0, 5)], config.env)
    runner = make_runner(env, config.ppo)
    assert _layer_widths(runner.alg.actor) == [32, 16, env.num_actions]
    assert _layer_widths(runner.alg.critic) == critic


def _update_on_one_rollout(config) -> tuple[object, dict]:
    task = make_task("move_apple")
    env = ScaffoldEnv(task, [oracle_plan(task, 0, 5)], config.env)
    torch.manual_seed(0)
    runner = make_runner(env, config.ppo)
    runner.alg.train_mode()
    collect_rollout(runner, env, env.reset(), 4)
    return runner, runner.alg.update()


def test_the_bf16_update_autocasts_and_keeps_float32_weights_and_a_fused_adam():
    config = profile_config("cpu", 4, ("ppo.hidden_dims=32,16", "ppo.mixed_precision=bf16"))
    runner, losses = _update_on_one_rollout(config)
    assert runner.alg.use_mixed_precision
    assert runner.alg.optimizer.defaults["fused"]
    assert all(p.dtype == torch.float32 for p in runner.alg.actor.parameters())
    assert all(np.isfinite(v) for v in losses.values())
    # float32 with the fused Adam is the per-tensor loop's arithmetic; bf16 lands close to both
    fused, _ = _update_on_one_rollout(apply_overrides(config, ("ppo.mixed_precision=off",)))
    loop = apply_overrides(config, ("ppo.mixed_precision=off", "ppo.fused_optimizer=false"))
    reference, _ = _update_on_one_rollout(loop)
    assert not reference.alg.use_mixed_precision
    assert not reference.alg.optimizer.defaults["fused"]
    pairs = list(zip(fused.alg.actor.parameters(), reference.alg.actor.parameters(), strict=True))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in pairs)
    bf16 = zip(runner.alg.actor.parameters(), reference.alg.actor.parameters(), strict=True)
    assert all(torch.allclose(a, b, atol=2e-3) for a, b in bf16)


def test_under_bf16_the_action_mean_and_the_value_come_out_of_float32_layers():
    config = profile_config("cpu", 4, ("ppo.hidden_dims=32,16", "ppo.mixed_precision=bf16"))
    task = make_task("move_apple")
    env = ScaffoldEnv(task, [oracle_plan(task, 0, 5)], config.env)
    obs = env.reset()
    runner = make_runner(env, config.ppo)
    plain = make_runner(env, apply_overrides(config, ("ppo.float32_outputs=false",)).ppo)
    for alg in (runner.alg, plain.alg):
        alg.critic.load_state_dict(runner.alg.critic.state_dict())  # same keys either way
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        value = runner.alg.critic(obs)
        rounded = plain.alg.critic(obs)
        mean = runner.alg.actor(obs)
    assert value.dtype == mean.dtype == torch.float32
    assert rounded.dtype == torch.bfloat16
    exact = runner.alg.critic(obs)  # float32 throughout
    # only the hidden layers are rounded: closer to the float32 value than the bf16 head
    assert (value - exact).abs().mean() < (rounded.float() - exact).abs().mean()


def test_mixed_precision_auto_follows_the_hardware_and_bad_values_are_refused():
    assert profile_config("cpu", 4).ppo.mixed_precision == "off"
    auto = profile_config("cpu", 4, ("ppo.mixed_precision=auto",)).ppo
    assert update_autocast(auto) == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert not update_autocast(auto, device="cuda")
    with pytest.raises(ValueError, match="off, bf16, auto"):
        update_autocast(profile_config("cpu", 4, ("ppo.mixed_precision=fp8",)).ppo)


def test_the_fresh_start_asks_for_a_training_success_not_a_task_specific_contact():
    """The pliers closed in 38% of training episodes at iteration 148 with a contact reward of
    0.017 per step: under the earlier contact threshold (0.05) that run was thrown away at 500."""
    from keyscaffold.rl.config import TrainConfig
    from keyscaffold.rl.train import _LoopState, _should_restart

    def restarts(config, contact, success, allowed=True):
        loop = _LoopState()
        for iteration in range(6):
            if _should_restart(config, loop, iteration, contact, success, allowed):
                return iteration
        return None

    config = TrainConfig(restart_without_contact=3)
    assert restarts(config, 0.017, 0.375) is None  # success alone finds the task
    assert restarts(config, 0.9, 0.0) == 2  # contact without a success does not
    assert restarts(config, 0.9, None) == 2  # nor an iteration where no episode ended
    assert restarts(config, None, 0.5) is None  # envs without a contact term
    assert restarts(config, 0.0, 0.0, allowed=False) is None  # envs that never start over
    with_contact = TrainConfig(restart_without_contact=3, contact_found=0.05)
    assert restarts(with_contact, 0.017, 0.375) == 2
    assert restarts(with_contact, 0.06, 0.375) is None
    contact_alone = TrainConfig(restart_without_contact=3, contact_found=0.05, success_found=-1)
    assert restarts(contact_alone, 0.06, 0.0) is None
    # a found task stays found for the rest of the attempt
    loop = _LoopState()
    assert not _should_restart(config, loop, 0, 0.0, 0.5)
    assert not any(_should_restart(config, loop, i, 0.0, 0.0) for i in range(1, 6))


def test_a_task_adjusts_the_cpu_profile_and_the_users_settings_still_win():
    from keyscaffold.rl.config import profile_config

    bottle = make_task("move_bottle")
    assert bottle.cpu_settings, "move_bottle bounds its wrist rotation"
    own = profile_config("cpu", task=bottle)
    plain = profile_config("cpu", task=make_task("move_apple"))
    assert (own.env.wrist_rotation_scale, own.ppo.rotation_noise_std) == (0.25, 0.3)
    assert (plain.env.wrist_rotation_scale, plain.ppo.rotation_noise_std) == (1.0, 0.075)
    assert own.env.wrist_position_scale == plain.env.wrist_position_scale == 0.05
    mine = profile_config("cpu", task=bottle, overrides=["env.wrist_rotation_scale=0.5"])
    assert mine.env.wrist_rotation_scale == 0.5 and mine.ppo.rotation_noise_std == 0.3
    assert profile_config("gpu", task=bottle) == profile_config("gpu")


def test_plan_position_noise_shifts_each_episodes_wrist_path_and_evaluation_sees_the_plan():
    from dataclasses import replace

    task = make_task("move_apple")
    plan = oracle_plan(task, 0, 5)
    config = profile_config("cpu", 8, ["env.plan_position_noise=0.03"])
    env = ScaffoldEnv(task, [plan], config.env, seed=3)
    env.set_training_progress(1.0)
    env._reset_worlds(np.arange(8))
    steps = np.array([0, 5, 40])
    shifted = env._plan_wrist(np.repeat(steps[None], 8, axis=0))
    exact = env.plan_wrist[np.zeros((8, 1), dtype=int), steps[None]]
    offset = shifted[..., :3] - exact[..., :3]
    # one offset per episode, constant along the plan, within the bound, different per world
    np.testing.assert_allclose(offset, np.repeat(offset[:, :1], 3, axis=1), atol=1e-12)
    assert np.abs(offset).max() <= 0.03 and np.abs(offset).max() > 0.01
    assert np.unique(offset[:, 0, 0].round(6)).size == 8
    np.testing.assert_array_equal(shifted[..., 3:], exact[..., 3:])
    # at the start of the orientation curriculum there is no offset yet
    env.set_training_progress(0.0)
    env._reset_worlds(np.arange(8))
    np.testing.assert_allclose(env.plan_shift, 0.0)
    # evaluation follows the plan as written
    assert config.env.for_evaluation(4).plan_position_noise == 0.0
    with pytest.raises(ValueError, match="plan_position_noise"):
        ScaffoldEnv(task, [plan], replace(config.env, plan_position_noise=-0.01))
