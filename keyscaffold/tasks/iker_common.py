"""What the IKER tasks share: the gripper, stage oracles that write code, the shoe rack's geometry.

An IKER task is solved stage by stage: at each stage code written by a vision-language model (or,
offline, by the task's ``oracle_code``) defines ``get_interaction_data(keypoint_coordinates)``
(see ``keyscaffold.iker.stage``) and says which object's numbered keypoints should go where. The
oracle reads the ground truth (which candidate lies on which body, where the fixtures stand) and
writes code in the style a model would: it picks candidate numbers and computes the targets from
``keypoint_coordinates`` with numpy, moving the chosen keypoints rigidly (a turn about their
centroid, then a shift), so that an object whose keypoints reach the targets sits in the goal.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from keyscaffold.geometry import quaternion_yaw
from keyscaffold.sim.extremities import object_keypoints
from keyscaffold.sim.objects import shoes
from keyscaffold.tasks.base import KeypointSpec, Task
from keyscaffold.tasks.iker_oracle_code import (
    Candidates,
    ExpectedPose,
    done_source,
    frame_positions,
)

FLOOR_WORKSPACE_LOW = (0.0, -0.6, 0.0)
"""Lower corner of the workspace of the floor scenes (shoes and the rack), m."""
FLOOR_WORKSPACE_HIGH = (1.0, 0.6, 0.9)
"""Upper corner of the workspace of the floor scenes, m."""

RACK_CENTER = (0.3, 0.0)
"""Where the shoe rack stands (m); it is a fixture, the same in every initial state."""
RACK_INNER_HALF_WIDTH = 0.33
"""Half the free length of a rack shelf between its side panels (m)."""
RACK_HALF_DEPTH = 0.16
"""Half the depth of the rack's shelves (m)."""
RACK_LEVELS = (0.08, 0.32)
"""Heights of the top surfaces of the rack's lower and upper shelves (m)."""
UPPER_SHELF = RACK_LEVELS[1]
"""Height of the upper shelf's top surface (m), where the shoes go."""

TABLE_CENTER = (0.45, 0.0)
"""Where the table of the book scenes stands (m); its top is at ``objects.COUNTER_TOP_Z``."""
TABLE_HALF = (0.3, 0.55)
"""Half sizes of the table's top (m)."""
TABLE_EDGE_X = TABLE_CENTER[0] + TABLE_HALF[0]
"""The table's front edge (m), the edge toward the camera."""
BOOK_WORKSPACE_LOW = (0.0, -0.6, 0.85)
"""Lower corner of the book scenes' workspace (m)."""
BOOK_WORKSPACE_HIGH = (1.2, 0.6, 1.5)
"""Upper corner of the book scenes' workspace (m): the gripper may reach over the front edge."""

SHOE_UPRIGHT_COS = float(np.cos(np.radians(20.0)))
"""A shoe stands on its sole when its up axis is within 20 degrees of vertical."""
SHELF_OVERHANG = 0.03
"""How far a placed shoe's sole may stick out over a shelf's edges (m)."""
SHOE_PAIR_SPACING = 0.12
"""Centre-to-centre distance of two shoes standing side by side as a pair (m)."""
GRASP_HEIGHT = 0.065
"""Height of the gripper's tool centre point above a shoe's sole when it pinches the heel (m)."""


def shoe_keypoints(body: str, label: str, side: str) -> tuple[KeypointSpec, ...]:
    """Four keypoints of a shoe: toe, heel and the inner and outer sides of the sole.

    Args:
        body: The shoe's body name.
        label: How the instruction names the shoe (``shoe``, ``left shoe``).
        side: ``left`` or ``right`` (``shoes.shoe``'s side): the inner (big-toe) side of a left
            shoe is its frame's -y, that of a right shoe +y.
    """
    hl, hw = shoes.SHOE_HALF_LENGTH, shoes.SHOE_HALF_WIDTH
    inner = -1.0 if side == "left" else 1.0
    return (
        KeypointSpec(
            f"{label} toe", body, (hl - 0.005, 0.0, 0.03), f"the tip of the {label}'s toe"
        ),
        KeypointSpec(
            f"{label} heel", body, (-hl, 0.0, 0.06), f"the back of the {label}'s heel, halfway up"
        ),
        KeypointSpec(
            f"{label} inner side",
            body,
            (0.0, inner * hw, 0.02),
            f"the middle of the inner (big-toe) side of the {label}'s sole",
        ),
        KeypointSpec(
            f"{label} outer side",
            body,
            (0.0, -inner * hw, 0.02),
            f"the middle of the outer side of the {label}'s sole",
        ),
    )


