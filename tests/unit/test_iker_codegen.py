"""IKER code generation (``iker.codegen``) on a small made-up scene: prompts, answers to stage
specs, typed failures (malformed and hostile code), repairs, resume, Batch vs live, the oracle
path. No rendering, no network: a fake client answers by custom id."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from iker_scene import BODIES, DONE, GOOD, SETTINGS, fenced, scene

from keyscaffold.iker.code_prompt import (
    describe_outcome,
    load_sections,
    number_runs,
    picture_place,
)
from keyscaffold.iker.code_settings import PROMPT_VERSION, CodeSettings
from keyscaffold.iker.codegen import CodeWork
from keyscaffold.iker.stage import STAGE_ERROR_KINDS
from keyscaffold.iker.stage_code import FAILURE_KINDS, code_from_answer
from keyscaffold.planning.requests import export_batch, import_batch, run_live
from keyscaffold.vlm.batch import batch_output_line, validate_batch_input
from keyscaffold.vlm.client import ChatRequest, ChatResult


def returning(value: str) -> str:
    return fenced(f"    k = keypoint_coordinates\n    return {value}")


MALFORMED = {
    "no_code": "I would pick up the shoe and put it on the top shelf.",
    "sandbox_syntax": "```python\ndef get_interaction_data(keypoint_coordinates)\n    return 1\n```",
    "sandbox_missing_entry": "```python\ndef interaction(keypoint_coordinates):\n    return 1\n```",
    "sandbox_runtime_error": fenced("    return {'object': 'shoe', 'x': 1 / 0}"),
    "wrong_shape": returning("['shoe', [0], [[0.5, 0.0, 0.3]], 'grasp', False]"),
    "wrong_shape ": returning(
        "{'object': 'shoe', 'keypoints': [0, 1], 'targets': [[0.5, 0.0, 0.3]], "
        "'mode': 'grasp', 'done': False}"
    ),
    "bad_keypoint": returning(
        "{'object': 'shoe', 'keypoints': [99], 'targets': [[0.5, 0.0, 0.3]], "
        "'mode': 'grasp', 'done': False}"
    ),
    "keypoint_not_on_object": returning(
        "{'object': 'shoe', 'keypoints': [4], 'targets': [[0.5, 0.0, 0.3]], "
        "'mode': 'grasp', 'done': False}"
    ),
    "bad_target": returning(
        "{'object': 'shoe', 'keypoints': [0], 'targets': [[np.nan, 0.0, 0.3]], "
        "'mode': 'grasp', 'done': False}"
    ),
    "unknown_object": returning(
        "{'object': 'rack', 'keypoints': [6], 'targets': [[0.5, 0.0, 0.3]], "
        "'mode': 'push', 'done': False}"
    ),
    "target_out_of_workspace": returning(
        "{'object': 'shoe', 'keypoints': [0], 'targets': [[5.0, 0.0, 0.3]], "
        "'mode': 'grasp', 'done': False}"
    ),
}
HOSTILE = {
    "sandbox_forbidden_import": fenced("    import os\n    return os.listdir('/')"),
    "sandbox_forbidden_name": fenced("    return open('/etc/passwd').read()"),
    "sandbox_timeout": fenced("    while True:\n        pass"),
    "sandbox_forbidden_name ": fenced("    return ().__class__.__bases__[0].__subclasses__()"),
}


class FakeClient:
    """Answers by custom id (a function of the request); keeps every request."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[ChatRequest] = []

    def complete_many(self, requests, show_progress=True):
        self.requests.extend(requests)
        return [ChatResult(r.custom_id, self.answer(r)) for r in requests]


def images(body: dict) -> list[str]:
    parts = body["messages"][0]["content"]
    return [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]


def text(body: dict) -> str:
    return "\n".join(p["text"] for p in body["messages"][0]["content"] if p["type"] == "text")


def outcome(success: bool = True, distance: float = 0.012, failure: str | None = None) -> dict:
    return {"success": success, "final_distance": distance, "failure": failure}


