"""PPO training with rsl_rl: runner construction, time-bounded loop, checkpoints, resume, logs."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rsl_rl.runners import OnPolicyRunner
from torch.utils.tensorboard import SummaryWriter

from keyscaffold.planning.plan import KeypointPlan
from keyscaffold.rl.batched_env import BatchedEnv
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.rl.rollout import Validator
from keyscaffold.tasks.base import Task
from keyscaffold.util import atomic_write, atomic_write_text

METRICS_HEAD = ("iteration", "minutes", "env_steps", "success")
METRICS_TAIL = ("collect_s", "update_s", "val_success", "attempt")
"""Columns of ``metrics.csv`` every run has; the env's ``metric_logs`` columns sit between."""


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


def apply_overrides(config, overrides: tuple[str, ...] | list[str]):
    """``config`` with dotted settings replaced: ``["env.wrist_rotation_scale=0.5",
    "ppo.hidden_dims=256,128", "env.rewards.contact=0.5"]``. Values take the field's type; a
    misspelled name is refused with the names that exist."""
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


def save_checkpoint(runner: OnPolicyRunner, path: Path, state: dict) -> None:
    """Atomically write the PPO state plus the loop state needed to resume."""
    payload = runner.alg.save()
    payload.update(iter=state["iteration"], infos=state)
    atomic_write(path, lambda handle: torch.save(payload, handle), mode="wb")


def run_config_json(task: Task, config: TrainConfig, plans_dir: str, env: ScaffoldEnv) -> dict:
    """The run's configuration as plain data (written to config.json, read by eval)."""
    return {
        "task": task.name,
        "plans": plans_dir,
        "embodiment": env.robot.name,
        "action_spec": env.action_spec.name,
        "action_names": list(env.action_spec.names),
        "train": asdict(config),
    }


