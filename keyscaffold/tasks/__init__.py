"""Task registry; importing this package registers every task."""

from __future__ import annotations

from keyscaffold.tasks import (  # noqa: F401  (each import registers its task)
    book_push,
    book_reorient,
    hammer,
    hammer_three_times,
    hinged_tools,
    move_apple,
    move_bottle,
    open_drawer,
    open_fridge,
    place_bottle_on_plate,
    shoe_place,
    shoe_push,
    shoes_on_rack,
    slide_box_to_bottle,
    wipe_sponge,
)
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    Task,
    add_task_factory,
    make_task,
    register_task,
    remove_task,
    task_names,
)


def scaffold_task_names() -> list[str]:
    """Registered tasks solved by tracking a trajectory scaffold (the dexterous-hand tasks), not
    stage by stage in IKER mode (``Task.modes``)."""
    return [name for name in task_names() if "scaffold" in make_task(name).modes]


__all__ = [
    "InitialState",
    "KeypointSpec",
    "OracleWaypoints",
    "Task",
    "add_task_factory",
    "make_task",
    "register_task",
    "remove_task",
    "scaffold_task_names",
    "task_names",
]
