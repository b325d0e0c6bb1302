"""An earlier commit of this repository checked out beside it, to measure it against head in one
run (``bench_compare.py``, ``behaviour_identity.py``, ``skill_speed.py``)."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterator
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


def alternating_rounds(
    rev: str, rounds: int, measure: Callable[[Path], dict], label: Callable[[dict], str]
) -> dict[str, list[dict]]:
    """``measure`` run ``rounds`` times on ``rev`` (a temporary worktree) and on this checkout,
    alternating base and head so that both see the same machine state; ``label`` says what each
    measurement printed. Returns ``{"base": [...], "head": [...]}``, one result per round."""
    runs: dict[str, list[dict]] = {"base": [], "head": []}
    with checked_out(rev) as worktree:
        for round_ in range(rounds):
            for name, source in (("base", worktree), ("head", ROOT)):
                runs[name].append(measure(source))
                print(f"round {round_ + 1}/{rounds} {name}: {label(runs[name][-1])}", flush=True)
    return runs