def rack_keypoints() -> tuple[KeypointSpec, ...]:
    """Two keypoints on the top of the rack's upper shelf, 7 cm from each end."""
    y = RACK_INNER_HALF_WIDTH - 0.07
    return (
        KeypointSpec(
            "rack upper shelf left",
            "shoe_rack",
            (0.0, -y, UPPER_SHELF),
            "the top surface of the shoe rack's upper shelf near its left end",
        ),
        KeypointSpec(
            "rack upper shelf right",
            "shoe_rack",
            (0.0, y, UPPER_SHELF),
            "the top surface of the shoe rack's upper shelf near its right end",
        ),
    )


def heel_grasp_yaw(shoe_yaw: float | np.ndarray) -> float | np.ndarray:
    """Wrist yaw (rad) that pinches a shoe's heel counter: the jaws close along the shoe.

    The gripper's jaws close along its y axis, so its yaw sits a quarter turn from the shoe's,
    wrapped to (-pi, pi].
    """
    yaw = np.asarray(shoe_yaw, dtype=np.float64) - np.pi / 2
    wrapped = np.pi - np.mod(np.pi - yaw, 2 * np.pi)
    return float(wrapped) if np.ndim(wrapped) == 0 else wrapped


def heel_grasp_point(shoe_pose: Sequence[float]) -> np.ndarray:
    """World position of the tool centre point pinching the heel of a shoe at ``shoe_pose``.

    Args:
        shoe_pose: Free-joint pose (x, y, z, qw, qx, qy, qz) of an upright shoe, shape: (7,).

    Returns:
        Shape: (3,).
    """
    yaw = 2.0 * np.arctan2(shoe_pose[6], shoe_pose[3])
    local = np.array([shoes.SHOE_HEEL_X, 0.0, GRASP_HEIGHT])
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array(shoe_pose[:3]) + [c * local[0], s * local[0], local[2]]


def yaw_of(rotation: np.ndarray) -> np.ndarray:
    """Heading (rad) of the body x axes of rotations, shape: (B, 3, 3) -> (B,)."""
    return np.arctan2(rotation[:, 1, 0], rotation[:, 0, 0])


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return np.mod(np.asarray(angle) + np.pi, 2 * np.pi) - np.pi


