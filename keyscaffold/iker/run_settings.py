"""Settings of one IKER run (``loop.run_iker``): planner, training, execution, prompt, pictures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keyscaffold.iker.code_settings import PROMPT_VERSION
from keyscaffold.iker.skills import SETTLE_STEPS
from keyscaffold.rl.config import TrainConfig
from keyscaffold.rl.keypoint_env import KeypointEnvConfig
from keyscaffold.vlm.client import VLMConfig

PLANNERS = ("oracle", "vlm")
"""Where stage code comes from: the task's oracle (offline) or a vision-language model."""
EXECUTIONS = ("policy", "ideal")
"""How an accepted stage is carried out: a trained (or reused) PPO policy, or the ideal placement
of the object at its targets (no training)."""


@dataclass(frozen=True)
class IkerSettings:
    """How one IKER run solves its initial state (everything but the task and the run folder).

    Raises:
        ValueError: Unknown planner or execution, a negative perturbation, no training time, or
            target noise without the oracle planner.
    """

    planner: str = "oracle"
    """``oracle`` (the task's oracle writes each stage's code, offline) or ``vlm``."""
    vlm: VLMConfig | None = None
    """Endpoint, model and cache of the model (``planner="vlm"``; default ``VLMConfig()``)."""
    minutes_per_stage: float = 10.0
    """Training wall time of each newly trained policy."""
    seed: int = 0
    """Seed of the initial state (``task.sample_initial_state``)."""
    multi_step: bool | None = None
    """Multi-step prompt with history and ``done``; default: the task has more than one stage
    (``num_stages() > 1``)."""
    max_stages: int = 6
    """Stages a multi-step run may take before it fails with ``stage_limit``."""
    perturb: float = 0.0
    """After each executed stage of a multi-step run that goes on, move one movable object by up
    to this far in x/y (m, seeded by ``seed`` and the stage); 0: never."""
    train: TrainConfig | None = None
    """PPO settings (default: the CPU profile); ``minutes`` becomes ``minutes_per_stage``."""
    env_config: KeypointEnvConfig | None = None
    """Keypoint env settings for training (start noise, reward, episode length); execution uses
    them without noise in one world."""
    repairs: int = 1
    """Times an unusable model answer is sent back with its problem."""
    image_size: int = 512
    """Width and height of the scene pictures (pixels)."""
    settle_steps: int = SETTLE_STEPS
    """Control steps of the release after each execution and of the settling after a
    perturbation."""
    video: bool = False
    """Write ``stage_<i>/rollout.mp4`` of each execution."""
    command: str = ""
    """The command line to record (default: the ``run_iker`` call, spelled out)."""
    show_progress: bool = False
    """Progress bars while training and executing."""
    execution: str = "policy"
    """``policy`` (train or reuse a PPO policy per skill) or ``ideal`` (place the object at its
    targets; nothing is trained, see ``skills.ideal_placement``)."""
    skills: Path | None = None
    """A skill library folder (``keyscaffold.iker.library``): a stage whose skill it holds reuses
    that policy instead of training one."""
    stage_retries: int = 2
    """Times a multi-step run asks for a failed stage again (its code unusable after the repairs,
    or its execution short of the targets) before it ends."""
    label_keypoints: bool = True
    """v2 requests list the object under every keypoint number; False hides that, as IKER's paper
    did."""
    prompt_version: str = PROMPT_VERSION
    """The code prompt's template (``v2``; ``v1`` stays selectable)."""
    target_noise: float = 0.0
    """With the oracle planner, every target of its code is off by a uniform draw from
    [-target_noise, target_noise] m per axis (``stage_code.with_target_noise``), as a competent
    model's answer is; 0: exact."""

    def __post_init__(self) -> None:
        if self.planner not in PLANNERS:
            raise ValueError(
                f"unknown IKER planner {self.planner!r}; use one of {', '.join(PLANNERS)}"
            )
        if self.perturb < 0:
            raise ValueError(f"--perturb must be a distance >= 0 (m), got {self.perturb}")
        if self.minutes_per_stage <= 0:
            raise ValueError(f"--minutes must be positive, got {self.minutes_per_stage}")
        if self.execution not in EXECUTIONS:
            raise ValueError(
                f"unknown execution {self.execution!r}; use one of {', '.join(EXECUTIONS)}"
            )
        if self.target_noise and self.planner != "oracle":
            raise ValueError("--target-noise perturbs the oracle's answers; use --planner oracle")
