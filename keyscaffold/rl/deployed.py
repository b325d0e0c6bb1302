"""A trained policy outside its env: built from the run folder's policy I/O spec and checkpoint
alone, with no simulator, no task and no env (observation vectors in, actions out)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import torch
from rsl_rl.models import MLPModel
from tensordict import TensorDict

from keyscaffold.rl.policy_io import PolicyIO
from keyscaffold.rl.run_folder import checkpoint_file


def load_actor(run: Path, which: str = "best") -> tuple[PolicyIO, MLPModel]:
    """A run's policy I/O spec and its actor network with the checkpoint's weights (the
    observation normalizer included), built from the spec alone.

    Args:
        run: A run folder (or a checkpoint file inside its ``checkpoints/``).
        which: ``best``, ``latest`` or ``final`` (see ``checkpoint_file``).
    """
    spec = PolicyIO.load(run)
    model = build_actor(spec, str(run))
    checkpoint = checkpoint_file(Path(run), which)
    if not checkpoint.exists():
        raise FileNotFoundError(f"no checkpoint {checkpoint}: train the run first")
    state = torch.load(checkpoint, weights_only=False)
    model.load_state_dict(state["actor_state_dict"], strict=True)
    return spec, model.eval()


def build_actor(spec: PolicyIO, source: str = "the policy I/O spec") -> MLPModel:
    """The actor network ``spec.network`` describes, with fresh weights (an untrained actor, for
    timing a runtime; ``load_actor`` loads a checkpoint's into it).

    Args:
        spec: A policy I/O spec whose ``network`` is an rsl_rl ``MLPModel`` configuration.
        source: Where the spec comes from, for error messages.
    """
    network = dict(spec.network)
    if network.pop("class_name", "MLPModel") != "MLPModel":
        raise ValueError(f"{source}: only MLP actors can be deployed, not {spec.network}")
    if not network:
        raise ValueError(f"{source}: its policy I/O spec names no actor network")
    example = TensorDict({"policy": torch.zeros(1, spec.num_observations)}, batch_size=[1])
    with contextlib.redirect_stdout(io.StringIO()):
        return MLPModel(example, {"actor": ["policy"]}, "actor", spec.num_actions, **network)


class DeployedPolicy:
    """The deterministic actor of a run: ``policy(observations) -> actions``.

    Args:
        run: A run folder (or a checkpoint file inside its ``checkpoints/``).
        which: ``best``, ``latest`` or ``final`` (see ``checkpoint_file``).
    """

    def __init__(self, run: Path, which: str = "best") -> None:
        self.io, model = load_actor(run, which)
        self.actor = model.as_jit().eval()

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        """Actions of B observation vectors.

        Args:
            observations: Shape: (B, num_observations), in the spec's block order
                (``PolicyIO.observe`` builds them from named blocks).

        Returns:
            The actor's mean actions, shape: (B, num_actions) (the env clips them to [-1, 1]).
        """
        observations = np.asarray(observations, dtype=np.float32)
        if observations.ndim != 2 or observations.shape[1] != self.io.num_observations:
            raise ValueError(
                f"observations must have shape (B, {self.io.num_observations}) "
                f"({', '.join(name for name, _ in self.io.observation)}), "
                f"got {observations.shape}"
            )
        with torch.inference_mode():
            return self.actor(torch.from_numpy(observations)).numpy()
