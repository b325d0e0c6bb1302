"""IKER code generation: ask a model for each stage's ``get_interaction_data`` and check what it wrote.

An IKER run solves a task stage by stage. Before each stage the loop (``iker/loop.py``) shows the
scene: it calls ``CodeWork.observe`` with the numbered candidate keypoints (``keypoints.propose``)
and their overlay image. The work folder then has a request for that stage: the instruction, the
picture as a data URL, the axis convention, the movable objects, the contract of ``stage.py`` and,
in multi-step mode, every earlier stage's picture, code and outcome. The request goes out through
the client path every planner shares (``planning.requests``: ``run_live`` with the answer cache,
or ``export_batch``/``import_batch`` with OpenAI Batch files). When the answer comes back its code
block is run in the sandbox (``sandbox.run_untrusted``) on the current candidate coordinates and
the value is checked by ``stage.parse_stage``; the outcome is a ``StageSpec`` or a typed failure
(``FAILURE_KINDS``), which may be sent back to the model ``repairs`` times before it is final.
The loop trains and executes the stage, reports how it went with ``record_outcome``, shows the new
scene, and so on until the code says ``done`` (multi-step) or after the only stage (single-step).
In multi-step mode a stage that failed (its code, finally, or its execution) is asked again as the
next ``code-<i>`` with the failure in the history, up to ``stage_retries`` times in a row.

The v2 prompt lists, just before each picture, every keypoint number with the body it lies on
(``labels``; ``label_keypoints=False`` hides the lists) and names what each object is
(``object_words``); v1 renders as it always did.

Offline, a task's oracle writes the code instead of a model (``source="oracle"``): the same
record, sandbox and parse path, without a request.

The stage machine is ``planning.stages.StageWork``: one state (``seed``) per IKER run, stages
``code-0``, ``code-1``, ... (``code-<i>`` is stage ``i + 1`` in the prompts' words). Layout::

    manifest.json                  CodeSettings; a rerun must match them
    records/<seed:07d>/
        code-<i>.png               the overlay the model saw (numbered keypoints, axis legend)
        code-<i>.candidates.json   CandidateSet.to_json() of that picture
        code-<i>.request.json      the request (images redacted), cache key, prompt and version
        code-<i>.answer.json       the answer (or the request failure); "source": "oracle" offline
        code-<i>.repairs.json      unusable answers sent back, with their failure kind and message
        code-<i>.failed.json       {"stage", "kind", "message"}: the stage's code failed finally
                                   and it was asked again as code-<i+1> (multi-step)
        code-<i>.py                the code extracted from the last answer
        code-<i>.stage.json        the accepted StageSpec ("spec") and where it came from
        code-<i>.outcome.json      what executing the stage did (from the loop)
        result.json                every accepted stage; written when the run is finished
        failure.json               {"stage", "kind", "message"}: the run's final, typed failure
    requests.log.jsonl             request failures (retried on the next pass)
    summary.json, failures.json    counts by state and failure kind
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.iker.stage import (
    STAGE_ENTRY,
    STAGE_ERROR_KINDS,
    StageError,
    StageSpec,
    parse_stage,
)
from keyscaffold.planning.requests import ModelParameters, run_live
from keyscaffold.planning.stages import DONE, FAILED, StageWork, error_kind_message
from keyscaffold.sandbox import REASONS, SandboxError, extract_code, run_untrusted
from keyscaffold.util import atomic_write_text
from keyscaffold.vlm.client import ChatRequest, ChatResult, image_data_url

__all__ = [
    "CODE_PROMPT",
    "FAILURE_KINDS",
    "PROMPT_VERSION",
    "PROMPT_VERSIONS",
    "RETRY_KINDS",
    "SOURCES",
    "CodeError",
    "CodeSettings",
    "CodeWork",
    "code_from_answer",
    "describe_outcome",
    "load_sections",
    "number_runs",
    "picture_place",
    "run_stage_code",
    "stage_name",
    "with_target_noise",
]

PROMPT_VERSION = "v2"
"""Version of the IKER code prompt (``planning/prompts/iker_code_<version>.txt``): v2 lists under
each picture which object every keypoint number lies on (``CodeSettings.label_keypoints``) and
says which object is which; v1 (numbers only) stays selectable and renders as it always did."""
PROMPT_VERSIONS = ("v1", "v2")
CODE_PROMPT = "iker_code"
"""Name of the prompt template file, without version and suffix."""
SOURCES = ("vlm", "oracle")
"""Where stage code comes from: a model, or the task's oracle (offline)."""
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
FAILED_SUFFIX = ".failed.json"
"""``code-<i>.failed.json``: a stage whose code failed finally and was asked again as ``i + 1``."""
RESULT_FILE = "result.json"
_STAGE_RE = re.compile(r"^code-(\d+)$")
_SECTION_RE = re.compile(r"^@@ (\w+) @@[ \t]*$", re.MULTILINE)

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
    if isinstance(stage, str) and _STAGE_RE.match(stage):
        return stage
    raise ValueError(f"a stage is an index >= 0 or a name 'code-<i>', got {stage!r}")