# ------------------------------------------------------------------------------------ prompts
def test_template_sections_and_outcome_words():
    sections = load_sections(PROMPT_VERSION)
    assert {"single", "multi", "conventions", "rules", "history_stage", "history_code"} <= set(
        sections
    )
    assert "did not succeed" in describe_outcome(outcome(False, 0.2, "dropped"))
    assert "0.200 m" in describe_outcome(outcome(False, 0.2, "dropped"))
    assert "failure: dropped" in describe_outcome(outcome(False, 0.2, "dropped"))
    assert describe_outcome(None) == "not known."
    with pytest.raises(FileNotFoundError, match="no prompt template"):
        load_sections("v999")


def test_single_step_prompt(tmp_path):
    work = CodeWork(tmp_path / "w", replace(SETTINGS, multi_step=False))
    assert work.waiting_for(0) == "observe" and work.pending_requests() == []
    work.observe(0, 0, scene())
    assert work.waiting_for(0) == "answer"
    (request,) = work.pending_requests()
    assert request.custom_id == "iker-fake-0-code-0"
    body = request.body
    assert body["model"] == "test-model" and len(body["messages"]) == 1
    (url,) = images(body)
    png = (work.record_dir(0) / "code-0.png").read_bytes()
    assert url == "data:image/png;base64," + base64.b64encode(png).decode()
    words = text(body)
    assert '"put the shoe on the rack"' in words
    assert "x points forward, y to the left and z up" in words and "metres" in words
    assert 'Movable objects: "shoe", "box".' in words
    assert "numbered 0 to 7" in words
    assert "x from 0.00 to 1.00 m" in words
    assert "def get_interaction_data(keypoint_coordinates):" in words
    for key in ('"object"', '"keypoints"', '"targets"', '"mode"', '"done"'):
        assert key in words
    assert "several stages" not in words and "stages so far" not in words
    stored = json.loads((work.record_dir(0) / "code-0.request.json").read_text())
    assert stored["prompt"] == "iker_code" and stored["prompt_version"] == PROMPT_VERSION
    assert stored["key"] == request.key and stored["multi_step"] is False
    assert "data:image" not in json.dumps(stored)

    # One accepted stage finishes a single-step run; its outcome may still be recorded.
    work.record([ChatResult(request.custom_id, GOOD)])
    assert work.waiting_for(0) == "done" and work.result(0)["done"] is False
    work.record_outcome(0, 0, outcome())
    assert work.outcome(0, 0)["success"] is True


def test_multi_step_history_grows(tmp_path):
    work = CodeWork(tmp_path / "w", SETTINGS)
    client = FakeClient(lambda r: GOOD)
    bodies = []
    for index in range(3):
        work.observe(0, index, scene(shift=0.01 * index, shade=index))
        run_live(work, client, show_progress=False)
        bodies.append(client.requests[-1].body)
        spec = work.stage_spec(0, index)
        assert spec.object == "shoe" and spec.keypoints == (0, 1)
        assert work.waiting_for(0) == "execute"
        with pytest.raises(ValueError, match="not at"):
            work.observe(0, index + 2, scene())
        work.record_outcome(0, index, outcome(index != 1, 0.01 * (index + 1), "slipped"))
        assert work.waiting_for(0) == "observe"

    assert [len(images(b)) for b in bodies] == [1, 2, 3]
    first, second, third = (text(b) for b in bodies)
    assert "several stages" in first and "stages so far" not in first
    assert "Stage 1: the scene now" in first
    assert "stages so far" in second and "Code of stage 1:" in second
    assert "Stage 2: the scene now" in second
    assert work.code(0, 0).strip() in second
    assert "Outcome of stage 1: it succeeded" in second and "0.010 m" in second
    assert "Outcome of stage 2: it did not succeed" in third and "failure: slipped" in third
    assert "Code of stage 2:" in third and "Stage 3: the scene now" in third
    # The earlier pictures are the stored ones, in order, and the last one is the current scene.
    assert images(bodies[2])[:2] == [work.image_url(0, 0), work.image_url(0, 1)]
    assert images(bodies[2])[2] == work.image_url(0, 2) != work.image_url(0, 0)
    stored = json.loads((work.record_dir(0) / "code-2.request.json").read_text())
    assert stored["history"] == 2 and stored["prompt_version"] == PROMPT_VERSION
    assert [h["stage"] for h in work.history(0)] == ["code-0", "code-1", "code-2"]


