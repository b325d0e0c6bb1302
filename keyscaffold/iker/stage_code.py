"""Stage code to stage goals: extract the code of an answer, run it in the sandbox, check its value.

A model's (or the offline oracle's) answer defines ``get_interaction_data(keypoint_coordinates)``
(the contract of ``keyscaffold.iker.stage``). ``code_from_answer`` takes its code block,
``run_stage_code`` runs it in the sandbox (``sandbox.run_untrusted``) on the candidate coordinates
and checks the value with ``stage.parse_stage``; what goes wrong is a typed failure
(``FAILURE_KINDS``). ``with_target_noise`` makes an oracle's answers as imprecise as a model's.
Stages are named ``code-<i>`` (``stage_name``, ``stage_index``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.iker.stage import (
    STAGE_ENTRY,
    STAGE_ERROR_KINDS,
    StageError,
    StageSpec,
    parse_stage,
)
from keyscaffold.sandbox import REASONS, SandboxError, extract_code, run_untrusted

SANDBOX_KINDS = tuple(f"sandbox_{reason}" for reason in sorted(REASONS))
"""Failure kinds for code the sandbox refused or stopped: ``sandbox_<SandboxError.reason>``."""
FAILURE_KINDS = (
    "no_code",
    *SANDBOX_KINDS,
    *STAGE_ERROR_KINDS,
    "stage_limit",
    "stage_retries",
    "oracle_error",
)
"""Every typed failure of a stage: no code block; the sandbox's reasons (syntax,
forbidden_import, forbidden_name, missing_entry, timeout, memory, runtime_error, bad_output,
output_too_large); ``parse_stage``'s kinds; ``stage_limit`` (``max_stages`` used up without
``done``); ``stage_retries`` (a multi-step run's stage failed ``stage_retries + 1`` times in a
row); ``oracle_error`` (the offline oracle could not write code for the scene)."""
RETRY_KINDS = ("no_code", *SANDBOX_KINDS, *STAGE_ERROR_KINDS)
"""Failures of an answer's code after which a multi-step run asks for the stage again."""
STAGE_RE = re.compile(r"^code-(\d+)$")

Oracle = Callable[[int, list[tuple[str, list[float]]]], str]
"""``(stage index, candidates as (body, [x, y, z]) pairs) -> source``: a task's ``oracle_code``."""


class CodeError(ValueError):
    """Stage code that cannot be used; ``kind`` is one of ``FAILURE_KINDS``.

    Attributes:
        kind: The failure kind.
        message: What is wrong, in words that can be quoted back to the model.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def stage_name(stage: int | str) -> str:
    """``code-<i>`` for a stage index or name.

    Raises:
        ValueError: Not a stage index (>= 0) or a ``code-<i>`` name.
    """
    if isinstance(stage, (int, np.integer)) and not isinstance(stage, bool) and stage >= 0:
        return f"code-{int(stage)}"
    if isinstance(stage, str) and STAGE_RE.match(stage):
        return stage
    raise ValueError(f"a stage is an index >= 0 or a name 'code-<i>', got {stage!r}")


def stage_index(stage: int | str) -> int:
    """The index ``i`` of ``code-<i>`` (or of an index)."""
    return int(stage_name(stage).split("-")[1])


def code_from_answer(answer: str) -> str:
    """The code of an answer: its last fenced (preferably Python) block, or the whole answer when
    it has no fence but defines the stage function.

    Raises:
        CodeError: ``no_code`` when there is neither.
    """
    text = answer or ""
    if "```" not in text and f"def {STAGE_ENTRY}" not in text:
        raise CodeError(
            "no_code",
            f"the answer has no code; write the function `def {STAGE_ENTRY}(keypoint_coordinates)` "
            "in a single ```python code block",
        )
    code = extract_code(text)
    if not code.strip():
        raise CodeError("no_code", "the answer's code block is empty")
    return code


def run_stage_code(
    code: str,
    candidates: CandidateSet,
    objects: Sequence[str],
    workspace_low: Sequence[float] | None = None,
    workspace_high: Sequence[float] | None = None,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
) -> StageSpec:
    """Run stage code in the sandbox on the candidates' coordinates and check the value.

    Args:
        code: Python source defining ``get_interaction_data`` (fences allowed).
        candidates: The numbered candidates of the stage's picture (M of them).
        objects: Movable object names the stage may act on.
        workspace_low: Lower corner of the targets' box (m), shape: (3,), or None.
        workspace_high: Upper corner of that box (m), shape: (3,), or None.
        timeout_s: Time budget of the code (s).
        memory_mb: Memory budget of the code (MiB).

    Returns:
        The checked stage goal.

    Raises:
        CodeError: ``sandbox_<reason>`` for code the sandbox refused or stopped.
        StageError: The value does not follow the contract (``parse_stage``'s kinds).
    """
    try:
        value = run_untrusted(
            code,
            STAGE_ENTRY,
            {"keypoint_coordinates": candidates.coordinates()},
            timeout_s=timeout_s,
            memory_mb=memory_mb,
        )
    except SandboxError as error:
        raise CodeError(f"sandbox_{error.reason}", error.message) from None
    try:
        return parse_stage(
            value,
            candidates.bodies(),
            list(objects),
            None if workspace_low is None else tuple(workspace_low),
            None if workspace_high is None else tuple(workspace_high),
        )
    except StageError:
        raise
    except (TypeError, ValueError, OverflowError, KeyError, IndexError) as error:
        # A value odd enough to trip the checks themselves is still only a wrong shape.
        raise StageError(
            "wrong_shape", f"get_interaction_data() returned an unusable value: {error}"
        ) from None


NOISY_ENTRY = """
# The oracle's targets, each off by up to {noise:g} m per axis as a model's estimate would be:
# one row per keypoint number, drawn for this run and stage.
target_errors = np.array({errors})


def {entry}(keypoint_coordinates):
    result = exact_interaction_data(keypoint_coordinates)
    if result["done"]:
        return result
    errors = target_errors[np.array(result["keypoints"], dtype=int)]
    result["targets"] = (np.array(result["targets"], dtype=float) + errors).tolist()
    return result
"""


def with_target_noise(oracle: Oracle, noise: float, seed: int) -> Oracle:
    """An oracle whose answers are off as a competent model's are: every target moved by a
    uniform draw from [-noise, noise] m on each axis (drawn per run ``seed`` and stage index).

    The noise is in the answer's code: the oracle's function is renamed and wrapped, so the
    answer path (sandbox, contract, checks) treats it as it treats a model's code.

    Args:
        oracle: A task's ``oracle_code``.
        noise: Largest error per axis (m), >= 0.
        seed: The run's seed.
    """
    if noise < 0:
        raise ValueError(f"target noise must be >= 0 m, got {noise}")

    def noisy(stage: int, candidates: list[tuple[str, list[float]]]) -> str:
        code = oracle(stage, candidates)
        rng = np.random.default_rng([seed, stage])
        errors = np.round(rng.uniform(-noise, noise, (max(len(candidates), 1), 3)), 5)
        exact = code.replace(f"def {STAGE_ENTRY}(", "def exact_interaction_data(", 1)
        wrapper = NOISY_ENTRY.format(noise=noise, errors=errors.tolist(), entry=STAGE_ENTRY)
        return exact.rstrip("\n") + "\n\n" + wrapper

    return noisy
