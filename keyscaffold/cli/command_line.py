"""The one way to write a parsed verb back as the command line that repeats it (recorded in
``benchmark.json``, ``iker.json`` and ``library.json``)."""

from __future__ import annotations

import shlex
from dataclasses import fields, is_dataclass

POSITIONAL = ("task",)
"""Settings the parser reads by position, not by flag."""


def command_line(verb: str, command: object, leave_out: tuple[str, ...] = ()) -> str:
    """The ``keyscaffold`` command that repeats ``command``, every setting spelled out.

    Args:
        verb: The subcommand (``benchmark``, ``iker``, ``skills``).
        command: The verb's parsed settings, a dataclass of ``cli/arguments.py``.
        leave_out: Settings, or groups of settings (``vlm``), not to write.

    Returns:
        ``keyscaffold VERB TASK --name value ...`` in the fields' order: the fields of a group
        of settings (``vlm``, ``planner_flags``) without a prefix, as the parser reads them, a
        ``bool`` setting as ``--name`` or ``--no-name``, a tuple as ``--name a b``; a setting that
        is None or an empty tuple is left out. Values the shell would split are quoted.
    """
    positional = [str(getattr(command, name)) for name in POSITIONAL if hasattr(command, name)]
    positional = [text for text in positional if text]  # left out (--scene FILE names the task)
    return shlex.join(["keyscaffold", verb, *positional, *_flags(command, leave_out)])


def _flags(settings: object, leave_out: tuple[str, ...]) -> list[str]:
    """The flags of the dataclass ``settings``, groups flattened."""
    parts: list[str] = []
    for item in fields(settings):
        value = getattr(settings, item.name)
        if item.name in POSITIONAL or item.name in leave_out or value is None or value == ():
            continue
        if is_dataclass(value):
            parts += _flags(value, leave_out)
            continue
        name = item.name.rstrip("_").replace("_", "-")  # from_ -> --from, set_ -> --set
        if isinstance(item.default, bool):  # tyro makes a --name / --no-name pair
            parts.append(f"--{name}" if value else f"--no-{name}")
        elif isinstance(value, tuple):
            parts += [f"--{name}", *map(_text, value)]
        else:
            parts += [f"--{name}", _text(value)]
    return parts


def _text(value: object) -> str:
    """``value`` as the parser reads it back; a whole float without its ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