def stage_index(stage: int | str) -> int:
    """The index ``i`` of ``code-<i>`` (or of an index)."""
    return int(stage_name(stage).split("-")[1])


# ------------------------------------------------------------------------------------------
# Settings


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


# ------------------------------------------------------------------------------------------
# Prompt text


def load_sections(version: str = PROMPT_VERSION) -> dict[str, Template]:
    """The sections of the IKER code prompt (``@@ name @@`` lines start each one).

    Raises:
        FileNotFoundError: No template of that version.
    """
    name = f"{CODE_PROMPT}_{version}.txt"
    path = resources.files("keyscaffold.planning.prompts").joinpath(name)
    if not path.is_file():
        raise FileNotFoundError(f"no prompt template {name} in keyscaffold/planning/prompts")
    text = path.read_text(encoding="utf-8")
    marks = list(_SECTION_RE.finditer(text))
    return {
        mark.group(1): Template(text[mark.end() + 1 : end].rstrip("\n"))
        for mark, end in zip(marks, [m.start() for m in marks[1:]] + [len(text)])
    }


def _metres(value: float) -> str:
    return f"{float(value):.2f}"


def _number_range(count: int) -> str:
    if count == 0:
        return "none is visible in this picture"
    if count == 1:
        return "there is one, numbered 0"
    return f"they are numbered 0 to {count - 1}"


def number_runs(numbers: Sequence[int]) -> str:
    """Keypoint numbers in short form: ``[0, 1, 2, 3, 5]`` -> ``0-3, 5``."""
    runs: list[list[int]] = []
    for number in sorted(int(n) for n in numbers):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def picture_place(pixels: np.ndarray, image_shape: Sequence[int]) -> str:
    """Where points lie in a picture, in words: the third of its height and of its width their
    mean falls in (``bottom left``, ``middle right``, ``centre``...).

    Args:
        pixels: Image positions (u along the width, v down the height), shape: (K, 2), K >= 1.
        image_shape: (H, W) of the picture (pixels).
    """
    u, v = np.asarray(pixels, dtype=np.float64).reshape(-1, 2).mean(axis=0)
    height, width = image_shape
    row = ("top", "middle", "bottom")[int(np.clip(3 * v / height, 0, 2))]
    column = ("left", "centre", "right")[int(np.clip(3 * u / width, 0, 2))]
    return "centre" if (row, column) == ("middle", "centre") else f"{row} {column}"


