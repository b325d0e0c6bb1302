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

The parts live apart: ``code_settings`` (``CodeSettings``), ``code_prompt`` (the request's text
and pictures), ``stage_code`` (answers to checked stage goals, typed failures), ``code_records``
(the folder read back); this module writes the folder.

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
from pathlib import Path
from typing import Any

import numpy as np

from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.iker.code_prompt import CODE_PROMPT, CodePrompt
from keyscaffold.iker.code_records import FAILED_SUFFIX, CodeRecords
from keyscaffold.iker.code_settings import CodeSettings
from keyscaffold.iker.stage import StageError, StageSpec
from keyscaffold.iker.stage_code import (
    FAILURE_KINDS,
    RETRY_KINDS,
    STAGE_RE,
    CodeError,
    Oracle,
    code_from_answer,
    run_stage_code,
    stage_index,
    stage_name,
)
from keyscaffold.planning.requests import run_live
from keyscaffold.planning.stages import DONE, FAILED, error_kind_message
from keyscaffold.util import atomic_write_text
from keyscaffold.vlm.client import ChatRequest, ChatResult, image_data_url


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


class CodeWork(CodeRecords):
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
        self.prompt = CodePrompt(settings)

    # ------------------------------------------------------------------------ stage machine
    @property
    def id_prefix(self) -> str:
        return f"iker-{self.settings.task}"

    @property
    def max_repairs(self) -> int:
        return self.settings.repairs

    def is_stage(self, stage: str) -> bool:
        """``code-<i>`` with ``i`` below the stage limit."""
        match = STAGE_RE.match(stage)
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

    # ----------------------------------------------------------------------------- prompts
    def request_body(self, seed: int, stage: str) -> dict:
        """The chat request body of a stage (one user message: text and pictures)."""
        return self.settings.request_body([{"role": "user", "content": self.content(seed, stage)}])

    def content(self, seed: int, stage: str) -> list[dict]:
        """The message parts of a stage's request (``CodePrompt.content``)."""
        return self.prompt.content(self, seed, stage)

    # ---------------------------------------------------------------------------- internals
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
