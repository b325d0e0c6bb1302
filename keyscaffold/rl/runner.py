"""The rsl_rl PPO runner of a ``PPOConfig``: networks, initial exploration noise, rollouts."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from rsl_rl.runners import OnPolicyRunner

from keyscaffold.rl.batched_env import BatchedEnv
from keyscaffold.rl.config import PPOConfig, update_autocast
from keyscaffold.rl.env import ScaffoldEnv


def runner_config(ppo: PPOConfig, save_interval: int) -> dict:
    """The rsl_rl 5 runner configuration of ``ppo``."""
    model = {
        "class_name": "MLPModel",
        "hidden_dims": list(ppo.hidden_dims),
        "activation": "elu",
        "obs_normalization": ppo.obs_normalization,
    }
    return {
        "num_steps_per_env": ppo.num_steps_per_env,
        "save_interval": save_interval,
        "obs_groups": {"actor": ["policy"], "critic": ["critic"]},
        "actor": {
            **model,
            "distribution_cfg": {
                "class_name": "HeteroscedasticGaussianDistribution"
                if ppo.state_dependent_std
                else "GaussianDistribution",
                "init_std": ppo.init_noise_std,
                **({"std_type": "log"} if ppo.state_dependent_std else {}),
            },
        },
        "critic": {**model, "hidden_dims": list(ppo.critic_hidden_dims or ppo.hidden_dims)},
        "algorithm": {
            "class_name": "PPO",
            "num_learning_epochs": ppo.num_learning_epochs,
            "num_mini_batches": ppo.num_mini_batches,
            "clip_param": ppo.clip_param,
            "gamma": ppo.gamma,
            "lam": ppo.lam,
            "value_loss_coef": ppo.value_loss_coef,
            "entropy_coef": ppo.entropy_coef,
            "learning_rate": ppo.learning_rate,
            "max_grad_norm": ppo.max_grad_norm,
            "use_clipped_value_loss": ppo.use_clipped_value_loss,
            "schedule": "adaptive",
            "desired_kl": ppo.desired_kl,
            "use_mixed_precision": update_autocast(ppo),
        },
    }


def make_runner(env: ScaffoldEnv, ppo: PPOConfig, save_interval: int = 50) -> OnPolicyRunner:
    """An rsl_rl runner over ``env`` that writes no logs of its own."""
    with contextlib.redirect_stdout(io.StringIO()):  # rsl_rl prints the networks
        runner = OnPolicyRunner(env, runner_config(ppo, save_interval), log_dir=None, device="cpu")
    if ppo.fused_optimizer:
        params = [p for group in runner.alg.optimizer.param_groups for p in group["params"]]
        runner.alg.optimizer = torch.optim.Adam(params, lr=ppo.learning_rate, fused=True)
    if ppo.float32_outputs and update_autocast(ppo):
        for model in (runner.alg.actor, runner.alg.critic):
            _linear_layers(model)[-1].__class__ = Float32Linear
    policy = runner.alg.get_policy()
    last = _linear_layers(policy)[-1]
    with torch.no_grad():
        for part, std in (
            (env.action_spec.grip_slice, ppo.closure_noise_std),
            (env.action_spec.rotation_slice, ppo.rotation_noise_std),
        ):
            if std is not None:
                _set_initial_noise(policy.distribution, last, part, std)
        if ppo.actor_output_gain != 1.0:
            # the mean's rows only: a state-dependent noise keeps its initial value
            rows = slice(0, env.num_actions)
            last.weight[rows] *= ppo.actor_output_gain
            last.bias[rows] *= ppo.actor_output_gain
    return runner


def _set_initial_noise(distribution, last: torch.nn.Linear, part: slice, std: float) -> None:
    """Initial exploration noise ``std`` on the actions ``part``: the learned noise parameter,
    or, for a state-dependent noise, the bias of its rows of the actor's last layer (log std)."""
    if hasattr(distribution, "std_param"):
        distribution.std_param[part] = std
        return
    rows = range(distribution.output_dim, 2 * distribution.output_dim)[part]
    last.bias[rows.start : rows.stop] = float(np.log(std))


def _linear_layers(model: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


class Float32Linear(torch.nn.Linear):
    """A linear layer that computes in float32 inside an autocast region (same parameters and
    state dict as ``torch.nn.Linear``, so checkpoints load either way)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return super().forward(x.float())


def collect_rollout(
    runner: OnPolicyRunner, env: BatchedEnv, obs, steps: int
) -> tuple[object, dict]:
    """One rollout of ``steps`` per env; returns the last observations and averaged logs."""
    sums: dict[str, list[float]] = {}
    with torch.inference_mode():
        for _ in range(steps):
            actions = runner.alg.act(obs)
            obs, rewards, dones, extras = env.step(actions)
            runner.alg.process_env_step(obs, rewards, dones, extras)
            for key, value in extras["log"].items():
                sums.setdefault(key, []).append(float(value))
        runner.alg.compute_returns(obs)
    return obs, {k: float(np.mean(v)) for k, v in sums.items()}
