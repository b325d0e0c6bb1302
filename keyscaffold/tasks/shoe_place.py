"""shoe_place (IKER): pick the shoe up from the floor and put it on the rack's upper shelf."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import quaternion_yaw, sample_phases, yaw_quaternion
from keyscaffold.sim import objects
from keyscaffold.sim.embodiments.gripper import TCP_OFFSET
from keyscaffold.sim.objects import shoes
from keyscaffold.sim.scene import CameraSpec
from keyscaffold.tasks.base import InitialState, OracleWaypoints, register_task, start_wrist
from keyscaffold.tasks.iker_common import (
    FLOOR_WORKSPACE_HIGH,
    FLOOR_WORKSPACE_LOW,
    RACK_CENTER,
    RACK_HALF_DEPTH,
    RACK_INNER_HALF_WIDTH,
    RACK_LEVELS,
    UPPER_SHELF,
    IkerTask,
    heel_grasp_point,
    heel_grasp_yaw,
    rack_keypoints,
    shoe_keypoints,
    shoe_on_upper_shelf,
)
from keyscaffold.tasks.iker_oracle_code import (
    NO_TURN,
    YAW_ALIGN,
    Candidates,
    candidate_indices,
    numbers,
    result_source,
    spans_long_axis,
    stage_source,
)

PLACE_Y_LIMIT = 0.2
"""The oracle puts the shoe on the shelf straight behind where it lies, within this |y| (m)."""
CARRY_CLEARANCE = 0.05
"""How far the carried shoe's sole clears the upper shelf (m)."""


