"""VLM client, answer cache and Batch files against a real local HTTP server (vlm/local_server.py).

Every network test talks to one module-wide ``FakeVLMServer`` on 127.0.0.1 (each test sets its
``responder`` and starts with an empty ``requests`` list; one server because each shutdown costs
up to half a second) with millisecond backoffs, so the file runs in seconds, offline.
"""

from __future__ import annotations

import base64
import io
import json
import math
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import imageio.v3 as iio
import numpy as np
import pytest

import keyscaffold.vlm.client as client_module
from keyscaffold.vlm.batch import (
    BATCH_URL,
    BatchFormatError,
    batch_input_lines,
    batch_output_line,
    read_batch_output,
    validate_batch_input,
)
from keyscaffold.vlm.cache import ResponseCache, default_cache_dir, request_key
from keyscaffold.vlm.client import (
    ChatRequest,
    VLMClient,
    VLMConfig,
    image_data_url,
    resolve_api_key,
)
from keyscaffold.vlm.local_server import FakeVLMServer, Reply


@pytest.fixture(scope="module")
def shared_server():
    with FakeVLMServer(lambda body: Reply(content="fine")) as server:
        yield server


@pytest.fixture
def server(shared_server):
    """The shared fake server, reset: default answer "fine" and no recorded requests."""
    shared_server.responder = lambda body: Reply(content="fine")
    shared_server.requests.clear()
    return shared_server


def make_config(url: str, cache_dir: Path | None = None, **overrides) -> VLMConfig:
    """A fast config: tiny backoffs, short timeout, cache only when a directory is given."""
    settings = dict(
        base_url=url,
        model="test-model",
        api_key_env="KEYSCAFFOLD_TEST_KEY",
        temperature=0.2,
        max_tokens=64,
        timeout_s=5.0,
        max_retries=2,
        backoff_s=0.01,
        max_backoff_s=0.05,
        concurrency=2,
        cache_dir=cache_dir,
        use_cache=cache_dir is not None,
    )
    settings.update(overrides)
    return VLMConfig(**settings)


def make_request(config: VLMConfig, text: str = "where is the apple?", custom_id: str = "r0"):
    return ChatRequest(custom_id, config.request_body([{"role": "user", "content": text}]))


def answer(text: str = "fine"):
    return lambda body: Reply(content=text)


def message_text(body: dict) -> str:
    return body["messages"][-1]["content"]


