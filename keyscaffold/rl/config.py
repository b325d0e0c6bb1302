"""Training settings: PPO and env profiles, the run's ``TrainConfig`` and ``--set`` overrides."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace

import torch

from keyscaffold.rl.env import EnvConfig
from keyscaffold.sim.randomization import Randomization
from keyscaffold.tasks.base import Task


@dataclass(frozen=True)
class PPOConfig:
    """PPO and network settings; defaults are the large-scale (GPU) values."""

    num_steps_per_env: int = 24
    num_learning_epochs: int = 5
    num_mini_batches: int = 16
    clip_param: float = 0.2
    value_loss_coef: float = 1.0
    use_clipped_value_loss: bool = True
    desired_kl: float = 0.01
    entropy_coef: float = 0.01
    gamma: float = 0.99
    lam: float = 0.95
    max_grad_norm: float = 1.0
    learning_rate: float = 3e-4
    hidden_dims: tuple[int, ...] = (512, 512, 512)
    """Hidden layers of the actor (and of the critic unless ``critic_hidden_dims`` is given)."""
    critic_hidden_dims: tuple[int, ...] = ()
    """Hidden layers of the critic; empty: the actor's ``hidden_dims``."""
    init_noise_std: float = 1.0
    """Initial exploration noise of the wrist residuals."""
    closure_noise_std: float | None = None
    """Initial exploration noise of the grip actions (hand closure, or each finger's closure);
    default: ``init_noise_std``."""
    rotation_noise_std: float | None = None
    """Initial exploration noise of the three wrist rotation residuals; default:
    ``init_noise_std``."""
    state_dependent_std: bool = False
    """The actor outputs its exploration noise beside its mean (rsl_rl's heteroscedastic
    Gaussian, log std), so the noise can differ from state to state: small on a finger while the
    hand descends onto a tool, large while it squeezes. Off: one learned noise per action. The
    initial noise (``init_noise_std``, ``closure_noise_std``, ``rotation_noise_std``) is the
    same either way."""
    actor_output_gain: float = 1.0
    """Factor on the actor's last layer at initialization: below 1 the first policy's mean
    residual is near zero, so early episodes follow the plan (0.01 is the usual small-output
    initialization for PPO policies)."""
    obs_normalization: bool = True
    mixed_precision: str = "off"
    """Number format of the PPO update's forward pass and losses (the rollout always runs in
    float32): ``off`` (float32), ``bf16`` (bfloat16 autocast; weights, gradients and Adam stay
    float32) or ``auto`` (``bf16`` where the CPU computes bfloat16 natively, e.g. avx512_bf16 or
    AMX, else ``off``; on a GPU: ``off``)."""
    float32_outputs: bool = True
    """Under ``mixed_precision`` bf16: the actor's and the critic's last layer still compute in
    float32, so the action mean and the value (and with them the policy ratio and the value
    loss) are not rounded to bfloat16's 8-bit mantissa; the hidden layers, where the time goes,
    stay bfloat16."""
    fused_optimizer: bool = True
    """Adam updates every parameter tensor in one fused kernel instead of a loop over tensors
    (the same arithmetic)."""


MIXED_PRECISION = ("off", "bf16", "auto")


def update_autocast(ppo: PPOConfig, device: str = "cpu") -> bool:
    """Whether the PPO update of ``ppo`` runs under bfloat16 autocast on ``device``."""
    if ppo.mixed_precision not in MIXED_PRECISION:
        raise ValueError(
            f"ppo.mixed_precision={ppo.mixed_precision!r}: use one of {', '.join(MIXED_PRECISION)}"
        )
    if ppo.mixed_precision == "auto":
        return device == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return ppo.mixed_precision == "bf16"


def cpu_profile() -> tuple[PPOConfig, EnvConfig]:
    """PPO and env settings chosen by measurement to learn fastest on two CPU cores.

    Narrower networks, 4 mini-batches and a fused Adam keep the PPO update near a third of an
    iteration. The update stays float32: ``ppo.mixed_precision=auto`` makes it 38% cheaper on a
    CPU with native bfloat16, but found the grasp less often (docs/training.md).
    Exploration is small on the wrist (0.3 of the position residual, 0.075 rad of rotation) and
    full on the hand closure, so grasps happen early; the rotation residual spans the original
    method's ±1 rad, so the policy can undo the plans' wrist-orientation noise, and that noise
    grows from none to full over the first half of training. The position residual is ±5 cm
    (the original method's ±10 cm lets a run settle on keeping the hand away from the object
    instead of finding the grasp). docs/training.md has the measurements.
    """
    ppo = PPOConfig(
        num_mini_batches=4,
        hidden_dims=(256, 128, 64),
        init_noise_std=0.3,
        closure_noise_std=1.0,
        rotation_noise_std=0.075,
    )
    env = EnvConfig(
        num_envs=128,
        wrist_position_scale=0.05,
        wrist_rotation_scale=1.0,
        orientation_curriculum=0.5,
    )
    return ppo, env


def gpu_profile() -> tuple[PPOConfig, EnvConfig]:
    """The large-scale settings: PPO and residual values of the original method, 2048 envs."""
    return PPOConfig(), EnvConfig(num_envs=2048)


