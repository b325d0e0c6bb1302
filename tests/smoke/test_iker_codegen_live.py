"""IKER code generation against a local OpenAI-compatible HTTP server: two stages of one run, the
second asked with the first one's picture, code and outcome; then the answer cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iker_scene import DONE, GOOD, SETTINGS, scene  # noqa: E402

from keyscaffold.iker.codegen import CodeWork  # noqa: E402
from keyscaffold.vlm.client import VLMClient, VLMConfig  # noqa: E402
from keyscaffold.vlm.local_server import FakeVLMServer, Reply  # noqa: E402


def words(body: dict) -> str:
    parts = body["messages"][0]["content"]
    return "\n".join(p["text"] for p in parts if p["type"] == "text")


def responder(body: dict) -> Reply:
    """Stage 1 moves the shoe; once the history shows a stage, the task is done."""
    return Reply(content=DONE if "Code of stage 1:" in words(body) else GOOD)


def run_two_stages(folder: Path, client: VLMClient) -> CodeWork:
    work = CodeWork(folder, SETTINGS)
    work.observe(0, 0, scene())
    work.run(client)
    assert work.waiting_for(0) == "execute"
    work.record_outcome(0, 0, {"success": True, "final_distance": 0.008, "failure": None})
    work.observe(0, 1, scene(shift=0.05, shade=7))
    summary = work.run(client)
    assert summary["planned"] == 1 and summary["failed"] == 0
    return work


def test_two_stages_over_http_with_growing_history(tmp_path):
    with FakeVLMServer(responder) as server:
        config = VLMConfig(
            base_url=server.url, model="test-model", cache_dir=tmp_path / "cache", backoff_s=0.01
        )
        work = run_two_stages(tmp_path / "work", VLMClient(config))
        assert len(server.requests) == 2
        first, second = server.requests
        first_code = work.code(0, 0).strip()
        assert first_code not in json.dumps(first["messages"])
        assert first_code in words(second)
        assert "it succeeded" in words(second) and "0.008 m" in words(second)
        urls = [
            p["image_url"]["url"]
            for p in second["messages"][0]["content"]
            if p["type"] == "image_url"
        ]
        assert len(urls) == 2 and all(u.startswith("data:image/png;base64,") for u in urls)
        assert urls == [work.image_url(0, 0), work.image_url(0, 1)]
        assert work.stage_spec(0, 0).object == "shoe" and work.stage_spec(0, 1).done
        result = work.result(0)
        assert result["done"] and [s["stage"] for s in result["stages"]] == ["code-0", "code-1"]
        for stage in ("code-0", "code-1"):
            stored = work.read(0, f"{stage}.request.json")
            assert stored["prompt_version"] == SETTINGS.prompt_version
            assert work.read(0, f"{stage}.stage.json")["request_key"] == stored["key"]

        # The same run again in a new folder is answered from the cache: no request is sent.
        again = run_two_stages(tmp_path / "again", VLMClient(config))
        assert len(server.requests) == 2
        assert again.read(0, "result.json") == work.read(0, "result.json")
        assert again.read(0, "code-1.answer.json")["from_cache"] is True