# ------------------------------------------------------------------------------------ answers
def test_full_answer_becomes_a_stage_spec(tmp_path):
    work = CodeWork(tmp_path / "w", SETTINGS)
    work.observe(0, "code-0", scene())
    (request,) = work.pending_requests()
    counts = work.record([ChatResult(request.custom_id, GOOD)])
    assert counts == {"recorded": 1, "ignored": 0, "request_failures": 0}
    spec = work.stage_spec(0, 0)
    k = np.array(scene().coordinates())
    expected = k[[0, 1]] + (k[6] - k[0] + [0.0, 0.0, 0.05])
    assert spec.mode == "grasp" and spec.done is False
    np.testing.assert_allclose(spec.targets, expected)
    record = work.record_dir(0)
    for name in ("code-0.request.json", "code-0.answer.json", "code-0.py", "code-0.stage.json"):
        assert (record / name).is_file()
    stored = json.loads((record / "code-0.stage.json").read_text())
    assert stored["request_key"] == request.key and stored["source"] == "vlm"
    assert stored["prompt_version"] == PROMPT_VERSION and stored["model"] == "test-model"
    assert "def get_interaction_data" in (record / "code-0.py").read_text()
    assert not (record / "result.json").exists()

    # The next stage reports done: the run is finished with every stage in result.json.
    work.record_outcome(0, 0, outcome())
    work.observe(0, 1, scene(shift=0.02))
    (request,) = work.pending_requests()
    work.record([ChatResult(request.custom_id, DONE)])
    assert work.waiting_for(0) == "done" and work.stage_spec(0, 1).done is True
    result = work.result(0)
    assert result["done"] is True and [s["stage"] for s in result["stages"]] == [
        "code-0",
        "code-1",
    ]
    assert work.summary()["planned"] == 1


@pytest.mark.parametrize(
    "answer, kind",
    [
        ("```python\ndef get_interaction_data(k):\n    return 1\n```", None),
        ("def get_interaction_data(k):\n    return 1", None),
        ("Sorry, I cannot see the shoe.", "no_code"),
        ("", "no_code"),
        ("```python\n\n```", "no_code"),
    ],
)
def test_code_from_answer(answer, kind):
    if kind is None:
        assert "def get_interaction_data" in code_from_answer(answer)
    else:
        with pytest.raises(ValueError) as error:
            code_from_answer(answer)
        assert error.value.kind == kind


def test_malformed_and_hostile_answers_are_typed_failures(tmp_path):
    cases = {**MALFORMED, **HOSTILE, "ok": GOOD}
    seeds = list(range(len(cases)))
    answers = dict(zip(seeds, cases.values()))
    # No retries: each answer's failure is final (retries: test_a_failed_stage_is_asked_again).
    work = CodeWork(tmp_path / "w", replace(SETTINGS, seeds=seeds, stage_retries=0))
    for seed in seeds:
        work.observe(seed, 0, scene())
    client = FakeClient(lambda r: answers[int(r.custom_id.split("-")[2])])
    summary = run_live(work, client, show_progress=False)  # nothing raises

    kinds = {seed: (f.kind if (f := work.failure(seed)) else None) for seed in seeds}
    assert kinds == {s: k.strip() if k != "ok" else None for s, k in zip(seeds, cases)}
    assert all(k in FAILURE_KINDS for k in kinds.values() if k)
    assert summary["failed"] == len(cases) - 1 and summary["pending"] == 1
    assert summary["waiting_for"] == {"failed": len(cases) - 1, "execute": 1}
    ok_seed = seeds[-1]
    assert work.stage_spec(ok_seed, 0) is not None
    for seed in seeds[:-1]:
        failure = work.failure(seed)
        assert failure.stage == "code-0" and failure.message
        assert work.stage_spec(seed, 0) is None
        assert (work.record_dir(seed) / "code-0.answer.json").is_file()
    assert json.loads((work.folder / "failures.json").read_text())[0]["kind"] == "no_code"
    # The endless loop was stopped by the sandbox's limit, and the message says so.
    timeout_seed = list(cases).index("sandbox_timeout")
    assert "did not finish within 1 s" in work.failure(timeout_seed).message
    assert set(STAGE_ERROR_KINDS) <= set(FAILURE_KINDS)


