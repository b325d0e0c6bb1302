"""On-disk answer cache keyed by a hash of (model, messages, parameters).

One JSON file per answer under ``<root>/<key[:2]>/<key>.json``; writes are atomic, so an interrupted
run never leaves a half-written entry. Only successful answers are cached: a failed request is
asked again next time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from keyscaffold.util import atomic_write


def request_key(body: dict) -> str:
    """SHA-256 of a request body in canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    """``$KEYSCAFFOLD_CACHE``, else ``$XDG_CACHE_HOME/keyscaffold/vlm``, else ``~/.cache/...``."""
    if os.environ.get("KEYSCAFFOLD_CACHE"):
        return Path(os.environ["KEYSCAFFOLD_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "keyscaffold" / "vlm"


class ResponseCache:
    """Hash-keyed answers on disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The cached answer text, or None (also for an unreadable entry, which is then ignored)."""
        path = self._path(key)
        try:
            content = json.loads(path.read_text())["content"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return content if isinstance(content, str) and content else None

    def put(self, key: str, model: str, content: str) -> None:
        """Store an answer atomically."""
        path = self._path(key)
        atomic_write(
            path, lambda handle: json.dump({"key": key, "model": model, "content": content}, handle)
        )

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.is_dir() else 0
