"""The generic stage machine (``planning.stages``) and client path (``planning.requests``), driven
by tiny fake planners: no rendering, no network."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import pytest

from keyscaffold.planning.requests import export_batch, import_batch, run_live
from keyscaffold.planning.stages import DONE, FAILED, Failure, StageWork
from keyscaffold.vlm.batch import batch_output_line, validate_batch_input
from keyscaffold.vlm.client import ChatRequest, ChatResult

IMAGE = "data:image/png;base64," + "A" * 64


class GuessError(ValueError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass(frozen=True)
class GuessSettings:
    name: str = "fake"
    seeds: list[int] = field(default_factory=lambda: [3, 5, 8, 13])
    offline: list[int] = field(default_factory=list)
    """Seeds whose guess is made without a model (negative: the offline guess fails)."""
    repairs: int = 0


class GuessWork(StageWork):
    """Two stages: ``guess`` (answer a number), then ``check`` (answer "yes")."""

    stages = ("guess", "check")
    settings_type = GuessSettings
    result_file = "result.json"
    answer_errors = (GuessError,)
    failure_kinds = ("bad_number", "not_confirmed", "offline_refused")
    start_hint = "start one with GuessWork(folder, settings)"

    def __init__(self, folder, settings: GuessSettings) -> None:
        super().__init__(folder, settings)
        self.seeds = list(settings.seeds)

    @property
    def id_prefix(self) -> str:
        return f"guess-{self.settings.name}"

    @property
    def max_repairs(self) -> int:
        return self.settings.repairs

    def summary_header(self) -> dict:
        return {"planner": "guess"}

    def current_stage(self, seed: int) -> str:
        return "check" if (self.record_dir(seed) / "guess.json").exists() else "guess"

    def next_request(self, seed: int, stage: str) -> ChatRequest | None:
        if stage == "guess" and seed in self.settings.offline:
            self.write(seed, "guess.json", {"guess": seed * 10})
            return None
        if stage == "guess" and -seed in self.settings.offline:
            raise GuessError("offline_refused", "no offline guess for this one")
        if stage == "guess":
            content = [
                {"type": "text", "text": f"guess a number for {seed}"},
                {"type": "image_url", "image_url": {"url": IMAGE}},
            ]
        else:
            content = f"is {self.read(seed, 'guess.json')['guess']} right?"
        body = {"model": "m", "messages": [{"role": "user", "content": content}]}
        return ChatRequest(self.custom_id(seed, stage), body)

    def accept(self, seed: int, stage: str, answer: str) -> None:
        if stage == "guess":
            if not answer.isdigit():
                raise GuessError("bad_number", f"{answer!r} is not a number")
            self.write(seed, "guess.json", {"guess": int(answer)})
        elif answer != "yes":
            raise GuessError("not_confirmed", f"the check said {answer!r}")
        else:
            self.write(seed, self.result_file, {"seed": seed, **self.read(seed, "guess.json")})


def ok(work: StageWork, seed: int, stage: str, content: str) -> ChatResult:
    return ChatResult(work.custom_id(seed, stage), content)


def test_stage_machine_records_out_of_order_fails_typed_and_resumes(tmp_path):
    settings = GuessSettings()
    work = GuessWork(tmp_path / "work", settings)
    assert json.loads((work.folder / "manifest.json").read_text())["seeds"] == [3, 5, 8, 13]

    # Pending: one "guess" request per state, recorded with the image redacted.
    requests = work.pending_requests()
    assert [r.custom_id for r in requests] == [f"guess-fake-{s}-guess" for s in (3, 5, 8, 13)]
    stored = json.loads((work.record_dir(3) / "guess.request.json").read_text())
    assert stored["custom_id"] == "guess-fake-3-guess" and stored["key"] == requests[0].key
    assert IMAGE not in json.dumps(stored) and "<image data URL" in json.dumps(stored)
    assert work.record_dir(3).name == "0000003"
    assert work.pending_requests() == requests  # asking again asks the same

    # Answers out of order, with strays that must not be filed anywhere.
    counts = work.record(
        [
            ok(work, 13, "guess", "7"),
            ChatResult("guess-fake-8-guess", None, "server_error", "HTTP 500"),
            ok(work, 5, "guess", "many"),  # typed answer failure (no repairs allowed)
            ok(work, 3, "check", "yes"),  # a stage state 3 is not waiting for
            ok(work, 3, "guess", "4"),
            ChatResult("guess-other-3-guess", "1"),  # another run
            ChatResult("guess-fake-4-guess", "1"),  # a state not in this run
            ChatResult("guess-fake-3-plan", "1"),  # not a stage
            ok(work, 3, "guess", "9"),  # a second answer: state 3 has moved on
        ]
    )
    assert counts == {"recorded": 4, "ignored": 5, "request_failures": 1}
    assert {s: work.stage_of(s) for s in work.seeds} == {
        3: "check",
        5: FAILED,
        8: "guess",
        13: "check",
    }
    assert work.read(3, "guess.json") == {"guess": 4}
    assert work.failure(5) == Failure("guess", "bad_number", "'many' is not a number")
    log = (work.folder / "requests.log.jsonl").read_text().splitlines()
    assert [json.loads(line)["error_type"] for line in log] == ["server_error"]
    with pytest.raises(ValueError, match="unknown failure kind"):
        work.fail(8, "guess", "made_up", "typed kinds only")

    # A new object on the same folder continues where the first one stopped.
    again = GuessWork.open(tmp_path / "work")
    assert again.settings == settings
    assert {s: again.stage_of(s) for s in again.seeds} == {
        3: "check",
        5: FAILED,
        8: "guess",
        13: "check",
    }
    pending = again.pending_requests()
    assert [r.custom_id for r in pending] == [
        "guess-fake-3-check",
        "guess-fake-8-guess",
        "guess-fake-13-check",
    ]
    assert pending[0].body["messages"][0]["content"] == "is 4 right?"
    with pytest.raises(ValueError, match="other settings"):
        GuessWork(tmp_path / "work", replace(settings, seeds=[3]))
    with pytest.raises(FileNotFoundError, match="start one with GuessWork"):
        GuessWork.open(tmp_path / "nothing")

    # Summary: planned, failed (by kind), pending (with the last request error).
    again.record([ok(again, 13, "check", "no"), ok(again, 3, "check", "yes")])
    summary = again.summary()
    assert summary == {
        "planner": "guess",
        "num_states": 4,
        "planned": 1,
        "failed": 2,
        "pending": 1,
        "failures_by_kind": {"bad_number": 1, "not_confirmed": 1},
        "pending_request_errors": {"server_error": 1},
    }
    assert json.loads((again.folder / "summary.json").read_text()) == summary
    failures = json.loads((again.folder / "failures.json").read_text())
    assert [(f["seed"], f["stage"], f["kind"]) for f in failures] == [
        (5, "guess", "bad_number"),
        (13, "check", "not_confirmed"),
    ]
    assert again.finished() == [3] and again.read(3, "result.json") == {"seed": 3, "guess": 4}
    assert again.request_keys(3) == {
        "guess": json.loads((again.record_dir(3) / "guess.request.json").read_text())["key"],
        "check": json.loads((again.record_dir(3) / "check.request.json").read_text())["key"],
    }


def test_offline_stages_and_repairs(tmp_path):
    settings = GuessSettings(seeds=[1, 2, 3], offline=[1, -2], repairs=1)
    work = GuessWork(tmp_path / "work", settings)
    requests = work.pending_requests()
    # 1 guessed without a model and asks for the check; 2's offline guess failed, typed.
    assert [r.custom_id for r in requests] == ["guess-fake-1-check", "guess-fake-3-guess"]
    assert work.failure(2) == Failure("guess", "offline_refused", "no offline guess for this one")
    assert not (work.record_dir(1) / "guess.request.json").exists()

    # An unusable answer is sent back once with the reason, then the failure is final.
    work.record([ok(work, 3, "guess", "lots")])
    assert work.stage_of(3) == "guess"
    assert [r["kind"] for r in work.repairs(3, "guess")] == ["bad_number"]
    retry = next(r for r in work.pending_requests() if r.custom_id.endswith("3-guess"))
    messages = retry.body["messages"]
    assert messages[1] == {"role": "assistant", "content": "lots"}
    assert "could not be used: 'lots' is not a number" in messages[2]["content"]
    work.record([ok(work, 3, "guess", "still lots")])
    assert work.stage_of(3) == FAILED and work.failure(3).kind == "bad_number"
    assert work.live_passes() == 4  # two stages, each with one repair


class FakeClient:
    """Answers every request at once: guesses with the seed, checks with "yes"."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def complete_many(self, requests, show_progress=True):
        self.sent += [r.custom_id for r in requests]
        return [
            ChatResult(r.custom_id, "yes" if r.custom_id.endswith("check") else "42")
            for r in reversed(requests)
        ]