class _MetricsLog:
    """Appends one CSV row per iteration and mirrors it to TensorBoard."""

    def __init__(self, run_dir: Path, fields: tuple[str, ...]) -> None:
        self.path = run_dir / "metrics.csv"
        new = not self.path.exists()
        if not new:  # a resumed run keeps the columns it started with
            with self.path.open(newline="") as handle:
                fields = tuple(next(csv.reader(handle), fields))
        self.fields = fields
        self.handle = self.path.open("a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=fields, extrasaction="ignore")
        if new:
            self.writer.writeheader()
        self.tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def write(self, row: dict, losses: dict) -> None:
        self.writer.writerow({k: row.get(k, "") for k in self.fields})
        self.handle.flush()
        for key, value in row.items():
            if key != "iteration" and value != "":
                self.tb.add_scalar(f"train/{key}", value, row["iteration"])
        for key, value in losses.items():
            self.tb.add_scalar(f"loss/{key}", value, row["iteration"])

    def close(self) -> None:
        self.handle.close()
        self.tb.close()


LEARNED_SUCCESS = 0.8
"""Training success (mean of ``LEARNED_WINDOW`` logged iterations) that ``training_record``
reports the first minute of."""
LEARNED_WINDOW = 10


def training_record(run_dir: Path) -> dict:
    """What a run's ``metrics.csv`` says about its training.

    Returns:
        ``iterations``, ``env_steps``, ``minutes`` (wall time of the last iteration),
        ``validations`` (their count), ``best_val_success`` (None without validation),
        ``minutes_to_best_val`` (the first validation that reached the best score) and
        ``minutes_to_learned`` (the first minute at which training success, averaged over the
        last ``LEARNED_WINDOW`` iterations that logged one, reached ``LEARNED_SUCCESS``; None if
        it never did): how fast a run learned, beside how well; ``restarts`` and
        ``attempt_start_iteration`` (``TrainConfig.restart_without_contact``); ``update_share``
        (the PPO update's share of rollout plus update time over every attempt; None for a
        run that logged no timings).
    """
    with (Path(run_dir) / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    record = {
        "iterations": 0,
        "env_steps": 0,
        "minutes": 0.0,
        "validations": 0,
        "best_val_success": None,
        "minutes_to_best_val": None,
        "minutes_to_learned": None,
        "restarts": 0,
        "attempt_start_iteration": 0,
        "update_share": None,
    }
    if not rows:
        return record
    timed = [(float(r["collect_s"]), float(r["update_s"])) for r in rows if r.get("update_s")]
    if timed:
        update = sum(u for _, u in timed)
        record["update_share"] = update / (sum(c for c, _ in timed) + update)
    attempts = [int(r["attempt"]) if r.get("attempt") else 0 for r in rows]
    record.update(
        restarts=attempts[-1],
        attempt_start_iteration=int(rows[attempts.index(attempts[-1])]["iteration"]),
    )
    rows = [r for r, a in zip(rows, attempts, strict=True) if a == attempts[-1]]
    last = rows[-1]
    record.update(
        iterations=int(last["iteration"]) + 1,
        env_steps=int(float(last["env_steps"])),
        minutes=float(last["minutes"]),
    )
    validated = [
        (float(r["minutes"]), float(r["val_success"])) for r in rows if r.get("val_success")
    ]
    if validated:
        best = max(score for _, score in validated)
        record.update(
            validations=len(validated),
            best_val_success=best,
            minutes_to_best_val=next(m for m, score in validated if score == best),
        )
    window: list[float] = []
    for row in rows:
        if row.get("success"):
            window = [*window[-(LEARNED_WINDOW - 1) :], float(row["success"])]
            if len(window) == LEARNED_WINDOW and np.mean(window) >= LEARNED_SUCCESS:
                record["minutes_to_learned"] = float(row["minutes"])
                break
    return record


def _collect(runner: OnPolicyRunner, env: ScaffoldEnv, obs, steps: int) -> tuple[object, dict]:
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


def train(
    task: Task,
    plans: list[KeypointPlan],
    run_dir: Path,
    config: TrainConfig,
    plans_dir: str = "",
    resume: bool = False,
    show_progress: bool = True,
    validation_plans: list[KeypointPlan] | None = None,
) -> Path:
    """Train a residual tracking policy; returns the path of the final checkpoint.

    With ``resume`` the run continues from ``run_dir/checkpoints/latest.pt``: PPO weights, optimizer,
    normalizer, iteration count, elapsed time, best validation success and random generators are
    restored. With ``validation_plans`` (held-out states) the policy is validated every
    ``config.validation_interval`` iterations and at the end; the best one is kept as
    ``checkpoints/best.pt`` (a later policy replaces it when it validates at least as well).
    """
    _check_run_folder(Path(run_dir), resume)  # before the worlds are built
    env = ScaffoldEnv(task, plans, config.env, seed=config.seed)
    validator = None
    if validation_plans and config.validation_interval > 0:
        validator = Validator.for_plans(
            task, validation_plans, config.env, config.validation_trials, seed=config.seed
        )
    description = run_config_json(task, config, plans_dir, env)
    if validator is not None:
        description["validation"] = {
            "plans": [p.plan_id for p in validation_plans],
            "episodes": validator.num_episodes,
        }
    return train_env(env, run_dir, config, description, resume, show_progress, validator)


def _check_run_folder(run_dir: Path, resume: bool) -> Path:
    """The run's latest checkpoint path; refuses a resume without one, or a new run over one."""
    latest = run_dir / "checkpoints" / "latest.pt"
    if resume and not latest.exists():
        raise FileNotFoundError(
            f"--resume: no checkpoint at {latest}; start the run without --resume"
        )
    if not resume and latest.exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; pass --resume to continue it or pick a new --out"
        )
    return latest


def train_env(
    env: BatchedEnv,
    run_dir: Path,
    config: TrainConfig,
    description: dict,
    resume: bool = False,
    show_progress: bool = True,
    validator=None,
) -> Path:
    """Train PPO on any keyscaffold ``VecEnv`` (scaffold tracking, IKER keypoint targets).

    ``description`` goes to ``config.json`` (``train`` is read back by ``load_run_config``). The
    env is a ``BatchedEnv`` (``rl/batched_env.py``): its ``metric_logs`` name the ``metrics.csv``
    columns and ``set_training_progress`` moves its curricula. ``validator(policy) -> success`` is optional.
    Returns the final checkpoint's path; see ``train`` for resuming and ``best.pt``.
    """
    run_dir = Path(run_dir)
    latest = _check_run_folder(run_dir, resume)
    torch.manual_seed(config.seed)
    runner = make_runner(env, config.ppo, config.save_interval)
    loop = _LoopState()
    if resume:
        loaded = torch.load(latest, weights_only=False)
        runner.alg.load(loaded, None, strict=True)
        info = loaded["infos"]
        loop = _LoopState(
            info["iteration"] + 1,
            info["elapsed_s"],
            info.get("best_val", -1.0),
            **{k: info[k] for k in _ATTEMPT_FIELDS if k in info},
        )
        env.rng.bit_generator.state = info["env_rng"]
        torch.set_rng_state(info["torch_rng"])
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.json", json.dumps(description, indent=2))
    return _loop(runner, env, run_dir, config, loop, validator, show_progress)


@dataclass
class _LoopState:
    """Where a training run stands: next iteration, elapsed wall time, best validation success,
    and the current attempt (``TrainConfig.restart_without_contact``): its number, the iteration
    and wall time it began at, and whether it has found the task (``found_contact``, the name
    checkpoints keep)."""

    iteration: int = 0
    elapsed_s: float = 0.0
    best_val: float = -1.0
    attempt: int = 0
    attempt_iteration: int = 0
    attempt_elapsed_s: float = 0.0
    found_contact: bool = False


_ATTEMPT_FIELDS = ("attempt", "attempt_iteration", "attempt_elapsed_s", "found_contact")


def _raw_contact(logs: dict) -> float | None:
    """The iteration's contact reward per step divided by its weight; None without one."""
    weight = logs.get("/curriculum/contact_weight", 1.0)
    if "/reward/contact" not in logs or weight <= 0:
        return None
    return logs["/reward/contact"] / weight


def _attempt_progress(config: TrainConfig, loop: _LoopState, iteration: int, elapsed: float):
    """Training progress in [0, 1] of the current attempt, which has what was left of the
    iteration and wall-time budgets when it began."""
    by_iterations = (iteration - loop.attempt_iteration) / max(
        config.max_iterations - loop.attempt_iteration, 1
    )
    budget_s = config.minutes * 60.0
    by_time = (elapsed - loop.attempt_elapsed_s) / max(budget_s - loop.attempt_elapsed_s, 1e-9)
    return max(by_iterations, by_time)


def _task_found(config: TrainConfig, contact: float | None, success: float | None) -> bool:
    """Whether an iteration that logged ``contact`` (None: the env has no contact term) and the
    training-episode ``success`` (None: no episode ended) shows the task found: each threshold
    of ``config`` at 0 or above must be exceeded."""
    if config.success_found >= 0 and (success is None or success <= config.success_found):
        return False
    return config.contact_found < 0 or (contact is not None and contact > config.contact_found)


def _should_restart(
    config: TrainConfig, loop: _LoopState, iteration: int, contact, success, allowed: bool = True
) -> bool:
    """Whether the attempt that logged ``contact`` and ``success`` at ``iteration`` has missed
    its chance to find the task (records ``loop.found_contact`` when it has found it)."""
    if _task_found(config, contact, success):
        loop.found_contact = True
    return (
        allowed
        and config.restart_without_contact > 0
        and not loop.found_contact
        and loop.attempt < config.max_restarts
        and iteration + 1 - loop.attempt_iteration >= config.restart_without_contact
    )


def _loop(
    runner: OnPolicyRunner,
    env: BatchedEnv,
    run_dir: Path,
    config: TrainConfig,
    loop: _LoopState,
    validator: Validator | None,
    show_progress: bool,
) -> Path:
    budget_s = config.minutes * 60.0
    metrics = _MetricsLog(run_dir, (*METRICS_HEAD, *env.metric_logs, *METRICS_TAIL))
    checkpoints = run_dir / "checkpoints"
    latest = checkpoints / "latest.pt"
    steps_per_iter = config.ppo.num_steps_per_env * env.num_envs
    obs = env.get_observations()
    runner.alg.train_mode()
    clock = time.perf_counter()
    start_iteration, elapsed_before = loop.iteration, loop.elapsed_s
    iteration, elapsed = start_iteration, elapsed_before

    def loop_state(done: int) -> dict:
        return {
            "iteration": done,
            "elapsed_s": elapsed,
            "best_val": loop.best_val,
            **{k: getattr(loop, k) for k in _ATTEMPT_FIELDS},
            "env_rng": env.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def validate(done: int) -> float:
        """Validation success of the current policy; keeps it as best.pt when it is the best."""
        success = validator(runner.alg.get_policy())
        runner.alg.train_mode()
        if success >= loop.best_val:
            loop.best_val = success
            save_checkpoint(runner, checkpoints / "best.pt", loop_state(done))
        return success

    state = loop_state(iteration - 1)
    validated_at = None
    progress = Progress(
        TextColumn("[bold]train[/] it {task.fields[it]}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("success {task.fields[success]:.2f}"),
        TimeElapsedColumn(),
        disable=not show_progress,
    )
    with progress:
        bar = progress.add_task(
            "train", total=budget_s, it=iteration, success=0.0, completed=elapsed
        )
        while iteration < config.max_iterations and elapsed < budget_s:
            env.set_training_progress(_attempt_progress(config, loop, iteration, elapsed))
            t0 = time.perf_counter()
            obs, logs = _collect(runner, env, obs, config.ppo.num_steps_per_env)
            t1 = time.perf_counter()
            losses = runner.alg.update()
            t2 = time.perf_counter()
            elapsed = elapsed_before + (t2 - clock)
            last = iteration + 1 >= config.max_iterations or elapsed >= budget_s
            val_success = ""
            if validator is not None and (
                (iteration + 1) % config.validation_interval == 0 or last
            ):
                val_success = validate(iteration)
                validated_at = iteration
            row = {
                "iteration": iteration,
                "minutes": elapsed / 60.0,
                "env_steps": (iteration + 1) * steps_per_iter,
                "success": logs.get("/episode/success", ""),
                **{column: logs.get(key, "") for column, key in env.metric_logs.items()},
                "collect_s": t1 - t0,
                "update_s": t2 - t1,
                "val_success": val_success,
                "attempt": loop.attempt,
            }
            metrics.write(row, losses)
            if row["success"] != "":
                progress.update(bar, success=row["success"])
            progress.update(bar, completed=min(elapsed, budget_s), it=iteration)
            restart = not last and _should_restart(
                config,
                loop,
                iteration,
                _raw_contact(logs),
                logs.get("/episode/success"),
                env.fresh_start,
            )
            if restart:
                progress.console.print(
                    f"task not found after {iteration + 1 - loop.attempt_iteration} iterations: "
                    f"starting over with a fresh policy (restart {loop.attempt + 1} of "
                    f"{config.max_restarts})"
                )
                torch.manual_seed(config.seed + 1000 * (loop.attempt + 1))
                runner = make_runner(env, config.ppo, config.save_interval)
                runner.alg.train_mode()
                obs = env.reset()
                loop.attempt += 1
                loop.attempt_iteration, loop.attempt_elapsed_s = iteration + 1, elapsed
                loop.best_val = -1.0  # best.pt is the new attempt's from its first validation
            state = loop_state(iteration)
            if restart or (iteration + 1) % config.save_interval == 0:
                save_checkpoint(runner, latest, state)
            iteration += 1
    if validator is not None and validated_at is None and iteration > 0:
        validate(iteration - 1)  # a resumed run that had nothing left to do
        state = loop_state(iteration - 1)
    save_checkpoint(runner, latest, state)
    final = run_dir / "checkpoints" / "final.pt"
    save_checkpoint(runner, final, state)
    metrics.close()
    return final


def _from_plain(cls: type, data: dict):
    """Rebuild a (nested) frozen dataclass from ``asdict`` output."""
    kwargs = {}
    for item in fields(cls):
        if item.name not in data:
            continue
        value, default = data[item.name], getattr(cls(), item.name)
        if is_dataclass(default):
            value = _from_plain(type(default), value)
        elif isinstance(default, tuple) or isinstance(value, list):
            value = tuple(value)
        kwargs[item.name] = value
    return cls(**kwargs)


CHECKPOINTS = ("best", "latest", "final")


def checkpoint_file(run: Path, which: str = "latest") -> Path:
    """The checkpoint of a run folder: ``best`` (by validation success; the latest when the run
    kept none), ``latest`` or ``final``; a checkpoint file is returned as it is."""
    run = Path(run)
    if run.is_file():
        return run
    if which not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {which!r}; use one of {', '.join(CHECKPOINTS)}")
    folder = run / "checkpoints"
    if which == "best" and not (folder / "best.pt").exists():
        which = "latest"
    return folder / f"{which}.pt"


def _checkpoint_paths(run: Path) -> tuple[Path, Path]:
    checkpoint = checkpoint_file(run)
    config_path = checkpoint.parent.parent / "config.json"
    if not checkpoint.exists() or not config_path.exists():
        raise FileNotFoundError(
            f"no trained policy at {run}: expected checkpoints/latest.pt and config.json; "
            "train one with `keyscaffold train TASK --plans DIR --out RUN_DIR`"
        )
    return checkpoint, config_path


def load_run_config(run: Path) -> TrainConfig:
    """The training configuration of a run folder (or of a checkpoint inside it)."""
    _, config_path = _checkpoint_paths(run)
    return _from_plain(TrainConfig, json.loads(config_path.read_text())["train"])


def run_plans_dir(run: Path) -> Path:
    """The plan set a run (or a checkpoint inside it) was trained on."""
    _, config_path = _checkpoint_paths(run)
    return Path(json.loads(config_path.read_text())["plans"])


def load_policy(run: Path, env: ScaffoldEnv) -> torch.nn.Module:
    """The deterministic policy of a run's latest checkpoint, for ``env``'s observation layout."""
    return load_runner(run, env).get_inference_policy()


def load_runner(run: Path, env: ScaffoldEnv) -> OnPolicyRunner:
    """A runner over ``env`` holding the actor of a run's checkpoint (``run`` or a checkpoint
    file in it); refused when the run's task or action count is not ``env``'s."""
    checkpoint, config_path = _checkpoint_paths(run)
    saved = json.loads(config_path.read_text())
    if saved.get("task", env.task.name) != env.task.name:
        raise ValueError(
            f"the policy in {run} was trained on task {saved['task']!r}, not {env.task.name!r}"
        )
    names = saved.get("action_names")
    if names is not None and len(names) != env.num_actions:
        raise ValueError(
            f"the policy in {run} acts with {len(names)} actions ({', '.join(names)}), but "
            f"{env.task.name} with action spec {env.action_spec.name!r} takes {env.num_actions}"
        )
    runner = make_runner(env, load_run_config(run).ppo)
    runner.alg.load(torch.load(checkpoint, weights_only=False), {"actor": True}, strict=True)
    return runner
