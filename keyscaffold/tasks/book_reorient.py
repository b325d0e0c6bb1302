"""book_reorient (IKER): stand the book up in the gap between the books on the bookshelf."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keyscaffold.geometry import (
    quaternion_yaw,
    rotation_from_xyz_angles,
    sample_phases,
    yaw_quaternion,
    yaw_rotation,
)
from keyscaffold.sim import objects
from keyscaffold.sim.embodiments.gripper import TCP_OFFSET
from keyscaffold.sim.objects import books
from keyscaffold.sim.scene import CameraSpec
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    register_task,
    start_wrist,
)
from keyscaffold.tasks.book_push import book_keypoints, table
from keyscaffold.tasks.iker_common import (
    BOOK_WORKSPACE_HIGH,
    BOOK_WORKSPACE_LOW,
    TABLE_EDGE_X,
    IkerTask,
)
from keyscaffold.tasks.iker_oracle_code import (
    Candidates,
    candidate_indices,
    numbers,
    result_source,
    stage_source,
)

HX, HY, HZ = books.BOOK_HALF
SHELF_CENTER = (0.28, 0.0)
"""Where the bookshelf stands on the table (m)."""
SLOT = (0.08, 0.08)
"""Centre (y in the shelf's frame) and width of the gap between the shelf's books (m)."""
SHELF_FLOOR = objects.COUNTER_TOP_Z + 0.015
"""Height of the compartment's floor (m): the shelf's bottom panel is 1.5 cm thick."""
SLOT_CENTER = np.array(
    [SHELF_CENTER[0] + books.BOOKSHELF_INNER[0] - 0.005 - HY, SHELF_CENTER[1] + SLOT[0]]
)
"""Where a book standing in the gap, its front flush with the other books, has its centre (m)."""
SLOT_DEPTH_RANGE = (SLOT_CENTER[0] - 0.03, SLOT_CENTER[0] + 0.035)
"""The standing book's centre lies this deep in the shelf (x, m), low and high."""
SLOT_HALF_RANGE = 0.03
"""Largest sideways offset (y) of the standing book's centre from the gap's centre (m)."""
UPRIGHT_COS = float(np.cos(np.radians(20.0)))
"""The book stands when its top-to-bottom axis is within 20 degrees of vertical."""
OVERHANG = (0.04, 0.06)
"""How far the book starts sticking out over the table's front edge (m), low and high."""
SIDE_GRASP = np.array([np.pi / 2, np.pi / 2, 0.0])
"""Wrist hinge angles with the fingers pointing along -x and the jaws closing along z."""
STANDING_GRASP = np.array([np.pi, np.pi / 2, 0.0])
"""``SIDE_GRASP`` rolled a quarter turn about x: the held book stands on its bottom edge."""
PINCH_DEPTH = 0.025
"""How far the pads reach in over the book's overhanging edge (m)."""


@register_task("book_reorient")
class BookReorient(IkerTask):
    """Stand the book upright in the gap between the books on the shelf.

    Description:
        A blue hardback lies flat on a table, its spine sticking out a few centimetres over the
        table's front edge. Behind it, a wooden bookshelf holds a row of standing books with a
        gap. The parallel gripper pinches the overhanging strip from the front (fingers level,
        jaws closing vertically), lifts the book, rolls it a quarter turn so that it stands on its
        bottom edge, carries it to the shelf and lowers it into the gap.

    Randomizations:
        The book's overhang (0.04..0.06 m), its position along the edge (y -0.15..0.20 m) and
        its yaw (spine toward the edge, ±0.05 rad); wrist start 10..16 cm in front of the
        overhang at its height (±0.02 m in y and z) with ±0.05 rad of hinge noise. The shelf is a
        fixture.

    Success:
        The book stands in the gap: its top-to-bottom axis is within 20 degrees of vertical, its
        bottom rests on the compartment floor (centre 12 cm above it, -1..+2 cm), its centre lies
        within 3 cm of the gap's centre across the shelf and between 3 cm deeper and 3.5 cm
        shallower than flush with the other books' fronts.
    """

    instruction = "stand the book upright in the gap between the books on the shelf"
    keypoints = (
        *book_keypoints(),
        KeypointSpec(
            "shelf gap",
            "bookshelf",
            (SLOT_CENTER[0] - SHELF_CENTER[0], SLOT[0], SHELF_FLOOR - objects.COUNTER_TOP_Z),
            "the floor of the gap between the standing books on the shelf",
        ),
    )
    plan_steps = (
        "Turn the open gripper so that its fingers point at the book's overhanging spine, level, "
        "with the jaws one above and one below the book.",
        "Move the gripper in over the overhanging strip and close the jaws on it.",
        "Lift the book about 10 cm clear of the table.",
        "Roll the gripper a quarter turn about its fingers so that the book stands on its bottom "
        "edge, its covers facing sideways.",
        "Carry the standing book to the front of the gap between the books on the shelf.",
        "Lower it into the gap until its bottom edge rests on the shelf, and hold it there.",
        "The table and the shelf do not move.",
    )
    stages = ("pick the book up, stand it upright and put it in the gap on the shelf",)
    start_limit = 0.10
    contact_bodies = ("book",)
    default_wrist_orientation = tuple(float(v) for v in SIDE_GRASP)
    workspace_low = BOOK_WORKSPACE_LOW
    workspace_high = BOOK_WORKSPACE_HIGH
    camera = CameraSpec(pos=(1.3, -0.7, 1.7), target=(0.5, 0.05, 0.95), fovy=42.0)

    def scene_objects(self) -> list[objects.SceneObject]:
        return [
            table(),
            books.bookshelf(SHELF_CENTER, objects.COUNTER_TOP_Z, books.BOOKSHELF_INNER, SLOT),
            books.book(),
        ]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        yaw = np.pi / 2 + rng.uniform(-0.05, 0.05)
        out = rng.uniform(*OVERHANG)
        book = np.array(
            [TABLE_EDGE_X + out - HY, rng.uniform(-0.15, 0.2), objects.COUNTER_TOP_Z + HZ]
        )
        pinch = self._pinch(book)
        start = pinch + [rng.uniform(0.10, 0.16), 0.0, 0.0] + self._flange(SIDE_GRASP)
        offset = [0.0, rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02)]
        wrist = start_wrist(
            rng, start + offset, (0.0, 0.0), spread=0.0, orientation=SIDE_GRASP, hinge_noise=0.05
        )
        return InitialState(
            seed=seed,
            wrist=wrist,
            objects={"book": (*(float(v) for v in book), *yaw_quaternion(yaw))},
        )

    def grasp_hint(self, body: str) -> tuple[float, float, float] | None:
        """The book is pinched at its overhanging edge (``_pinch``), in its frame: the book lies
        with its local -y axis toward the table's front edge."""
        if body == "book":
            return (0.0, -(HY - PINCH_DEPTH + 0.02), 0.0)
        return super().grasp_hint(body)

    def grasp_angles(self, body: str, pose: Sequence[float]) -> tuple[float, float, float] | None:
        """The side grasp: fingers level pointing at the shelf, jaws closing vertically."""
        if body == "book":
            return tuple(float(v) for v in SIDE_GRASP)
        return super().grasp_angles(body, pose)

    @staticmethod
    def _pinch(book: np.ndarray) -> np.ndarray:
        """Tool centre point pinching the overhanging edge of a book centred at ``book``."""
        return np.array([book[0] + HY - PINCH_DEPTH + 0.02, book[1], book[2]])

    @staticmethod
    def _flange(angles: np.ndarray) -> np.ndarray:
        """Flange position relative to the tool centre point at wrist hinge ``angles``."""
        return rotation_from_xyz_angles(angles) @ np.array([0.0, 0.0, TCP_OFFSET])

    def evaluate(self, worlds, state, step):
        position, rotation = worlds.body_position("book"), worlds.body_rotation("book")
        upright = np.abs(rotation[:, 2, 0])
        height = position[:, 2] - (SHELF_FLOOR + HX)
        resting = (height > -0.01) & (height < 0.02)
        across = np.abs(position[:, 1] - SLOT_CENTER[1])
        depth = position[:, 0]
        inside = (
            (across < SLOT_HALF_RANGE)
            & (depth > SLOT_DEPTH_RANGE[0])
            & (depth < SLOT_DEPTH_RANGE[1])
        )
        success = (upright > UPRIGHT_COS) & resting & inside
        return {"success": success, "uprightness": upright, "gap_offset": across}

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        """Pinch the overhang, lift, roll the book upright, carry it to the gap and lower it.

        The book turns with the wrist: its keypoints follow the pinch point rigidly once held.
        """
        pose = np.array(state.objects["book"])
        book0 = pose[:3]
        pinch0 = self._pinch(book0)
        lift = np.array([0.0, 0.0, 0.10])
        # Held by the pinch point, the rolled book's centre sits at the grip minus its offset,
        # turned a quarter about x (the book's edge-to-centre vector turns from -x to -x).
        grip_to_centre = book0 - pinch0
        roll = rotation_from_xyz_angles(STANDING_GRASP) @ rotation_from_xyz_angles(SIDE_GRASP).T
        standing = np.array([*SLOT_CENTER, SHELF_FLOOR + HX])
        pinch_goal = standing - roll @ grip_to_centre
        entry = pinch_goal + [0.0, 0.0, 0.04]
        # (time, tool centre point, wrist angles, book rotation, book centre)
        yaw = yaw_rotation(quaternion_yaw(pose[3:]))
        held = [
            (0.00, np.array(state.wrist[:3]) - self._flange(SIDE_GRASP), SIDE_GRASP, np.eye(3)),
            (0.15, pinch0 + [0.08, 0, 0], SIDE_GRASP, np.eye(3)),
            (0.27, pinch0, SIDE_GRASP, np.eye(3)),
            (0.35, pinch0, SIDE_GRASP, np.eye(3)),
            (0.45, pinch0 + lift, SIDE_GRASP, np.eye(3)),
            (0.60, pinch0 + lift + [0, 0, 0.08], STANDING_GRASP, roll),
            (0.80, entry, STANDING_GRASP, roll),
            (0.92, pinch_goal, STANDING_GRASP, roll),
            (1.00, pinch_goal, STANDING_GRASP, roll),
        ]
        times = [h[0] for h in held]
        tcp = sample_phases(times, [h[1] for h in held], num_waypoints)
        angles = sample_phases(times, [h[2] for h in held], num_waypoints)
        wrist = tcp + np.stack([self._flange(a) for a in angles])
        local = np.array([kp.local_pos for kp in self.keypoints[:4]]) @ yaw.T
        samples = np.linspace(0.0, 1.0, num_waypoints)
        book = []
        for t, point, angle in zip(samples, tcp, angles):
            held_now = t >= 0.35
            turn = (
                rotation_from_xyz_angles(angle) @ rotation_from_xyz_angles(SIDE_GRASP).T
                if held_now
                else np.eye(3)
            )
            centre = point + turn @ grip_to_centre if held_now else book0
            book.append(centre + local @ turn.T)
        gap = np.array([*SLOT_CENTER, SHELF_FLOOR])
        keypoints = np.concatenate(
            [np.array(book), np.repeat(gap[None, None], num_waypoints, 0)], axis=1
        )
        return OracleWaypoints(
            keypoints=keypoints,
            wrist=wrist,
            wrist_orientation=angles,
            grasp_waypoint=int(np.searchsorted(samples, 0.30)),
        )

    def stage_code(self, stage: int, candidates: Candidates) -> str:
        """Turn the book's keypoints upright and move them into the gap.

        The code finds the book's axes from its keypoints (the longest spread is top to bottom,
        the thinnest is through the covers), turns them so the book stands with its covers
        facing along y, centres them on the gap and rests the lowest keypoint on the shelf when
        the keypoints reach from top to bottom (otherwise it lifts the centroid half the book's
        height above the shelf).
        """
        book = candidate_indices(candidates, "book")
        points = np.array([candidates[i][1] for i in book], dtype=np.float64)
        centred = points - points.mean(axis=0)
        if len(points) >= 2:
            axis = np.linalg.eigh(centred.T @ centred)[1][:, -1]
            reach = float(np.ptp(centred @ axis))
        else:
            reach = 0.0
        if reach > 0.9 * 2 * HX:
            rest = f"""
            # Rest the lowest keypoint (the bottom edge) on the shelf's floor.
            targets[:, 2] += {SHELF_FLOOR:.4f} - np.min(targets[:, 2])
            """
        else:
            rest = f"""
            # Stand the book's middle half its height above the shelf's floor.
            targets[:, 2] += {SHELF_FLOOR + HX:.4f}
            """
        return stage_source(
            "Pick the book up and stand it upright on its bottom edge in the gap between the "
            f"books on the shelf: the gap is centred at x = {SLOT_CENTER[0]:.3f} m, "
            f"y = {SLOT_CENTER[1]:.3f} m, its floor is {SHELF_FLOOR:.3f} m high.",
            f"""
            points = np.array(keypoint_coordinates, dtype=float)
            book = {book}
            moved = points[book]
            centre = np.mean(moved, axis=0)
            offsets = moved - centre
            # The book's axes: the widest spread runs top to bottom, the thinnest through the covers.
            values, vectors = np.linalg.eigh(offsets.T @ offsets)
            thin, tall = vectors[:, 0], vectors[:, 2]
            # Standing: top to bottom vertical, the covers facing along y, across the gap.
            up, across = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
            wanted = np.column_stack([up, across, np.cross(up, across)])
            gap = np.array([{numbers(SLOT_CENTER)}, 0.0])
            toward_shelf = (gap - centre) * np.array([1.0, 1.0, 0.0])
            toward_shelf = toward_shelf / np.linalg.norm(toward_shelf)
            # Either end may go up and either cover face +y: take the smallest turn, and of two
            # equal turns the one that rolls about the line pointing at the shelf.
            choices = []
            for end in (1.0, -1.0):
                for side in (1.0, -1.0):
                    a, b = end * tall, side * thin
                    turn = wanted @ np.column_stack([a, b, np.cross(a, b)]).T
                    angle = np.arccos(np.clip((np.trace(turn) - 1.0) / 2.0, -1.0, 1.0))
                    axis = np.array([turn[2, 1] - turn[1, 2], turn[0, 2] - turn[2, 0],
                                     turn[1, 0] - turn[0, 1]])
                    choices.append((int(np.round(angle / 0.5)), -float(axis @ toward_shelf),
                                    len(choices), turn))
            rotation = min(choices)[3]
            targets = offsets @ rotation.T + gap
            """,
            rest,
            result_source("book", "book", "grasp"),
        )