def test_repairs_send_the_problem_back(tmp_path):
    work = CodeWork(tmp_path / "w", replace(SETTINGS, repairs=2))
    work.observe(0, 0, scene())
    bad = MALFORMED["keypoint_not_on_object"]
    replies = iter([MALFORMED["no_code"], bad, GOOD])
    client = FakeClient(lambda r: next(replies))
    summary = run_live(work, client, show_progress=False)
    assert summary["waiting_for"] == {"execute": 1}
    assert [r["kind"] for r in work.repairs(0, "code-0")] == ["no_code", "keypoint_not_on_object"]
    last = client.requests[-1].body["messages"]
    assert len(last) == 5 and last[3] == {"role": "assistant", "content": bad}
    assert "could not be used" in last[4]["content"] and "lies on 'box'" in last[4]["content"]
    assert json.loads((work.record_dir(0) / "code-0.stage.json").read_text())["repairs"] == 2
    assert work.live_passes() == 3

    # Without repairs left (and no retries), the failure is final.
    work2 = CodeWork(tmp_path / "w2", replace(SETTINGS, repairs=1, stage_retries=0))
    work2.observe(0, 0, scene())
    run_live(work2, FakeClient(lambda r: bad), show_progress=False)
    assert work2.failure(0).kind == "keypoint_not_on_object"
    assert len(work2.repairs(0, "code-0")) == 1


def test_resume_from_disk_in_a_new_object(tmp_path):
    folder = tmp_path / "w"
    work = CodeWork(folder, replace(SETTINGS, seeds=[3, 7]))
    work.observe(3, 0, scene())
    work.observe(7, 0, scene(shade=5))
    requests = work.pending_requests()
    assert [r.custom_id for r in requests] == ["iker-fake-3-code-0", "iker-fake-7-code-0"]
    work.record([ChatResult(requests[0].custom_id, GOOD)])
    work.record_outcome(3, 0, outcome())
    del work

    again = CodeWork.open(folder)
    assert again.settings == replace(SETTINGS, seeds=[3, 7])
    assert again.waiting_for(3) == "observe" and again.waiting_for(7) == "answer"
    # Observing again with the same keypoints after the request was made changes nothing.
    again.observe(7, 0, scene(shade=5))
    with pytest.raises(ValueError, match="other keypoints"):
        again.observe(7, 0, scene(shift=0.1))
    assert [r.custom_id for r in again.pending_requests()] == ["iker-fake-7-code-0"]
    again.observe(3, 1, scene(shift=0.03))
    pending = again.pending_requests()
    assert [r.custom_id for r in pending] == ["iker-fake-3-code-1", "iker-fake-7-code-0"]
    assert again.code(3, 0).strip() in text(pending[0].body)
    again.record([ChatResult(r.custom_id, DONE) for r in pending])
    assert again.waiting_for(3) == "done" and again.stage_spec(7, 0).done is True
    with pytest.raises(ValueError, match="other settings"):
        CodeWork(folder, replace(SETTINGS, seeds=[3]))
    with pytest.raises(FileNotFoundError, match="start one with CodeWork"):
        CodeWork.open(tmp_path / "nothing")


