"""What the digital-twin tasks share: the table, the iiwa arm with the hand placed per task, and
the wrist poses a task's oracle plan asks the arm to reach.

The twins model a tabletop cell: a 7-DoF iiwa 14-like arm carrying the 16-DoF hand, a table whose
top is at ``TABLE_Z``, two objects and a camera facing the arm across the table. The arm's base
stands on its own pedestal behind the table's back edge, at the table's height; each task sets
its base where the arm reaches every pose of its oracle plans with room for the policy's
residual (``tests/tasks/test_twin_tasks.py`` checks 20 states).
"""

from __future__ import annotations

import numpy as np

from keyscaffold.sim.embodiments.arm import ArmEmbodiment
from keyscaffold.sim.embodiments.arm_spec import IIWA14
from keyscaffold.sim.embodiments.hand import FloatingHand
from keyscaffold.sim.objects import COUNTER_TOP_Z, SceneObject, room
from keyscaffold.tasks.base import InitialState, Task

TABLE_Z = COUNTER_TOP_Z
"""Height of the table's top (m)."""
TABLE_CENTER = (0.5, 0.0)
TABLE_HALF = (0.4, 0.6)
"""The table's top spans x 0.1..0.9 m and y -0.6..0.6 m."""


def table() -> SceneObject:
    """The twins' table (the counter fixture at the table's size)."""
    return room.counter(TABLE_CENTER, TABLE_HALF)


def iiwa_hand_at(name: str, base_x: float, base_y: float = 0.0) -> ArmEmbodiment:
    """The iiwa arm with the hand, its base at (``base_x``, ``base_y``) at table height, facing
    +x; named ``name`` so a run's records tell the placement apart from ``iiwa_hand``'s."""
    return ArmEmbodiment(IIWA14, FloatingHand(), base_position=(base_x, base_y, TABLE_Z), name=name)


def oracle_wrist_poses(task: Task, state: InitialState, num_waypoints: int = 20) -> np.ndarray:
    """The start wrist and every wrist waypoint of the task's oracle plan, shape: (N + 1, 6)
    (m, rad)."""
    plan = task.oracle_waypoints(state, num_waypoints)
    orientation = np.broadcast_to(plan.wrist_orientation, plan.wrist.shape)
    poses = np.concatenate([plan.wrist, orientation], axis=1)
    return np.concatenate([np.asarray(state.wrist, dtype=np.float64)[None], poses])
