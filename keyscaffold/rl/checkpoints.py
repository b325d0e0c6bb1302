"""PPO checkpoints: writing the runner's state with the loop state to resume from, and loading
a run's policy back."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from rsl_rl.runners import OnPolicyRunner

from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.rl.run_folder import checkpoint_and_config, load_run_config
from keyscaffold.rl.runner import make_runner
from keyscaffold.util import atomic_write


def save_checkpoint(runner: OnPolicyRunner, path: Path, state: dict) -> None:
    """Atomically write the PPO state plus the loop state needed to resume."""
    payload = runner.alg.save()
    payload.update(iter=state["iteration"], infos=state)
    atomic_write(path, lambda handle: torch.save(payload, handle), mode="wb")


def load_policy(run: Path, env: ScaffoldEnv) -> torch.nn.Module:
    """The deterministic policy of a run's latest checkpoint, for ``env``'s observation layout."""
    return load_runner(run, env).get_inference_policy()


def load_runner(run: Path, env: ScaffoldEnv) -> OnPolicyRunner:
    """A runner over ``env`` holding the actor of a run's checkpoint (``run`` or a checkpoint
    file in it); refused when the run's task, embodiment (an arm's name says its base pose) or
    action count is not ``env``'s."""
    checkpoint, config_path = checkpoint_and_config(run)
    saved = json.loads(config_path.read_text())
    if saved.get("task", env.task.name) != env.task.name:
        raise ValueError(
            f"the policy in {run} was trained on task {saved['task']!r}, not {env.task.name!r}"
        )
    embodiment = saved.get("embodiment", env.robot.name)
    if embodiment != env.robot.name:
        raise ValueError(
            f"the policy in {run} was trained on embodiment {embodiment!r}, but "
            f"{env.task.name} now runs on {env.robot.name!r} (another robot, or its arm placed "
            "elsewhere)"
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