def test_batch_export_import_matches_live(tmp_path):
    settings = replace(SETTINGS, seeds=[1, 2], repairs=0, stage_retries=0)
    answers = {1: [GOOD, DONE], 2: [MALFORMED["bad_keypoint"]]}

    def answer(custom_id: str) -> str:
        _, _, seed, _, index = custom_id.split("-")
        return answers[int(seed)][int(index)]

    live = CodeWork(tmp_path / "live", settings)
    batch = CodeWork(tmp_path / "batch", settings)
    client = FakeClient(lambda r: answer(r.custom_id))
    for stage in range(2):
        for work in (live, batch):
            for seed in settings.seeds:
                if work.waiting_for(seed) == "observe":
                    work.observe(seed, stage, scene(shift=0.02 * stage))
        run_live(live, client, show_progress=False)
        exported = export_batch(batch, tmp_path / f"in{stage}.jsonl")
        assert exported["stages"] == [f"code-{stage}"]
        assert validate_batch_input(tmp_path / f"in{stage}.jsonl") == exported["requests"]
        lines = [json.loads(x) for x in (tmp_path / f"in{stage}.jsonl").read_text().splitlines()]
        out = tmp_path / f"out{stage}.jsonl"
        out.write_text(
            "\n".join(batch_output_line(x["custom_id"], answer(x["custom_id"])) for x in lines)
        )
        import_batch(batch, out)
        for work in (live, batch):
            if work.waiting_for(1) == "execute":
                work.record_outcome(1, stage, outcome())

    for name in ("code-0.request.json", "code-1.request.json", "code-0.stage.json", "result.json"):
        assert live.read(1, name) == batch.read(1, name)
    assert live.failure(2) == batch.failure(2) and live.failure(2).kind == "bad_keypoint"
    assert live.summary() == batch.summary()
    assert export_batch(batch, tmp_path / "none.jsonl") == {"requests": 0, "stages": []}


# ------------------------------------------------------------------------------------- oracle
def test_oracle_code_takes_the_same_path_without_requests(tmp_path):
    calls = []

    def oracle(stage: int, pairs) -> str:
        calls.append((stage, [body for body, _ in pairs]))
        return GOOD.split("```python\n")[1].split("```")[0] if stage == 0 else DONE

    work = CodeWork(tmp_path / "w", replace(SETTINGS, source="oracle"), oracle=oracle)
    work.observe(0, 0, scene())
    summary = work.run()
    assert summary["pending"] == 1 and summary["waiting_for"] == {"execute": 1}
    assert calls == [(0, BODIES)]
    record = work.record_dir(0)
    assert not (record / "code-0.request.json").exists()
    assert json.loads((record / "code-0.answer.json").read_text())["source"] == "oracle"
    stored = json.loads((record / "code-0.stage.json").read_text())
    assert stored["source"] == "oracle" and stored["request_key"] is None
    assert work.stage_spec(0, 0).keypoints == (0, 1)
    work.record_outcome(0, 0, outcome())
    work.observe(0, 1, scene(shift=0.02))
    work.run()
    assert work.waiting_for(0) == "done"

    # Unusable oracle code is a typed, final failure (no repairs); so is an oracle that refuses.
    def refusing(stage, pairs):
        raise ValueError("no keypoint on the shoe")

    settings = replace(SETTINGS, source="oracle", seeds=[0, 1], repairs=3, stage_retries=0)
    bad = CodeWork(tmp_path / "bad", settings)
    bad.oracle = lambda stage, pairs: HOSTILE["sandbox_forbidden_import"]
    bad.observe(0, 0, scene())
    bad.run()
    assert bad.failure(0).kind == "sandbox_forbidden_import"
    bad.oracle = refusing
    bad.observe(1, 0, scene())
    bad.run()
    assert bad.failure(1).kind == "oracle_error"


def test_oracle_answer_direct(tmp_path):
    work = CodeWork(tmp_path / "w", replace(SETTINGS, source="oracle", stage_retries=0))
    with pytest.raises(ValueError, match="not waiting for code"):
        work.oracle_answer(0, GOOD)
    work.observe(0, 0, scene())
    spec = work.oracle_answer(0, GOOD)
    assert spec.object == "shoe" and spec.keypoints == work.stage_spec(0, 0).keypoints
    work.record_outcome(0, 0, outcome())
    work.observe(0, 1, scene())
    assert work.oracle_answer(0, MALFORMED["unknown_object"]) is None
    assert work.failure(0).kind == "unknown_object" and work.waiting_for(0) == "failed"


