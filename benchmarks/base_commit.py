"""An earlier commit of this repository checked out beside it, to measure it against head in one
run (``bench_compare.py``, ``behaviour_identity.py``)."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def short_commit(rev: str) -> str:
    """The short hash of ``rev``."""
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@contextmanager
def checked_out(rev: str) -> Iterator[Path]:
    """A temporary git worktree of ``rev`` (removed afterwards); run its package with
    ``PYTHONPATH`` set to the yielded folder."""
    with tempfile.TemporaryDirectory() as folder:
        worktree = Path(folder) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), rev],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            yield worktree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT)