def shoe_on_upper_shelf(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Whether shoes stand on the rack's upper shelf.

    A shoe counts when its sole rests on the shelf (its frame, the sole's underside, within
    -1..+2 cm of the shelf's top), it stands upright (within 20 degrees) and every corner of its
    sole lies over the shelf, give or take ``SHELF_OVERHANG``.

    Args:
        position: Shoe frame positions, shape: (B, 3).
        rotation: Shoe rotations, shape: (B, 3, 3).

    Returns:
        Shape: (B,), bool.
    """
    hl, hw = shoes.SHOE_HALF_LENGTH, shoes.SHOE_HALF_WIDTH
    corners = np.array([[hl, hw, 0.0], [hl, -hw, 0.0], [-hl, hw, 0.0], [-hl, -hw, 0.0]])
    world = position[:, None] + np.einsum("bij,kj->bki", rotation, corners)
    local_xy = world[..., :2] - np.asarray(RACK_CENTER)
    inside = (np.abs(local_xy[..., 0]) <= RACK_HALF_DEPTH + SHELF_OVERHANG) & (
        np.abs(local_xy[..., 1]) <= RACK_INNER_HALF_WIDTH + SHELF_OVERHANG
    )
    height = position[:, 2] - UPPER_SHELF
    resting = (height > -0.01) & (height < 0.02)
    upright = rotation[:, 2, 2] > SHOE_UPRIGHT_COS
    return inside.all(axis=1) & resting & upright


class IkerTask(Task):
    """A task solved in IKER mode by the parallel gripper, stage by stage.

    Subclasses list their stages (what each one does, in words) and write each stage's code with
    ``oracle_code``; the stage after the last returns ``done=True``.
    """

    embodiment = "gripper"
    modes: ClassVar[tuple[str, ...]] = ("iker",)
    stages: ClassVar[tuple[str, ...]] = ()
    """What each stage does, in order; the oracle writes one piece of code per stage."""

    def num_stages(self) -> int:
        """Number of stages that act (the code for stage ``num_stages()`` reports ``done``)."""
        return len(self.stages)

    def fixture_bodies(self) -> list[str]:
        """Names of the static scene bodies (rack, table, shelf) that get fixture keypoints."""
        return [obj.name for obj in self.scene_objects() if not obj.movable]

    def known_keypoints(self, body: str) -> np.ndarray:
        """Body-frame positions (m) the candidates on ``body`` can have, shape: (M, 3): the
        task's own keypoints on it, and the extremities and centroid that the candidate proposal
        finds on its geometry (``keyscaffold.sim.extremities.object_keypoints``)."""
        own = [kp.local_pos for kp in self.keypoints if kp.body == body]
        found = object_keypoints(self.build_model(), body, include_center=True)
        return np.concatenate([np.array(own, dtype=np.float64).reshape(-1, 3), found])

    def candidate_frame_positions(
        self, candidates: Candidates, indices: list[int], expected: ExpectedPose
    ) -> np.ndarray:
        """Where the candidates ``indices`` (all on one body) lie in that body's frame (m),
        matched to its ``known_keypoints`` by ``frame_positions`` (see there for ``expected``),
        shape: (K, 3)."""
        (body,) = {candidates[i][0] for i in indices}
        seen = np.array([candidates[i][1] for i in indices], dtype=np.float64)
        return frame_positions(seen, self.known_keypoints(body), expected)

    def grasp_hint(self, body: str) -> tuple[float, float, float] | None:
        """Where the gripper should take ``body`` in grasp mode, in its body frame (m), or None
        (the IKER loop then uses the chosen keypoints' centroid).

        Shoes (bodies with a ``shoe_keypoints`` heel) are pinched at the heel counter.
        """
        if self._is_shoe(body):
            return (shoes.SHOE_HEEL_X, 0.0, GRASP_HEIGHT)
        return None

    def grasp_angles(self, body: str, pose: Sequence[float]) -> tuple[float, float, float] | None:
        """Wrist hinge angles (rad) of the heuristic grasp of ``body`` lying at free-joint
        ``pose`` (x, y, z, qw, qx, qy, qz), or None (the stage keeps the wrist's angles).

        Shoes are pinched from above with the jaws closing along the shoe (``heel_grasp_yaw``).
        """
        if self._is_shoe(body):
            return (0.0, 0.0, float(heel_grasp_yaw(quaternion_yaw(np.asarray(pose[3:])))))
        return None

    def _is_shoe(self, body: str) -> bool:
        """Whether ``body`` is a shoe (it has a ``shoe_keypoints`` heel)."""
        return any(kp.body == body and kp.name.endswith(" heel") for kp in self.keypoints)

    def oracle_code(self, stage: int, candidates: Candidates) -> str:
        """Source of ``get_interaction_data`` for ``stage``, written from ground truth.

        Args:
            stage: 0 for the first stage; ``num_stages()`` asks for the final ``done`` code.
            candidates: The numbered candidate keypoints: (body name, world position) pairs.

        Returns:
            Python source using numpy and math only (it runs in ``keyscaffold.sandbox``).

        Raises:
            ValueError: For a stage out of range, or candidates without a point on the object
                the stage moves.
        """
        if not 0 <= stage <= self.num_stages():
            raise ValueError(
                f"{self.name} has stages 0..{self.num_stages() - 1} (and {self.num_stages()} for "
                f"done); got {stage}"
            )
        if stage == self.num_stages():
            return done_source(f"The task is finished: {self.instruction}.")
        return self.stage_code(stage, candidates)

    @abstractmethod
    def stage_code(self, stage: int, candidates: Candidates) -> str:
        """Source of the acting stage ``stage`` (0 <= stage < ``num_stages()``)."""