@register_task("shoe_place")
class ShoePlace(IkerTask):
    """Put the shoe on the upper shelf of the shoe rack.

    Description:
        A red sneaker lies on the floor in front of an empty two-level wooden shoe rack, its toe
        pointing at the rack. The parallel gripper pinches the shoe's heel counter from above,
        lifts it over the front edge of the upper shelf and sets it down on that shelf.

    Randomizations:
        Shoe position on the floor (x 0.60..0.72 m, y -0.20..0.20 m) and heading (toe toward the
        rack, ±0.3 rad); wrist start above the heel grasp (±0.05 m in x and y, 0.08..0.14 m
        higher), turned to the heel grasp with ±0.05 rad of hinge noise. The rack is a fixture.

    Success:
        The shoe stands on the rack's upper shelf: its sole rests on the shelf (within -1..+2 cm
        of its top), it is upright within 20 degrees and no corner of its sole sticks out more
        than 3 cm over the shelf's edges.
    """

    instruction = "put the shoe on the upper shelf of the shoe rack"
    keypoints = (*shoe_keypoints("shoe", "shoe", "right"), *rack_keypoints())
    plan_steps = (
        "Move the open gripper above the heel of the shoe, pointing down, the jaws across the "
        "heel's back wall.",
        "Lower the gripper so that one jaw is inside the shoe's opening and the other behind the "
        "heel, then close it on the heel.",
        "Lift the shoe straight up until its sole is above the rack's upper shelf.",
        "Carry the shoe over the middle of the upper shelf, keeping it level.",
        "Lower the shoe until its sole rests on the shelf, and hold it there.",
        "The rack does not move.",
    )
    stages = ("pick the shoe up from the floor and set it on the rack's upper shelf",)
    start_limit = 0.10
    contact_bodies = ("shoe",)
    default_wrist_orientation = (0.0, 0.0, np.pi / 2)
    workspace_low = FLOOR_WORKSPACE_LOW
    workspace_high = FLOOR_WORKSPACE_HIGH
    camera = CameraSpec(pos=(1.05, -0.95, 1.0), target=(0.45, 0.0, 0.15), fovy=48.0)

    def scene_objects(self) -> list[objects.SceneObject]:
        return [
            shoes.shoe_rack(RACK_CENTER, RACK_INNER_HALF_WIDTH, RACK_HALF_DEPTH, RACK_LEVELS),
            shoes.shoe("shoe", "right"),
        ]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        yaw = np.pi + rng.uniform(-0.3, 0.3)
        pose = (rng.uniform(0.60, 0.72), rng.uniform(-0.2, 0.2), 0.0, *yaw_quaternion(yaw))
        grasp = heel_grasp_point(pose) + [0.0, 0.0, TCP_OFFSET]
        wrist = start_wrist(
            rng,
            grasp,
            (0.08, 0.14),
            orientation=(0.0, 0.0, heel_grasp_yaw(yaw)),
            hinge_noise=0.05,
        )
        return InitialState(seed=seed, wrist=wrist, objects={"shoe": tuple(float(v) for v in pose)})

    def wrist_orientations(self, state, keypoint_waypoints, wrist_waypoints):
        """The heel grasp's yaw, held along the plan."""
        yaw = heel_grasp_yaw(quaternion_yaw(state.objects["shoe"][3:]))
        return np.repeat(np.array([[0.0, 0.0, yaw]]), len(wrist_waypoints), 0)

    def evaluate(self, worlds, state, step):
        position = worlds.body_position("shoe")
        placed = shoe_on_upper_shelf(position, worlds.body_rotation("shoe"))
        return {"success": placed, "shoe_above_shelf": position[:, 2] - UPPER_SHELF}

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        """Approach the heel, pinch it, lift, carry over the shelf and lower, as phases."""
        pose = np.array(state.objects["shoe"])
        shoe0 = pose[:3]
        flange = np.array([0.0, 0.0, TCP_OFFSET])
        grasp = heel_grasp_point(pose) + flange
        start = np.array(state.wrist[:3])
        place = np.array(
            [RACK_CENTER[0], np.clip(shoe0[1], -PLACE_Y_LIMIT, PLACE_Y_LIMIT), UPPER_SHELF]
        )
        lift = np.array([0.0, 0.0, UPPER_SHELF + CARRY_CLEARANCE])
        settle = np.array([0.0, 0.0, 0.005])
        # (time fraction, wrist position, shoe position); the shoe keeps its heading.
        phases = [
            (0.00, start, shoe0),
            (0.15, grasp + [0, 0, 0.06], shoe0),
            (0.27, grasp, shoe0),
            (0.37, grasp, shoe0),
            (0.52, grasp + lift, shoe0 + lift),
            (
                0.75,
                grasp - shoe0 + place + [0, 0, CARRY_CLEARANCE],
                place + [0, 0, CARRY_CLEARANCE],
            ),
            (0.90, grasp - shoe0 + place + settle, place + settle),
            (1.00, grasp - shoe0 + place + settle, place + settle),
        ]
        times = [p[0] for p in phases]
        wrist = sample_phases(times, [p[1] for p in phases], num_waypoints)
        shoe = sample_phases(times, [p[2] for p in phases], num_waypoints)
        local = np.array([kp.local_pos for kp in self.keypoints[:4]])
        yaw = quaternion_yaw(pose[3:])
        c, s = np.cos(yaw), np.sin(yaw)
        turned = local @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T
        rack = np.array([np.array([*RACK_CENTER, 0.0]) + kp.local_pos for kp in self.keypoints[4:]])
        keypoints = np.concatenate(
            [shoe[:, None] + turned[None], np.repeat(rack[None], num_waypoints, 0)], axis=1
        )
        return OracleWaypoints(
            keypoints=keypoints,
            wrist=wrist,
            wrist_orientation=np.array([0.0, 0.0, heel_grasp_yaw(yaw)]),
            grasp_waypoint=int(np.searchsorted(np.linspace(0, 1, num_waypoints), 0.30)),
        )

    def stage_code(self, stage: int, candidates: Candidates) -> str:
        """Lift the shoe's keypoints by the shelf's height and move them over the shelf.

        The code turns the shoe so that it lies along the shelf's depth when its candidates span
        its length (otherwise it keeps its heading), and puts it straight behind where it lies.
        """
        shoe = candidate_indices(candidates, "shoe")
        length = 2 * shoes.SHOE_HALF_LENGTH
        turn = YAW_ALIGN if spans_long_axis(candidates, shoe, length) else NO_TURN
        return stage_source(
            "Pick the shoe up from the floor and set it on the upper shelf of the rack: the "
            f"shelf's top is {UPPER_SHELF:.2f} m above the floor and its middle runs along "
            f"x = {RACK_CENTER[0]:.2f} m.",
            f"""
            points = np.array(keypoint_coordinates, dtype=float)
            shoe = {shoe}
            moved = points[shoe]
            centre = np.mean(moved, axis=0)
            """,
            turn,
            f"""
            # Straight behind where it lies, over the middle of the shelf's depth, lifted by the
            # shelf's height.
            side = min(max(centre[1], -{PLACE_Y_LIMIT}), {PLACE_Y_LIMIT})
            goal = np.array([{numbers([RACK_CENTER[0]])}, side, centre[2] + {UPPER_SHELF}])
            targets = goal + (moved - centre) @ rotation.T
            """,
            result_source("shoe", "shoe", "grasp"),
        )
