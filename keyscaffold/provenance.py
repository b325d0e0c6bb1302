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
