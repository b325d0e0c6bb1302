"""Small utilities every layer may import (files on disk); this module imports nothing of the
package."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def atomic_write(path: Path, write: Callable[[IO], None], mode: str = "w") -> None:
    """Write a file so that readers see the old content or the new one, never a partial one.

    Args:
        path: The file; its folder is created if missing.
        write: Writes the content to the open temporary file it is given.
        mode: ``"w"`` for text, ``"wb"`` for bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file atomically (see ``atomic_write``)."""
    atomic_write(path, lambda handle: handle.write(text))


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Fill a folder so that it appears complete or not at all.

    Yields a temporary folder beside ``path`` to write into; on success it is renamed to
    ``path``, on any error it is removed. When ``path`` appeared meanwhile (another process
    filled it first), that one is kept and the temporary folder removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        try:
            os.rename(tmp, path)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


NOT_IN_PATHS = '<>:"/\\|?*'
"""Characters a file or folder name may not hold on Windows (``/`` on no system)."""
_PATH_SAFE = str.maketrans({c: "-" for c in NOT_IN_PATHS} | {chr(i): "-" for i in range(32)})


def path_part(name: str) -> str:
    """``name`` (a task name, a plan id) as one file or folder name that Linux, macOS and Windows
    all accept: each of ``NOT_IN_PATHS`` and each control character becomes ``-`` (``scene:mug``
    -> ``scene-mug``), and trailing dots and spaces, which Windows drops, go. Names without them,
    every built-in task's and ``move_apple@iiwa_hand`` among them, are kept as they are; only
    paths change, never the name written inside files.

    Raises:
        ValueError: When nothing usable is left (an empty name, ``.`` or ``..``).
    """
    part = name.translate(_PATH_SAFE).rstrip(". ")
    if not part:
        raise ValueError(f"{name!r} cannot name a file or folder")
    return part
