"""shoes_on_rack's geometry and its oracle: the box, the pair's room on the shelf, and the
stage code that reads the scene through the candidates and asks for the stage it needs (push the
box aside, place the left shoe, place the right shoe; an undone stage is asked for again)."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import yaw_rotation
from keyscaffold.sim.objects import shoes
from keyscaffold.tasks.iker_common import (
    RACK_CENTER,
    RACK_HALF_DEPTH,
    RACK_INNER_HALF_WIDTH,
    UPPER_SHELF,
    IkerTask,
    shoe_on_upper_shelf,
)
from keyscaffold.tasks.iker_oracle_code import (
    OBJECT_FRAME,
    Candidates,
    ExpectedPose,
    candidate_indices,
    matrix,
    numbers,
    object_frames,
    result_source,
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
PAIR_SPAN = RACK_PAIR_SPACING + 2 * shoes.SHOE_HALF_WIDTH
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


class ShoesOnRackOracle(IkerTask):
    """The oracle half of ``ShoesOnRack``: which stage the scene asks for and its code."""

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
            margin = shoes.SHOE_HALF_WIDTH + PANEL_GAP
            reach = RACK_HALF_DEPTH - shoes.SHOE_HALF_LENGTH
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