def describe_outcome(outcome: dict | None, failure: dict | None = None) -> str:
    """One line on how a stage went, for the history in the prompt.

    Args:
        outcome: ``{"success": bool, "final_distance": float | None, "failure": str | None}``
            as kept by ``record_outcome``; None when nothing was recorded.
        failure: ``{"kind", "message"}`` of a stage whose code could not be used (it was asked
            again); then nothing was executed and ``outcome`` is None.
    """
    if failure is not None:
        return (
            f"its code could not be used ({failure['kind']}: {failure['message']}), so nothing "
            "moved."
        )
    if outcome is None:
        return "not known."
    words = ["it succeeded" if outcome.get("success") else "it did not succeed"]
    distance = outcome.get("final_distance")
    if distance is not None:
        words.append(
            f"at the end the chosen keypoints were {float(distance):.3f} m from their targets "
            "on average"
        )
    if outcome.get("failure"):
        words.append(f"failure: {outcome['failure']}")
    return "; ".join(words) + "."


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


def _image(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


# ------------------------------------------------------------------------------------------
# Answers to stage specs


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


def _outcome_record(outcome: dict) -> dict:
    """A checked, plain-data copy of an execution outcome (see ``CodeWork.record_outcome``)."""
    if not isinstance(outcome, dict) or not isinstance(outcome.get("success"), (bool, np.bool_)):
        raise ValueError("an outcome is a dict with at least 'success': True or False")
    distance = outcome.get("final_distance")
    if distance is not None:
        distance = float(distance)
        if not math.isfinite(distance) or distance < 0:
            raise ValueError(f"'final_distance' must be a finite distance >= 0, got {distance}")
    failure = outcome.get("failure")
    if failure is not None and not isinstance(failure, str):
        raise ValueError(f"'failure' must be a failure type (str) or None, got {failure!r}")
    record = {**outcome, "success": bool(outcome["success"]), "final_distance": distance}
    record["failure"] = failure or None
    try:
        return json.loads(json.dumps(record))
    except (TypeError, ValueError) as error:
        raise ValueError(f"an outcome must be plain JSON data: {error}") from None


def _png_bytes(image: np.ndarray) -> bytes:
    url = image_data_url(np.asarray(image))
    return base64.b64decode(url.split(",", 1)[1])


# ------------------------------------------------------------------------------------------
# The work folder


class CodeWork(StageWork):
    """An IKER run's folder (one state per seed): pictures, requests, code, stages and outcomes.

    The stage machine (records, routing, repairs, failures, summary) is ``StageWork``'s; this class
    says what a ``code-<i>`` stage asks and what its answer becomes, and takes the loop's
    observations and outcomes. Per state, the loop calls, stage after stage:

    1. ``observe(seed, i, candidates)``: the picture of stage ``i``;
    2. ``run(client)`` (or ``export_batch``/``import_batch``): asks and checks the code;
    3. ``stage_spec(seed, i)``: the goal to train and execute (None: see ``failure(seed)``);
    4. ``record_outcome(seed, i, {"success", "final_distance", "failure"})``;

    until ``waiting_for(seed)`` says ``done`` or ``failed``.
    """

    settings_type = CodeSettings
    result_file = RESULT_FILE
    answer_errors = (CodeError, StageError)
    failure_kinds = FAILURE_KINDS
    start_hint = "start one with CodeWork(folder, CodeSettings(...))"

    settings: CodeSettings

    def __init__(self, folder: Path, settings: CodeSettings, oracle: Oracle | None = None) -> None:
        """Open or start the folder.

        Args:
            folder: The work folder.
            settings: The run's settings (checked against the manifest of an existing folder).
            oracle: For ``source="oracle"``: writes a stage's code from the stage index and the
                candidates (``task.oracle_code``); may also be set later as ``work.oracle``.
        """
        super().__init__(folder, settings)
        self.seeds = list(settings.seeds)
        self.oracle = oracle
        self._sections = load_sections(settings.prompt_version)

    # ------------------------------------------------------------------------ stage machine
    @property
    def id_prefix(self) -> str:
        return f"iker-{self.settings.task}"

    @property
    def max_repairs(self) -> int:
        return self.settings.repairs

    def is_stage(self, stage: str) -> bool:
        """``code-<i>`` with ``i`` below the stage limit."""
        match = _STAGE_RE.match(stage)
        return bool(match) and int(match.group(1)) < self.settings.stage_limit

    def live_passes(self) -> int:
        """One stage per state per call (the next needs the loop), each with its repairs."""
        return 1 + self.max_repairs

    def summary_header(self) -> dict:
        waiting: dict[str, int] = {}
        for seed in self.seeds:
            state = self.waiting_for(seed)
            waiting[state] = waiting.get(state, 0) + 1
        return {
            "task": self.settings.task,
            "planner": f"iker-{self.settings.source}",
            "multi_step": self.settings.multi_step,
            "waiting_for": waiting,
        }

    def current_stage(self, seed: int) -> str:
        """``code-<n>``, ``n`` the number of stages asked so far (accepted, or failed and asked
        again)."""
        return f"code-{self.num_stages(seed)}"

    def ready(self, seed: int, stage: str) -> bool:
        """The stage's picture is in, and the previous stage is settled (``_settled``)."""
        index = stage_index(stage)
        if index > 0 and not self._settled(seed, index - 1):
            return False
        return index >= self.settings.stage_limit or self._has(seed, f"{stage}.candidates.json")

    def fail(self, seed: int, stage: str, kind: str, message: str) -> None:
        """Record a stage's failure, final or not.

        In a multi-step run, a stage whose code failed finally (after its repairs; one of
        ``RETRY_KINDS``) is kept as ``code-<i>.failed.json`` while the run may ask again
        (``may_ask_again``): the next observation asks for it again as ``code-<i+1>``, with the
        failure in the history. Otherwise the failure is the run's final one (``failure.json``).
        """
        index = stage_index(stage)
        if kind in RETRY_KINDS and self.may_ask_again(seed, index):
            record = {"stage": stage, "kind": kind, "message": message}
            self.write(seed, f"{stage}{FAILED_SUFFIX}", record)
            return
        in_a_row = self._failures_in_a_row(seed, index) if kind in RETRY_KINDS else 1
        if in_a_row > 1:
            message = f"{message} (the same stage failed {in_a_row} times in a row)"
        super().fail(seed, stage, kind, message)

    def may_ask_again(self, seed: int, index: int) -> bool:
        """Whether a multi-step run may ask for stage ``index`` again if it fails: a stage is
        left below the limit and the failures in a row (this one counted) are at most
        ``stage_retries``."""
        s = self.settings
        return (
            s.multi_step
            and index + 1 < s.stage_limit
            and self._failures_in_a_row(seed, index) <= s.stage_retries
        )

    def attempt_failure(self, seed: int, stage: int | str) -> dict | None:
        """``{"stage", "kind", "message"}`` of a stage whose code failed and that was asked
        again (not the run's final failure), or None."""
        return self.read(seed, f"{stage_name(stage)}{FAILED_SUFFIX}", None)

    def request_extras(self, seed: int, stage: str) -> dict:
        return {
            "prompt": CODE_PROMPT,
            "prompt_version": self.settings.prompt_version,
            "multi_step": self.settings.multi_step,
            "history": stage_index(stage) if self.settings.multi_step else 0,
        }

    def next_request(self, seed: int, stage: str) -> ChatRequest | None:
        """The stage's request; None after taking the oracle's code (``source="oracle"``)."""
        index = stage_index(stage)
        if index >= self.settings.stage_limit:
            raise CodeError(
                "stage_limit", f"{self.settings.stage_limit} stages passed without done=True"
            )
        if self.settings.source == "oracle":
            self._oracle_stage(seed, stage)
            return None
        return ChatRequest(self.custom_id(seed, stage), self.request_body(seed, stage))

    def accept(self, seed: int, stage: str, answer: str) -> None:
        """Extract, run and check the answer's code; keep the spec (and the result when done).

        Raises:
            CodeError: ``no_code`` or ``sandbox_<reason>``.
            StageError: The code's value breaks the contract.
        """
        code = code_from_answer(answer)
        atomic_write_text(self.record_dir(seed) / f"{stage}.py", code)
        s = self.settings
        spec = run_stage_code(
            code,
            self.candidates(seed, stage),
            s.objects,
            s.workspace_low,
            s.workspace_high,
            s.timeout_s,
            s.memory_mb,
        )
        request = self.read(seed, f"{stage}.request.json", None)
        self.write(
            seed,
            f"{stage}.stage.json",
            {
                "stage": stage,
                "spec": spec.to_json(),
                "source": s.source,
                "model": s.model if s.source == "vlm" else "",
                "prompt_version": s.prompt_version if s.source == "vlm" else "",
                "request_key": None if request is None else request["key"],
                "repairs": len(self.repairs(seed, stage)),
            },
        )
        if spec.done or not s.multi_step:
            self.write(seed, self.result_file, self._result(seed, spec.done))

    # ------------------------------------------------------------------------------ the loop
    def observe(
        self,
        seed: int,
        stage: int | str,
        candidates: CandidateSet,
        image: np.ndarray | None = None,
    ) -> None:
        """Keep the picture of a stage: the overlay image and the numbered candidates.

        Observing again is allowed until the stage's request is made; after that only the same
        candidates are accepted (and nothing changes), so a resumed loop may repeat the call.

        Args:
            seed: The run.
            stage: The stage it is for (index or ``code-<i>``): the stage the run waits for.
            candidates: The stage's candidates (``keypoints.propose``).
            image: The overlay shown to the model, shape: (H, W, 3), uint8; default
                ``candidates.image``.

        Raises:
            ValueError: Unknown seed, a stage the run is not at, no image, or other candidates
                for a stage already asked about.
        """
        stage = stage_name(stage)
        self._check_seed(seed)
        now = self.stage_of(seed)
        if now != stage:
            raise ValueError(f"run {seed} is at {now!r}, not at {stage!r}; it cannot observe that")
        if stage_index(stage) >= self.settings.stage_limit:
            raise ValueError(f"{stage} is past the stage limit ({self.settings.stage_limit})")
        image = candidates.image if image is None else image
        if image is None:
            raise ValueError("no image to show: pass image= or candidates with their overlay")
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"the image must have shape (H, W, 3), got {image.shape}")
        data = candidates.to_json()
        if self._has(seed, f"{stage}.request.json"):
            if self.read(seed, f"{stage}.candidates.json") != json.loads(json.dumps(data)):
                raise ValueError(f"{stage} of run {seed} was already asked about other keypoints")
            return
        png = self.record_dir(seed) / f"{stage}.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        temporary = png.with_suffix(".png.tmp")
        temporary.write_bytes(_png_bytes(image.astype(np.uint8)))
        temporary.replace(png)
        self.write(seed, f"{stage}.candidates.json", data)

    def record_outcome(self, seed: int, stage: int | str, outcome: dict) -> None:
        """Keep what executing an accepted stage did; the next request shows it.

        Args:
            seed: The run.
            stage: The executed stage (index or ``code-<i>``).
            outcome: ``success`` (bool), ``final_distance`` (mean distance of the stage's
                keypoints to their targets at the end, m, or None) and ``failure`` (a failure
                type, or None); other plain-data fields are kept too.

        Raises:
            ValueError: Unknown seed, a stage without an accepted spec, a malformed outcome, or
                a stage whose successor was already asked about.
        """
        stage = stage_name(stage)
        self._check_seed(seed)
        if not self._has(seed, f"{stage}.stage.json"):
            raise ValueError(f"run {seed} has no accepted {stage}; nothing was executed for it")
        following = f"code-{stage_index(stage) + 1}"
        if self._has(seed, f"{following}.request.json"):
            raise ValueError(f"{following} of run {seed} was already asked with this outcome")
        record = _outcome_record(outcome)
        self.write(seed, f"{stage}.outcome.json", record)
        spec = self.stage_spec(seed, stage)
        limit = self.settings.stage_limit
        if (
            not self.settings.multi_step
            or spec is None
            or spec.done
            or self.stage_of(seed) in (DONE, FAILED)
        ):
            return
        index = stage_index(stage)
        if index + 1 >= limit:
            self.fail(seed, following, "stage_limit", f"{limit} stages passed without done=True")
        elif not record["success"] and not self.may_ask_again(seed, index):
            in_a_row = self._failures_in_a_row(seed, index)
            self.fail(
                seed,
                stage,
                "stage_retries",
                f"{in_a_row} stages in a row failed; the last one: "
                f"{record['failure'] or 'it did not succeed'}",
            )

    def oracle_answer(self, seed: int, code: str) -> StageSpec | None:
        """Take ``code`` (written offline, not by a model) as the current stage's answer.

        Exactly the answer path (record, sandbox, parse), without a request and without repairs:
        an unusable code fails the stage as a model's would (``fail``: asked again in a
        multi-step run with retries left, else the run's final, typed failure).

        Returns:
            The accepted stage, or None when it failed (see ``attempt_failure(seed, stage)``
            and ``failure(seed)``).

        Raises:
            ValueError: Unknown seed, or a run that is not waiting for code.
        """
        self._check_seed(seed)
        stage = self.stage_of(seed)
        if stage in (DONE, FAILED) or not self.ready(seed, stage):
            raise ValueError(f"run {seed} is not waiting for code ({self.waiting_for(seed)})")
        try:
            self._take(seed, stage, code)
        except self.answer_errors as error:
            self.fail(seed, stage, *error_kind_message(error))
            return None
        return self.stage_spec(seed, stage)

    def run(self, client: Any = None, show_progress: bool = False) -> dict:
        """Do every stage that can be done now: ask the model (live, cache first) or take the
        oracle's code; returns the summary.

        Args:
            client: A ``VLMClient`` (not needed for ``source="oracle"``).
            show_progress: Progress bar while requests are in flight.
        """
        if self.settings.source == "oracle" or client is None:
            if self.pending_requests():
                raise ValueError("requests are pending: pass a client, or use export_batch")
            return self.summary()
        return run_live(self, client, show_progress=show_progress)

    # ---------------------------------------------------------------------------- reading
    def waiting_for(self, seed: int) -> str:
        """What the run needs next: ``observe`` (the current stage's picture), ``execute`` (the
        previous stage's outcome), ``answer`` (the model's code: ``run`` or a Batch round),
        ``done`` or ``failed``."""
        stage = self.stage_of(seed)
        if stage in (DONE, FAILED):
            return stage
        index = stage_index(stage)
        if index > 0 and not self._settled(seed, index - 1):
            return "execute"
        if index < self.settings.stage_limit and not self._has(seed, f"{stage}.candidates.json"):
            return "observe"
        return "answer"

    def num_stages(self, seed: int) -> int:
        """Stages asked and answered so far, counted from ``code-0``: accepted, or failed and
        asked again."""
        count = 0
        while self._has(seed, f"code-{count}.stage.json") or self._has(
            seed, f"code-{count}{FAILED_SUFFIX}"
        ):
            count += 1
        return count

    def stage_spec(self, seed: int, stage: int | str) -> StageSpec | None:
        """The accepted goal of a stage, or None."""
        data = self.read(seed, f"{stage_name(stage)}.stage.json", None)
        return None if data is None else StageSpec.from_json(data["spec"])

    def candidates(self, seed: int, stage: int | str) -> CandidateSet:
        """The candidates of a stage's picture (without the image)."""
        return CandidateSet.from_json(self.read(seed, f"{stage_name(stage)}.candidates.json"))

    def outcome(self, seed: int, stage: int | str) -> dict | None:
        """What executing a stage did, or None."""
        return self.read(seed, f"{stage_name(stage)}.outcome.json", None)

    def code(self, seed: int, stage: int | str) -> str | None:
        """The code extracted from a stage's last answer, or None."""
        path = self.record_dir(seed) / f"{stage_name(stage)}.py"
        return path.read_text() if path.exists() else None

    def image_url(self, seed: int, stage: int | str) -> str:
        """The stage's picture as a PNG data URL (exactly the bytes on disk)."""
        png = (self.record_dir(seed) / f"{stage_name(stage)}.png").read_bytes()
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

    def history(self, seed: int, before: int | None = None) -> list[dict]:
        """The stages before ``before`` (default: all asked so far): ``stage``, ``spec`` (None
        for a stage whose code failed), ``code``, ``outcome`` (None when not recorded) and
        ``failure`` (``attempt_failure``) each."""
        count = self.num_stages(seed) if before is None else before
        history = []
        for i in range(count):
            spec = self.stage_spec(seed, i)
            history.append(
                {
                    "stage": f"code-{i}",
                    "spec": None if spec is None else spec.to_json(),
                    "code": self.code(seed, i),
                    "outcome": self.outcome(seed, i),
                    "failure": self.attempt_failure(seed, i),
                }
            )
        return history

    def result(self, seed: int) -> dict | None:
        """The finished run's record (``result.json``), or None while it is not finished."""
        return self.read(seed, self.result_file, None)

    # ----------------------------------------------------------------------------- prompts
    def request_body(self, seed: int, stage: str) -> dict:
        """The chat request body of a stage (one user message: text and pictures)."""
        return self.settings.request_body([{"role": "user", "content": self.content(seed, stage)}])

    def content(self, seed: int, stage: str) -> list[dict]:
        """The message parts of a stage's request: instructions, history (multi-step) and the
        current picture (each picture after its heading and, in v2, its keypoint labels)."""
        s, sections = self.settings, self._sections
        index = stage_index(stage)
        parts = [_text(self._intro(self.candidates(seed, stage)))]
        if s.multi_step and index > 0:
            parts.append(_text(sections["history_intro"].substitute()))
            for earlier in range(index):
                number = earlier + 1
                heading = sections["history_stage"].substitute(number=number)
                parts += self._picture(seed, earlier, heading)
                outcome = describe_outcome(
                    self.outcome(seed, earlier), self.attempt_failure(seed, earlier)
                )
                code = (self.code(seed, earlier) or "").strip("\n")
                parts.append(
                    _text(
                        sections["history_code"].substitute(
                            number=number, code=code, outcome=outcome
                        )
                    )
                )
        if not s.multi_step:
            heading = sections["current_single"].substitute()
        elif index > 0 and self._failed(seed, index - 1) and "current_again" in sections:
            heading = sections["current_again"].substitute(number=index + 1, previous=index)
        else:
            heading = sections["current_multi"].substitute(number=index + 1)
        return parts + self._picture(seed, stage, heading)

    def labels(self, candidates: CandidateSet) -> str | None:
        """The keypoint numbers of a picture by the body they lie on, each movable object with
        where it is in the picture (``picture_place``); None where the template has no labels
        (v1) or ``label_keypoints`` is off.

        Args:
            candidates: The picture's candidates (projected: every ``pixel`` set).
        """
        sections = self._sections
        if not self.settings.label_keypoints or "labels" not in sections:
            return None
        bodies = candidates.bodies()
        rows = []
        for name in (*candidates.objects, *candidates.fixtures):
            numbers = [i for i, body in enumerate(bodies) if body == name]
            words = self._words(name)
            if name in candidates.fixtures:
                if numbers:
                    row = sections["label_fixture"].substitute(
                        numbers=number_runs(numbers), name=name, words=words
                    )
                    rows.append(row)
            elif numbers:
                pixels = np.array([candidates.candidates[i].pixel for i in numbers], float)
                place = picture_place(pixels, candidates.image_shape)
                rows.append(
                    sections["label_object"].substitute(
                        numbers=number_runs(numbers), name=name, words=words, place=place
                    )
                )
            else:
                rows.append(sections["label_unseen"].substitute(name=name, words=words))
        return sections["labels"].substitute(rows="\n".join(rows))

    def _words(self, name: str) -> str:
        """`` (<words>)`` for a body the settings describe, else empty."""
        words = self.settings.object_words.get(name)
        return f" ({words})" if words else ""

    def _intro(self, candidates: CandidateSet) -> str:
        """The request's opening text: task, keypoints, conventions, function form, rules."""
        s, sections = self.settings, self._sections
        workspace = ""
        if s.workspace_low is not None and s.workspace_high is not None:
            workspace = sections["workspace"].substitute(
                {
                    f"{axis}_{end}": _metres(corner[k])
                    for k, axis in enumerate("xyz")
                    for end, corner in (("low", s.workspace_low), ("high", s.workspace_high))
                }
            )
        conventions = sections["conventions"].substitute(
            objects=", ".join(f'"{name}"' for name in s.objects) or "none",
            described_objects=", ".join(f'"{n}"{self._words(n)}' for n in s.objects) or "none",
            workspace=workspace,
        )
        note = "numbers_labelled" if s.label_keypoints else "numbers_hidden"
        return sections["multi" if s.multi_step else "single"].substitute(
            instruction=s.instruction,
            number_range=_number_range(len(candidates)),
            numbers_note=sections[note].substitute() if note in sections else "",
            conventions=conventions,
            rules=sections["rules"].substitute(),
        )

    def _picture(self, seed: int, stage: int | str, heading: str) -> list[dict]:
        """A stage's picture as message parts: its heading, its labels (if any), the image."""
        labels = self.labels(self.candidates(seed, stage))
        texts = [heading] if labels is None else [heading, labels]
        return [*(_text(t) for t in texts), _image(self.image_url(seed, stage))]

    # ---------------------------------------------------------------------------- internals
    def _has(self, seed: int, name: str) -> bool:
        return (self.record_dir(seed) / name).exists()

    def _settled(self, seed: int, index: int) -> bool:
        """Stage ``index`` needs nothing more: its outcome is in, or its code failed and the
        stage is asked again."""
        return self._has(seed, f"code-{index}.outcome.json") or self._has(
            seed, f"code-{index}{FAILED_SUFFIX}"
        )

    def _failed(self, seed: int, index: int) -> bool:
        """Stage ``index``'s code failed (and was asked again), or its execution did not
        succeed."""
        outcome = self.outcome(seed, index)
        return self._has(seed, f"code-{index}{FAILED_SUFFIX}") or (
            outcome is not None and not outcome["success"]
        )

    def _failures_in_a_row(self, seed: int, index: int) -> int:
        """Failed stages ending with ``index`` (counted as failed) since the last that worked."""
        count = 1
        while index - count >= 0 and self._failed(seed, index - count):
            count += 1
        return count

    def _check_seed(self, seed: int) -> None:
        if seed not in self.seeds:
            raise ValueError(f"run {seed} is not in this work folder (seeds {self.seeds})")

    def _take(self, seed: int, stage: str, code: str) -> None:
        """Record offline code as the stage's answer and accept it (raises answer errors)."""
        content = f"```python\n{code.strip(chr(10))}\n```"
        answer = ChatResult(self.custom_id(seed, stage), content).to_json()
        self.write(seed, f"{stage}.answer.json", {**answer, "source": "oracle"})
        self.accept(seed, stage, content)

    def _oracle_stage(self, seed: int, stage: str) -> None:
        if self.oracle is None:
            raise RuntimeError("source='oracle' needs the task's oracle: CodeWork(..., oracle=...)")
        try:
            code = self.oracle(stage_index(stage), self.candidates(seed, stage).pairs())
        except ValueError as error:
            raise CodeError("oracle_error", str(error)) from None
        self._take(seed, stage, code)

    def _result(self, seed: int, done: bool) -> dict:
        """``result.json``: every stage asked, accepted (its ``stage.json``) or failed and asked
        again (``failure``)."""
        stages = []
        for i in range(self.num_stages(seed)):
            failure = self.attempt_failure(seed, i)
            if failure is None:
                stages.append({"stage": f"code-{i}", **self.read(seed, f"code-{i}.stage.json")})
            else:
                stages.append({"stage": f"code-{i}", "failure": failure})
        return {
            "task": self.settings.task,
            "seed": seed,
            "done": done,
            "multi_step": self.settings.multi_step,
            "stages": stages,
        }
