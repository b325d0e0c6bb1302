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


def scaffold_task_names() -> list[str]:
    """Registered tasks solved by tracking a trajectory scaffold (the dexterous-hand tasks), not
    stage by stage in IKER mode (IKER tasks are those with an ``oracle_code``)."""
    return [name for name in task_names() if not hasattr(make_task(name), "oracle_code")]


__all__ = [
    "InitialState",
    "KeypointSpec",
    "OracleWaypoints",
    "Task",
    "make_task",
    "register_task",
    "scaffold_task_names",
    "task_names",
]