# ------------------------------------------------------------------------------- the loop API
def test_stage_limit_and_loop_checks(tmp_path):
    work = CodeWork(tmp_path / "w", replace(SETTINGS, max_stages=2))
    client = FakeClient(lambda r: GOOD)
    with pytest.raises(ValueError, match="no accepted"):
        work.record_outcome(0, 0, outcome())
    with pytest.raises(ValueError, match="not in this work folder"):
        work.observe(5, 0, scene())
    with pytest.raises(ValueError, match="no image"):
        work.observe(0, 0, replace(scene(), image=None))
    with pytest.raises(ValueError, match="a stage is"):
        work.observe(0, "plan", scene())
    for index in range(2):
        work.observe(0, index, scene())
        run_live(work, client, show_progress=False)
        with pytest.raises(ValueError, match="'success'"):
            work.record_outcome(0, index, {"final_distance": 0.1})
        with pytest.raises(ValueError, match="final_distance"):
            work.record_outcome(0, index, outcome(distance=float("nan")))
        work.record_outcome(0, index, outcome(False, 0.3, "missed"))
    assert work.waiting_for(0) == "failed"
    failure = work.failure(0)
    assert (failure.stage, failure.kind) == ("code-2", "stage_limit")
    # An outcome that the next request already showed cannot change.
    again = CodeWork(tmp_path / "w2", SETTINGS)
    again.observe(0, 0, scene())
    run_live(again, client, show_progress=False)
    again.record_outcome(0, 0, outcome())
    again.observe(0, 1, scene())
    again.pending_requests()
    with pytest.raises(ValueError, match="already asked"):
        again.record_outcome(0, 0, outcome(False))


def test_settings_checks_and_for_task():
    with pytest.raises(ValueError, match="unknown code source"):
        replace(SETTINGS, source="human")
    with pytest.raises(ValueError, match="both workspace corners"):
        replace(SETTINGS, workspace_high=None)

    class Task:
        name = "shoe_place"
        instruction = "place the shoe on the rack"
        workspace_low = (0.0, -0.6, 0.0)
        workspace_high = (1.0, 0.6, 0.9)

        def movable_objects(self):
            return ["shoe"]

    settings = CodeSettings.for_task(Task(), seeds=range(2), repairs=1)
    assert settings.objects == ["shoe"] and settings.seeds == [0, 1]
    assert settings.workspace_high == [1.0, 0.6, 0.9] and settings.repairs == 1


# ---------------------------------------------------------------- v2 labels, v1 as it was
def parts(content: list[dict]) -> list[str]:
    return [p["text"] if p["type"] == "text" else "<image>" for p in content]


def two_stage_work(folder, settings) -> CodeWork:
    """A multi-step run at its second stage: the first was executed and missed."""
    work = CodeWork(folder, settings)
    work.observe(0, 0, scene())
    (request,) = work.pending_requests()
    work.record([ChatResult(request.custom_id, GOOD)])
    work.record_outcome(0, 0, outcome(False, 0.083, "missed_targets"))
    work.observe(0, 1, scene(shift=0.02, shade=3))
    return work


def test_v1_renders_exactly_as_before(tmp_path):
    """The v1 template's requests, single- and multi-step, are the ones v1 always sent
    (``iker_code_v1_golden.json`` was rendered before v2 existed)."""
    golden = json.loads((Path(__file__).parent / "iker_code_v1_golden.json").read_text())
    v1 = replace(SETTINGS, repairs=0, prompt_version="v1", object_words={"shoe": "a red shoe"})
    single = CodeWork(tmp_path / "single", replace(v1, multi_step=False))
    single.observe(0, 0, scene())
    assert parts(single.content(0, "code-0")) == golden["single"]
    multi = two_stage_work(tmp_path / "multi", v1)
    assert parts(multi.content(0, "code-1")) == golden["multi_stage_2"]
    # labels off or on: v1 has none
    hidden = two_stage_work(tmp_path / "hidden", replace(v1, label_keypoints=False))
    assert parts(hidden.content(0, "code-1")) == golden["multi_stage_2"]


