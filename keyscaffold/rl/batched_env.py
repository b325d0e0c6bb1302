"""What every keyscaffold ``VecEnv`` shares: episode variants per world, reset, action checks.

An env trains over a list of episode variants (scaffold plans, IKER goals). At each reset a world
draws a variant at random, unless evaluation pinned each world to one (``pin_variants``). The
subclass says what resetting worlds to their variants means (``_reset_worlds``).
"""

from __future__ import annotations

import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict


class BatchedEnv(VecEnv):
    """Base of the scaffold and IKER environments; subclasses set ``num_envs``, ``num_actions``,
    ``rng`` and ``pinned = None`` and implement ``_reset_worlds`` and ``get_observations``."""

    pinned: np.ndarray | None = None
    """Per-world variant index fixed by ``pin_variants`` (evaluation), or None to draw."""

    def _reset_worlds(self, ids: np.ndarray) -> None:
        raise NotImplementedError

    metric_logs: dict[str, str] = {}
    """``metrics.csv`` columns and the ``extras["log"]`` keys they average."""

    fresh_start: bool = False
    """Whether training may start over with a fresh policy when the task has not been found
    early (``TrainConfig.restart_without_contact``)."""

    def set_training_progress(self, progress: float) -> None:
        """Move the env's curricula to ``progress`` in [0, 1] of training (none by default)."""

    def reset(self) -> TensorDict:
        """Reset every world; returns the observations."""
        self._reset_worlds(np.arange(self.num_envs))
        return self.get_observations()

    def pin_variants(self, index: np.ndarray, count: int, what: str) -> None:
        """Pin world i to variant ``index[i]`` of ``count`` ``what`` and reset every world."""
        index = np.asarray(index, dtype=np.int64)
        if index.shape != (self.num_envs,):
            raise ValueError(f"{self.num_envs} {what} indices are needed, got shape {index.shape}")
        if index.size and (index.min() < 0 or index.max() >= count):
            raise ValueError(f"{what} indices must lie in 0..{count - 1}")
        self.pinned = index
        self.reset()

    def draw_variants(self, ids: np.ndarray, count: int) -> np.ndarray:
        """The variant each of worlds ``ids`` starts its next episode with."""
        if self.pinned is not None:
            return self.pinned[ids]
        return self.rng.integers(0, count, size=ids.size)

    def _validate_actions(self, actions: torch.Tensor) -> np.ndarray:
        """Actions as float64 numpy, clipped to [-1, 1]; a wrong shape or NaN is refused."""
        if tuple(actions.shape) != (self.num_envs, self.num_actions):
            raise ValueError(
                f"actions must have shape ({self.num_envs}, {self.num_actions}), "
                f"got {tuple(actions.shape)}"
            )
        array = actions.detach().cpu().numpy().astype(np.float64)
        if not np.isfinite(array).all():
            raise ValueError("actions contain NaN or infinite values; check the policy's output")
        return np.clip(array, -1.0, 1.0)