def test_live_and_batch_paths_give_the_same_records(tmp_path):
    settings = GuessSettings(seeds=[2, 4])
    live = GuessWork(tmp_path / "live", settings)
    client = FakeClient()
    summary = run_live(live, client, show_progress=False)
    assert summary["planned"] == 2 and summary["pending"] == 0
    assert len(client.sent) == 4

    batch = GuessWork(tmp_path / "batch", settings)
    for step, stage in enumerate(("guess", "check")):
        out = tmp_path / f"requests{step}.jsonl"
        assert export_batch(batch, out) == {"requests": 2, "stages": [stage]}
        assert validate_batch_input(out) == 2
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        answers = tmp_path / f"answers{step}.jsonl"
        answers.write_text(
            "\n".join(
                batch_output_line(x["custom_id"], "yes" if stage == "check" else "42")
                for x in lines
            )
        )
        assert import_batch(batch, answers) == {
            "recorded": 2,
            "ignored": 0,
            "request_failures": 0,
        }
    assert export_batch(batch, tmp_path / "none.jsonl") == {"requests": 0, "stages": []}
    assert not (tmp_path / "none.jsonl").exists()
    for seed in settings.seeds:
        assert batch.read(seed, "result.json") == live.read(seed, "result.json")
        assert batch.request_keys(seed) == live.request_keys(seed)


