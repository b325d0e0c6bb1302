"""book_push (IKER): push the book across the table until it sticks out over the front edge."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import quaternion_yaw, sample_phases, yaw_quaternion, yaw_rotation
from keyscaffold.sim import objects
from keyscaffold.sim.embodiments.gripper import TCP_OFFSET
from keyscaffold.sim.objects import books, room
from keyscaffold.sim.scene import CameraSpec
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    register_task,
    start_wrist,
)
from keyscaffold.tasks.iker_common import (
    BOOK_WORKSPACE_HIGH,
    BOOK_WORKSPACE_LOW,
    TABLE_CENTER,
    TABLE_EDGE_X,
    TABLE_HALF,
    IkerTask,
)
from keyscaffold.tasks.iker_oracle_code import (
    Candidates,
    candidate_indices,
    result_source,
    stage_source,
)

HX, HY, HZ = books.BOOK_HALF
OVERHANG = (0.03, 0.10)
"""How far the book must stick out over the table's front edge at the end (m), low and high."""
OVERHANG_GOAL = 0.05
"""Overhang the oracle aims for (m)."""
FLAT_COS = float(np.cos(np.radians(15.0)))
"""The book lies flat when its covers are within 15 degrees of horizontal."""
PUSH_CLEARANCE = 0.005
"""Height of the closed fingertips above the table while pushing (m)."""
PUSH_STANDOFF = HY + 0.011 + 0.03
"""Distance from the book's centre to the tool centre point at the start of the push (m)."""


def book_keypoints(label: str = "book") -> tuple[KeypointSpec, ...]:
    """Four keypoints of a book at the middle of its edges: top, bottom, spine and fore edge."""
    return (
        KeypointSpec(f"{label} top", "book", (HX, 0.0, 0.0), "the middle of the book's top edge"),
        KeypointSpec(
            f"{label} bottom", "book", (-HX, 0.0, 0.0), "the middle of the book's bottom edge"
        ),
        KeypointSpec(f"{label} spine", "book", (0.0, -HY, 0.0), "the middle of the book's spine"),
        KeypointSpec(
            f"{label} fore edge",
            "book",
            (0.0, HY, 0.0),
            "the middle of the book's fore edge, the page side opposite the spine",
        ),
    )


def table() -> objects.SceneObject:
    """The table of the book scenes (the counter fixture, smaller)."""
    return room.counter(TABLE_CENTER, TABLE_HALF)


