"""shoe_push (IKER): push the right shoe across the floor until it stands beside the left one."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import quaternion_yaw, sample_phases, yaw_quaternion, yaw_rotation
from keyscaffold.sim import objects
from keyscaffold.sim.embodiments.gripper import TCP_OFFSET
from keyscaffold.sim.objects import shoes
from keyscaffold.sim.scene import CameraSpec
from keyscaffold.tasks.base import InitialState, OracleWaypoints, register_task, start_wrist
from keyscaffold.tasks.iker_common import (
    FLOOR_WORKSPACE_HIGH,
    FLOOR_WORKSPACE_LOW,
    SHOE_PAIR_SPACING,
    SHOE_UPRIGHT_COS,
    IkerTask,
    shoe_keypoints,
    wrap_angle,
    yaw_of,
)
from keyscaffold.tasks.iker_oracle_code import (
    Candidates,
    candidate_indices,
    result_source,
    spans_long_axis,
    stage_source,
)

PAIR_RADIUS = 0.05
"""The pushed shoe's centre must end within this distance of its place in the pair (m)."""
HEADING_TOLERANCE = 0.35
"""Largest heading difference of a pair's shoes (rad)."""
PUSH_HEIGHT = 0.03
"""Height of the tool centre point above the floor while pushing; the fingertips clear it by
1 cm (m)."""
PUSH_STANDOFF = 0.11
"""Distance from a shoe's centre to the tool centre point at the start of the push (m): half the
shoe's width, half a finger and a 4 cm gap."""


def pair_spot(left_position: np.ndarray, left_rotation: np.ndarray) -> np.ndarray:
    """Where the right shoe's frame belongs: beside the left shoe, on the wearer's right.

    Args:
        left_position: The left shoe's frame positions, shape: (B, 3).
        left_rotation: Its rotations, shape: (B, 3, 3).

    Returns:
        Shape: (B, 3).
    """
    return left_position + left_rotation @ np.array([0.0, -SHOE_PAIR_SPACING, 0.0])


