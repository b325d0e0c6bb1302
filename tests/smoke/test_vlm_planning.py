"""VLM planning against a local OpenAI-compatible server: good answers, malformed ones, the cache,
the Batch path, the baselines and the end-to-end run (plan, train, evaluate, refine)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlm_answers import AnswerBook  # noqa: E402

from keyscaffold.cli import main  # noqa: E402
from keyscaffold.planning.plan import load_plan_set  # noqa: E402
from keyscaffold.planning.vlm_planner import PlanningSettings, PlanningWork, run_live  # noqa: E402
from keyscaffold.vlm.batch import batch_output_line, validate_batch_input  # noqa: E402
from keyscaffold.vlm.cache import request_key  # noqa: E402
from keyscaffold.vlm.client import VLMClient, VLMConfig  # noqa: E402
from keyscaffold.vlm.local_server import FakeVLMServer, Reply  # noqa: E402

MODEL = "test-model"
TRAIN = PlanningSettings(task="move_apple", split="train", num_plans=3, model=MODEL)
TEST = PlanningSettings(task="move_apple", split="test", num_plans=2, model=MODEL)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    return AnswerBook(TRAIN, root / "train").merge(AnswerBook(TEST, root / "test"))


@pytest.fixture(scope="module")
def server(book):
    with FakeVLMServer(lambda body: Reply(content=book.answer(body))) as srv:
        yield srv


def client_for(url: str, cache: Path, **overrides) -> VLMClient:
    config = VLMConfig(base_url=url, model=MODEL, cache_dir=cache, backoff_s=0.01)
    return VLMClient(replace(config, **overrides))


def test_live_plans_put_keypoints_on_their_objects(move_apple, server, tmp_path):
    work = PlanningWork(tmp_path / "work", TRAIN)
    summary = run_live(work, client_for(server.url, tmp_path / "cache"), show_progress=False)
    assert summary == {**summary, "planned": 3, "failed": 0, "pending": 0}
    plans = work.plans()
    model = move_apple.build_model()
    for plan in plans:
        data = move_apple.state_data(model, plan.initial_state)
        truth = move_apple.keypoint_positions(model, data)
        assert plan.keypoint_bodies == ["apple", "cutting_board"]
        assert plan.provenance["keypoints_on_intended"] is True
        # The apple point is lifted behind the visible surface to the apple's middle (it names
        # the middle); the board point lies on the board's top center.
        assert np.linalg.norm(plan.keypoint_local[0]) < 0.015
        assert plan.provenance["keypoints"]["apple"]["depth_offset"] > 0.02
        assert np.linalg.norm(plan.waypoints[0, 1] - truth[1]) < 0.005
        assert plan.wrist_waypoints.shape == (20, 3) and plan.waypoints.shape == (20, 2, 3)
        assert np.all(np.abs(plan.wrist_orientation) <= np.pi / 8 + 1e-9)
        record = work.folder / plan.provenance["record"]
        for name in ("keypoints.request.json", "keypoints.answer.json", "trajectory.answer.json"):
            assert (record / name).is_file()
        stored = json.loads((record / "trajectory.request.json").read_text())
        assert plan.provenance["request_keys"]["trajectory"] == stored["key"]
        assert "data:image" not in (record / "keypoints.request.json").read_text()
    # The plan set is checked in simulation: these answers keep the apple, nothing is shifted,
    # and every plan records its replay.
    saved = load_plan_set(work.write_plan_set(tmp_path / "set"))
    checks = json.loads((work.folder / "plan_check.json").read_text())
    assert [c["plan_id"] for c in checks] == [p.plan_id for p in saved]
    for plan, kept, check in zip(plans, saved, checks):
        assert check["stray_m"] <= check["limit_m"] and "shift_m" not in check
        assert kept.provenance["check"]["stray_m"] == check["stray_m"]
        assert np.array_equal(kept.wrist_waypoints, plan.wrist_waypoints)
    # The keypoint request carries the 800x800 image as a data URL and the wanted names.
    first = next(r for r in server.requests if isinstance(r["messages"][0]["content"], list))
    text, image = first["messages"][0]["content"]
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert '"apple"' in text["text"] and '"cutting board"' in text["text"]


def test_second_identical_run_sends_no_request(server, tmp_path):
    cache = tmp_path / "cache"
    run_live(PlanningWork(tmp_path / "a", TRAIN), client_for(server.url, cache), False)
    before = len(server.requests)
    client = client_for(server.url, cache)
    summary = run_live(PlanningWork(tmp_path / "b", TRAIN), client, False)
    assert summary["planned"] == 3
    assert len(server.requests) == before and client.requests_sent == 0
    assert client.cache_hits == 6  # 3 keypoint + 3 trajectory answers


MALFORMED = {
    # name: (stage answered badly, answer or reply, expected outcome)
    "no_json": ("keypoints", "Sorry, I cannot tell where those are.", "no_json"),
    "prose_only": ("keypoints", "The apple is left of the middle, the board right.", "no_json"),
    "wrong_names": (
        "keypoints",
        '[{"name": "banana", "point": [500, 500]}, {"name": "plate", "point": [1, 1]}]',
        "wrong_names",
    ),
    "outside_image": (
        "keypoints",
        '[{"name": "apple", "point": [1300, 500]}, {"name": "cutting board", "point": [5, 5]}]',
        "outside_image",
    ),
    "off_every_body": (
        "keypoints",
        '[{"name": "apple", "point": [3, 3]}, {"name": "cutting board", "point": [3, 997]}]',
        "off_body",
    ),
    "nan_point": (
        "keypoints",
        '[{"name": "apple", "point": [NaN, 5]}, {"name": "cutting board", "point": [5, 5]}]',
        "not_finite",
    ),
    "wrong_count": ("trajectory", "count", "wrong_count"),
    "nan_waypoint": ("trajectory", "nan", "not_finite"),
    "outside_workspace": ("trajectory", "far", "outside_workspace"),
    "python_code": ("trajectory", "code", "done"),
    "rate_limited_once": ("keypoints", Reply(status=429, retry_after=0.01), "done"),
    "server_error": ("keypoints", Reply(status=500), "keypoints"),
    "timeout": ("keypoints", Reply(delay_s=2.5, content="[]"), "keypoints"),
}


def _bad_trajectory(good: str, how: str) -> str:
    plan = json.loads(good)
    if how == "count":
        return json.dumps(plan[:7])
    if how == "nan":
        plan[3]["hand"][2] = float("nan")
        return json.dumps(plan)
    if how == "far":
        plan[5]["hand"][2] = 5.0
        return json.dumps(plan)
    body = json.dumps(plan)
    return (
        f"Here you go:\n```python\nimport numpy as np\n\ndef waypoints():\n    return {body}\n```"
    )


def test_malformed_answers_become_typed_failures(book, tmp_path):
    settings = replace(TRAIN, num_plans=len(MALFORMED))
    answers = AnswerBook(settings, tmp_path / "book")
    cases = dict(zip(answers.seeds, MALFORMED.values()))
    served: dict[int, int] = {}

    def respond(body: dict) -> Reply:
        cid = answers.id_by_key.get(request_key(body), "")
        seed, stage = int(cid.split("-")[-2]), cid.split("-")[-1]
        bad_stage, bad, _ = cases[seed]
        served[seed] = served.get(seed, 0) + 1
        good = answers.by_id[cid]
        if stage != bad_stage:
            return Reply(content=good)
        if isinstance(bad, Reply):
            return Reply(content=good) if bad.status == 429 and served[seed] > 1 else bad
        return Reply(content=_bad_trajectory(good, bad) if stage == "trajectory" else bad)

    with FakeVLMServer(respond) as srv:
        client = client_for(srv.url, tmp_path / "cache", max_retries=1, timeout_s=1.0)
        work = PlanningWork(tmp_path / "work", settings)
        summary = run_live(work, client, show_progress=False)
    outcomes = {}
    for seed in cases:
        stage = work.stage_of(seed)
        if stage == "failed":
            failure = json.loads((work.record_dir(seed) / "failure.json").read_text())
            outcomes[seed] = failure["kind"]
            assert failure["message"]
        else:
            outcomes[seed] = stage
    assert outcomes == {seed: case[2] for seed, case in cases.items()}
    # Retried: the 429 state was asked again at once; the 500 state max_retries + 1 times in each
    # of the two passes (a failed request leaves its state pending, to be asked again).
    names = dict(zip(MALFORMED, answers.seeds))
    assert served[names["rate_limited_once"]] == 3  # 429, keypoints, trajectory
    assert served[names["server_error"]] == 4
    log = [
        json.loads(line) for line in (work.folder / "requests.log.jsonl").read_text().splitlines()
    ]
    assert {entry["error_type"] for entry in log} == {"server_error", "timeout"}
    assert summary["failed"] == 9 and summary["pending"] == 2 and summary["planned"] == 2
    assert summary["pending_request_errors"] == {"server_error": 1, "timeout": 1}
    assert json.loads((work.folder / "failures.json").read_text())[0]["kind"]


def test_unusable_answer_is_quoted_back_and_repaired(book, tmp_path):
    settings = replace(TRAIN, num_plans=2, repairs=1)
    answers = AnswerBook(settings, tmp_path / "book")
    second = f"move_apple-train-{answers.seeds[1]}-keypoints"

    def respond(body: dict) -> Reply:
        messages = body["messages"]
        cid = answers.id_by_key[request_key({**body, "messages": messages[:1]})]
        if cid.endswith("trajectory"):
            return Reply(content=answers.by_id[cid])
        if len(messages) == 1 or cid == second:  # the second state never gets it right
            return Reply(content="The apple is on the right.")
        assert "could not be used" in messages[-1]["content"] and "JSON" in messages[-1]["content"]
        return Reply(content=answers.by_id[cid])

    with FakeVLMServer(respond) as srv:
        work = PlanningWork(tmp_path / "work", settings)
        summary = run_live(work, client_for(srv.url, tmp_path / "cache"), show_progress=False)
    assert summary["planned"] == 1 and summary["failed"] == 1
    seeds = answers.seeds
    repairs = json.loads((work.record_dir(seeds[0]) / "keypoints.repairs.json").read_text())
    assert [r["kind"] for r in repairs] == ["no_json"]
    assert json.loads((work.record_dir(seeds[1]) / "failure.json").read_text())["kind"] == "no_json"
    assert len(srv.requests) == 5  # 2 first answers, 2 repairs, 1 trajectory


def test_batch_path_gives_the_live_plans(book, server, tmp_path):
    live = PlanningWork(tmp_path / "live", TRAIN)
    run_live(live, client_for(server.url, tmp_path / "cache"), show_progress=False)
    work, common = tmp_path / "batch", ["move_apple", "--work", str(tmp_path / "batch")]
    for stage in ("keypoints", "trajectory"):
        requests = tmp_path / f"{stage}.jsonl"
        assert (
            main(
                [
                    "batch",
                    "export",
                    *common,
                    "--num-plans",
                    "3",
                    "--model",
                    MODEL,
                    "--out",
                    str(requests),
                ]
            )
            == 0
        )
        assert validate_batch_input(requests) == 3
        lines = [json.loads(line) for line in requests.read_text().splitlines()]
        assert all(line["custom_id"].endswith(stage) for line in lines)
        answers = tmp_path / f"{stage}.out.jsonl"
        answers.write_text(
            "\n".join(
                batch_output_line(x["custom_id"], book.answer(x["body"]), MODEL) for x in lines
            )
        )
        assert main(["batch", "import", *common, "--answers", str(answers)]) == 0
    batch_plans = load_plan_set(work / "plans", "move_apple")
    assert [p.plan_id for p in batch_plans] == [p.plan_id for p in live.plans()]
    for a, b in zip(batch_plans, live.plans()):
        np.testing.assert_array_equal(a.waypoints, b.waypoints)
        np.testing.assert_array_equal(a.wrist_waypoints, b.wrist_waypoints)
        np.testing.assert_array_equal(a.keypoint_local, b.keypoint_local)
        np.testing.assert_array_equal(a.wrist_orientation, b.wrist_orientation)
        assert a.provenance["request_keys"] == b.provenance["request_keys"]
    # Nothing is left to ask; a further export says so and writes no file.
    assert main(["batch", "export", *common, "--out", str(tmp_path / "none.jsonl")]) == 0
    assert not (tmp_path / "none.jsonl").exists()


def test_baseline_planners(move_apple, book, server, tmp_path):
    oracle_kp = replace(TRAIN, num_plans=2, planner="vlm-oracle-keypoints", num_waypoints=5)
    book.merge(AnswerBook(oracle_kp, tmp_path / "book"))
    args = ["--base-url", server.url, "--model", MODEL, "--cache-dir", str(tmp_path / "c")]
    out = tmp_path / "plans"
    assert (
        main(
            [
                "plan",
                "move_apple",
                "--planner",
                "vlm-oracle-keypoints",
                "--num-plans",
                "2",
                "--waypoints",
                "5",
                "--out",
                str(out),
                *args,
            ]
        )
        == 0
    )
    plans = load_plan_set(out / "move_apple/train/vlm-oracle-keypoints_w5")
    assert plans[0].num_waypoints == 5
    np.testing.assert_allclose(plans[0].keypoint_local[0], [0, 0, 0])  # the true apple center
    assert (
        main(
            [
                "plan",
                "move_apple",
                "--planner",
                "vlm-scripted-trajectory",
                "--num-plans",
                "2",
                "--out",
                str(out),
                *args,
            ]
        )
        == 0
    )
    scripted = load_plan_set(out / "move_apple/train/vlm-scripted-trajectory")
    assert scripted[0].provenance["trajectory_from"] == "scripted"
    assert main(["plan", "move_apple", "--num-plans", "2", "--out", str(out)]) == 0
    assert (
        main(
            [
                "plan",
                "move_apple",
                "--planner",
                "replay",
                "--from",
                str(out / "move_apple/train/oracle"),
                "--split",
                "test",
                "--num-plans",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    replayed = load_plan_set(out / "move_apple/test/replay")
    source = load_plan_set(out / "move_apple/train/oracle")
    np.testing.assert_array_equal(replayed[2].waypoints, source[0].waypoints)
    assert replayed[0].initial_state != source[0].initial_state
    assert main(["plan", "move_apple", "--planner", "replay", "--out", str(out)]) == 2


def test_plan_train_eval_refine_end_to_end(book, server, tmp_path, sparse_video):
    """VLM plans -> policy -> evaluation with a failure breakdown -> one refinement round."""
    vlm = ["--base-url", server.url, "--model", MODEL, "--cache-dir", str(tmp_path / "cache")]
    plans = tmp_path / "plans"
    assert (
        main(
            [
                "plan",
                "move_apple",
                "--planner",
                "vlm",
                "--num-plans",
                "3",
                "--out",
                str(plans),
                *vlm,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "plan",
                "move_apple",
                "--planner",
                "vlm",
                "--num-plans",
                "2",
                "--split",
                "test",
                "--out",
                str(plans),
                *vlm,
            ]
        )
        == 0
    )
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "move_apple",
                "--plans",
                str(plans / "move_apple/train/vlm"),
                "--out",
                str(run),
                "--num-envs",
                "8",
                "--max-iterations",
                "2",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "eval",
                "move_apple",
                "--policy",
                str(run),
                "--plans",
                str(plans / "move_apple/test/vlm"),
                "--out",
                str(tmp_path / "eval"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert sum(result["failure_breakdown"]["counts"].values()) == result["num_episodes"] == 2
    assert (tmp_path / "eval" / "failures.png").stat().st_size > 1000
    out = tmp_path / "refine"
    assert (
        main(
            [
                "refine",
                "move_apple",
                "--policy",
                str(run),
                "--rounds",
                "1",
                "--out",
                str(out),
                "--test-plans",
                "2",
                "--minutes",
                "0.05",
                *vlm,
            ]
        )
        == 0
    )
    rows = json.loads((out / "refine.json").read_text())
    assert [r["round"] for r in rows] == [0, 1]
    assert (out / "refine.md").read_text().count("\n") == 4
    assert (out / "refine.png").exists() and (out / "round_1/train/checkpoints/final.pt").exists()


def test_unreachable_endpoint_is_a_clear_error(tmp_path, capsys):
    code = main(
        [
            "plan",
            "move_apple",
            "--planner",
            "vlm",
            "--num-plans",
            "1",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--max-retries",
            "0",
            "--timeout-s",
            "2",
            "--out",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    message = capsys.readouterr().err
    assert code == 2 and "connection" in message and "127.0.0.1:9" in message
