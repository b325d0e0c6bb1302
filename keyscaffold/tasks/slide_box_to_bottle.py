"""slide_box_to_bottle: the arm's hand pushes a box along the table until it touches a bottle."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import sample_phases
from keyscaffold.sim import objects
from keyscaffold.sim.objects import kitchen, shoes
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    Task,
    register_task,
    start_wrist,
    upright,
)
from keyscaffold.tasks.move_bottle import BOTTLE_HALF
from keyscaffold.tasks.twin_common import TABLE_Z, table

BOX_HALF = (0.075, 0.05, 0.03)
"""Half sizes of the box lying flat (m): along x, along y (the push), and its height."""
BOTTLE_RADIUS = 0.032
PUSH_ORIENTATION = (np.pi / 2, 0.0, 0.0)
"""Wrist hinge angles of the push: the hand turned about its fingers' axis so that the palm
faces +y (the push direction), thumb up, fingers along +x."""
PALM_FACE = 0.027
"""How far in front of the wrist, along the push, the open hand first meets the box (m): the
palm's face at 1.25 cm and the fingers, slightly curled toward the push, beyond it."""
PALM_BACK = 0.045
"""How far the wrist sits behind the box's centre along x, so the palm covers the box (m)."""
PUSH_HEIGHT = 0.07
"""Wrist height above the table during the push (m): the palm spans 1.4..12.6 cm above it."""
INTO_BOTTLE = 0.02
"""How far past first touch the oracle pushes (m): a policy that follows the plan to within a
centimetre or two still meets the bottle (with 8 mm, 29 of 40 test episodes stopped short)."""
TOUCH_FORCE = 0.05
"""Net contact force between box and bottle that counts as touching (N)."""


@register_task("slide_box_to_bottle")
class SlideBoxToBottle(Task):
    """Push the box along the table until it touches the bottle, without grasping it.

    Description:
        A digital twin of a tabletop cell: the iiwa arm carries the 16-DoF hand from behind the
        table; an orange box lies flat on the table about 35 cm from an upright green bottle.
        The hand, turned so that its palm faces the bottle, comes down beside the box and
        pushes it with the palm and fingers across the table into the bottle.

    Randomizations:
        Box position (x 0.50..0.58 m, y -0.20..-0.14 m); the bottle 0.33..0.37 m from it toward
        +y and ±0.02 m across; wrist start (±0.05 m in x and y, 0.08..0.14 m above the push's
        start) with ±0.1 rad of hinge noise.

    Success:
        The box has touched the bottle: their net contact force exceeded 0.05 N at some step.
    """

    instruction = "slide the box to the bottle"
    embodiment = "iiwa_hand"
    place_arm = True
    keypoints = (
        KeypointSpec("box", "box", (0.0, 0.0, BOX_HALF[2]), "the middle of the orange box's top"),
        KeypointSpec(
            "bottle", "bottle", (0.0, 0.0, 0.0), "the middle of the green bottle", "middle"
        ),
    )
    plan_steps = (
        "Turn the open hand so that its palm faces the bottle, fingers pointing away from the "
        "robot, and move it above the side of the box that faces away from the bottle.",
        "Lower the hand beside the box until the palm is level with the box, just off the table.",
        "Push the box straight toward the bottle with the palm without grasping it, until the box "
        "touches the bottle; the box slides about 27 cm.",
        "Hold the hand still against the box.",
        "The bottle does not move.",
    )
    start_limit = 0.10
    contact_bodies = ("box",)
    contact_pairs = (("box", "bottle"),)
    default_wrist_orientation = PUSH_ORIENTATION

    def scene_objects(self) -> list[objects.SceneObject]:
        return [
            table(),
            kitchen.bottle(BOTTLE_RADIUS, height=2 * BOTTLE_HALF),
            shoes.shoe_box(BOX_HALF, mass=0.25, name="box"),
        ]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        box = np.array([rng.uniform(0.50, 0.58), rng.uniform(-0.20, -0.14), TABLE_Z + BOX_HALF[2]])
        bottle = box + [rng.uniform(-0.02, 0.02), rng.uniform(0.33, 0.37), 0.0]
        bottle[2] = TABLE_Z + BOTTLE_HALF
        begin = self._push_pose(box) - [0.0, 0.02, 0.0]
        wrist = start_wrist(rng, begin, (0.08, 0.14), orientation=PUSH_ORIENTATION, hinge_noise=0.1)
        return InitialState(
            seed=seed,
            wrist=wrist,
            objects={
                "bottle": upright(bottle),
                "box": upright(box),
            },
        )

    @staticmethod
    def _push_pose(box: np.ndarray) -> np.ndarray:
        """The wrist position whose palm rests on the -y face of a box centred at ``box``
        (shape (3,)), at the push's height."""
        return np.array(
            [box[0] - PALM_BACK, box[1] - BOX_HALF[1] - PALM_FACE, TABLE_Z + PUSH_HEIGHT]
        )

    def init_state(self, num_worlds: int) -> dict[str, np.ndarray]:
        return {"touched": np.zeros(num_worlds, dtype=bool)}

    def evaluate(self, worlds, state, step):
        force = worlds.pair_contact_force("box", "bottle")
        state["touched"] |= force > TOUCH_FORCE
        keypoints = worlds.keypoints()
        gap = np.linalg.norm(keypoints[:, 0, :2] - keypoints[:, 1, :2], axis=-1)
        return {
            "success": state["touched"].copy(),
            "box_to_bottle": gap,
            "contact_force": force,
        }

    def stated_distances(self) -> list[tuple[str, float]]:
        state = self.sample_initial_state(0)
        plan = self.oracle_waypoints(state, 100).keypoints
        return [("27 cm", float(np.linalg.norm(plan[-1, 0] - plan[0, 0])))]

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        """Above the box's far side, down beside it, then the push: the box keeps its start
        until the palm reaches it and moves with the palm from there."""
        box0 = np.array(state.objects["box"][:3])
        bottle = np.array(state.objects["bottle"][:3])
        start = np.array(state.wrist[:3])
        touch = box0.copy()
        touch[1] = bottle[1] - BOTTLE_RADIUS - BOX_HALF[1] + INTO_BOTTLE
        begin = self._push_pose(box0) - [0.0, 0.02, 0.0]
        end = self._push_pose(box0) + (touch - box0)
        phases = [
            (0.00, start),
            (0.15, begin + [0, 0, 0.10]),
            (0.30, begin),
            (0.36, begin),
            (0.85, end),
            (1.00, end),
        ]
        wrist = sample_phases([p[0] for p in phases], [p[1] for p in phases], num_waypoints)
        # the box moves once the palm, 2 cm behind it at the push's start, has reached it
        pushing = np.linspace(0.0, 1.0, num_waypoints) >= 0.36
        share = (wrist[:, 1] - begin[1] - 0.02) / (end[1] - begin[1] - 0.02)
        pushed = np.where(pushing, np.clip(share, 0.0, 1.0), 0.0)
        box_top = box0 + [0.0, 0.0, BOX_HALF[2]]
        box = box_top + pushed[:, None] * (touch - box0)
        return OracleWaypoints(
            keypoints=np.stack([box, np.repeat(bottle[None], num_waypoints, 0)], axis=1),
            wrist=wrist,
            wrist_orientation=np.array(PUSH_ORIENTATION),
        )
