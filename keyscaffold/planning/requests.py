"""The client path every planner shares: how a work folder's requests reach a model and come back.

A planner's work folder (a ``stages.StageWork``) says which requests are pending and records what
comes back; this module moves them, one of two ways, with the same results for the same answers:

- **live**: ``run_live`` sends the pending requests with a ``VLMClient`` (answer cache first,
  retries, a concurrency bound), records the answers and repeats until nothing is pending or the
  passes run out;
- **Batch**: ``export_batch`` writes the pending requests as an OpenAI Batch input file and
  ``import_batch`` records a Batch output file, after which the next export asks for the next stage.

It also owns what a request looks like on its way: ``with_repairs`` continues the conversation
with each unusable answer and ``repair_message`` (why it was unusable), and ``request_record`` is
the copy kept in the record, with images replaced by ``redact_images``.

Works on anything with ``pending_requests()``, ``record(results)``, ``summary()``, ``route(id)``
and ``live_passes()``, which ``StageWork`` provides.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from keyscaffold.util import atomic_write_text
from keyscaffold.vlm.batch import batch_input_lines, read_batch_output
from keyscaffold.vlm.client import ChatRequest, ChatResult, VLMConfig


class ModelParameters:
    """Mixin of a planner's settings dataclass with ``model``, ``temperature`` and ``max_tokens``:
    the chat request body every planner sends."""

    model: str
    temperature: float
    max_tokens: int

    def request_body(self, messages: list[dict]) -> dict:
        """A chat request body with these settings' model parameters."""
        config = VLMConfig(
            model=self.model, temperature=self.temperature, max_tokens=self.max_tokens
        )
        return config.request_body(messages)


class Work(Protocol):
    """What the client path needs of a work folder (``stages.StageWork`` has it)."""

    def pending_requests(self) -> list[ChatRequest]: ...

    def record(self, results: list[ChatResult]) -> dict: ...

    def summary(self) -> dict: ...

    def route(self, custom_id: str) -> tuple[int, str] | None: ...

    def live_passes(self) -> int: ...


class Client(Protocol):
    """What ``run_live`` needs of a client (``VLMClient`` has it)."""

    def complete_many(
        self, requests: list[ChatRequest], show_progress: bool = True
    ) -> list[ChatResult]: ...


def redact_images(body: dict) -> dict:
    """A copy of a request body with image data URLs replaced by their size and hash (for records)."""

    def walk(value):
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and value.startswith("data:image/"):
            digest = hashlib.sha256(value.encode()).hexdigest()[:16]
            return f"<image data URL: {len(value)} characters, sha256 {digest}; see rgb.png>"
        return value

    return walk(body)


def request_record(request: ChatRequest) -> dict:
    """What a record keeps of a request: its id, its cache key and its body without images."""
    return {
        "custom_id": request.custom_id,
        "key": request.key,
        "body": redact_images(request.body),
    }


def repair_message(reason: str) -> str:
    """The follow-up that quotes an unusable answer's problem back to the model."""
    return (
        f"That answer could not be used: {reason}. Please answer the same question again, "
        "in exactly the format asked for."
    )


def with_repairs(request: ChatRequest, repairs: list[dict]) -> ChatRequest:
    """The request continued by each unusable answer (``answer``) and why (``message``)."""
    if not repairs:
        return request
    messages = list(request.body["messages"])
    for repair in repairs:
        messages.append({"role": "assistant", "content": repair["answer"]})
        messages.append({"role": "user", "content": repair_message(repair["message"])})
    return ChatRequest(request.custom_id, {**request.body, "messages": messages})


def run_live(work: Work, client: Client, show_progress: bool = True, passes: int | None = None):
    """Ask the model for every pending stage (at most ``passes`` rounds, by default
    ``work.live_passes()``: one per stage and allowed repair); returns the summary.

    States whose request failed (429s past the retries, 5xx, timeouts) stay pending, so running
    again asks only for what is missing.
    """
    for _ in range(passes or work.live_passes()):
        requests = work.pending_requests()
        if not requests:
            break
        work.record(client.complete_many(requests, show_progress=show_progress))
    work.pending_requests()  # finish stages that need no model
    return work.summary()


def export_batch(work: Work, out: Path) -> dict:
    """Write the pending requests to ``out`` as an OpenAI Batch input file (none: no file).

    Returns:
        ``requests``: how many were written; ``stages``: the stages they ask for, sorted.
    """
    requests = work.pending_requests()
    lines = batch_input_lines(requests)
    if requests:
        atomic_write_text(Path(out), "\n".join(lines) + "\n")
    stages = sorted({route[1] for r in requests if (route := work.route(r.custom_id))})
    return {"requests": len(requests), "stages": stages}


def import_batch(work: Work, answers: Path) -> dict:
    """Record a Batch output file's answers, then do the stages that need no model.

    Returns:
        Counts of answers ``recorded``, ``ignored`` (not pending, or not this folder's) and
        ``request_failures``.
    """
    counts = work.record(read_batch_output(Path(answers)))
    work.pending_requests()  # stages that need no model
    return counts
