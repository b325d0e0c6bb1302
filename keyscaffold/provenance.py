"""Where a result came from: commit, date and machine, recorded beside every reported number."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path


def git_commit(folder: Path | None = None) -> str:
    """Short commit of the checkout holding ``folder`` (this package by default), or ``unknown``."""
    folder = folder or Path(__file__).resolve().parent
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=folder,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance() -> dict:
    """Commit, date and machine of a measurement."""
    return {
        "commit": git_commit(),
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def keep_earlier(row: dict, previous: dict | None) -> dict:
    """``row`` replacing ``previous`` in a results file, with ``previous`` (and the rows it had
    replaced) kept under ``earlier``, newest first, so a new measurement loses no old one."""
    if previous is None:
        return row
    previous = dict(previous)
    older = previous.pop("earlier", [])
    row["earlier"] = [previous, *(older if isinstance(older, list) else [older])]
    return row


def keep_in_list(entries: list[dict], result: dict) -> list[dict]:
    """``entries`` of a results file that lists one entry per command, with ``result`` replacing
    the entry of its own command (kept under its ``earlier``) or added at the end."""
    same = next((e for e in entries if e.get("command") == result["command"]), None)
    return [e for e in entries if e is not same] + [keep_earlier(result, same)]
