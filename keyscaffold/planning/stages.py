"""The on-disk stage machine every VLM planner runs on: one record per initial state, on disk.

A planner asks a model one or more questions per initial state (its *stages*), each question
built from the answers before it. ``StageWork`` keeps such a run in a folder and derives, from the
files alone, where every state stands, so a run can stop at any point and continue in a new
process, and the live path and the Batch path (``requests.py``) share every step. It owns:

- the **manifest**: the settings the run was made with; reopening with other settings is refused;
- the **records**: ``records/<seed:07d>/`` per state, holding ``<stage>.request.json`` (what was
  asked, images redacted), ``<stage>.answer.json`` (what came back, or the typed request failure),
  ``<stage>.repairs.json`` (unusable answers sent back for another try), and at the end either the
  planner's ``result_file`` (done) or ``failure.json`` (``{"stage", "kind", "message"}``: a final,
  typed failure; kinds from ``failure_kinds``);
- **routing**: custom ids ``<id_prefix>-<seed>-<stage>``; an answer is recorded only when its id
  names one of this run's states *and* the stage that state is waiting for, so answers may arrive
  in any order, twice, or for another run, and are ignored rather than misfiled;
- **request failures** (429s, 5xx, timeouts) leave the state pending and are appended to
  ``requests.log.jsonl``; **answer failures** (the planner raised one of ``answer_errors``) are
  sent back up to ``max_repairs`` times with the reason, then recorded as final;
- the **summary**: ``summary.json`` (states planned, failed, pending; failures by kind; the error
  type of each pending state's last failed request) and ``failures.json``.

The planner (a subclass) says what its stages are and what to do in each:

- ``current_stage(seed)``: the stage a state that is neither done nor failed waits for, from its
  record's files;
- ``next_request(seed, stage)``: that stage's ``ChatRequest`` (with ``custom_id(seed, stage)``), or
  ``None`` after doing the stage without a model (writing the files that move the state on);
- ``accept(seed, stage, answer)``: consume an answer, writing the files that move the state on
  (the ``result_file`` after the last stage), or raise one of ``answer_errors``;
- optionally ``ready(seed, stage)``: False while the state waits for something from outside the
  run (it then asks nothing), and ``request_extras(seed, stage)``: fields kept beside the request.

A planner whose stages are not a fixed list (IKER writes code stage after stage, each request
carrying the history of the stages before) overrides ``is_stage`` and ``live_passes``; a sketch
(the real one, with observations and outcomes from the loop, is ``iker.codegen.CodeWork``)::

    class CodeWork(StageWork):
        settings_type = CodeSettings          # a dataclass; kept in manifest.json
        result_file = "plan.json"
        answer_errors = (StageError,)         # raised with .kind and a message
        failure_kinds = STAGE_ERROR_KINDS

        def __init__(self, folder, settings):
            super().__init__(folder, settings)   # checks or writes the manifest
            self.seeds = split_seeds(settings.split, settings.seed, settings.num_plans)

        @property
        def id_prefix(self):
            return f"iker-{self.settings.task}-{self.settings.split}"

        def is_stage(self, stage):            # "code-0", "code-1", ...
            name, _, index = stage.partition("-")
            return name == "code" and index.isdigit() and int(index) < self.settings.max_stages

        def live_passes(self):
            return self.settings.max_stages * (1 + self.max_repairs)

        def current_stage(self, seed):
            return f"code-{len(self.read(seed, 'history.json', []))}"

        def next_request(self, seed, stage):
            body = code_prompt(self.read(seed, "history.json", []))
            return ChatRequest(self.custom_id(seed, stage), body)

        def accept(self, seed, stage, answer):
            spec = parse_stage(run_code(answer), ...)   # raises StageError: repaired or failed
            history = [*self.read(seed, "history.json", []), spec.to_json()]
            self.write(seed, "history.json", history)
            if spec.done:
                self.write(seed, self.result_file, assemble(history))

and then ``run_live(CodeWork(folder, settings), client)``, or ``export_batch``/``import_batch``,
exactly as for the scaffold planner (``vlm_planner.PlanningWork``).
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from keyscaffold.planning.requests import request_record, with_repairs
from keyscaffold.util import atomic_write_text
from keyscaffold.vlm.client import ChatRequest, ChatResult

DONE = "done"
FAILED = "failed"
"""``stage_of`` of a state with its result, and of one with a final failure."""
MANIFEST_FILE = "manifest.json"
FAILURE_FILE = "failure.json"
REQUEST_LOG = "requests.log.jsonl"
SUMMARY_FILE = "summary.json"
FAILURES_FILE = "failures.json"

_MISSING = object()


@dataclass(frozen=True)
class Failure:
    """A state's final failure, as kept in ``failure.json``."""

    stage: str
    kind: str
    message: str

    def to_json(self) -> dict:
        return {"stage": self.stage, "kind": self.kind, "message": self.message}

    @staticmethod
    def from_json(data: dict) -> Failure:
        return Failure(str(data["stage"]), str(data["kind"]), str(data["message"]))