def overhang(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """How far books stick out over the table's front edge (m; negative: short of it).

    Args:
        position: Book centres, shape: (B, 3).
        rotation: Book rotations, shape: (B, 3, 3).

    Returns:
        The farthest reach of each book's box along +x beyond the edge, shape: (B,).
    """
    reach = np.abs(rotation[:, 0]) @ np.array([HX, HY, HZ])
    return position[:, 0] + reach - TABLE_EDGE_X


@register_task("book_push")
class BookPush(IkerTask):
    """Push the book over the table's front edge, so that part of it sticks out.

    Description:
        A blue hardback lies flat on a table, its spine toward the table's front edge. The
        parallel gripper, its jaws closed, comes down behind the book and pushes it along the
        table toward the front edge until a strip of the book sticks out over it (where a gripper
        can then pinch the book).

    Randomizations:
        Book position (x 0.50..0.56 m, 10..16 cm short of sticking out; y -0.20..0.20 m) and yaw
        (its spine toward the edge, ±0.2 rad); wrist start above the push start (±0.02 m in x and
        y, 0.08..0.14 m up) with ±0.05 rad of hinge noise.

    Success:
        The book lies flat on the table (covers within 15 degrees of horizontal, within 1 cm of
        resting height), sticks out over the front edge by 3..10 cm and its centre stays at
        least 1 cm behind the edge.
    """

    instruction = "push the book to the front edge of the table so that it sticks out a little"
    keypoints = (
        *book_keypoints(),
        KeypointSpec(
            "table edge",
            "counter",
            (TABLE_HALF[0], 0.0, objects.COUNTER_TOP_Z),
            "the middle of the table's front edge",
        ),
    )
    plan_steps = (
        "Close the gripper and move it above the table behind the book, on the side away from "
        "the table's front edge.",
        "Lower the closed gripper until its fingertips are just above the table behind the book.",
        "Push the book straight toward the front edge, keeping the fingertips low, until about "
        "5 cm of the book sticks out over the edge.",
        "Stop and hold the gripper still; the book must not fall off.",
    )
    stages = ("push the book until it sticks out over the table's front edge",)
    start_limit = 0.10
    contact_bodies = ("book",)
    workspace_low = BOOK_WORKSPACE_LOW
    workspace_high = BOOK_WORKSPACE_HIGH
    camera = CameraSpec(pos=(1.3, -0.7, 1.7), target=(0.55, 0.0, 0.92), fovy=40.0)

    def scene_objects(self) -> list[objects.SceneObject]:
        return [table(), books.book()]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        yaw = np.pi / 2 + rng.uniform(-0.2, 0.2)
        book = np.array(
            [rng.uniform(0.50, 0.56), rng.uniform(-0.2, 0.2), objects.COUNTER_TOP_Z + HZ]
        )
        start = self._push_start(book)
        wrist = start_wrist(
            rng, start + [0.0, 0.0, TCP_OFFSET], (0.08, 0.14), spread=0.02, hinge_noise=0.05
        )
        return InitialState(
            seed=seed,
            wrist=wrist,
            objects={"book": (*(float(v) for v in book), *yaw_quaternion(yaw))},
        )

    @staticmethod
    def _push_start(book: np.ndarray) -> np.ndarray:
        """Tool centre point behind a book's centre at pushing height, shape: (3,)."""
        height = objects.COUNTER_TOP_Z + PUSH_CLEARANCE + 0.02 - book[2]
        return book + [-PUSH_STANDOFF, 0.0, height]

    @staticmethod
    def push_distance(state: InitialState) -> float:
        """How far the oracle pushes the book along +x (m)."""
        pose = np.array(state.objects["book"])
        rotation = yaw_rotation(quaternion_yaw(pose[3:]))[None]
        return float(OVERHANG_GOAL - overhang(pose[None, :3], rotation)[0])

    def evaluate(self, worlds, state, step):
        position, rotation = worlds.body_position("book"), worlds.body_rotation("book")
        out = overhang(position, rotation)
        flat = rotation[:, 2, 2] > FLAT_COS
        resting = np.abs(position[:, 2] - (objects.COUNTER_TOP_Z + HZ)) < 0.01
        behind = position[:, 0] < TABLE_EDGE_X - 0.01
        success = (out >= OVERHANG[0]) & (out <= OVERHANG[1]) & flat & resting & behind
        return {"success": success, "overhang": out}

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        """Come down behind the book and push it straight toward the edge."""
        book0 = np.array(state.objects["book"][:3])
        shift = np.array([self.push_distance(state), 0.0, 0.0])
        flange = np.array([0.0, 0.0, TCP_OFFSET])
        start = self._push_start(book0) + flange
        phases = [
            (0.00, np.array(state.wrist[:3]), book0),
            (0.15, start + [0, 0, 0.06], book0),
            (0.30, start, book0),
            (0.85, start + shift, book0 + shift),
            (1.00, start + shift, book0 + shift),
        ]
        times = [p[0] for p in phases]
        wrist = sample_phases(times, [p[1] for p in phases], num_waypoints)
        book = sample_phases(times, [p[2] for p in phases], num_waypoints)
        yaw = quaternion_yaw(state.objects["book"][3:])
        local = np.array([kp.local_pos for kp in self.keypoints[:4]]) @ yaw_rotation(yaw).T
        edge = np.array([TABLE_EDGE_X, TABLE_CENTER[1], objects.COUNTER_TOP_Z])
        keypoints = np.concatenate(
            [book[:, None] + local[None], np.repeat(edge[None, None], num_waypoints, 0)], axis=1
        )
        return OracleWaypoints(keypoints=keypoints, wrist=wrist, wrist_orientation=np.zeros(3))

    def stage_code(self, stage: int, candidates: Candidates) -> str:
        """Shift the book's keypoints along +x until the farthest sticks out by 5 cm."""
        book = candidate_indices(candidates, "book")
        return stage_source(
            f"Push the book along +x until it sticks out over the table's front edge (x = "
            f"{TABLE_EDGE_X:.2f} m) by about {OVERHANG_GOAL:.2f} m; it stays flat on the table.",
            f"""
            points = np.array(keypoint_coordinates, dtype=float)
            book = {book}
            moved = points[book]
            front = np.max(moved[:, 0])
            shift = {TABLE_EDGE_X} + {OVERHANG_GOAL} - front
            targets = moved + np.array([shift, 0.0, 0.0])
            """,
            result_source("book", "book", "push"),
        )
