"""Task registry; importing this package registers every task."""

from __future__ import annotations

from keyscaffold.tasks import (  # noqa: F401  (each import registers its task)
    book_push,
    book_reorient,
    hammer,
    hinged_tools,
    move_apple,
    move_bottle,
    open_drawer,
    open_fridge,
    shoe_place,
    shoe_push,
    shoes_on_rack,
    wipe_sponge,
)
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