@contextmanager
def raw_server(payload: bytes, content_type: str = "application/json"):
    """A server that answers every POST with HTTP 200 and ``payload`` as is (a broken endpoint)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    ).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


# ---- live requests ----------------------------------------------------------------------------


def test_good_answer_round_trip(server):
    server.responder = answer("the apple is left")
    config = make_config(server.url)
    result = VLMClient(config).complete(make_request(config, custom_id="q1"))
    assert result.ok and result.error_type is None
    assert result.custom_id == "q1"
    assert result.content == "the apple is left"
    assert result.attempts == 1 and not result.from_cache
    assert len(server.requests) == 1
    sent = server.requests[0]
    assert sent["model"] == "test-model"
    assert sent["temperature"] == pytest.approx(0.2)
    assert sent["max_tokens"] == 64
    assert sent["messages"] == [{"role": "user", "content": "where is the apple?"}]


def test_image_arrives_as_png_data_url_with_same_pixels(server):
    rgb = np.random.default_rng(0).integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    server.responder = answer()
    config = make_config(server.url)
    content = [
        {"type": "text", "text": "mark the apple"},
        {"type": "image_url", "image_url": {"url": image_data_url(rgb)}},
    ]
    body = config.request_body([{"role": "user", "content": content}])
    assert VLMClient(config).complete(ChatRequest("img", body)).ok
    url = server.requests[0]["messages"][0]["content"][1]["image_url"]["url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    decoded = iio.imread(io.BytesIO(base64.b64decode(url[len(prefix) :])), extension=".png")
    np.testing.assert_array_equal(decoded, rgb)


@pytest.mark.parametrize("retry_after", [None, 0.01])
def test_rate_limit_is_retried_then_succeeds(server, retry_after):
    server.responder = lambda body: (
        Reply(status=429, retry_after=retry_after)
        if len(server.requests) == 1
        else Reply(content="after the wait")
    )
    config = make_config(server.url)
    client = VLMClient(config)
    result = client.complete(make_request(config))
    assert result.ok and result.content == "after the wait"
    assert result.attempts == 2
    assert len(server.requests) == 2
    assert client.requests_sent == 2


def test_retry_after_header_sets_the_wait(server):
    server.responder = lambda body: (
        Reply(status=429, retry_after=0.3) if len(server.requests) == 1 else Reply(content="ok")
    )
    config = make_config(server.url, backoff_s=0.001, max_backoff_s=5.0)
    start = time.perf_counter()
    result = VLMClient(config).complete(make_request(config))
    assert result.ok
    assert time.perf_counter() - start >= 0.3


def test_backoff_doubles_with_jitter_and_is_capped(server, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(
        client_module, "time", SimpleNamespace(perf_counter=time.perf_counter, sleep=waits.append)
    )
    server.responder = lambda body: Reply(status=503)
    config = make_config(server.url, max_retries=4, backoff_s=0.1, max_backoff_s=0.5)
    result = VLMClient(config).complete(make_request(config))
    assert result.error_type == "server_error"
    assert len(waits) == 4  # no wait after the last attempt
    for attempt, wait in enumerate(waits[:3]):
        full = 0.1 * 2**attempt
        assert 0.5 * full <= wait <= full
    assert 0.4 <= waits[3] <= 0.5  # 0.8 * jitter, capped at max_backoff_s


def test_retry_after_is_capped_by_max_backoff(server, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(
        client_module, "time", SimpleNamespace(perf_counter=time.perf_counter, sleep=waits.append)
    )
    server.responder = lambda body: Reply(status=429, retry_after=120)
    config = make_config(server.url, max_retries=1, max_backoff_s=0.05)
    result = VLMClient(config).complete(make_request(config))
    assert result.error_type == "rate_limited"
    assert waits == [0.05]


def test_server_error_every_time_gives_typed_failure(server):
    server.responder = lambda body: Reply(status=500)
    config = make_config(server.url, max_retries=3)
    client = VLMClient(config)
    result = client.complete(make_request(config))
    assert not result.ok
    assert result.content is None
    assert result.error_type == "server_error"
    assert "500" in result.error_message
    assert result.attempts == config.max_retries + 1
    assert len(server.requests) == config.max_retries + 1 == client.requests_sent


def test_client_error_is_not_retried(server):
    server.responder = lambda body: Reply(status=400)
    config = make_config(server.url, max_retries=3)
    result = VLMClient(config).complete(make_request(config))
    assert result.error_type == "http_error"
    assert "400" in result.error_message
    assert result.attempts == 1
    assert len(server.requests) == 1


def test_timeout_gives_typed_failure_quickly(server):
    delay = 1.5
    server.responder = lambda body: Reply(content="too late", delay_s=delay)
    config = make_config(server.url, timeout_s=0.3, max_retries=0)
    start = time.perf_counter()
    result = VLMClient(config).complete(make_request(config))
    elapsed = time.perf_counter() - start
    assert result.error_type == "timeout"
    assert result.attempts == 1
    assert elapsed < delay


def test_timeout_is_retried(server):
    server.responder = lambda body: (
        Reply(content="slow", delay_s=1.0) if len(server.requests) == 1 else Reply(content="fast")
    )
    config = make_config(server.url, timeout_s=0.3, max_retries=1)
    result = VLMClient(config).complete(make_request(config))
    assert result.ok and result.content == "fast"
    assert result.attempts == 2


def test_refused_connection_gives_typed_failure():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(f"http://127.0.0.1:{port}/v1", max_retries=1)
    result = VLMClient(config).complete(make_request(config))
    assert result.error_type == "connection"
    assert result.attempts == 2


@pytest.mark.parametrize(
    ("payload", "content_type", "error_type"),
    [
        (b"<html>gateway says hi</html>", "text/html", "bad_response"),
        (b"{not json", "application/json", "bad_response"),
        (b'{"id": "x", "object": "chat.completion"}', "application/json", "bad_response"),
        (b'{"id": "x", "choices": []}', "application/json", "bad_response"),
        (b"[1, 2]", "application/json", "bad_response"),
        (
            b'{"choices": [{"index": 0, "finish_reason": "stop",'
            b' "message": {"role": "assistant", "content": null}}]}',
            "application/json",
            "empty_answer",
        ),
    ],
    ids=["html", "broken_json", "no_choices", "empty_choices", "json_list", "null_content"],
)
def test_malformed_200_gives_typed_failure(payload, content_type, error_type):
    with raw_server(payload, content_type) as url:
        config = make_config(url, max_retries=2)
        result = VLMClient(config).complete(make_request(config))
    assert result.error_type == error_type
    assert result.content is None
    assert result.attempts == 1  # a malformed answer is not a transient failure


@pytest.mark.parametrize("retry_after", [-1.0, math.nan], ids=["negative", "nan"])
def test_invalid_retry_after_header_does_not_raise(server, retry_after):
    server.responder = lambda body: (
        Reply(status=429, retry_after=retry_after)
        if len(server.requests) == 1
        else Reply(content="ok")
    )
    config = make_config(server.url)
    result = VLMClient(config).complete(make_request(config))
    assert result.ok and result.attempts == 2


def test_invalid_config_is_rejected():
    for bad in ({"concurrency": 0}, {"max_retries": -1}, {"timeout_s": 0.0}):
        with pytest.raises(ValueError):
            VLMClient(make_config("http://127.0.0.1:9/v1", **bad))


# ---- cache ------------------------------------------------------------------------------------


def test_cache_answers_identical_request_without_sending(server, tmp_path):
    server.responder = answer("cached answer")
    config = make_config(server.url, cache_dir=tmp_path)
    first = VLMClient(config).complete(make_request(config))
    assert first.ok and not first.from_cache
    assert len(server.requests) == 1

    again = VLMClient(config)
    second = again.complete(make_request(config, custom_id="other-id"))
    assert len(server.requests) == 1
    assert second.from_cache and second.ok
    assert second.content == "cached answer"
    assert second.custom_id == "other-id"
    assert second.attempts == 0
    assert again.cache_hits == 1 and again.requests_sent == 0
    assert len(ResponseCache(tmp_path)) == 1


@pytest.mark.parametrize("change", [{"temperature": 0.7}, {"model": "other-model"}])
def test_cache_misses_on_different_parameters(server, tmp_path, change):
    server.responder = lambda body: Reply(content=body["model"])
    config = make_config(server.url, cache_dir=tmp_path)
    VLMClient(config).complete(make_request(config))
    changed = make_config(server.url, cache_dir=tmp_path, **change)
    client = VLMClient(changed)
    result = client.complete(make_request(changed))
    assert not result.from_cache
    assert len(server.requests) == 2
    assert client.cache_hits == 0
    assert result.content == changed.model
    assert len(ResponseCache(tmp_path)) == 2


def test_cache_misses_on_different_message(server, tmp_path):
    server.responder = lambda body: Reply(content=message_text(body))
    config = make_config(server.url, cache_dir=tmp_path)
    VLMClient(config).complete(make_request(config, "one"))
    result = VLMClient(config).complete(make_request(config, "two"))
    assert result.content == "two" and not result.from_cache
    assert len(server.requests) == 2


def test_failed_answers_are_not_cached(server, tmp_path):
    server.responder = lambda body: Reply(status=500)
    config = make_config(server.url, cache_dir=tmp_path, max_retries=0)
    failed = VLMClient(config).complete(make_request(config))
    assert failed.error_type == "server_error"
    assert len(ResponseCache(tmp_path)) == 0

    server.responder = answer("second run")
    config = make_config(server.url, cache_dir=tmp_path)
    result = VLMClient(config).complete(make_request(config))
    assert len(server.requests) == 2  # the failure, then the new run asking again
    assert result.content == "second run" and not result.from_cache


def test_empty_answers_are_not_cached(server, tmp_path):
    server.responder = answer("")
    config = make_config(server.url, cache_dir=tmp_path, max_retries=0)
    client = VLMClient(config)
    assert client.complete(make_request(config)).error_type == "empty_answer"
    assert client.complete(make_request(config)).error_type == "empty_answer"
    assert len(server.requests) == 2
    assert len(ResponseCache(tmp_path)) == 0


@pytest.mark.parametrize("garbage", [b"{half a json", b"", b"\xff\xfe", b"[1, 2]", b'{"k": 1}'])
def test_corrupted_cache_entry_is_a_miss(server, tmp_path, garbage):
    server.responder = answer("fresh")
    config = make_config(server.url, cache_dir=tmp_path)
    VLMClient(config).complete(make_request(config))
    (entry,) = tmp_path.glob("*/*.json")
    entry.write_bytes(garbage)

    client = VLMClient(config)
    result = client.complete(make_request(config))
    assert result.ok and result.content == "fresh" and not result.from_cache
    assert len(server.requests) == 2 and client.cache_hits == 0
    assert VLMClient(config).complete(make_request(config)).from_cache  # entry rewritten
    assert len(server.requests) == 2


@pytest.mark.parametrize("content", [None, 5, "", ["a"]])
def test_cache_entry_without_answer_text_is_a_miss(tmp_path, content):
    cache = ResponseCache(tmp_path)
    key = request_key({"model": "m", "messages": []})
    cache.put(key, "m", "real answer")
    (entry,) = tmp_path.glob("*/*.json")
    entry.write_text(json.dumps({"key": key, "model": "m", "content": content}))
    assert cache.get(key) is None


def test_cache_round_trip_and_missing_key(tmp_path):
    cache = ResponseCache(tmp_path / "nested" / "cache")
    assert len(cache) == 0
    key = request_key({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert cache.get(key) is None
    cache.put(key, "m", "answer ✓")
    assert cache.get(key) == "answer ✓"
    assert len(cache) == 1
    assert not list((tmp_path / "nested" / "cache").glob("*/*.tmp"))


def test_request_key_ignores_dict_order_but_not_values():
    a = {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.0}
    b = {"temperature": 0.0, "messages": [{"content": "x", "role": "user"}], "model": "m"}
    assert request_key(a) == request_key(b)
    assert request_key(a) != request_key({**a, "temperature": 0.1})


def test_use_cache_false_always_sends(server, tmp_path):
    server.responder = answer("live")
    config = make_config(server.url, cache_dir=tmp_path, use_cache=False)
    client = VLMClient(config)
    results = [client.complete(make_request(config)) for _ in range(3)]
    assert all(r.ok and not r.from_cache for r in results)
    assert len(server.requests) == 3 and client.requests_sent == 3
    assert client.cache is None
    assert not list(tmp_path.rglob("*.json"))


def test_unwritable_cache_does_not_lose_the_answer(server, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    server.responder = answer("keep me")
    config = make_config(server.url, cache_dir=blocker)
    result = VLMClient(config).complete(make_request(config))
    assert result.ok and result.content == "keep me"


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KEYSCAFFOLD_CACHE", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("KEYSCAFFOLD_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "keyscaffold" / "vlm"


# ---- complete_many ----------------------------------------------------------------------------


def test_complete_many_keeps_order_and_bounds_concurrency(server):
    lock = threading.Lock()
    in_flight = {"now": 0, "peak": 0}

    def responder(body: dict) -> Reply:
        with lock:
            in_flight["now"] += 1
            in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
        index = int(message_text(body).split("-")[1])
        time.sleep(0.03 + 0.01 * (8 - index))  # early requests finish last
        with lock:
            in_flight["now"] -= 1
        return Reply(content=f"echo {message_text(body)}")

    server.responder = responder
    config = make_config(server.url, concurrency=3)
    requests = [make_request(config, f"msg-{i}", custom_id=f"id-{i}") for i in range(8)]
    results = VLMClient(config).complete_many(requests, show_progress=False)
    assert [r.custom_id for r in results] == [f"id-{i}" for i in range(8)]
    assert [r.content for r in results] == [f"echo msg-{i}" for i in range(8)]
    assert len(server.requests) == 8
    assert in_flight["peak"] == 3


def test_complete_many_mixes_failures_and_cache_hits(server, tmp_path):
    def responder(body: dict) -> Reply:
        text = message_text(body)
        return Reply(status=400) if text == "bad" else Reply(content=text.upper())

    server.responder = responder
    config = make_config(server.url, cache_dir=tmp_path, concurrency=3)
    VLMClient(config).complete(make_request(config, "warm"))
    client = VLMClient(config)
    texts = ["a", "bad", "warm", "b"]
    requests = [make_request(config, t, custom_id=t) for t in texts]
    results = client.complete_many(requests, show_progress=False)
    assert [r.custom_id for r in results] == texts
    assert [r.content for r in results] == ["A", None, "WARM", "B"]
    assert results[1].error_type == "http_error"
    assert results[2].from_cache
    assert client.cache_hits == 1 and client.requests_sent == 3


def test_complete_many_of_nothing_is_empty():
    config = make_config("http://127.0.0.1:9/v1")
    assert VLMClient(config).complete_many([], show_progress=False) == []


# ---- API key ----------------------------------------------------------------------------------


def test_api_key_is_read_from_named_variable(monkeypatch):
    monkeypatch.setenv("KS_VLM_KEY", "sk-secret")
    assert resolve_api_key(VLMConfig(api_key_env="KS_VLM_KEY")) == "sk-secret"


@pytest.mark.parametrize("base_url", ["https://api.openai.com/v1", "https://api.openai.com/v1/"])
def test_missing_key_for_openai_raises_naming_variable(monkeypatch, base_url):
    monkeypatch.delenv("KS_VLM_KEY", raising=False)
    with pytest.raises(ValueError, match="KS_VLM_KEY"):
        resolve_api_key(VLMConfig(base_url=base_url, api_key_env="KS_VLM_KEY"))


def test_missing_key_for_local_server_gives_placeholder(monkeypatch):
    monkeypatch.delenv("KS_VLM_KEY", raising=False)
    key = resolve_api_key(VLMConfig(base_url="http://localhost:8000/v1", api_key_env="KS_VLM_KEY"))
    assert isinstance(key, str) and key


# ---- Batch files ------------------------------------------------------------------------------


def batch_requests(n: int = 3) -> list[ChatRequest]:
    config = VLMConfig(model="gpt-4o", temperature=0.0, max_tokens=32)
    return [make_request(config, f"question {i}", custom_id=f"req-{i}") for i in range(n)]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_batch_input_lines_round_trip(tmp_path):
    requests = batch_requests(3)
    lines = batch_input_lines(requests)
    path = write_lines(tmp_path / "input.jsonl", lines)
    assert validate_batch_input(path) == 3
    for request, line in zip(requests, lines):
        item = json.loads(line)
        assert set(item) == {"custom_id", "method", "url", "body"}
        assert item["custom_id"] == request.custom_id
        assert item["method"] == "POST"
        assert item["url"] == BATCH_URL == "/v1/chat/completions"
        assert item["body"] == request.body


def test_batch_input_skips_blank_lines(tmp_path):
    lines = batch_input_lines(batch_requests(2))
    path = write_lines(tmp_path / "input.jsonl", [lines[0], "", "   ", lines[1]])
    assert validate_batch_input(path) == 2


def test_batch_input_rejects_duplicate_ids():
    request = batch_requests(1)[0]
    with pytest.raises(BatchFormatError, match="unique"):
        batch_input_lines([request, ChatRequest(request.custom_id, request.body)])


def _valid_item() -> dict:
    return json.loads(batch_input_lines(batch_requests(1))[0])


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("{not json", "not JSON"),
        (json.dumps({k: v for k, v in _valid_item().items() if k != "method"}), "fields"),
        (json.dumps({**_valid_item(), "extra": 1}), "fields"),
        (json.dumps([1, 2]), "fields"),
        (json.dumps({**_valid_item(), "url": "/v1/embeddings"}), "url"),
        (json.dumps({**_valid_item(), "method": "GET"}), "POST"),
        (json.dumps({**_valid_item(), "body": {"messages": []}}), "model"),
        (json.dumps({**_valid_item(), "body": "text"}), "model"),
    ],
    ids=[
        "not_json",
        "missing_field",
        "extra_field",
        "not_object",
        "wrong_url",
        "wrong_method",
        "body_without_model",
        "body_not_object",
    ],
)
def test_validate_batch_input_rejects_bad_line(tmp_path, line, match):
    good = batch_input_lines(batch_requests(1))[0]
    path = write_lines(tmp_path / "input.jsonl", [good, line])
    with pytest.raises(BatchFormatError, match=match) as caught:
        validate_batch_input(path)
    assert ":2:" in str(caught.value)  # names the offending line


def test_validate_batch_input_rejects_duplicate_ids_in_file(tmp_path):
    line = batch_input_lines(batch_requests(1))[0]
    path = write_lines(tmp_path / "input.jsonl", [line, line])
    with pytest.raises(BatchFormatError, match="duplicate"):
        validate_batch_input(path)


def test_read_batch_output_returns_contents_in_file_order(tmp_path):
    lines = [batch_output_line(f"req-{i}", f"answer {i}", model="gpt-4o") for i in (2, 0, 1)]
    results = read_batch_output(write_lines(tmp_path / "output.jsonl", lines + [""]))
    assert [r.custom_id for r in results] == ["req-2", "req-0", "req-1"]
    assert [r.content for r in results] == ["answer 2", "answer 0", "answer 1"]
    assert all(r.ok and r.attempts == 0 and not r.from_cache for r in results)


def _output_item(custom_id: str = "req-0", content: str = "x") -> dict:
    return json.loads(batch_output_line(custom_id, content))


@pytest.mark.parametrize(
    ("item", "error_type"),
    [
        ({**_output_item(), "error": {"message": "expired"}}, "batch_error"),
        (
            {**_output_item(), "response": {"status_code": 500, "body": {"error": {}}}},
            "server_error",
        ),
        (
            {**_output_item(), "response": {"status_code": 429, "body": {"error": {}}}},
            "rate_limited",
        ),
        ({**_output_item(), "response": {"status_code": 400, "body": {}}}, "http_error"),
        ({**_output_item(), "response": {"status_code": 200, "body": {"id": "x"}}}, "bad_response"),
        ({**_output_item(), "response": None}, "bad_response"),
        (_output_item(content=""), "empty_answer"),
    ],
    ids=["error", "status_500", "status_429", "status_400", "no_choices", "no_response", "empty"],
)
def test_read_batch_output_types_failures(tmp_path, item, error_type):
    path = write_lines(
        tmp_path / "output.jsonl", [batch_output_line("ok", "fine"), json.dumps(item)]
    )
    good, bad = read_batch_output(path)
    assert good.ok and good.content == "fine"
    assert bad.custom_id == "req-0"
    assert bad.error_type == error_type
    assert bad.content is None


def test_read_batch_output_keeps_error_message(tmp_path):
    item = {**_output_item(), "error": {"message": "batch expired"}}
    item_500 = {
        **_output_item("req-1"),
        "response": {"status_code": 503, "body": {"error": {"message": "overloaded"}}},
    }
    path = write_lines(tmp_path / "output.jsonl", [json.dumps(item), json.dumps(item_500)])
    expired, overloaded = read_batch_output(path)
    assert expired.error_message == "batch expired"
    assert "503" in overloaded.error_message and "overloaded" in overloaded.error_message


@pytest.mark.parametrize(
    "line",
    [json.dumps({"response": {"status_code": 200}}), "{not json", json.dumps(["req-0"])],
    ids=["no_custom_id", "not_json", "not_object"],
)
def test_read_batch_output_rejects_bad_line(tmp_path, line):
    path = write_lines(tmp_path / "output.jsonl", [batch_output_line("ok", "fine"), line])
    with pytest.raises(BatchFormatError, match=":2:"):
        read_batch_output(path)


def test_read_batch_output_types_error_status_with_string_error(tmp_path):
    item = {**_output_item(), "response": {"status_code": 500, "body": {"error": "overloaded"}}}
    (result,) = read_batch_output(write_lines(tmp_path / "output.jsonl", [json.dumps(item)]))
    assert result.error_type == "server_error"
    assert "overloaded" in result.error_message


@pytest.mark.parametrize(
    "response",
    ["oops", {"status_code": None}, {"status_code": "500"}],
    ids=["response_not_object", "status_null", "status_string"],
)
def test_read_batch_output_types_malformed_response(tmp_path, response):
    item = {**_output_item(), "response": response}
    (result,) = read_batch_output(write_lines(tmp_path / "output.jsonl", [json.dumps(item)]))
    assert result.custom_id == "req-0"
    assert result.error_type == "bad_response"
    assert result.content is None