@dataclass(frozen=True)
class CodeSettings:
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    max_stages: int = 3


class CodeWork(StageWork):
    """Stages that are not a fixed list: ``code-0``, ``code-1``, ... each with the history so far
    (the shape of IKER's per-stage code requests)."""

    settings_type = CodeSettings
    result_file = "plan.json"

    def __init__(self, folder, settings: CodeSettings) -> None:
        super().__init__(folder, settings)
        self.seeds = list(settings.seeds)

    id_prefix = "iker-demo"

    def is_stage(self, stage: str) -> bool:
        name, _, index = stage.partition("-")
        return name == "code" and index.isdigit() and int(index) < self.settings.max_stages

    def live_passes(self) -> int:
        return self.settings.max_stages

    def current_stage(self, seed: int) -> str:
        return f"code-{len(self.read(seed, 'history.json', []))}"

    def next_request(self, seed: int, stage: str) -> ChatRequest:
        history = self.read(seed, "history.json", [])
        body = {"model": "m", "messages": [{"role": "user", "content": json.dumps(history)}]}
        return ChatRequest(self.custom_id(seed, stage), body)

    def accept(self, seed: int, stage: str, answer: str) -> None:
        history = [*self.read(seed, "history.json", []), answer]
        self.write(seed, "history.json", history)
        if answer == "done" or len(history) == self.settings.max_stages:
            self.write(seed, self.result_file, history)


def test_stages_named_at_run_time_route_and_finish(tmp_path):
    work = CodeWork(tmp_path / "work", CodeSettings())
    assert work.route("iker-demo-1-code-2") == (1, "code-2")
    assert work.route("iker-demo-1-code-3") is None  # past max_stages
    assert work.route("iker-demo-7-code-0") is None  # not a state of this run

    class Client:
        def complete_many(self, requests, show_progress=True):
            # State 0 finishes after two stages, state 1 runs to the stage limit.
            return [
                ChatResult(r.custom_id, "done" if r.custom_id == "iker-demo-0-code-1" else "step")
                for r in requests
            ]

    summary = run_live(work, Client(), show_progress=False)
    assert summary["planned"] == 2 and summary["pending"] == 0
    assert work.read(0, "plan.json") == ["step", "done"]
    assert work.read(1, "plan.json") == ["step", "step", "step"]
    assert work.stage_of(0) == DONE
    assert sorted(p.name for p in work.record_dir(0).glob("*.request.json")) == [
        "code-0.request.json",
        "code-1.request.json",
    ]


def test_a_setting_added_after_the_folder_was_made_continues_at_its_default(tmp_path):
    GuessWork(tmp_path / "work", GuessSettings())
    manifest = tmp_path / "work" / "manifest.json"
    older = json.loads(manifest.read_text())
    del older["repairs"]  # a folder made before ``repairs`` existed
    manifest.write_text(json.dumps(older))
    assert GuessWork.open(tmp_path / "work").settings.repairs == 0
    GuessWork(tmp_path / "work", GuessSettings())  # the same settings continue it
    with pytest.raises(ValueError, match="repairs"):
        GuessWork(tmp_path / "work", GuessSettings(repairs=1))
