"""A policy's inputs and outputs as an object: what it observes, in which order, and what its
actions become. The envs build their observations and post-process their actions through it,
and a run folder keeps it beside the checkpoint (``policy_io.json``), so that a trained policy
can run outside the env, on another simulator or on a robot, from the spec and the checkpoint
alone (``DeployedPolicy``).

Two action modes exist:

- ``plan_residual`` (``ScaffoldEnv``): the policy's action is smoothed by an exponential moving
  average (one weight per action), its grip part optionally mapped from [-1, 1] to [0, 1]
  (``grip_full_range``), and the wrist part scaled into a residual on the plan's wrist pose
  (``position_scale`` m and ``rotation_scale`` rad at action 1, rotation clipped to
  ``rotation_limit``); the embodiment's action spec maps the grip part to joint targets.
- ``wrist_delta`` (``KeypointEnv``): the action is scaled into an increment of the last wrist
  target (``position_scale`` m, ``rotation_scale`` rad per control step); the grip follows the
  env's grasp heuristic.

The observation is the concatenation of named blocks (``observation``: name and width, in order).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from keyscaffold.util import atomic_write_text

POLICY_IO_VERSION = 1
POLICY_IO_FILE = "policy_io.json"
ACTION_MODES = ("plan_residual", "wrist_delta")


@dataclass(frozen=True)
class PolicyIO:
    """The contract between a trained policy and whatever runs it.

    Attributes:
        mode: ``plan_residual`` or ``wrist_delta`` (module docstring).
        task: The task the policy was trained on.
        embodiment: Registered embodiment name.
        action_spec: The embodiment's action spec; its names are ``action_names``.
        action_names: One name per action, in order.
        observation: (name, width) of each observation block, in order.
        control_dt: Seconds per control step.
        episode_steps: Control steps per episode (the ``episode_phase`` block is t / this).
        lookahead: Plan steps ahead whose keypoints and wrist the policy sees (plan_residual).
        velocity_scale: Factor on joint velocities in the proprioception block.
        action_alpha: Weight of the newest action in each action's moving average.
        rest_action: The moving average's value at an episode's start, per action.
        grip_full_range: Grip actions span [-1, 1] (mapped to [0, 1] before the action spec).
        position_scale: Wrist position residual or increment at action 1 (m).
        rotation_scale: Wrist rotation residual or increment at action 1 (rad).
        rotation_limit: Largest wrist rotation residual per axis (rad); None: no clip.
        network: The actor network (rsl_rl model configuration).
        version: Format version of this spec.
    """

    mode: str
    task: str
    embodiment: str
    action_spec: str
    action_names: tuple[str, ...]
    observation: tuple[tuple[str, int], ...]
    control_dt: float
    episode_steps: int
    lookahead: tuple[int, ...] = ()
    velocity_scale: float = 0.1
    action_alpha: tuple[float, ...] = ()
    rest_action: tuple[float, ...] = ()
    grip_full_range: bool = False
    position_scale: float = 0.1
    rotation_scale: float = 1.0
    rotation_limit: float | None = None
    network: dict = field(default_factory=dict)
    version: int = POLICY_IO_VERSION

    def __post_init__(self) -> None:
        if self.mode not in ACTION_MODES:
            raise ValueError(f"policy I/O mode must be one of {ACTION_MODES}, not {self.mode!r}")
        n = len(self.action_names)
        for name in ("action_alpha", "rest_action"):
            values = getattr(self, name)
            if values and len(values) != n:
                raise ValueError(f"{name} has {len(values)} values for {n} actions")

    @property
    def num_actions(self) -> int:
        """Length of the action vector."""
        return len(self.action_names)

    @property
    def num_observations(self) -> int:
        """Length of the observation vector."""
        return sum(width for _, width in self.observation)

    @property
    def grip_slice(self) -> slice:
        """Where the grip actions sit: after the six wrist actions."""
        return slice(6, self.num_actions)

    # ----------------------------------------------------------------------------- inputs
    def observe(self, blocks: dict[str, np.ndarray]) -> np.ndarray:
        """The observation vectors of B worlds from their named blocks.

        Args:
            blocks: Every block of ``observation`` by name, each of shape (B, ...) that
                flattens to (B, width).

        Returns:
            Shape: (B, num_observations), float32.
        """
        missing = [name for name, _ in self.observation if name not in blocks]
        if missing:
            raise KeyError(f"observation blocks missing: {', '.join(missing)}")
        rows = len(next(iter(blocks.values())))
        parts = []
        for name, width in self.observation:
            block = np.asarray(blocks[name], dtype=np.float64).reshape(rows, -1)
            if block.shape[1] != width:
                raise ValueError(
                    f"observation block {name!r} has width {block.shape[1]}, the spec says {width}"
                )
            parts.append(block)
        return np.concatenate(parts, axis=1).astype(np.float32)

    # ----------------------------------------------------------------------------- outputs
    def initial_average(self, rows: int) -> np.ndarray:
        """The actions' moving average at an episode's start, shape: (rows, num_actions)."""
        rest = self.rest_action or (0.0,) * self.num_actions
        return np.tile(np.asarray(rest, dtype=np.float64), (rows, 1))

    def smooth(self, action: np.ndarray, average: np.ndarray) -> np.ndarray:
        """The moving average after ``action`` (both of shape (B, num_actions))."""
        if not self.action_alpha:
            return np.asarray(action, dtype=np.float64)
        alpha = np.asarray(self.action_alpha)
        return alpha * action + (1.0 - alpha) * average

    def grip_actions(self, applied: np.ndarray) -> np.ndarray:
        """The actions the embodiment's action spec takes: with ``grip_full_range`` the grip
        part is mapped from [-1, 1] to [0, 1]. Shape: (B, num_actions)."""
        if not self.grip_full_range:
            return applied
        applied = np.array(applied, dtype=np.float64)
        grip = self.grip_slice
        applied[:, grip] = 0.5 * (applied[:, grip] + 1.0)
        return applied

    # ----------------------------------------------------------------------------- files
    def to_json(self) -> dict:
        """Plain data for ``policy_io.json``."""
        data = asdict(self)
        data["observation"] = [list(block) for block in self.observation]
        return data

    @classmethod
    def from_json(cls, data: dict) -> PolicyIO:
        """A spec from ``to_json`` output; a newer format version is refused."""
        version = int(data.get("version", 0))
        if version > POLICY_IO_VERSION:
            raise ValueError(
                f"policy I/O spec version {version} is newer than this keyscaffold reads "
                f"({POLICY_IO_VERSION}); upgrade keyscaffold"
            )
        data = dict(data)
        data["observation"] = tuple((str(n), int(w)) for n, w in data["observation"])
        for name in ("action_names", "lookahead", "action_alpha", "rest_action"):
            data[name] = tuple(data.get(name, ()))
        return cls(**data)

    def save(self, run_dir: Path) -> Path:
        """Write ``run_dir/policy_io.json`` atomically; returns its path."""
        path = Path(run_dir) / POLICY_IO_FILE
        atomic_write_text(path, json.dumps(self.to_json(), indent=2))
        return path

    @classmethod
    def load(cls, run_dir: Path) -> PolicyIO:
        """The spec of a run folder (or of a checkpoint file inside its ``checkpoints/``)."""
        run_dir = Path(run_dir)
        if run_dir.is_file():
            run_dir = run_dir.parent.parent
        path = run_dir / POLICY_IO_FILE
        if not path.exists():
            raise FileNotFoundError(
                f"no {POLICY_IO_FILE} in {run_dir}: the run predates policy I/O specs; "
                "retrain it, or run it inside its env with `keyscaffold eval`"
            )
        return cls.from_json(json.loads(path.read_text()))
