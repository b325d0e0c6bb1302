"""shoes_on_rack (IKER, multi-step): push the shoe box aside, then put both shoes on the rack."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import quaternion_yaw, sample_phases, yaw_quaternion, yaw_rotation
from keyscaffold.sim import objects
from keyscaffold.sim.embodiments.gripper import TCP_OFFSET
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
    OBJECT_FRAME,
    RACK_CENTER,
    RACK_HALF_DEPTH,
    RACK_INNER_HALF_WIDTH,
    RACK_LEVELS,
    UPPER_SHELF,
    Candidates,
    ExpectedPose,
    IkerTask,
    candidate_indices,
    heel_grasp_point,
    heel_grasp_yaw,
    matrix,
    numbers,
    object_frames,
    rack_keypoints,
    result_source,
    shoe_keypoints,
    shoe_on_upper_shelf,
    stage_source,
)

BOX_HALF = (0.1, 0.17, 0.06)
"""Half sizes of the shoe box (m); its long side runs along the shelf."""
PAIR_ROOM = 0.24
"""Free shelf length two shoes need side by side (m): two widths, a gap and a margin."""
PANEL_GAP = 0.01
"""How close to the side panel the oracle pushes the box (m)."""
PAIR_DISTANCE = 0.2
"""Largest centre distance of two placed shoes that still stand as a pair (m)."""
RACK_PAIR_SPACING = 0.16
"""Centre distance the oracle gives the pair on the shelf (m): a 6.4 cm gap between the shoes,
so that a shoe set down within the 5 cm keypoint tolerance does not land on its partner."""
PAIR_SPAN = RACK_PAIR_SPACING + 2 * objects.SHOE_HALF_WIDTH
"""Shelf length the oracle's pair covers (m)."""
ROOM_MARGIN = 0.03
"""Free shelf beyond the pair's span below which the oracle pushes the box aside (again), m."""
PUSH_SLACK = 0.02
"""A box within this far (m) of where the push puts it (``PANEL_GAP`` from its nearer panel) is as
far aside as a push gets it: the oracle then places the shoes, even where the box's yaw leaves a
little less than ``PAIR_SPAN + ROOM_MARGIN`` of free shelf."""
STANDING_TOLERANCE = 0.015
"""How far a seen shoe keypoint may lie from its height on a shoe standing on the shelf (m)."""
BOX_PUSH_HEIGHT = 0.03
"""Height of the tool centre point above the shelf while pushing the box (m); the palm's face
pushes the box's end."""
BOX_STANDOFF = 0.05
"""Distance from the box's end to the tool centre point at the start of the push (m)."""
SHOES = ("left_shoe", "right_shoe")
BOX_EXPECTED = ExpectedPose(
    (
        RACK_CENTER[0] - (RACK_HALF_DEPTH - BOX_HALF[0]),
        RACK_CENTER[1] - (RACK_INNER_HALF_WIDTH - BOX_HALF[1]),
        UPPER_SHELF + BOX_HALF[2],
    ),
    (
        RACK_CENTER[0] + (RACK_HALF_DEPTH - BOX_HALF[0]),
        RACK_CENTER[1] + (RACK_INNER_HALF_WIDTH - BOX_HALF[1]),
        UPPER_SHELF + BOX_HALF[2],
    ),
    0.0,
)
"""Where the oracle expects the box (``frame_positions``): its middle over the upper shelf, with
the whole box on it, its long side along the shelf."""
SHOE_ON_FLOOR = ExpectedPose((-np.inf, -np.inf, 0.0), (np.inf, np.inf, 0.0), np.pi)
"""Where the oracle expects a shoe it picks up: on the floor, its toes toward the rack (-x)."""
SHOE_ON_SHELF = ExpectedPose(
    (RACK_CENTER[0] - RACK_HALF_DEPTH, RACK_CENTER[1] - RACK_INNER_HALF_WIDTH, UPPER_SHELF),
    (RACK_CENTER[0] + RACK_HALF_DEPTH, RACK_CENTER[1] + RACK_INNER_HALF_WIDTH, UPPER_SHELF),
    np.pi,
)
"""Where the oracle expects the left shoe at the right shoe's stage: its middle over the upper
shelf, its toes into the rack."""


