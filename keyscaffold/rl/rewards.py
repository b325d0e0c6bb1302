"""Reward terms of scaffold tracking, as named terms with configured weights."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the reward terms; a zero weight switches a term off."""

    tracking: float = 1.0
    """Weight of exp(-tracking_sharpness * mean keypoint distance to the plan)."""
    tracking_sharpness: float = 20.0
    """Sharpness of the tracking kernel (1/m)."""
    contact: float = 1.0
    """Weight of exp(-1 / (sum of fingertip contact forces clamped to [0, 1] + 1e-6))."""
    contact_start: float = 0.0
    """Contact weight at the start of training; it falls linearly to ``contact`` over the
    first ``contact_decay`` of training (0: ``contact`` throughout)."""
    contact_decay: float = 0.25
    """Fraction of training over which the contact weight falls from ``contact_start``."""

    action: float = 0.001
    """Weight of the squared action norm penalty."""

    def at_progress(self, progress: float) -> RewardConfig:
        """These weights at ``progress`` in [0, 1] of training (the contact curriculum)."""
        if self.contact_start <= 0:
            return self
        left = 1.0 - ramp(progress, self.contact_decay)
        return replace(self, contact=self.contact + (self.contact_start - self.contact) * left)


def ramp(progress: float, fraction: float) -> float:
    """A curriculum's weight at ``progress`` in [0, 1] of training: rising linearly from 0 to 1
    over the first ``fraction`` of training, 1 from the start when ``fraction`` <= 0."""
    return min(1.0, progress / fraction) if fraction > 0 else 1.0


def tracking_reward(keypoints: np.ndarray, targets: np.ndarray, sharpness: float) -> np.ndarray:
    """exp(-sharpness * mean keypoint distance).

    Args:
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3).

    Returns:
        Shape: (B,).
    """
    return np.exp(-sharpness * np.linalg.norm(keypoints - targets, axis=-1).mean(axis=-1))


def contact_reward(fingertip_forces: np.ndarray) -> np.ndarray:
    """exp(-1 / (sum over fingertips of force clamped to [0, 1] + 1e-6)).

    Args:
        fingertip_forces: Contact force magnitude per fingertip with the task objects, shape: (B, F).

    Returns:
        Shape: (B,), 0 without contact, up to exp(-1/F).
    """
    return np.exp(-1.0 / (np.clip(fingertip_forces, 0.0, 1.0).sum(axis=-1) + 1e-6))


def action_penalty(actions: np.ndarray) -> np.ndarray:
    """Squared action norm, shape: (B,)."""
    return np.square(actions).sum(axis=-1)


def reward_terms(
    config: RewardConfig,
    keypoints: np.ndarray,
    targets: np.ndarray,
    fingertip_forces: np.ndarray,
    actions: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every weighted term by name; the reward is their sum (penalties enter negative)."""
    return {
        "tracking": config.tracking
        * tracking_reward(keypoints, targets, config.tracking_sharpness),
        "contact": config.contact * contact_reward(fingertip_forces),
        "action": -config.action * action_penalty(actions),
    }
