"""A 5 cm box on a table: the smallest gripper scene, for tests of the keypoint env on any
gripper embodiment (not registered)."""

from __future__ import annotations

import numpy as np

from keyscaffold.sim.embodiments.gripper import TCP_OFFSET
from keyscaffold.sim.objects import SceneObject
from keyscaffold.tasks.base import InitialState, KeypointSpec, Task

TABLE_TOP = 0.8
BOX_HALF = 0.025
BOX_CENTER = np.array([0.5, 0.0, TABLE_TOP + BOX_HALF])
WORLD = 'contype="1" conaffinity="3"'


class BoxTask(Task):
    """A box on a table, for the floating gripper (not registered).

    Description:
        A 5 cm wooden box stands on a table.

    Randomizations:
        None.

    Success:
        Never (the environment judges its goals itself).
    """

    name = "test_box"
    embodiment = "gripper"
    keypoints = (KeypointSpec("box", "box"),)
    contact_bodies = ("box",)
    workspace_low = (0.0, -0.5, 0.7)
    workspace_high = (1.0, 0.5, 1.4)

    def scene_objects(self) -> list[SceneObject]:
        table = SceneObject(
            "table",
            f'<body name="table" pos="0.5 0 {TABLE_TOP - 0.02}"><geom name="table_top" '
            f'type="box" size="0.4 0.5 0.02" {WORLD}/></body>',
        )
        box = SceneObject(
            "box",
            f'<body name="box" pos="{BOX_CENTER[0]} 0 {BOX_CENTER[2]}">'
            '<freejoint name="box_free"/>'
            f'<geom name="box_geom" type="box" size="{BOX_HALF} {BOX_HALF} {BOX_HALF}" '
            f'mass="0.2" {WORLD}/></body>',
            movable=True,
        )
        return [table, box]

    def sample_initial_state(self, seed: int) -> InitialState:
        return InitialState(seed, self.wrist_above((0.0, 0.0, 0.08)), self.box_at((0.0, 0.0)))

    @staticmethod
    def wrist_above(offset) -> tuple[float, ...]:
        """The wrist pose, pointing down, whose TCP is ``offset`` from the box centre."""
        return (*(BOX_CENTER + offset + [0.0, 0.0, TCP_OFFSET]), 0.0, 0.0, 0.0)

    @staticmethod
    def box_at(shift) -> dict[str, tuple[float, ...]]:
        """The box's free-joint pose ``shift`` (x, y) from its rest position."""
        return {"box": (BOX_CENTER[0] + shift[0], shift[1], BOX_CENTER[2], 1.0, 0.0, 0.0, 0.0)}

    def evaluate(self, worlds, state, step):
        return {"success": np.zeros(worlds.num_worlds, dtype=bool)}

    def oracle_waypoints(self, state, num_waypoints):
        raise NotImplementedError
