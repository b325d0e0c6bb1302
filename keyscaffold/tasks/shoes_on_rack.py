"""shoes_on_rack (IKER, multi-step): push the shoe box aside, then put both shoes on the rack."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import quaternion_yaw, sample_phases, yaw_quaternion, yaw_rotation
from keyscaffold.sim import objects
from keyscaffold.sim.embodiments.gripper import TCP_OFFSET
from keyscaffold.sim.objects import shoes
from keyscaffold.sim.scene import CameraSpec
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    register_task,
    start_wrist,
)
from keyscaffold.tasks.iker_common import (
    FLOOR_WORKSPACE_HIGH,
    FLOOR_WORKSPACE_LOW,
    RACK_CENTER,
    RACK_HALF_DEPTH,
    RACK_INNER_HALF_WIDTH,
    RACK_LEVELS,
    UPPER_SHELF,
    heel_grasp_point,
    heel_grasp_yaw,
    rack_keypoints,
    shoe_keypoints,
    shoe_on_upper_shelf,
)
from keyscaffold.tasks.shoes_on_rack_oracle import (
    BOX_HALF,
    BOX_PUSH_HEIGHT,
    BOX_STANDOFF,
    PAIR_DISTANCE,
    PAIR_ROOM,
    PANEL_GAP,
    RACK_PAIR_SPACING,
    SHOES,
    ShoesOnRackOracle,
    box_extent_y,
    free_shelf_length,
)


@register_task("shoes_on_rack")
class ShoesOnRack(ShoesOnRackOracle):
    """Put the pair of shoes on the rack's upper shelf, pushing the shoe box aside first.

    Description:
        An orange shoe box sits in the middle of a two-level shoe rack's upper shelf, leaving no
        room on either side for a pair of shoes; a pair of red sneakers lies on the floor in front
        of the rack. The parallel gripper first pushes the box along the shelf against one side
        panel, then picks each shoe up by its heel and sets it on the freed part of the shelf,
        the left shoe on the left of the right one.

    Randomizations:
        Shoe box position on the upper shelf (x ±0.02 m about the shelf's middle, y -0.03..0.03 m)
        and yaw (±0.05 rad); left shoe on the floor at x 0.62..0.72 m, y -0.24..-0.10 m, right
        shoe at x 0.62..0.72 m, y 0.10..0.24 m, both with their toes toward the rack (±0.25 rad);
        wrist start above the push start (±0.02 m in x and y, 0.10..0.16 m higher), turned for
        the push, with ±0.05 rad of hinge noise.

    Success:
        In order: first the box is pushed aside (it stays on the upper shelf, upright, and leaves
        at least 0.24 m of free shelf beside it) before any shoe is on the shelf; then one shoe,
        then both stand on the upper shelf (as in shoe_place). At the end the box is still
        aside, both shoes stand on the shelf within 0.20 m of each other, and the left shoe is
        on the left of the right one (in the left shoe's own frame). A shoe on the shelf before
        the box is aside spoils the episode.
    """

    instruction = "put the pair of shoes on the upper shelf of the shoe rack"
    keypoints = (
        KeypointSpec(
            "shoe box left end",
            "shoe_box",
            (0.0, -BOX_HALF[1], 0.0),
            "the middle of the shoe box's left end",
        ),
        KeypointSpec(
            "shoe box right end",
            "shoe_box",
            (0.0, BOX_HALF[1], 0.0),
            "the middle of the shoe box's right end",
        ),
        KeypointSpec(
            "shoe box front",
            "shoe_box",
            (BOX_HALF[0], 0.0, 0.0),
            "the middle of the shoe box's front face, with the white label",
        ),
        KeypointSpec(
            "shoe box lid", "shoe_box", (0.0, 0.0, BOX_HALF[2]), "the middle of the shoe box's lid"
        ),
        *shoe_keypoints("left_shoe", "left shoe", "left"),
        *shoe_keypoints("right_shoe", "right shoe", "right"),
        *rack_keypoints(),
    )
    plan_steps = (
        "Turn the closed gripper so that its palm faces along the shelf and lower it onto the "
        "upper shelf beside the end of the shoe box that is farther from a side panel.",
        "Push the box along the shelf until it stands against the nearer side panel.",
        "Lift the gripper, open it and move it above the heel of the left shoe on the floor.",
        "Pinch the left shoe's heel, lift the shoe above the upper shelf, carry it over the free "
        "part of the shelf and set it down there; open the gripper and lift it.",
        "Do the same with the right shoe, setting it down beside the left shoe, on its right.",
        "The rack does not move.",
    )
    stages = (
        "push the shoe box along the upper shelf against a side panel, to make room",
        "put the left shoe on the freed part of the upper shelf",
        "put the right shoe on the shelf beside the left shoe, on its right",
    )
    object_words = {
        "shoe_box": "the orange shoe box",
        "left_shoe": "the red sneaker for the left foot",
        "right_shoe": "the red sneaker for the right foot",
        "shoe_rack": "the rack with two shelves",
    }
    """What each body is, in words a model can check in the picture (IKER's v2 requests)."""
    start_limit = 0.10
    episode_steps = 600
    contact_bodies = ("shoe_box", "left_shoe", "right_shoe")
    default_wrist_orientation = (0.0, 0.0, np.pi / 2)
    workspace_low = FLOOR_WORKSPACE_LOW
    workspace_high = FLOOR_WORKSPACE_HIGH
    camera = CameraSpec(pos=(1.4, -0.3, 1.1), target=(0.45, 0.0, 0.18), fovy=45.0)

    def scene_objects(self) -> list[objects.SceneObject]:
        return [
            shoes.shoe_rack(RACK_CENTER, RACK_INNER_HALF_WIDTH, RACK_HALF_DEPTH, RACK_LEVELS),
            shoes.shoe_box(BOX_HALF),
            shoes.shoe("left_shoe", "left"),
            shoes.shoe("right_shoe", "right"),
        ]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        box = (
            RACK_CENTER[0] + rng.uniform(-0.02, 0.02),
            RACK_CENTER[1] + rng.uniform(-0.03, 0.03),
            UPPER_SHELF + BOX_HALF[2],
            *yaw_quaternion(rng.uniform(-0.05, 0.05)),
        )
        poses = {"shoe_box": tuple(float(v) for v in box)}
        for name, (low, high) in zip(SHOES, ((-0.24, -0.10), (0.10, 0.24))):
            yaw = np.pi + rng.uniform(-0.25, 0.25)
            shoe = (rng.uniform(0.62, 0.72), rng.uniform(low, high), 0.0, *yaw_quaternion(yaw))
            poses[name] = tuple(float(v) for v in shoe)
        start, _, yaw = self._box_push(poses["shoe_box"])
        wrist = start_wrist(
            rng,
            start + [0.0, 0.0, TCP_OFFSET],
            (0.10, 0.16),
            spread=0.02,
            orientation=(0.0, 0.0, yaw),
            hinge_noise=0.05,
        )
        return InitialState(seed=seed, wrist=wrist, objects=poses)

    @staticmethod
    def _box_push(box_pose) -> tuple[np.ndarray, np.ndarray, float]:
        """The oracle's push of the box toward its nearer side panel: tool centre point at the
        push's start and end (m) and the wrist yaw (the palm's face leads)."""
        pose = np.array(box_pose)
        side = 1.0 if pose[1] >= RACK_CENTER[1] else -1.0
        rotation = yaw_rotation(quaternion_yaw(pose[3:]))[None]
        low, high = box_extent_y(pose[None, :3], rotation)
        far_end = float(low[0] if side > 0 else high[0])
        shift = (
            side * (RACK_INNER_HALF_WIDTH - PANEL_GAP)
            + RACK_CENTER[1]
            - (float(high[0]) if side > 0 else float(low[0]))
        )
        start = np.array([pose[0], far_end - side * BOX_STANDOFF, UPPER_SHELF + BOX_PUSH_HEIGHT])
        return start, start + [0.0, shift, 0.0], float(side * np.pi / 2)

    def init_state(self, num_worlds: int) -> dict[str, np.ndarray]:
        """``stage``: steps of the task done in order (0..3); ``spoiled``: a shoe went on the
        shelf before the box was aside."""
        return {"stage": np.zeros(num_worlds), "spoiled": np.zeros(num_worlds)}

    def evaluate(self, worlds, state, step):
        box, box_rot = worlds.body_position("shoe_box"), worlds.body_rotation("shoe_box")
        free = free_shelf_length(box, box_rot)
        box_height = box[:, 2] - (UPPER_SHELF + BOX_HALF[2])
        box_on_shelf = (np.abs(box_height) < 0.02) & (box_rot[:, 2, 2] > np.cos(0.35))
        aside = box_on_shelf & (free >= PAIR_ROOM)
        left, right = (worlds.body_position(n) for n in SHOES)
        left_rot, right_rot = (worlds.body_rotation(n) for n in SHOES)
        on_shelf = np.stack(
            [shoe_on_upper_shelf(left, left_rot), shoe_on_upper_shelf(right, right_rot)]
        )
        placed = on_shelf.sum(axis=0)
        stage, spoiled = state["stage"], state["spoiled"]
        spoiled[(stage == 0) & (placed > 0)] = 1.0
        stage[(stage == 0) & aside & (placed == 0)] = 1.0
        stage[(stage == 1) & aside & (placed >= 1)] = 2.0
        stage[(stage == 2) & aside & (placed == 2)] = 3.0
        # The left shoe's right is its frame's -y.
        relative = np.einsum("bji,bj->bi", left_rot, right - left)
        paired = (relative[:, 1] < 0.0) & (np.linalg.norm(relative[:, :2], axis=-1) < PAIR_DISTANCE)
        success = (stage == 3) & (spoiled == 0) & aside & (placed == 2) & paired
        return {"success": success, "stage": stage.copy(), "free_shelf": free}

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        """Push the box, then carry the left and the right shoe onto the shelf, as phases.

        A plan holds one grasp index, so the scripted plan closes the gripper at the left
        shoe's pinch and describes the rest as motion only; the stages of IKER mode grasp each
        shoe in turn.
        """
        flange = np.array([0.0, 0.0, TCP_OFFSET])
        box0 = np.array(state.objects["shoe_box"][:3])
        push_start, push_end, push_yaw = self._box_push(state.objects["shoe_box"])
        shift = push_end - push_start
        free = 2 * (RACK_INNER_HALF_WIDTH - BOX_HALF[1]) - PANEL_GAP
        free_mid = RACK_CENTER[1] - np.sign(shift[1]) * (RACK_INNER_HALF_WIDTH - free / 2)
        goals = {
            "left_shoe": np.array([RACK_CENTER[0], free_mid - RACK_PAIR_SPACING / 2, UPPER_SHELF]),
            "right_shoe": np.array([RACK_CENTER[0], free_mid + RACK_PAIR_SPACING / 2, UPPER_SHELF]),
        }
        start = np.array(state.wrist[:3])
        positions = {name: np.array(state.objects[name][:3]) for name in SHOES}
        up = np.array([0.0, 0.0, 0.15])
        # (time, wrist, yaw, box, left shoe, right shoe)
        phases = [
            (0.00, start, push_yaw, box0, positions["left_shoe"], positions["right_shoe"]),
            (0.06, push_start + flange + [0, 0, 0.08], push_yaw, box0, *positions.values()),
            (0.10, push_start + flange, push_yaw, box0, *positions.values()),
            (0.24, push_end + flange, push_yaw, box0 + shift, *positions.values()),
            (0.28, push_end + flange + up, push_yaw, box0 + shift, *positions.values()),
        ]
        t = 0.28
        for name in SHOES:
            pose = state.objects[name]
            grasp = heel_grasp_point(pose) + flange
            shoe0 = positions[name]
            goal = goals[name]
            carried = grasp - shoe0
            clear = np.array([0.0, 0.0, 2 * BOX_HALF[2] + 0.03])  # the sole passes over the box
            lift = clear + [0.0, 0.0, UPPER_SHELF]
            yaw = heel_grasp_yaw(quaternion_yaw(pose[3:]))
            steps = [
                (0.05, grasp + [0, 0, 0.08], shoe0),
                (0.04, grasp, shoe0),
                (0.03, grasp, shoe0),
                (0.06, grasp + lift, shoe0 + lift),
                (0.07, goal + carried + clear, goal + clear),
                (0.05, goal + carried + [0, 0, 0.005], goal + [0, 0, 0.005]),
                (0.06, goal + carried + up, goal + [0, 0, 0.005]),
            ]
            for duration, wrist, shoe in steps:
                t += duration
                others = dict(zip(SHOES, phases[-1][4:]))
                others[name] = shoe
                phases.append(
                    (t, wrist, yaw, box0 + shift, others["left_shoe"], others["right_shoe"])
                )
        times = [p[0] / phases[-1][0] for p in phases]
        wrist = sample_phases(times, [p[1] for p in phases], num_waypoints)
        yaw = sample_phases(times, [np.array([p[2]]) for p in phases], num_waypoints)[:, 0]
        tracks = [sample_phases(times, [p[i] for p in phases], num_waypoints) for i in (3, 4, 5)]
        keypoints = []
        for body, track in zip(("shoe_box", *SHOES), tracks):
            pose = state.objects[body]
            local = np.array([kp.local_pos for kp in self.keypoints if kp.body == body])
            turned = local @ yaw_rotation(quaternion_yaw(pose[3:])).T
            keypoints.append(track[:, None] + turned[None])
        rack = np.array([np.array([*RACK_CENTER, 0.0]) + kp.local_pos for kp in rack_keypoints()])
        keypoints.append(np.repeat(rack[None], num_waypoints, 0))
        orientation = np.stack([np.zeros_like(yaw), np.zeros_like(yaw), yaw], axis=1)
        first_pinch = times[7]
        return OracleWaypoints(
            keypoints=np.concatenate(keypoints, axis=1),
            wrist=wrist,
            wrist_orientation=orientation,
            grasp_waypoint=int(np.searchsorted(np.linspace(0, 1, num_waypoints), first_pinch)),
        )
