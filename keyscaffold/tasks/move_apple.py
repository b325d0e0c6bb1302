"""move_apple: pick the apple up and put it on the cutting board."""

from __future__ import annotations

import numpy as np

from keyscaffold.sim import objects
from keyscaffold.sim.objects import kitchen, room
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    Task,
    register_task,
    start_wrist,
    upright,
)
from keyscaffold.tasks.scripted_motion import pick_and_place

APPLE_RADIUS = 0.04
BOARD_HALF = (0.13, 0.09, 0.01)
# Wrist position relative to the apple center for the top-down power grasp (hand frame = world).
GRASP_OFFSET = np.array([-0.06, 0.0, 0.06])
SUCCESS_HEIGHT = 0.07
SUCCESS_RADIUS = 0.10


@register_task("move_apple")
class MoveApple(Task):
    """Move the apple from the counter onto the cutting board.

    Description:
        A red apple and a wooden cutting board lie on a kitchen counter; the floating right hand
        starts above the counter, palm down. The hand must grasp the apple, lift it, carry it over
        the board and put it down.

    Randomizations:
        Apple position on the counter (x 0.38..0.58 m, y 0.02..0.22 m), board position (x 0.42..0.58 m,
        y -0.28..-0.16 m) and yaw (±0.3 rad), wrist start position (±0.05 m in x and y, height
        0.12..0.20 m above the counter's grasp height) with ±0.1 rad of hinge noise.

    Success:
        At the end of the episode the apple's center is within 0.10 m of the point 0.07 m above the
        board's top center.
    """

    instruction = "move the apple onto the cutting board"
    keypoints = (
        KeypointSpec("apple", "apple", (0.0, 0.0, 0.0), "the middle of the red apple", "middle"),
        KeypointSpec(
            "cutting board",
            "cutting_board",
            (0.0, 0.0, BOARD_HALF[2]),
            "the middle of the top face of the wooden cutting board",
        ),
    )
    plan_steps = (
        "Move the open hand above the apple, palm down, keeping clear of the counter.",
        "Lower the hand until the palm sits just behind and above the apple, then close the "
        "fingers around it.",
        "Lift the apple about 10 to 15 cm straight up; the apple moves with the hand from here on.",
        "Carry the apple through the air until it is above the middle of the cutting board.",
        "Lower the apple until it rests on the board, and hold it there.",
        "The cutting board does not move.",
    )
    start_limit = 0.10
    contact_bodies = ("apple",)
    # how the apple turns does not matter: a detected point on its skin follows its translation
    free_keypoints = "carried"

    def scene_objects(self) -> list[objects.SceneObject]:
        return [
            room.counter(),
            kitchen.cutting_board(BOARD_HALF),
            kitchen.apple(APPLE_RADIUS),
        ]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        top = objects.COUNTER_TOP_Z
        apple = (rng.uniform(0.38, 0.58), rng.uniform(0.02, 0.22), top + APPLE_RADIUS)
        yaw = rng.uniform(-0.3, 0.3)
        board = (
            rng.uniform(0.42, 0.58),
            rng.uniform(-0.28, -0.16),
            top + BOARD_HALF[2],
            np.cos(yaw / 2),
            0.0,
            0.0,
            np.sin(yaw / 2),
        )
        grasp = np.array(apple) + GRASP_OFFSET
        wrist = start_wrist(rng, grasp, (0.12, 0.20), hinge_noise=0.1)
        return InitialState(
            seed=seed,
            wrist=wrist,
            objects={
                "cutting_board": tuple(float(v) for v in board),
                "apple": upright(apple),
            },
        )

    def evaluate(self, worlds, state, step):
        keypoints = worlds.keypoints()
        apple, board = keypoints[:, 0], keypoints[:, 1]
        target = board + np.array([0.0, 0.0, SUCCESS_HEIGHT])
        distance = np.linalg.norm(apple - target, axis=-1)
        return {"success": distance < SUCCESS_RADIUS, "apple_to_target": distance}

    def stated_distances(self) -> list[tuple[str, float]]:
        plan = self.oracle_waypoints(self.sample_initial_state(0), 100).keypoints
        return [("10 to 15 cm", plan[:, 0, 2].max() - plan[0, 0, 2])]

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        apple0 = np.array(state.objects["apple"][:3])
        board_top = np.array(state.objects["cutting_board"][:3]) + np.array([0, 0, BOARD_HALF[2]])
        place_apple = board_top + np.array([0.0, 0.0, APPLE_RADIUS + 0.01])
        return pick_and_place(
            np.array(state.wrist[:3]), apple0, place_apple, board_top, GRASP_OFFSET, num_waypoints,
            carry=0.12 * 0.6, lift_time=0.55,
        )  # fmt: skip
