"""move_bottle: carry the bottle across the sink and stand it on the mat on the other side."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import yaw_quaternion
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

BOTTLE_HALF = 0.075
SINK_CENTER = (0.5, 0.0)
SINK_HALF = (0.2, 0.09)
# Wrist relative to the bottle's centre for a top-down grasp of the bottle's upper body.
GRASP_OFFSET = np.array([-0.06, 0.0, 0.085])
SUCCESS_RADIUS = 0.10
UPRIGHT_COS = np.cos(np.radians(25.0))


@register_task("move_bottle")
class MoveBottle(Task):
    """Carry the bottle across the sink and stand it on the blue mat.

    Description:
        A green bottle stands on the counter on one side of a steel sink; a blue mat lies on the
        counter on the far side. The hand grasps the bottle, lifts it over the sink's rim, carries
        it across and stands it on the mat.

    Randomizations:
        Bottle position (x 0.40..0.60 m, y 0.16..0.24 m), mat position (x 0.40..0.60 m,
        y -0.28..-0.20 m) and yaw, wrist start (±0.05 m in x and y, 0.10..0.16 m above the grasp
        height) with ±0.1 rad of hinge noise.

    Success:
        At the end of the episode the bottle's centre is within 0.10 m of the mat's centre in the
        counter plane, on the mat's side of the sink, standing upright (tilt < 25 degrees) and no
        more than 5 cm above resting height.
    """

    instruction = "move the bottle across the sink onto the blue mat"
    keypoints = (
        KeypointSpec(
            "bottle", "bottle", (0.0, 0.0, 0.0), "the middle of the green bottle", "middle"
        ),
        KeypointSpec(
            "target", "place_mat", (0.0, 0.0, 0.002), "the middle of the blue mat across the sink"
        ),
    )
    plan_steps = (
        "Move the open hand above the bottle, palm down.",
        "Lower the hand onto the upper part of the bottle and close the fingers around it.",
        "Lift the bottle about 12 cm so that its base clears the rim of the sink.",
        "Carry the bottle straight across the sink, keeping it upright.",
        "Lower the bottle until it stands on the blue mat, and hold it there.",
        "The mat and the sink do not move.",
    )
    start_limit = 0.10
    contact_bodies = ("bottle",)
    # Success asks for an upright bottle, which its keypoints do not show: with the CPU
    # profile's +-1 rad wrist rotation the policy carried it tilted (wrist at +1.1 / -0.75 /
    # -0.7 rad, mean actions) and 36 of 40 test episodes tracked the plan but failed (0.05).
    # The +-0.25 rad residual it was measured with bounds the tilt under the 25 degree limit.
    cpu_settings = ("env.wrist_rotation_scale=0.25", "ppo.rotation_noise_std=0.3")

    def scene_objects(self) -> list[objects.SceneObject]:
        return [
            room.counter(),
            kitchen.sink(SINK_CENTER, SINK_HALF),
            kitchen.place_mat(),
            kitchen.bottle(height=2 * BOTTLE_HALF),
        ]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        top = objects.COUNTER_TOP_Z
        bottle = (rng.uniform(0.40, 0.60), rng.uniform(0.16, 0.24), top + BOTTLE_HALF)
        mat = (rng.uniform(0.40, 0.60), rng.uniform(-0.28, -0.20), top + 0.002)
        grasp = np.array(bottle) + GRASP_OFFSET
        wrist = start_wrist(rng, grasp, (0.10, 0.16), hinge_noise=0.1)
        return InitialState(
            seed=seed,
            wrist=wrist,
            objects={
                "place_mat": (*(float(v) for v in mat), *yaw_quaternion(rng.uniform(-0.5, 0.5))),
                "bottle": upright(bottle),
            },
        )

    def evaluate(self, worlds, state, step):
        keypoints = worlds.keypoints()
        bottle, target = keypoints[:, 0], keypoints[:, 1]
        distance = np.linalg.norm(bottle[:, :2] - target[:, :2], axis=-1)
        upright = worlds.body_rotation("bottle")[:, 2, 2]
        resting = bottle[:, 2] < objects.COUNTER_TOP_Z + BOTTLE_HALF + 0.05
        across = bottle[:, 1] < SINK_CENTER[1] - SINK_HALF[1]
        success = (distance < SUCCESS_RADIUS) & (upright > UPRIGHT_COS) & resting & across
        return {"success": success, "bottle_to_target": distance, "uprightness": upright}

    def stated_distances(self) -> list[tuple[str, float]]:
        plan = self.oracle_waypoints(self.sample_initial_state(0), 100).keypoints
        return [("12 cm", plan[:, 0, 2].max() - plan[0, 0, 2])]

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        bottle0 = np.array(state.objects["bottle"][:3])
        mat = np.array(state.objects["place_mat"][:3]) + [0, 0, 0.002]
        place = np.array([mat[0], mat[1], bottle0[2] + 0.005])
        return pick_and_place(
            np.array(state.wrist[:3]), bottle0, place, mat, GRASP_OFFSET, num_waypoints
        )
