"""A local OpenAI-compatible chat-completions server that answers from a table, to test against.

``FakeVLMServer(responder)`` serves ``POST /v1/chat/completions`` on 127.0.0.1; ``responder(body)``
returns a ``Reply``: answer text, an HTTP error status, or a delay before answering. Every request
body is recorded in ``server.requests`` so a test can count what reached the server. Point any
client at it with ``VLMConfig(base_url=server.url)``: the planner then goes through a real HTTP
round trip without a network or a model, e.g. with the answers of
``keyscaffold.planning.truth_answers.AnswerBook``::

    with FakeVLMServer(lambda body: Reply(content=book.answer(body))) as server:
        make_plans(task, 20, "train", 0, 20, out, "vlm", VLMConfig(base_url=server.url))
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """What the server does with one request."""

    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    retry_after: float | None = None


def completion(content: str, model: str) -> dict:
    """The chat-completions response body that answers ``content`` as ``model``."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class FakeVLMServer:
    """Threaded HTTP server on 127.0.0.1 with a free port; use as a context manager."""

    def __init__(self, responder: Callable[[dict], Reply]) -> None:
        self.responder = responder
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the caller's output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = server.responder(body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status != 200:
                    headers = {}
                    if reply.retry_after is not None:
                        headers["Retry-After"] = str(reply.retry_after)
                    self._send(reply.status, {"error": {"message": "test error"}}, headers)
                    return
                self._send(200, completion(reply.content, body.get("model", "")))

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timed out)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeVLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