def error_kind_message(error: Exception) -> tuple[str, str]:
    """``(kind, message)`` of a typed answer error (``.kind``, and ``.message`` or its text)."""
    return error.kind, getattr(error, "message", str(error))  # type: ignore[attr-defined]


def _defaults(settings_type) -> dict:
    """The default of every setting of a settings dataclass that has one."""
    found = {}
    for f in fields(settings_type):
        if f.default is not MISSING:
            found[f.name] = f.default
        elif f.default_factory is not MISSING:
            found[f.name] = f.default_factory()
    return found


class StageWork:
    """A planning run's folder: what was asked, what came back, and what comes next.

    Subclasses set ``seeds`` (the states planned, in order) after calling ``__init__`` and
    implement ``id_prefix``, ``current_stage``, ``next_request`` and ``accept`` (see the module
    docstring).
    """

    stages: ClassVar[tuple[str, ...]] = ()
    """The planner's stages in order (``is_stage`` and ``live_passes`` use them by default)."""
    settings_type: ClassVar[type]
    """The settings dataclass; ``open`` rebuilds the settings from the manifest with it."""
    result_file: ClassVar[str] = "result.json"
    """The file whose presence in a record means the state is done."""
    answer_errors: ClassVar[tuple[type[Exception], ...]] = ()
    """Errors ``accept`` and ``next_request`` raise for an unusable answer (with ``.kind``)."""
    failure_kinds: ClassVar[tuple[str, ...]] = ()
    """The failure kinds ``fail`` accepts (empty: any)."""
    start_hint: ClassVar[str] = ""
    """How to start a work folder, appended to the error ``open`` raises for a non-folder."""

    seeds: list[int]

    def __init__(self, folder: Path, settings) -> None:
        self.folder = Path(folder)
        self.settings = settings
        manifest = self.folder / MANIFEST_FILE
        plain = asdict(settings)
        if manifest.exists():
            # a setting added after the folder was made continues at its default
            stored = {**_defaults(type(settings)), **json.loads(manifest.read_text())}
            if stored != plain:
                changed = sorted(k for k in plain if stored.get(k) != plain[k])
                raise ValueError(
                    f"work folder {self.folder} was made with other settings ({', '.join(changed)} "
                    "differ); use a new folder, or the same settings to continue it"
                )
        else:
            atomic_write_text(manifest, json.dumps(plain, indent=2))

    @classmethod
    def open(cls, folder: Path):
        """Continue the run kept in ``folder``."""
        manifest = Path(folder) / MANIFEST_FILE
        if not manifest.is_file():
            hint = f"; {cls.start_hint}" if cls.start_hint else ""
            raise FileNotFoundError(
                f"{folder} is not a planning work folder (no {MANIFEST_FILE}){hint}"
            )
        return cls(folder, cls.settings_type(**json.loads(manifest.read_text())))

    # --------------------------------------------------------------------------- planner hooks
    @property
    def id_prefix(self) -> str:
        """Start of every custom id of this run (no trailing ``-``)."""
        raise NotImplementedError

    def current_stage(self, seed: int) -> str:
        """The stage a state that is neither done nor failed waits for, from its record."""
        raise NotImplementedError

    def next_request(self, seed: int, stage: str) -> ChatRequest | None:
        """The stage's request, or None after doing the stage without a model."""
        raise NotImplementedError

    def accept(self, seed: int, stage: str, answer: str) -> None:
        """Consume an answer (raise one of ``answer_errors`` for an unusable one)."""
        raise NotImplementedError

    def is_stage(self, stage: str) -> bool:
        """``stage`` names one of the planner's stages (custom ids with others are ignored)."""
        return stage in self.stages

    def ready(self, seed: int, stage: str) -> bool:
        """The state can take its ``stage`` now; False: it waits for something outside the run
        (e.g. IKER's loop: a new observation or the previous stage's outcome), and
        ``pending_requests`` skips it until then. Default: always ready."""
        return True

    def request_extras(self, seed: int, stage: str) -> dict:
        """Fields added to the stage's ``<stage>.request.json`` besides the request itself
        (e.g. the prompt version). Default: none."""
        return {}

    @property
    def max_repairs(self) -> int:
        """Times an unusable answer is sent back with the reason before the failure is final."""
        return 0

    def live_passes(self) -> int:
        """Rounds of requests ``run_live`` makes by default: one per stage and allowed repair."""
        return len(self.stages) * (1 + self.max_repairs)

    def session(self) -> AbstractContextManager:
        """Context around one ``pending_requests`` (e.g. a renderer shared by its states)."""
        return nullcontext()

    def summary_header(self) -> dict:
        """Fields that open ``summary.json`` (e.g. the task and the planner)."""
        return {}

    # ----------------------------------------------------------------------------- state on disk
    def record_dir(self, seed: int) -> Path:
        return self.folder / "records" / f"{seed:07d}"

    def stage_of(self, seed: int) -> str:
        """``failed``, ``done``, or the stage the state waits for (``current_stage``)."""
        record = self.record_dir(seed)
        if (record / FAILURE_FILE).exists():
            return FAILED
        if (record / self.result_file).exists():
            return DONE
        return self.current_stage(seed)

    def custom_id(self, seed: int, stage: str) -> str:
        return f"{self.id_prefix}-{seed}-{stage}"

    def route(self, custom_id: str) -> tuple[int, str] | None:
        """``(seed, stage)`` a custom id of this run names; None for any other id."""
        prefix = f"{self.id_prefix}-"
        if not custom_id.startswith(prefix):
            return None
        seed_text, _, stage = custom_id[len(prefix) :].partition("-")
        if not self.is_stage(stage) or not seed_text.isdigit() or int(seed_text) not in self.seeds:
            return None
        return int(seed_text), stage

    def write(self, seed: int, name: str, payload: Any) -> None:
        """Keep ``payload`` as JSON in the state's record (atomically)."""
        atomic_write_text(self.record_dir(seed) / name, json.dumps(payload, indent=2))

    def read(self, seed: int, name: str, default: Any = _MISSING) -> Any:
        """A JSON file of the state's record; ``default`` when it does not exist (if given)."""
        path = self.record_dir(seed) / name
        if default is not _MISSING and not path.exists():
            return default
        return json.loads(path.read_text())

    def fail(self, seed: int, stage: str, kind: str, message: str) -> None:
        """Record the state's final, typed failure."""
        if self.failure_kinds and kind not in self.failure_kinds:
            raise ValueError(f"unknown failure kind {kind!r}; use one of {self.failure_kinds}")
        self.write(seed, FAILURE_FILE, Failure(stage, kind, message).to_json())

    def failure(self, seed: int) -> Failure | None:
        """The state's final failure, if it has one."""
        data = self.read(seed, FAILURE_FILE, None)
        return None if data is None else Failure.from_json(data)

    def repairs(self, seed: int, stage: str) -> list[dict]:
        """Unusable answers of the stage so far: ``{"answer", "kind", "message"}`` each."""
        return self.read(seed, f"{stage}.repairs.json", [])

    def request_keys(self, seed: int, stages: tuple[str, ...] | None = None) -> dict[str, str]:
        """Cache key of each stage's last request (``stages``, by default ``self.stages``)."""
        record = self.record_dir(seed)
        return {
            stage: json.loads((record / f"{stage}.request.json").read_text())["key"]
            for stage in (self.stages if stages is None else stages)
            if (record / f"{stage}.request.json").exists()
        }

    def finished(self) -> list[int]:
        """The seeds that are done, in order."""
        return [seed for seed in self.seeds if self.stage_of(seed) == DONE]

    # ---------------------------------------------------------------------------------- stages
    def pending_requests(self) -> list[ChatRequest]:
        """The next request of every unfinished state (doing the stages that need no model)."""
        requests = []
        with self.session():
            for seed in self.seeds:
                request = self._advance(seed)
                if request is not None:
                    requests.append(request)
        return requests

    def _advance(self, seed: int) -> ChatRequest | None:
        """Do the state's stages that need no model; its next request, if it needs one."""
        stage = self.stage_of(seed)
        while stage not in (DONE, FAILED):
            if not self.ready(seed, stage):
                return None
            try:
                request = self.next_request(seed, stage)
            except self.answer_errors as error:
                self.fail(seed, stage, *error_kind_message(error))
                return None
            if request is not None:
                request = with_repairs(request, self.repairs(seed, stage))
                record = {**request_record(request), **self.request_extras(seed, stage)}
                self.write(seed, f"{stage}.request.json", record)
                return request
            after = self.stage_of(seed)
            if after == stage:
                raise RuntimeError(
                    f"stage {stage!r} of state {seed} neither asked a question nor moved on"
                )
            stage = after
        return None

    def record(self, results: list[ChatResult]) -> dict:
        """Store answers and act on them; returns counts (recorded, ignored, request failures)."""
        counts = {"recorded": 0, "ignored": 0, "request_failures": 0}
        for result in results:
            route = self.route(result.custom_id)
            if route is None or self.stage_of(route[0]) != route[1]:
                counts["ignored"] += 1
                continue
            seed, stage = route
            self.write(seed, f"{stage}.answer.json", result.to_json())
            counts["recorded"] += 1
            if not result.ok:
                counts["request_failures"] += 1
                with (self.folder / REQUEST_LOG).open("a") as handle:
                    handle.write(
                        json.dumps({"time": time.time(), "stage": stage, **result.to_json()}) + "\n"
                    )
                continue
            try:
                self.accept(seed, stage, result.content)
            except self.answer_errors as error:
                kind, message = error_kind_message(error)
                repairs = self.repairs(seed, stage)
                if len(repairs) < self.max_repairs:
                    repairs.append({"answer": result.content, "kind": kind, "message": message})
                    self.write(seed, f"{stage}.repairs.json", repairs)
                else:
                    self.fail(seed, stage, kind, message)
        return counts

    # ---------------------------------------------------------------------------------- results
    def summary(self) -> dict:
        """Counts by stage and failure kind; also written to ``summary.json`` and ``failures.json``."""
        stages = {seed: self.stage_of(seed) for seed in self.seeds}
        failures = [
            {"seed": seed, **self.read(seed, FAILURE_FILE)}
            for seed, stage in stages.items()
            if stage == FAILED
        ]
        kinds: dict[str, int] = {}
        for failure in failures:
            kinds[failure["kind"]] = kinds.get(failure["kind"], 0) + 1
        summary = {
            **self.summary_header(),
            "num_states": len(self.seeds),
            "planned": sum(s == DONE for s in stages.values()),
            "failed": len(failures),
            "pending": sum(s not in (DONE, FAILED) for s in stages.values()),
            "failures_by_kind": kinds,
            "pending_request_errors": self._pending_errors(stages),
        }
        atomic_write_text(self.folder / SUMMARY_FILE, json.dumps(summary, indent=2))
        atomic_write_text(self.folder / FAILURES_FILE, json.dumps(failures, indent=2))
        return summary

    def _pending_errors(self, stages: dict[int, str]) -> dict[str, int]:
        """Error type of the last failed request of each pending state."""
        errors: dict[str, int] = {}
        for seed, stage in stages.items():
            answer = self.record_dir(seed) / f"{stage}.answer.json"
            if stage not in (DONE, FAILED) and answer.exists():
                kind = json.loads(answer.read_text()).get("error_type")
                if kind:
                    errors[kind] = errors.get(kind, 0) + 1
        return errors
