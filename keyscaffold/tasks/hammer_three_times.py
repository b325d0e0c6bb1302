"""hammer_three_times: the arm's hand picks up a raised hammer and swings it three times."""

from __future__ import annotations

import numpy as np

from keyscaffold.sim import objects
from keyscaffold.sim.objects import tools
from keyscaffold.tasks.base import register_task
from keyscaffold.tasks.hammer import (
    HANDLE_HALF,
    HANDLE_RADIUS,
    HEAD_HALF,
    REST_HALF,
    Hammer,
)
from keyscaffold.tasks.twin_common import table


@register_task("hammer_three_times")
class HammerThreeTimes(Hammer):
    """Pick up the hammer with the arm's hand and make three full swings.

    Description:
        A digital twin of a tabletop cell: the iiwa arm carries the 16-DoF hand from behind the
        table; a hammer lies on the table with its head standing on its striking face and its
        handle resting on a small wooden block, so the handle is raised enough for the fingers
        to close around it. The hand grasps the handle, lifts the hammer and swings it up and
        down three times.

    Randomizations:
        Hammer position (x 0.52..0.60 m, y -0.12..0.02 m) with the block under its handle; wrist
        start (±0.05 m in x and y, 0.08..0.14 m above the grasp pose) with ±0.1 rad of hinge
        noise.

    Success:
        Three swings while the hammer is held (two or more fingertips touch it): a swing is a
        rise of the head by at least 5 cm followed by a fall of at least 5 cm, counted with
        hysteresis from step 20 on (the counter of ``hammer``).
    """

    instruction = "pick up the hammer and swing it three times"
    embodiment = "iiwa_hand"
    place_arm = True
    hammer_area = ((0.52, 0.60), (-0.12, 0.02))
    swings = (0.40, 0.18, 0.08, 0.16)
    """Slower, evenly spaced swings than ``hammer``'s."""
    plan_steps = (
        "Move the open hand above the middle of the hammer's handle, palm down.",
        "Lower the hand around the handle and close the fingers on it.",
        "Lift the hammer about 8 cm.",
        "Swing the hammer three times: raise it about 10 cm, then bring it back down, keeping "
        "the handle in the hand; the head and the handle stay 12 cm apart.",
        "Hold the hammer still at the end.",
    )

    def scene_objects(self) -> list[objects.SceneObject]:
        rest = tools.wood_block("hammer_rest", REST_HALF)
        return [table(), rest, tools.hammer(2 * HANDLE_HALF, HANDLE_RADIUS, HEAD_HALF)]

    def stated_distances(self) -> list[tuple[str, float]]:
        plan = self.oracle_waypoints(self.sample_initial_state(0), 100).keypoints
        handle_z, head = plan[:, 0, 2], plan[:, 1]
        return [
            ("8 cm", handle_z[-1] - handle_z[0]),
            ("10 cm", handle_z.max() - handle_z[-1]),
            ("12 cm", float(np.linalg.norm(head[0] - plan[0, 0]))),
        ]
