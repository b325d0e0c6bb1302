"""Chat completions against any OpenAI-compatible endpoint, with retries, a cache and a bound.

Works with OpenAI, Gemini's OpenAI-compatible endpoint, and local servers (vLLM, Ollama, SGLang):
only ``base_url``, ``model`` and the name of the environment variable holding the key change.
Images travel as ``data:image/png;base64,...`` URLs inside the messages.

A failed request never raises: it comes back as a ``ChatResult`` with an ``error_type``
(``rate_limited``, ``server_error``, ``timeout``, ``connection``, ``http_error``, ``bad_response``,
``empty_answer``) so that one bad answer cannot stop a batch of hundreds.
"""

from __future__ import annotations

import base64
import io
import math
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from keyscaffold.vlm.cache import ResponseCache, default_cache_dir, request_key

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRIED = ("rate_limited", "server_error", "timeout", "connection")


@dataclass(frozen=True)
class VLMConfig:
    """Where the model lives and how to ask it."""

    base_url: str = DEFAULT_BASE_URL
    """OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 for a local vLLM server."""
    model: str = "gpt-4o"
    """Model name as the endpoint knows it."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable that holds the API key (local servers accept any value)."""
    temperature: float = 0.0
    max_tokens: int = 2048
    """Answer length bound (tokens)."""
    timeout_s: float = 120.0
    """Per-request timeout (s)."""
    max_retries: int = 4
    """Retries after a 429, a 5xx, a timeout or a dropped connection."""
    backoff_s: float = 1.0
    """First retry delay (s); doubles each retry (with jitter), capped by max_backoff_s."""
    max_backoff_s: float = 30.0
    concurrency: int = 4
    """Requests in flight at once."""
    cache_dir: Path | None = None
    """Answer cache (default: $KEYSCAFFOLD_CACHE or ~/.cache/keyscaffold/vlm)."""
    use_cache: bool = True
    """Reuse cached answers for identical requests (no request is sent)."""

    def request_body(self, messages: list[dict]) -> dict:
        """Body of a chat-completions request, as sent live and written to Batch files."""
        return {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request with the id that routes its answer back."""

    custom_id: str
    body: dict

    @property
    def key(self) -> str:
        """Cache key: hash of (model, messages, parameters)."""
        return request_key(self.body)


@dataclass(frozen=True)
class ChatResult:
    """An answer or a typed failure.

    Attributes:
        custom_id: The request's id.
        content: Answer text; None on failure.
        error_type: None on success, else one of the types in the module docstring.
        error_message: What went wrong, in words.
        from_cache: The answer came from the cache; no request was sent.
        attempts: Requests sent (0 for a cache hit or an imported answer).
        seconds: Wall time spent.
    """

    custom_id: str
    content: str | None
    error_type: str | None = None
    error_message: str = ""
    from_cache: bool = False
    attempts: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def to_json(self) -> dict:
        return {
            "custom_id": self.custom_id,
            "content": self.content,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "from_cache": self.from_cache,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
        }


def image_data_url(rgb: np.ndarray) -> str:
    """PNG data URL of an RGB image, shape: (H, W, 3), uint8."""
    import imageio.v3 as iio

    buffer = io.BytesIO()
    iio.imwrite(buffer, np.asarray(rgb, dtype=np.uint8), extension=".png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def resolve_api_key(config: VLMConfig) -> str:
    """The key from ``config.api_key_env``; local endpoints may run without one."""
    key = os.environ.get(config.api_key_env, "")
    if key:
        return key
    if config.base_url.rstrip("/") == DEFAULT_BASE_URL:
        raise ValueError(
            f"environment variable {config.api_key_env} is not set; export it with your API key, "
            "or pass --api-key-env NAME to read the key from another variable"
        )
    return "not-needed"


class VLMClient:
    """Sends chat requests with retries and a concurrency bound, answering from the cache first."""

    def __init__(self, config: VLMConfig) -> None:
        from openai import OpenAI

        if config.concurrency < 1 or config.max_retries < 0 or config.timeout_s <= 0:
            raise ValueError("concurrency must be >= 1, max_retries >= 0 and timeout_s > 0")
        self.config = config
        self.cache = (
            ResponseCache(config.cache_dir or default_cache_dir()) if config.use_cache else None
        )
        self._client = OpenAI(
            base_url=config.base_url,
            api_key=resolve_api_key(config),
            timeout=config.timeout_s,
            max_retries=0,
        )
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.cache_hits = 0

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.config.max_backoff_s)
        base = self.config.backoff_s * (2**attempt)
        return min(base * (0.5 + random.random() / 2), self.config.max_backoff_s)

    def _send(self, body: dict) -> tuple[str | None, str | None, str, float | None]:
        """One request: (content, error_type, message, retry_after)."""
        import openai

        with self._lock:
            self.requests_sent += 1
        try:
            response = self._client.chat.completions.create(**body)
        except openai.RateLimitError as error:
            return None, "rate_limited", str(error), _retry_after(error)
        except openai.APITimeoutError as error:
            return None, "timeout", f"no answer within {self.config.timeout_s} s ({error})", None
        except openai.APIConnectionError as error:
            return None, "connection", str(error), None
        except openai.APIStatusError as error:
            kind = "server_error" if error.status_code >= 500 else "http_error"
            return None, kind, f"HTTP {error.status_code}: {error}", None
        except Exception as error:  # a malformed response body from a non-conforming server
            return None, "bad_response", f"{type(error).__name__}: {error}", None
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as error:
            return None, "bad_response", f"response without choices[0].message: {error}", None
        if not content:
            return None, "empty_answer", "the model returned an empty message", None
        return content, None, "", None

    def complete(self, request: ChatRequest) -> ChatResult:
        """Answer one request: cache, else the endpoint with retries on transient failures."""
        start = time.perf_counter()
        key = request.key
        if self.cache is not None and (cached := self.cache.get(key)) is not None:
            with self._lock:
                self.cache_hits += 1
            return ChatResult(request.custom_id, cached, from_cache=True)
        attempts, error_type, message = 0, None, ""
        for attempt in range(self.config.max_retries + 1):
            attempts += 1
            content, error_type, message, retry_after = self._send(request.body)
            if error_type is None:
                if self.cache is not None:
                    try:
                        self.cache.put(key, str(request.body.get("model", "")), content)
                    except OSError:
                        pass  # a full or read-only cache must not cost the answer
                return ChatResult(
                    request.custom_id,
                    content,
                    attempts=attempts,
                    seconds=time.perf_counter() - start,
                )
            if error_type not in RETRIED or attempt == self.config.max_retries:
                break
            time.sleep(self._delay(attempt, retry_after))
        return ChatResult(
            request.custom_id,
            None,
            error_type,
            message,
            attempts=attempts,
            seconds=time.perf_counter() - start,
        )

    def complete_many(
        self, requests: list[ChatRequest], show_progress: bool = True, label: str = "VLM"
    ) -> list[ChatResult]:
        """Answer requests with at most ``concurrency`` in flight; results keep the input order."""
        if not requests:
            return []
        results: list[ChatResult | None] = [None] * len(requests)
        with (
            Progress(disable=not show_progress) as progress,
            ThreadPoolExecutor(max_workers=self.config.concurrency) as pool,
        ):
            bar = progress.add_task(label, total=len(requests))
            futures = {pool.submit(self.complete, r): i for i, r in enumerate(requests)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress.advance(bar)
        return [r for r in results if r is not None]


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None
