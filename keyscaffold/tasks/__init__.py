"""Task registry; importing this package registers every task."""

from __future__ import annotations

from keyscaffold.tasks import move_apple  # noqa: F401  (registers the task)
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    Task,
    make_task,
    register_task,
    task_names,
)

__all__ = [
    "InitialState",
    "KeypointSpec",
    "OracleWaypoints",
    "Task",
    "make_task",
    "register_task",
    "task_names",
]
