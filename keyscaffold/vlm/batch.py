"""OpenAI Batch API files: write request JSONL, read answer JSONL.

Input lines: ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``.
Output lines: ``{"custom_id", "response": {"status_code", "body": {"choices": [...]}}, "error"}``.
The same files work with a hosted Batch endpoint and with answers produced any other way.
"""

from __future__ import annotations

import json
from pathlib import Path

from keyscaffold.vlm.client import ChatRequest, ChatResult

BATCH_URL = "/v1/chat/completions"
INPUT_FIELDS = ("custom_id", "method", "url", "body")


class BatchFormatError(ValueError):
    """A Batch file that does not follow the format, with the line that broke it."""


def batch_input_lines(requests: list[ChatRequest]) -> list[str]:
    """One JSON object per request, in Batch input form."""
    ids = [r.custom_id for r in requests]
    if len(set(ids)) != len(ids):
        raise BatchFormatError("custom_id values in one Batch file must be unique")
    return [
        json.dumps({"custom_id": r.custom_id, "method": "POST", "url": BATCH_URL, "body": r.body})
        for r in requests
    ]


def _json_lines(path: Path):
    """(line number, parsed object) of every non-blank line of a JSONL file."""
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            raise BatchFormatError(f"{path}:{number}: not JSON ({error})") from error


def validate_batch_input(path: Path) -> int:
    """Check a Batch input file line by line; returns the number of requests."""
    count, seen = 0, set()
    for number, item in _json_lines(path):
        if not isinstance(item, dict) or set(item) != set(INPUT_FIELDS):
            raise BatchFormatError(f"{path}:{number}: needs exactly the fields {INPUT_FIELDS}")
        if item["method"] != "POST" or item["url"] != BATCH_URL:
            raise BatchFormatError(f"{path}:{number}: method must be POST and url {BATCH_URL}")
        body = item["body"]
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            raise BatchFormatError(f"{path}:{number}: body needs model and messages")
        if item["custom_id"] in seen:
            raise BatchFormatError(f"{path}:{number}: duplicate custom_id {item['custom_id']!r}")
        seen.add(item["custom_id"])
        count += 1
    return count


def _result_from_line(item: dict) -> ChatResult:
    custom_id = str(item["custom_id"])
    error = item.get("error")
    if error:
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        return ChatResult(custom_id, None, "batch_error", message)
    response = item.get("response") or {}
    if not isinstance(response, dict):
        return ChatResult(custom_id, None, "bad_response", "response must be an object")
    status = response.get("status_code", 200)
    if isinstance(status, bool) or not isinstance(status, int):
        return ChatResult(custom_id, None, "bad_response", f"status_code {status!r} is no number")
    body = response.get("body") or {}
    if status != 200:
        error_body = body.get("error", "") if isinstance(body, dict) else body
        detail = error_body.get("message", "") if isinstance(error_body, dict) else str(error_body)
        kind = "server_error" if status >= 500 else "http_error"
        if status == 429:
            kind = "rate_limited"
        return ChatResult(custom_id, None, kind, f"HTTP {status}: {detail}")
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ChatResult(custom_id, None, "bad_response", "no choices[0].message.content")
    if not content:
        return ChatResult(custom_id, None, "empty_answer", "the model returned an empty message")
    return ChatResult(custom_id, str(content))


def read_batch_output(path: Path) -> list[ChatResult]:
    """Answers of a Batch output file, one ``ChatResult`` per line (failures typed)."""
    results = []
    for number, item in _json_lines(path):
        if not isinstance(item, dict) or "custom_id" not in item:
            raise BatchFormatError(f"{path}:{number}: every line needs a custom_id")
        results.append(_result_from_line(item))
    return results


def batch_output_line(custom_id: str, content: str, model: str = "") -> str:
    """One Batch output line carrying ``content`` (for answers produced outside a Batch job)."""
    body = {
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    return json.dumps(
        {
            "id": f"batch_req_{custom_id}",
            "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": custom_id, "body": body},
            "error": None,
        }
    )