def label_rows(text: str) -> dict[int, str]:
    """Keypoint number -> body name, read back from a v2 label list."""
    bodies = {}
    for line in text.splitlines():
        match = re.match(r'^- ([\d, -]+): "(\w+)"', line)
        if match:
            for run in match.group(1).split(", "):
                low, _, high = run.partition("-")
                for number in range(int(low), int(high or low) + 1):
                    assert number not in bodies, f"number {number} listed twice"
                    bodies[number] = match.group(2)
    return bodies


def test_v2_lists_the_object_under_every_number(tmp_path):
    words = {"shoe": "the red sneaker", "rack": "the rack"}
    work = two_stage_work(tmp_path / "w", replace(SETTINGS, object_words=words))
    content = work.content(0, "code-1")
    texts = parts(content)
    # each picture (the earlier one and the current one) comes right after its own list
    lists = [i for i, t in enumerate(texts) if t.startswith("The keypoints of this picture")]
    assert len(lists) == 2 and all(texts[i + 1] == "<image>" for i in lists)
    for index, position in zip((0, 1), lists):
        assert label_rows(texts[position]) == dict(enumerate(work.candidates(0, index).bodies()))
    current = texts[lists[1]]
    assert '- 0-3: "shoe" (the red sneaker), in the middle left of the picture' in current
    assert '- 6-7: "rack" (the rack), a fixed part of the scene' in current
    intro = texts[0]
    assert 'Movable objects: "shoe" (the red sneaker), "box".' in intro
    assert "Nothing tells you which number" not in intro
    assert "only if the list puts it on that object" in intro
    assert "not the +y and -y directions" in intro  # left and right are the object's own
    # the stage that missed is asked for again, by name
    assert "Stage 1 did not work" in texts[-3]


def test_hidden_labels_name_no_object_per_number(tmp_path):
    settings = replace(SETTINGS, label_keypoints=False, object_words={"shoe": "the red sneaker"})
    work = two_stage_work(tmp_path / "w", settings)
    words = "\n".join(parts(work.content(0, "code-1")))
    assert "The keypoints of this picture" not in words and label_rows(words) == {}
    for name in ("shoe", "box", "rack"):
        assert not re.search(rf'\d+(-\d+)?: "{name}"', words)
        assert not re.search(rf'"{name}"[^\n.]*(keypoints? )?\d+-\d+', words)
    assert "find out from the picture which numbers lie on which object" in words
    assert "Nothing tells you which number" not in words


def test_an_object_without_visible_keypoints_is_listed_as_unseen(tmp_path):
    full = scene()
    kept = full.candidates[:4] + full.candidates[6:]  # the box's two are hidden
    renumbered = tuple(replace(c, number=i) for i, c in enumerate(kept))
    work = CodeWork(tmp_path / "w", replace(SETTINGS, multi_step=False))
    work.observe(0, 0, replace(full, candidates=renumbered))
    words = "\n".join(parts(work.content(0, "code-0")))
    assert '- none: no keypoint of "box" can be seen in this picture' in words
    assert label_rows(words) == {0: "shoe", 1: "shoe", 2: "shoe", 3: "shoe", 4: "rack", 5: "rack"}


def test_number_runs_and_picture_places():
    assert number_runs([3, 0, 1, 2, 5, 7, 8]) == "0-3, 5, 7-8" and number_runs([4]) == "4"
    shape = (300, 600)
    assert picture_place(np.array([[50.0, 280.0], [70.0, 260.0]]), shape) == "bottom left"
    assert picture_place(np.array([[300.0, 150.0]]), shape) == "centre"
    assert picture_place(np.array([[599.0, 0.0]]), shape) == "top right"