def box_extent_y(position: np.ndarray, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shoe box's reach along y: lowest and highest y of its box (m), each shape: (B,)."""
    reach = np.abs(rotation[:, 1]) @ np.array(BOX_HALF)
    return position[:, 1] - reach, position[:, 1] + reach


def free_shelf_length(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Longest free stretch of the upper shelf beside the box, between it and a panel (m), (B,)."""
    low, high = box_extent_y(position, rotation)
    left = low - (RACK_CENTER[1] - RACK_INNER_HALF_WIDTH)
    right = RACK_CENTER[1] + RACK_INNER_HALF_WIDTH - high
    return np.maximum(left, right)


@register_task("shoes_on_rack")
class ShoesOnRack(IkerTask):
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
            objects.shoe_rack(RACK_CENTER, RACK_INNER_HALF_WIDTH, RACK_HALF_DEPTH, RACK_LEVELS),
            objects.shoe_box(BOX_HALF),
            objects.shoe("left_shoe", "left"),
            objects.shoe("right_shoe", "right"),
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

    def oracle_code(self, stage: int, candidates: Candidates) -> str:
        """The code of the next stage the scene asks for, whatever the stage's number.

        The scene, not the count of stages done, decides (``next_step``): an object displaced
        between stages can undo an earlier stage (the box slid back toward the middle, a placed
        shoe knocked over the shelf's edge), and the oracle then does that stage again, as a
        model looking at the new picture would. The loop's stage limit bounds the repeats.
        """
        if stage < 0:
            raise ValueError(f"stage numbers start at 0, got {stage}")
        step = self.next_step(candidates)
        return super().oracle_code(step, candidates)

    def next_step(self, candidates: Candidates) -> int:
        """Which stage the scene seen through ``candidates`` asks for.

        0 while the free part of the shelf is too short for the pair (``PAIR_SPAN`` plus
        ``ROOM_MARGIN``) and the box is not yet where a push puts it (``PUSH_SLACK``); then 1 while the left shoe does not stand on the upper shelf, 2 while
        the right one does not stand there as its partner (on the left shoe's right, centres
        within ``PAIR_DISTANCE``); else 3 (done). A shoe stands on the shelf when its fitted
        frame (``_standing_frame``) lies over the shelf and every seen keypoint sits at its own
        height above the shelf's top, give or take ``STANDING_TOLERANCE``: a shoe lying tilted
        on a panel's edge or on the box does not count.
        """
        yaw, middle, *_ = self._fitted_frame(candidates, "shoe_box", BOX_EXPECTED)
        rotation = yaw_rotation(yaw)[None]
        low, high = box_extent_y(middle[None], rotation)
        to_panel = min(
            low[0] - (RACK_CENTER[1] - RACK_INNER_HALF_WIDTH),
            RACK_CENTER[1] + RACK_INNER_HALF_WIDTH - high[0],
        )
        short = free_shelf_length(middle[None], rotation)[0] < PAIR_SPAN + ROOM_MARGIN
        if short and to_panel > PANEL_GAP + PUSH_SLACK:  # a push can still make room
            return 0
        frames = [self._standing_frame(candidates, name) for name in SHOES]
        for step, (*_, standing) in enumerate(frames, start=1):
            if not standing:
                return step
        (left_yaw, left, _), (_, right, _) = frames
        relative = yaw_rotation(left_yaw).T @ (right - left)  # in the left shoe's frame
        if relative[1] >= 0.0 or np.linalg.norm(relative[:2]) >= PAIR_DISTANCE:
            return 2
        return self.num_stages()

    def _fitted_frame(
        self, candidates: Candidates, name: str, expected: ExpectedPose
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """The upright pose fitted to body ``name``'s candidates, as the stage code fits it:
        heading (rad), frame origin (m, (3,)), and the seen points' world and body-frame
        positions (m, (K, 3) each)."""
        indices = candidate_indices(candidates, name)
        seen = np.array([candidates[i][1] for i in indices], dtype=np.float64)
        local = self.candidate_frame_positions(candidates, indices, expected)
        yaw, origin = object_frames(seen, local[None], expected.heading)
        return float(yaw[0]), origin[0], seen, local

    def _standing_frame(self, candidates: Candidates, name: str) -> tuple[float, np.ndarray, bool]:
        """Heading (rad) and frame origin (m) fitted to shoe ``name``'s candidates, and whether
        it stands on the upper shelf (see ``next_step``)."""
        yaw, origin, seen, local = self._fitted_frame(candidates, name, SHOE_ON_SHELF)
        heights = seen[:, 2] - local[:, 2] - UPPER_SHELF  # 0 for a shoe standing on the shelf
        # The task's own test on the fitted upright pose (every sole corner over the shelf)...
        over = shoe_on_upper_shelf(origin[None], yaw_rotation(yaw)[None])[0]
        # ...and every seen keypoint at its height: a tilted shoe's fit is upright, its points not.
        standing = over and np.all(np.abs(heights) <= STANDING_TOLERANCE)
        return yaw, origin, bool(standing)

    def stage_code(self, stage: int, candidates: Candidates) -> str:
        """Stage 0 pushes the box against its nearer panel; stages 1 and 2 place the shoes.

        The camera sees only some of each object's keypoints, so their mean is not the object's
        middle. The oracle matches the seen keypoints to the object's known geometry
        (``frame_positions``) and writes where each lies in the object's frame; the code fits the
        object's pose to them at run time (``OBJECT_FRAME``). So the box's ends come from its fitted
        middle, and the shoes' targets are their keypoints' places in the goal pose: the left
        shoe toes into the rack (-x) in the middle of the shelf's free part, less half the pair's
        spacing; the right shoe beside the left one's fitted frame, on its right (-y) and turned
        like it, kept over the shelf and inside the free part.
        """
        box = candidate_indices(candidates, "shoe_box")
        box_local = self.candidate_frame_positions(candidates, box, BOX_EXPECTED)
        middle = RACK_CENTER[1]
        panels = (
            numbers([middle - RACK_INNER_HALF_WIDTH]),
            numbers([middle + RACK_INNER_HALF_WIDTH]),
        )
        wall = RACK_INNER_HALF_WIDTH - PANEL_GAP
        # The box's middle and ends along the shelf, from its keypoints fitted to their known
        # places in its frame (a turn about z and a shift).
        extent = f"""
            points = np.array(keypoint_coordinates, dtype=float)
            box = {box}
            # Where the box's keypoints lie in its own frame (m): x across the shelf, y along it,
            # z up, from the box's middle.
            box_local = np.array({matrix(box_local)})
            box_yaw, box_rotation, box_middle = object_frame(points[box], box_local, 0.0)
            # The box's reach along the shelf (y): half its length and width, turned by its heading.
            reach = abs(np.cos(box_yaw)) * {BOX_HALF[1]} + abs(np.sin(box_yaw)) * {BOX_HALF[0]}
            box_low, box_high = box_middle[1] - reach, box_middle[1] + reach
            """
        if stage == 0:
            return stage_source(
                "Make room on the upper shelf first: push the shoe box along the shelf (along y) "
                "toward the nearer end, until its end is 1 cm from the side panel "
                f"(the panels stand at y = {panels[0]} and {panels[1]} m).",
                extent,
                f"""
                moved = points[box]
                if box_middle[1] >= {numbers([middle])}:
                    shift = {numbers([middle + wall])} - box_high
                else:
                    shift = {numbers([middle - wall])} - box_low
                targets = moved + np.array([0.0, shift, 0.0])
                """,
                result_source("shoe_box", "box", "push"),
                helpers=OBJECT_FRAME,
            )
        name = SHOES[stage - 1]
        shoe = candidate_indices(candidates, name)
        shoe_local = self.candidate_frame_positions(candidates, shoe, SHOE_ON_FLOOR)
        where = f"""
            shoe = {shoe}
            # Where the shoe's keypoints lie in its own frame (m): x from the heel to the toe, y to
            # the shoe's left, z up from the sole's underside.
            shoe_local = np.array({matrix(shoe_local)})
            # The free part of the shelf, between the box and the side panel away from it.
            if box_middle[1] >= {numbers([middle])}:
                low, high = {panels[0]}, box_low
            else:
                low, high = box_high, {panels[1]}
            """
        if stage == 1:
            comment = (
                "Put the left shoe on the upper shelf, in the free part between the box and the "
                "side panel away from it, its toes into the rack (-x), leaving room on its right "
                "(+y) for the right shoe."
            )
            place = f"""
            # Its frame's origin over the middle of the shelf's depth, half the pair's spacing
            # left (-y) of the free part's middle, on the shelf; heading pi: the toes point to -x.
            origin = np.array([{numbers([RACK_CENTER[0]])}, (low + high) / 2 - {RACK_PAIR_SPACING / 2}, {UPPER_SHELF}])
            rotation = turn_about_z(np.pi)
            """
        else:
            partner = candidate_indices(candidates, SHOES[0])
            partner_local = self.candidate_frame_positions(candidates, partner, SHOE_ON_SHELF)
            margin = objects.SHOE_HALF_WIDTH + PANEL_GAP
            reach = RACK_HALF_DEPTH - objects.SHOE_HALF_LENGTH
            comment = (
                "Put the right shoe on the upper shelf beside the left shoe, on its right (the "
                "left shoe's -y; +y when its toes point into the rack), turned like it, their "
                f"centres {RACK_PAIR_SPACING:.2f} m apart."
            )
            place = f"""
            partner = {partner}
            # Where the left shoe's keypoints lie in its own frame (m); it stands on the shelf
            # with its toes into the rack (heading pi) unless its keypoints show otherwise.
            partner_local = np.array({matrix(partner_local)})
            left_yaw, rotation, left_origin = object_frame(points[partner], partner_local, np.pi)
            # On the left shoe's right (its frame's -y), on the shelf, kept over the shelf's
            # depth and inside the free part.
            origin = left_origin + rotation @ np.array([0.0, -{RACK_PAIR_SPACING}, 0.0])
            origin[0] = np.clip(origin[0], {numbers([RACK_CENTER[0] - reach])}, {numbers([RACK_CENTER[0] + reach])})
            origin[1] = np.clip(origin[1], low + {numbers([margin])}, high - {numbers([margin])})
            origin[2] = {UPPER_SHELF}
            """
        return stage_source(
            comment,
            extent,
            where,
            place,
            """
            targets = origin + shoe_local @ rotation.T
            """,
            result_source(name, "shoe", "grasp"),
            helpers=OBJECT_FRAME,
        )