@register_task("shoe_push")
class ShoePush(IkerTask):
    """Push the right shoe next to the left shoe so that they form a pair.

    Description:
        Two red sneakers, a left and a right one, stand on the floor about a quarter of a metre
        apart, toes pointing the same way. The parallel gripper, its jaws closed, lowers beside
        the right shoe and pushes it sideways across the floor until it stands next to the left
        shoe, to the left shoe's right, as a pair.

    Randomizations:
        Left shoe position (x 0.50..0.62 m, y -0.22..-0.08 m) and heading (toe away from the
        camera, ±0.2 rad); right shoe 0.24..0.32 m to the left shoe's right, ±0.04 m along it,
        heading within ±0.15 rad of the left shoe's; wrist start above the push start (±0.02 m in
        x and y, 0.12..0.18 m up), turned to face the push, ±0.05 rad of hinge noise.

    Success:
        Both shoes stand upright (within 20 degrees) on the floor, the right shoe's centre lies
        within 0.05 m of the spot 0.12 m to the left shoe's right (in the left shoe's frame) and
        its heading is within 0.35 rad of the left shoe's.
    """

    instruction = "push the right shoe next to the left shoe to make a pair"
    keypoints = (
        *shoe_keypoints("left_shoe", "left shoe", "left"),
        *shoe_keypoints("right_shoe", "right shoe", "right"),
    )
    plan_steps = (
        "Close the gripper and move it above the floor on the far side of the right shoe, away "
        "from the left shoe.",
        "Lower the closed gripper until its fingertips are about 1 cm above the floor beside the "
        "right shoe.",
        "Push the right shoe sideways along the floor toward the left shoe, keeping the "
        "fingertips low, until the two shoes stand side by side about 2 cm apart.",
        "Stop and hold the gripper still; the left shoe does not move.",
    )
    stages = ("push the right shoe beside the left shoe",)
    start_limit = 0.10
    contact_bodies = ("right_shoe", "left_shoe")
    default_wrist_orientation = (0.0, 0.0, -np.pi / 2)
    workspace_low = FLOOR_WORKSPACE_LOW
    workspace_high = FLOOR_WORKSPACE_HIGH
    camera = CameraSpec(pos=(1.25, -0.25, 0.9), target=(0.52, 0.0, 0.03), fovy=42.0)

    def scene_objects(self) -> list[objects.SceneObject]:
        return [shoes.shoe("left_shoe", "left"), shoes.shoe("right_shoe", "right")]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        left_yaw = np.pi + rng.uniform(-0.2, 0.2)
        left = np.array([rng.uniform(0.50, 0.62), rng.uniform(-0.22, -0.08), 0.0])
        right_yaw = left_yaw + rng.uniform(-0.15, 0.15)
        # The wearer's right of a shoe is its frame's -y.
        offset = np.array([rng.uniform(-0.04, 0.04), -rng.uniform(0.24, 0.32), 0.0])
        right = left + yaw_rotation(left_yaw) @ offset
        state = InitialState(
            seed=seed,
            wrist=(0.0,) * 6,
            objects={
                "left_shoe": (*(float(v) for v in left), *yaw_quaternion(left_yaw)),
                "right_shoe": (*(float(v) for v in right), *yaw_quaternion(right_yaw)),
            },
        )
        start, _, yaw = self._push(state)
        wrist = start_wrist(
            rng,
            start + [0.0, 0.0, TCP_OFFSET],
            (0.12, 0.18),
            spread=0.02,
            orientation=(0.0, 0.0, yaw),
            hinge_noise=0.05,
        )
        return InitialState(seed, wrist, state.objects)

    @staticmethod
    def _push(state: InitialState) -> tuple[np.ndarray, np.ndarray, float]:
        """The push of a state: tool centre point at its start and end (m), and the wrist yaw.

        The wrist faces the push direction so that the palm's broad side leads.
        """
        left = np.array(state.objects["left_shoe"])
        right = np.array(state.objects["right_shoe"])
        spot = pair_spot(left[None, :3], yaw_rotation(quaternion_yaw(left[3:]))[None])[0]
        direction = spot - right[:3]
        direction[2] = 0.0
        direction /= np.linalg.norm(direction)
        height = np.array([0.0, 0.0, PUSH_HEIGHT])
        start = right[:3] - PUSH_STANDOFF * direction + height
        end = spot - PUSH_STANDOFF * direction + height
        return start, end, float(np.arctan2(direction[1], direction[0]))

    def wrist_orientations(self, state, keypoint_waypoints, wrist_waypoints):
        """The push's yaw, held along the plan."""
        yaw = self._push(state)[2]
        return np.repeat(np.array([[0.0, 0.0, yaw]]), len(wrist_waypoints), 0)

    def evaluate(self, worlds, state, step):
        left, right = worlds.body_position("left_shoe"), worlds.body_position("right_shoe")
        left_rot, right_rot = worlds.body_rotation("left_shoe"), worlds.body_rotation("right_shoe")
        distance = np.linalg.norm((right - pair_spot(left, left_rot))[:, :2], axis=-1)
        heading = np.abs(wrap_angle(yaw_of(right_rot) - yaw_of(left_rot)))
        upright = (left_rot[:, 2, 2] > SHOE_UPRIGHT_COS) & (right_rot[:, 2, 2] > SHOE_UPRIGHT_COS)
        on_floor = (left[:, 2] < 0.02) & (right[:, 2] < 0.02)
        success = (distance < PAIR_RADIUS) & (heading < HEADING_TOLERANCE) & upright & on_floor
        return {"success": success, "pair_distance": distance, "heading_error": heading}

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        """Come down beside the right shoe and push it straight to its place in the pair."""
        start_push, end_push, yaw = self._push(state)
        flange = np.array([0.0, 0.0, TCP_OFFSET])
        right0 = np.array(state.objects["right_shoe"][:3])
        moved = end_push - start_push
        phases = [
            (0.00, np.array(state.wrist[:3]), right0),
            (0.15, start_push + flange + [0, 0, 0.10], right0),
            (0.30, start_push + flange, right0),
            (0.85, end_push + flange, right0 + moved),
            (1.00, end_push + flange, right0 + moved),
        ]
        times = [p[0] for p in phases]
        wrist = sample_phases(times, [p[1] for p in phases], num_waypoints)
        right = sample_phases(times, [p[2] for p in phases], num_waypoints)

        def points(name: str) -> np.ndarray:
            pose = state.objects[name]
            local = np.array([kp.local_pos for kp in self.keypoints if kp.body == name])
            return local @ yaw_rotation(quaternion_yaw(pose[3:])).T

        left = np.array(state.objects["left_shoe"][:3]) + points("left_shoe")
        keypoints = np.concatenate(
            [
                np.repeat(left[None], num_waypoints, 0),
                right[:, None] + points("right_shoe")[None],
            ],
            axis=1,
        )
        return OracleWaypoints(
            keypoints=keypoints, wrist=wrist, wrist_orientation=np.array([0.0, 0.0, yaw])
        )

    def stage_code(self, stage: int, candidates: Candidates) -> str:
        """Move the right shoe's keypoints beside the left shoe's, turned to its heading.

        When either shoe's candidates do not span its length, the code keeps the right shoe's
        heading and places it along the line between the two shoes' centroids instead.
        """
        pushed = candidate_indices(candidates, "right_shoe")
        partner = candidate_indices(candidates, "left_shoe")
        length = 2 * shoes.SHOE_HALF_LENGTH
        aligned = spans_long_axis(candidates, pushed, length) and spans_long_axis(
            candidates, partner, length
        )
        if aligned:
            place = """
            # Turn the right shoe to the left shoe's heading (the smallest such turn) and put it
            # beside the left shoe, across the left shoe's long axis, on the right shoe's side.
            along, mine = long_axis(other), long_axis(moved)
            turn = np.arctan2(along[1], along[0]) - np.arctan2(mine[1], mine[0])
            turn = (turn + np.pi / 2) % np.pi - np.pi / 2
            c, s = np.cos(turn), np.sin(turn)
            rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            across = np.array([-along[1], along[0], 0.0])
            if np.dot(across, centre - anchor) < 0.0:
                across = -across
            """
        else:
            place = """
            # Keep the right shoe's heading; close the gap along the line between the shoes.
            rotation = np.eye(3)
            across = (centre - anchor) * np.array([1.0, 1.0, 0.0])
            across = across / np.linalg.norm(across)
            """
        return stage_source(
            "Push the right shoe along the floor until it stands beside the left shoe as a "
            f"pair, their centres {SHOE_PAIR_SPACING:.2f} m apart, the right shoe on the left "
            "shoe's right.",
            f"""
            points = np.array(keypoint_coordinates, dtype=float)
            pushed = {pushed}
            partner = {partner}
            moved = points[pushed]
            other = points[partner]
            centre = np.mean(moved, axis=0)
            anchor = np.mean(other, axis=0)
            """,
            place,
            f"""
            goal = anchor + {SHOE_PAIR_SPACING} * across
            goal[2] = centre[2]
            targets = goal + (moved - centre) @ rotation.T
            """,
            result_source("right_shoe", "pushed", "push"),
            helpers="""
            def long_axis(group):
                # Main direction of a group of keypoints in the floor plane, shape (2,).
                flat = group[:, :2] - np.mean(group[:, :2], axis=0)
                values, vectors = np.linalg.eigh(flat.T @ flat)
                return vectors[:, -1]
            """,
        )
