"""What the digital-twin tasks share: the table.

The twins model a tabletop cell: a 7-DoF iiwa 14-like arm carrying the 16-DoF hand, a table whose
top is at ``TABLE_Z``, two objects and a camera facing the arm across the table. The arm's base
stands on its own pedestal behind the table's back edge, at the table's height, where
``tasks/placement.py`` places it for each task (``Task.place_arm``): it reaches every pose of the
task's oracle plans with room for the policy's residual (``tests/tasks/test_twin_tasks.py``
checks 20 states).
"""

from __future__ import annotations

from keyscaffold.sim.objects import COUNTER_TOP_Z, SceneObject, room

TABLE_Z = COUNTER_TOP_Z
"""Height of the table's top (m)."""
TABLE_CENTER = (0.5, 0.0)
TABLE_HALF = (0.4, 0.6)
"""The table's top spans x 0.1..0.9 m and y -0.6..0.6 m."""


def table() -> SceneObject:
    """The twins' table (the counter fixture at the table's size)."""
    return room.counter(TABLE_CENTER, TABLE_HALF)
