"""Gymnasium environments: every scaffold task as ``keyscaffold/<task>-v0``.

Importing this module registers one id per scaffold task (``keyscaffold.tasks.scaffold_task_names``)
with gymnasium, so any library that takes a gymnasium environment can train on it::

    import gymnasium
    import keyscaffold.gym  # registers keyscaffold/<task>-v0

    envs = gymnasium.make_vec("keyscaffold/move_apple-v0", num_envs=8, num_states=8, seed=0)
    env = gymnasium.make("keyscaffold/move_apple-v0")

Gymnasium 1.x has no plugin entry points, so the import is needed; the id may name the module
instead: ``gymnasium.make_vec("keyscaffold.gym:keyscaffold/move_apple-v0", num_envs=8)``.
Tasks registered after the import are added by ``register_envs()``.

``make_vec`` builds one ``ScaffoldEnv`` with ``num_envs`` batched worlds (``ScaffoldVectorEnv``),
not ``num_envs`` copies; ``make`` builds one with a single world (``ScaffoldGymEnv``). Both take
numpy arrays: observations float32 of shape (D,) per world, actions float32 in [-1, 1] of shape
(num_actions,) per world (the wrist residual and grip actions of ``keyscaffold.rl.env``).

Plans: the oracle plans of ``num_states`` initial states of the train split of ``seed``, with
``orientation_noise`` (rad) of seeded wrist-orientation noise; or the caller's own ``plans``.
Every reset draws a plan per world. ``config`` (an ``EnvConfig``) sets the env; its ``num_envs`` is
replaced. The curricula stay at their start unless ``set_training_progress`` moves them.

Episodes end when a keypoint strays past the tracking limit (``terminated``) or at the task's time
limit (``truncated``). The vector env resets an ended world inside the same ``step`` (gymnasium's
``AutoresetMode.SAME_STEP``): the returned observation starts the next episode, and
``info["final_obs"]`` (shape (num_envs, D); rows of ``info["_final_obs"]`` are the ended worlds)
holds the observation the episode ended on. ``info["success"]`` (bool, shape (num_envs,)) says
whether the episode that ended at this step succeeded (False where none ended; ``_success`` marks
the ended worlds); ``info["final_info"]`` holds success, episode return and length the same way.

IKER tasks are not registered: their goals come from the stage oracle's generated code, run in
the sandbox on rendered candidates (``keyscaffold.iker.evaluate.oracle_goals``), which is too
heavy for an environment constructor.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.planning.plan import KeypointPlan
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.tasks import make_task, scaffold_task_names

NAMESPACE = "keyscaffold"
VERSION = 0


def env_id(task_name: str) -> str:
    """The gymnasium id of a task, ``keyscaffold/<task>-v0``."""
    return f"{NAMESPACE}/{task_name}-v{VERSION}"


class _EndObservationEnv(ScaffoldEnv):
    """A ``ScaffoldEnv`` that keeps the observation its worlds ended an episode on.

    ``ScaffoldEnv.step`` resets ended worlds before it returns their observations; this subclass
    records every world's observation just before that reset (``final_obs``, shape
    (num_envs, D), or None when no world ended in the last step).
    """

    final_obs: np.ndarray | None = None
    _stepping = False

    def step(self, actions: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor, dict]:
        self.final_obs = None
        self._stepping = True
        try:
            return super().step(actions)
        finally:
            self._stepping = False

    def _reset_worlds(self, ids: np.ndarray) -> None:
        if self._stepping and ids.size:
            self.final_obs = self.get_observations()["policy"].numpy().copy()
        super()._reset_worlds(ids)


def build_scaffold_env(
    task: str,
    num_envs: int,
    plans: list[KeypointPlan] | None = None,
    config: EnvConfig | None = None,
    num_states: int = 8,
    seed: int = 0,
    orientation_noise: float = 0.0,
) -> ScaffoldEnv:
    """The batched env underneath both gymnasium envs (arguments: see the module docstring).

    Raises:
        KeyError: An unknown task.
        ValueError: A task without scaffold mode, fewer than one world or state.
    """
    task_spec = make_task(task)
    if "scaffold" not in task_spec.modes:
        raise ValueError(
            f"task {task!r} is an IKER task (modes {task_spec.modes}); gymnasium envs exist for "
            f"the scaffold tasks only: {', '.join(scaffold_task_names())}"
        )
    if num_envs < 1:
        raise ValueError(f"num_envs must be at least 1, got {num_envs}")
    if plans is None:
        if num_states < 1:
            raise ValueError(f"num_states must be at least 1, got {num_states}")
        plans = oracle_plans(task_spec, "train", seed, num_states, noise=orientation_noise)
    config = replace(config or EnvConfig(), num_envs=num_envs)
    return _EndObservationEnv(task_spec, list(plans), config, seed=seed)


class ScaffoldVectorEnv(VectorEnv):
    """``num_envs`` worlds of a scaffold task stepped together, numpy in and out.

    Shapes: observations (num_envs, D) float32, actions (num_envs, num_actions) in [-1, 1],
    rewards, terminations and truncations (num_envs,). See the module docstring for plans,
    autoreset and info.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        task: str,
        num_envs: int = 1,
        plans: list[KeypointPlan] | None = None,
        config: EnvConfig | None = None,
        num_states: int = 8,
        seed: int = 0,
        orientation_noise: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"keyscaffold gymnasium envs do not render, got {render_mode!r}")
        self.scaffold = build_scaffold_env(
            task, num_envs, plans, config, num_states, seed, orientation_noise
        )
        self.num_envs = num_envs
        self.render_mode = None
        size = self.scaffold.get_observations()["policy"].shape[1]
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.single_action_space = spaces.Box(-1.0, 1.0, (self.scaffold.num_actions,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every world; ``seed`` reseeds the plan draws and start noise of all worlds."""
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"one integer seed serves all worlds, got {seed!r}")
        super().reset(seed=seed)
        if seed is not None:
            self.scaffold.rng = np.random.default_rng(int(seed))
        return self.scaffold.reset()["policy"].numpy().copy(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance every world one control step; shape of actions: (num_envs, num_actions)."""
        action = torch.from_numpy(np.asarray(actions, dtype=np.float32))
        obs, reward, dones, extras = self.scaffold.step(action)
        done = dones.numpy().copy()
        truncated = extras["time_outs"].numpy() & done
        terminated = done & ~truncated
        success = np.zeros(self.num_envs, dtype=bool)
        info: dict[str, Any] = {"success": success, "_success": done.copy()}
        if done.any():
            last = self.scaffold.last_episode
            success[done] = last["success"][done].astype(bool)
            info["final_obs"] = self.scaffold.final_obs
            info["_final_obs"] = done.copy()
            info["final_info"] = {
                "success": success.copy(),
                "_success": done.copy(),
                "episode_return": np.where(done, last["return"], 0.0),
                "_episode_return": done.copy(),
                "episode_length": np.where(done, last["length"], 0).astype(np.int64),
                "_episode_length": done.copy(),
            }
            info["_final_info"] = done.copy()
        return (
            obs["policy"].numpy().copy(),
            reward.numpy().astype(np.float64),
            terminated,
            truncated,
            info,
        )

    def set_training_progress(self, progress: float) -> None:
        """Move the env's curricula to ``progress`` in [0, 1] of training."""
        self.scaffold.set_training_progress(progress)


class ScaffoldGymEnv(gymnasium.Env):
    """One world of a scaffold task: observation (D,) float32, action (num_actions,) in [-1, 1].

    After ``terminated`` or ``truncated`` call ``reset``; the step's info then holds
    ``success``, ``episode_return`` and ``episode_length``.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        task: str,
        plans: list[KeypointPlan] | None = None,
        config: EnvConfig | None = None,
        num_states: int = 8,
        seed: int = 0,
        orientation_noise: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        self.vector_env = ScaffoldVectorEnv(
            task, 1, plans, config, num_states, seed, orientation_noise, render_mode
        )
        self.render_mode = None
        self.observation_space = self.vector_env.single_observation_space
        self.action_space = self.vector_env.single_action_space

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``seed`` reseeds the plan draws and start noise."""
        super().reset(seed=seed)
        obs, _ = self.vector_env.reset(seed=seed)
        return obs[0], {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one control step; shape of action: (num_actions,)."""
        obs, reward, terminated, truncated, info = self.vector_env.step(np.asarray(action)[None])
        step_info: dict[str, Any] = {}
        if terminated[0] or truncated[0]:
            obs = info["final_obs"]
            ended = info["final_info"]
            step_info = {
                "success": bool(ended["success"][0]),
                "episode_return": float(ended["episode_return"][0]),
                "episode_length": int(ended["episode_length"][0]),
            }
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), step_info

    def set_training_progress(self, progress: float) -> None:
        """Move the env's curricula to ``progress`` in [0, 1] of training."""
        self.vector_env.set_training_progress(progress)


def register_envs() -> list[str]:
    """Register ``keyscaffold/<task>-v0`` for every scaffold task not yet registered; returns
    the ids of all scaffold tasks."""
    ids = []
    for name in scaffold_task_names():
        gym_id = env_id(name)
        if gym_id not in gymnasium.registry:
            gymnasium.register(
                id=gym_id,
                entry_point=f"{__name__}:ScaffoldGymEnv",
                vector_entry_point=f"{__name__}:ScaffoldVectorEnv",
                kwargs={"task": name},
            )
        ids.append(gym_id)
    return ids


register_envs()