# ------------------------------------------------------------------ repairs and re-asking
def test_defaults_repair_once_and_ask_a_failed_stage_again():
    from keyscaffold.cli import Iker
    from keyscaffold.iker.run_settings import IkerSettings

    settings = CodeSettings(task="t", instruction="i", objects=["shoe"])
    assert (settings.repairs, settings.stage_retries) == (1, 2)
    assert settings.label_keypoints is True and settings.prompt_version == PROMPT_VERSION == "v2"
    defaults = IkerSettings.__dataclass_fields__
    assert defaults["repairs"].default == 1 and defaults["stage_retries"].default == 2
    fields = Iker.__dataclass_fields__
    assert fields["repairs"].default == 1 and fields["label_keypoints"].default is True
    with pytest.raises(ValueError, match="prompt version"):
        replace(SETTINGS, prompt_version="v0")


def test_a_failed_stage_is_asked_again_with_its_failure(tmp_path):
    """The answer names the box's keypoints for the shoe twice (once repaired); the stage is
    then asked again on the same scene, its failure in the history, and the run goes on."""
    wrong = MALFORMED["keypoint_not_on_object"]
    replies = iter([wrong, wrong, GOOD, DONE])
    client = FakeClient(lambda r: next(replies))
    work = CodeWork(tmp_path / "w", SETTINGS)  # repairs 1, stage_retries 2
    work.observe(0, 0, scene())
    run_live(work, client, show_progress=False)
    assert work.failure(0) is None and work.waiting_for(0) == "observe"
    assert work.attempt_failure(0, 0)["kind"] == "keypoint_not_on_object"
    assert len(work.repairs(0, "code-0")) == 1 and work.stage_spec(0, 0) is None
    work.observe(0, 1, scene())
    run_live(work, client, show_progress=False)
    asked = text(client.requests[-1].body)
    assert "Code of stage 1:" in asked and "Stage 1 did not work" in asked
    assert "its code could not be used (keypoint_not_on_object: keypoint 4 lies on 'box'" in asked
    assert work.stage_spec(0, 1).object == "shoe"
    work.record_outcome(0, 1, outcome())
    work.observe(0, 2, scene(shift=0.02))
    run_live(work, client, show_progress=False)
    assert work.waiting_for(0) == "done"
    stages = work.result(0)["stages"]
    assert [s["stage"] for s in stages] == ["code-0", "code-1", "code-2"]
    assert stages[0]["failure"]["kind"] == "keypoint_not_on_object" and "spec" in stages[1]
    assert [h["failure"] is not None for h in work.history(0)] == [True, False, False]
    assert work.summary()["planned"] == 1


def test_retries_run_out_after_failures_in_a_row(tmp_path):
    # code failures: the second in a row ends the run with its own kind
    wrong = MALFORMED["keypoint_not_on_object"]
    work = CodeWork(tmp_path / "code", replace(SETTINGS, repairs=0, stage_retries=1))
    for index in range(2):
        work.observe(0, index, scene())
        run_live(work, FakeClient(lambda r: wrong), show_progress=False)
    failure = work.failure(0)
    assert (failure.stage, failure.kind) == ("code-1", "keypoint_not_on_object")
    assert "failed 2 times in a row" in failure.message
    # executions that miss: the second in a row ends it as stage_retries; a success between
    # two misses starts the count again
    work = CodeWork(tmp_path / "execution", replace(SETTINGS, stage_retries=1))
    client = FakeClient(lambda r: GOOD)
    for index, success in enumerate([False, True, False, False]):
        assert work.waiting_for(0) == "observe"
        work.observe(0, index, scene())
        run_live(work, client, show_progress=False)
        work.record_outcome(0, index, outcome(success, 0.1, None if success else "missed_targets"))
    failure = work.failure(0)
    assert (failure.stage, failure.kind) == ("code-3", "stage_retries")
    assert "2 stages in a row failed; the last one: missed_targets" in failure.message


def test_single_step_runs_are_never_asked_again(tmp_path):
    work = CodeWork(tmp_path / "w", replace(SETTINGS, multi_step=False))
    work.observe(0, 0, scene())
    run_live(work, FakeClient(lambda r: MALFORMED["bad_keypoint"]), show_progress=False)
    assert work.failure(0).kind == "bad_keypoint" and work.attempt_failure(0, 0) is None
    assert len(work.repairs(0, "code-0")) == 1  # the one repair was used