@dataclass(frozen=True)
class TrainConfig:
    """A training run."""

    max_iterations: int = 100_000
    """Stop after this many PPO iterations."""
    minutes: float = 15.0
    """Stop after this much wall time (the curriculum spans it)."""
    seed: int = 0
    save_interval: int = 50
    """Write a checkpoint every this many iterations (and at the end)."""
    validation_interval: int = 50
    """With validation plans: measure validation success every this many iterations (and at the
    end) and keep the best policy as ``checkpoints/best.pt``."""
    validation_trials: int = 2
    """Episodes per validation plan, each with different start noise."""
    restart_without_contact: int = 500
    """Start over with a fresh policy (new weights, optimizer, normalizer and curricula, in what
    is left of the same budget) when no iteration within this many iterations of the current
    attempt has shown the task found (``success_found``, and ``contact_found`` when set); 0:
    never. A run either finds the task in its first few hundred iterations or settles for good
    on keeping the hand off the object, or on pushing it along the table (docs/training.md,
    "Finding the grasp"). Only for envs that allow it (``BatchedEnv.fresh_start``: the scaffold
    env, not the IKER env)."""
    contact_found: float = -1.0
    """Contact reward per step, divided by its weight, that an iteration must also exceed to
    count as having found the task; below 0 (the default): contact is not asked for. A task
    whose grip needs little fingertip force (the pliers close at about 0.01) succeeds without
    ever passing the 0.05 that a carried apple reaches."""
    success_found: float = 0.0
    """Success rate of the training episodes that end in an iteration which that iteration must
    exceed to count as having found the task; below 0: success is not asked for."""
    max_restarts: int = 2
    """Fresh starts a run may make (``restart_without_contact``)."""
    ppo: PPOConfig = field(default_factory=lambda: cpu_profile()[0])
    env: EnvConfig = field(default_factory=lambda: cpu_profile()[1])


def profile_config(
    profile: str = "cpu",
    num_envs: int | None = None,
    overrides: tuple[str, ...] | list[str] = (),
    task: Task | None = None,
    **settings,
) -> TrainConfig:
    """A training run on the ``cpu`` or ``gpu`` profile, ``num_envs`` worlds when given, the
    other ``TrainConfig`` ``settings`` (minutes, seed, ...), on the CPU profile the settings of
    ``task`` (``Task.cpu_settings``), then ``overrides`` (``--set`` strings such as
    ``env.wrist_rotation_scale=0.5``, see ``apply_overrides``)."""
    profiles = {"cpu": cpu_profile, "gpu": gpu_profile}
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; use cpu or gpu")
    ppo, env = profiles[profile]()
    if num_envs is not None:
        env = replace(env, num_envs=num_envs)
    task_settings = task.cpu_settings if task is not None and profile == "cpu" else ()
    return apply_overrides(TrainConfig(ppo=ppo, env=env, **settings), (*task_settings, *overrides))


def _parse_setting(text: str, default, key: str):
    """``text`` as the type of ``default`` (the field's current value)."""
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"--set {key}: expected true or false, got {text!r}")
        return text.lower() in ("true", "1")
    if isinstance(default, tuple):
        kind = float if any(isinstance(v, float) for v in default) else int
        return tuple(kind(v) for v in text.strip("()[] ").split(",") if v.strip())
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float) or default is None:
        return None if text.lower() == "none" else float(text)
    return text


PRESETS = {Randomization: Randomization.preset}
"""Groups of settings that a name sets whole: ``env.randomization=real_robot``."""


def apply_overrides(config, overrides: tuple[str, ...] | list[str]):
    """``config`` with dotted settings replaced: ``["env.wrist_rotation_scale=0.5",
    "ppo.hidden_dims=256,128", "env.rewards.contact=0.5"]``. Values take the field's type; a
    group in ``PRESETS`` also takes a profile's name (``env.randomization=real_robot``), and
    later settings change single fields of it. A misspelled name is refused with the names that
    exist."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(
                f"--set takes NAME=VALUE (e.g. env.wrist_rotation_scale=0.5), got {item!r}"
            )
        config = _override(config, key.strip().split("."), text.strip(), key.strip())
    return config


def _override(obj, path: list[str], text: str, key: str):
    names = [f.name for f in fields(obj)]
    if path[0] not in names:
        raise ValueError(
            f"--set {key}: {type(obj).__name__} has no {path[0]!r}; it has {', '.join(names)}"
        )
    current = getattr(obj, path[0])
    if len(path) > 1:
        if not is_dataclass(current):
            raise ValueError(f"--set {key}: {path[0]!r} is a value, not a group of settings")
        value = _override(current, path[1:], text, key)
    elif is_dataclass(current) and type(current) in PRESETS:
        try:
            value = PRESETS[type(current)](text)
        except ValueError as error:
            raise ValueError(f"--set {key}: {error}") from error
    elif is_dataclass(current):
        raise ValueError(f"--set {key}: {path[0]!r} is a group; name one of its settings")
    else:
        try:
            value = _parse_setting(text, current, key)
        except ValueError as error:
            raise ValueError(
                f"--set {key}: cannot read {text!r} as {type(current).__name__}"
            ) from error
    return replace(obj, **{path[0]: value})
