"""Deterministic episodes of a policy in every world, and the validation that training runs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from rich.progress import Progress

from keyscaffold.planning.plan import KeypointPlan
from keyscaffold.rl.batched_env import BatchedEnv
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.tasks.base import Task


def run_episode(
    env: BatchedEnv,
    policy: Callable,
    on_step: Callable[[int, np.ndarray], None] | None = None,
    show_progress: bool = False,
) -> None:
    """Step every world through one episode with ``policy`` from the env's current state.

    The env must run without termination (``EnvConfig.for_evaluation``; a keypoint env with
    ``terminate_outside=False``), so every world ends at the time limit; the outcome is in ``env.last_episode``. ``on_step(step, dones)`` runs after each
    control step.
    """
    obs = env.get_observations()
    with Progress(disable=not show_progress) as progress, torch.inference_mode():
        bar = progress.add_task("evaluate", total=env.max_episode_length)
        for step in range(env.max_episode_length):
            obs, _, dones, _ = env.step(policy(obs))
            if on_step is not None:
                on_step(step, dones.numpy())
            progress.advance(bar)


class Validator:
    """Success of a policy on a fixed validation set, with the same start noise every call.

    Works on any batched env (``ScaffoldEnv`` with plans, ``KeypointEnv`` with goals) built
    without termination: every variant (plan or goal) runs ``trials`` episodes; the env's random
    generator is re-seeded before each call, so two calls differ only by the policy. Success is
    the env's own episode success at the time limit (``env.last_episode``).
    """

    def __init__(self, env: BatchedEnv, num_variants: int, trials: int, seed: int) -> None:
        if trials < 1:
            raise ValueError(f"validation trials must be at least 1, got {trials}")
        assignment = np.repeat(np.arange(num_variants), trials)
        if env.num_envs != assignment.size:
            raise ValueError(
                f"a validation env needs {assignment.size} worlds ({num_variants} x {trials} "
                f"trials), it has {env.num_envs}"
            )
        self.env, self.seed, self.assignment = env, seed, assignment

    @classmethod
    def for_plans(
        cls, task: Task, plans: list[KeypointPlan], config: EnvConfig, trials: int, seed: int
    ) -> Validator:
        """A validator of residual tracking policies on ``plans`` (evaluation settings)."""
        env = ScaffoldEnv(task, plans, config.for_evaluation(len(plans) * trials), seed=seed)
        return cls(env, len(plans), trials, seed)

    @property
    def num_episodes(self) -> int:
        return len(self.assignment)

    def __call__(self, policy: Callable) -> float:
        """Fraction of validation episodes that succeed."""
        self.env.rng = np.random.default_rng(self.seed)
        self.env.pin_variants(self.assignment, int(self.assignment.max()) + 1, "variant")
        run_episode(self.env, policy)
        return float(self.env.last_episode["success"].mean())
