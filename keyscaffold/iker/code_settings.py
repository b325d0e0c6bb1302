"""Settings of an IKER code run: everything that decides its requests and checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from keyscaffold.planning.requests import ModelParameters

PROMPT_VERSION = "v2"
"""Version of the IKER code prompt (``planning/prompts/iker_code_<version>.txt``): v2 lists under
each picture which object every keypoint number lies on (``CodeSettings.label_keypoints``) and
says which object is which; v1 (numbers only) stays selectable and renders as it always did."""
PROMPT_VERSIONS = ("v1", "v2")
SOURCES = ("vlm", "oracle")
"""Where stage code comes from: a model, or the task's oracle (offline)."""


@dataclass(frozen=True)
class CodeSettings(ModelParameters):
    """Everything that decides an IKER code run's requests and checks (kept in the manifest).

    ``for_task`` fills the task fields from a task object.
    """

    task: str
    """Task name; the custom ids are ``iker-<task>-<seed>-code-<i>``."""
    instruction: str
    """The language instruction shown to the model."""
    objects: list[str]
    """Movable objects the code may act on (body names, as the model must write them)."""
    workspace_low: list[float] | None = None
    """Lower corner of the box every target must lie in (m), or None for no check."""
    workspace_high: list[float] | None = None
    """Upper corner of that box (m)."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """One IKER run per seed (normally the initial state's seed)."""
    multi_step: bool = True
    """Multi-step prompt with history and ``done``; False: one stage per run, no history."""
    max_stages: int = 6
    """Stages a multi-step run may take before it fails with ``stage_limit``."""
    source: str = "vlm"
    """vlm | oracle (the task's oracle writes the code; no request is made)."""
    model: str = ""
    temperature: float = 0.0
    max_tokens: int = 2048
    repairs: int = 1
    """Times an unusable answer is sent back with the reason, asking for a corrected one."""
    stage_retries: int = 2
    """Times a multi-step run asks for a stage again after it failed (code unusable after the
    repairs, or an execution short of its targets); one more failure in a row ends the run
    (``stage_retries``). Single-step runs never ask again."""
    label_keypoints: bool = True
    """v2 requests list the object every keypoint number lies on; False hides that, as IKER's
    paper did (the picture alone tells which number is on which object)."""
    object_words: dict[str, str] = field(default_factory=dict)
    """What an object or fixture is, in words a model can check in the picture (body name ->
    words, e.g. ``left_shoe`` -> ``the red sneaker for the left foot``); v2 names them."""
    timeout_s: float = 5.0
    """CPU and wall-clock budget of one run of stage code in the sandbox (s)."""
    memory_mb: int = 512
    """Memory granted to stage code in the sandbox (MiB)."""
    prompt_version: str = PROMPT_VERSION

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown code source {self.source!r}; use one of {SOURCES}")
        if self.max_stages < 1:
            raise ValueError(f"max_stages must be at least 1, got {self.max_stages}")
        if self.repairs < 0 or self.stage_retries < 0:
            raise ValueError("repairs and stage_retries must be >= 0")
        if self.prompt_version not in PROMPT_VERSIONS:
            raise ValueError(f"unknown prompt version {self.prompt_version!r}; {PROMPT_VERSIONS}")
        if (self.workspace_low is None) != (self.workspace_high is None):
            raise ValueError("give both workspace corners or neither")
        if any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be integers >= 0, got {self.seeds}")
        # Plain lists, so that the manifest compares equal after a JSON round trip.
        for name in ("objects", "seeds", "workspace_low", "workspace_high"):
            value = getattr(self, name)
            if value is not None:
                cast = int if name == "seeds" else (str if name == "objects" else float)
                object.__setattr__(self, name, [cast(v) for v in value])
        words = {str(k): str(v) for k, v in self.object_words.items()}
        object.__setattr__(self, "object_words", words)

    @staticmethod
    def for_task(task: Any, seeds: Sequence[int] = (0,), **overrides: Any) -> CodeSettings:
        """Settings for a task object (its ``name``, ``instruction``, ``movable_objects()``,
        ``workspace_low``, ``workspace_high`` and, if it has them, ``object_words``), plus any
        other fields."""
        return CodeSettings(
            task=task.name,
            instruction=task.instruction,
            objects=list(task.movable_objects()),
            workspace_low=list(task.workspace_low),
            workspace_high=list(task.workspace_high),
            seeds=list(seeds),
            **{"object_words": dict(getattr(task, "object_words", {})), **overrides},
        )

    @property
    def stage_limit(self) -> int:
        """Stages a run may take: ``max_stages`` in multi-step mode, 1 in single-step mode."""
        return self.max_stages if self.multi_step else 1
