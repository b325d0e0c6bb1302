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

import textwrap
from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

import numpy as np

from keyscaffold.geometry import quaternion_yaw
from keyscaffold.sim import objects
from keyscaffold.sim.extremities import object_keypoints
from keyscaffold.tasks.base import KeypointSpec, Task

Candidates = Sequence[tuple[str, Sequence[float]]]
"""Numbered candidate keypoints: (body name, world position (3,)) pairs; list index = number."""

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
        side: ``left`` or ``right`` (``objects.shoe``'s side): the inner (big-toe) side of a left
            shoe is its frame's -y, that of a right shoe +y.
    """
    hl, hw = objects.SHOE_HALF_LENGTH, objects.SHOE_HALF_WIDTH
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
    local = np.array([objects.SHOE_HEEL_X, 0.0, GRASP_HEIGHT])
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
    hl, hw = objects.SHOE_HALF_LENGTH, objects.SHOE_HALF_WIDTH
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


def candidate_indices(candidates: Candidates, body: str) -> list[int]:
    """Numbers of the candidates on ``body``; raises ``ValueError`` when there is none."""
    indices = [i for i, (name, _) in enumerate(candidates) if name == body]
    if not indices:
        raise ValueError(f"no candidate keypoint lies on {body!r}; the oracle cannot name one")
    return indices


def spans_long_axis(candidates: Candidates, indices: list[int], length: float) -> bool:
    """Whether the chosen candidates reach along an object's long axis (``length``, m).

    The oracle's code finds the long axis as the candidates' principal direction; that is only
    the object's long axis when the candidates spread along it by more than 60 % of its length.
    """
    points = np.array([candidates[i][1] for i in indices], dtype=np.float64)[:, :2]
    if len(points) < 2:
        return False
    centred = points - points.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    extent = centred @ vectors[:, -1]
    return bool(extent.max() - extent.min() > 0.6 * length)


def numbers(values: Sequence[float]) -> str:
    """Numbers as Python source, to a tenth of a millimetre: ``0.3, -0.1205``."""
    return ", ".join(f"{float(v):.4f}".rstrip("0").rstrip(".") if v else "0.0" for v in values)


def matrix(rows: np.ndarray) -> str:
    """Rows of numbers as a Python list of lists (``numbers`` each): ``[[0.13, 0.0, 0.02]]``."""
    return "[" + ", ".join(f"[{numbers(row)}]" for row in np.atleast_2d(rows)) + "]"


def stage_source(comment: str, *parts: str, helpers: str = "") -> str:
    """A complete ``get_interaction_data`` definition: imports, a comment, an indented body.

    Args:
        comment: What the stage does, in words (written as comment lines).
        parts: The function's statements in pieces, each dedented on its own; the last ends in
            a ``return``.
        helpers: Source of functions the body calls (such as ``OBJECT_FRAME``), written before
            ``get_interaction_data``.
    """
    lines = textwrap.wrap(comment, 92)
    header = "\n".join(f"    # {line}" for line in lines)
    body = "\n".join(textwrap.dedent(part).strip("\n") for part in parts)
    functions = f"{textwrap.dedent(helpers).strip(chr(10))}\n\n\n" if helpers.strip() else ""
    return (
        "import numpy as np\n\n\n"
        f"{functions}"
        "def get_interaction_data(keypoint_coordinates):\n"
        f"{header}\n"
        f"{textwrap.indent(body, '    ')}\n"
    )


def done_source(comment: str) -> str:
    """Stage code that reports the task finished."""
    return stage_source(
        comment,
        'return {"object": "none", "keypoints": [], "targets": [], "mode": "push", "done": True}',
    )


YAW_ALIGN = """
# Turn about the centroid so that the long axis (the keypoints' main direction in the floor
# plane) runs along x; the smallest such turn, since the axis has no preferred end.
flat = (moved - centre)[:, :2]
values, vectors = np.linalg.eigh(flat.T @ flat)
axis = vectors[:, -1]
turn = (-np.arctan2(axis[1], axis[0]) + np.pi / 2) % np.pi - np.pi / 2
c, s = np.cos(turn), np.sin(turn)
rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
"""
"""Code lines that set ``rotation`` from ``moved`` and ``centre`` (oracle code fragment)."""

NO_TURN = """
rotation = np.eye(3)
"""
"""Code fragment for a move without a turn."""

SPREAD_FOR_HEADING = 1e-4
"""Least sum of squared distances (m^2) of keypoints from their centroid in the floor plane for
them to show an object's heading (about 1.4 cm between two points)."""

OBJECT_FRAME = f"""
def turn_about_z(angle):
    # Rotation matrix of a turn by angle (rad) about the vertical axis.
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def object_frame(seen, local, heading):
    # An upright object's heading (rad), its rotation and the origin of its frame (m): the turn
    # about z and the shift that carry its keypoints' positions in its own frame (local) onto
    # where they are seen. Keypoints that do not spread across the floor plane (a single one)
    # cannot show the heading: then it is the expected heading.
    a = local[:, :2] - np.mean(local[:, :2], axis=0)
    b = seen[:, :2] - np.mean(seen[:, :2], axis=0)
    yaw = np.arctan2(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]), np.sum(a * b))
    if np.sum(a * a) < {SPREAD_FOR_HEADING}:
        yaw = heading
    rotation = turn_about_z(yaw)
    return yaw, rotation, np.mean(seen - local @ rotation.T, axis=0)
"""
"""Helper functions for stage code (``stage_source``'s ``helpers``): ``turn_about_z`` and
``object_frame``, the pose of an upright object from its seen keypoints and their known positions
in its frame (see ``frame_positions``)."""


def turned_about_z(points: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Points turned about the vertical axis, each group by its own angle.

    Args:
        points: Shape: (N, K, 3).
        yaw: Angles (rad), shape: (N,).

    Returns:
        Shape: (N, K, 3).
    """
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y = points[..., 0], points[..., 1]
    return np.stack([c * x - s * y, s * x + c * y, points[..., 2]], axis=-1)


def object_frames(
    seen: np.ndarray, local: np.ndarray, heading: float
) -> tuple[np.ndarray, np.ndarray]:
    """``OBJECT_FRAME``'s ``object_frame`` for many matches at once: headings and frame origins.

    Args:
        seen: World positions of the seen keypoints, shape: (K, 3).
        local: Their body-frame positions under each match, shape: (N, K, 3).
        heading: The heading (rad) taken where the keypoints cannot show one.

    Returns:
        Headings (rad), shape: (N,); frame origins (m), shape: (N, 3).
    """
    a = local[..., :2] - local[..., :2].mean(axis=1, keepdims=True)
    b = seen[:, :2] - seen[:, :2].mean(axis=0)
    cross = np.sum(a[..., 0] * b[:, 1] - a[..., 1] * b[:, 0], axis=1)
    yaw = np.arctan2(cross, np.sum(a * b, axis=(1, 2)))
    yaw = np.where(np.sum(a * a, axis=(1, 2)) < SPREAD_FOR_HEADING, heading, yaw)
    return yaw, np.mean(seen - turned_about_z(local, yaw), axis=1)


def rigid_matches(seen: np.ndarray, known: np.ndarray, slack: float = 0.01) -> np.ndarray:
    """Every match of seen points to distinct known positions that a rigid motion could make:
    each pair of seen points as far apart as their known positions, give or take ``slack`` (m).

    Built one seen point at a time, dropping partial matches that break a distance, so only the
    few consistent matches are ever held.

    Args:
        seen: World positions, shape: (K, 3).
        known: Body-frame positions, shape: (M, 3).
        slack: Largest difference of two distances (m).

    Returns:
        Indices into ``known``, one row per match, shape: (N, K), N >= 1.

    Raises:
        ValueError: When no match keeps the distances.
    """
    seen_apart = np.linalg.norm(seen[:, None] - seen[None], axis=-1)
    known_apart = np.linalg.norm(known[:, None] - known[None], axis=-1)
    count = len(known)
    matches = np.arange(count)[:, None]
    for k in range(1, len(seen)):
        grown = np.concatenate(
            [np.repeat(matches, count, axis=0), np.tile(np.arange(count), len(matches))[:, None]],
            axis=1,
        )
        distinct = (grown[:, :k] != grown[:, k:]).all(axis=1)
        kept = np.abs(known_apart[grown[:, :k], grown[:, k:]] - seen_apart[k, :k]) <= slack
        matches = grown[distinct & kept.all(axis=1)]
    if not len(matches):
        raise ValueError(
            f"the {len(seen)} seen keypoints do not match the object's known keypoint positions"
        )
    return matches


class ExpectedPose(NamedTuple):
    """Where the oracle expects an upright object: a box its frame origin lies in and a heading.

    Attributes:
        low: Lower corner of the box (m), shape: (3,); ``-inf`` where there is no bound.
        high: Upper corner (m), shape: (3,); ``inf`` where there is no bound.
        heading: Expected heading (rad) of the object's x axis.
    """

    low: tuple[float, float, float]
    high: tuple[float, float, float]
    heading: float


def frame_positions(
    seen: np.ndarray,
    known: np.ndarray,
    expected: ExpectedPose,
    tolerance: float = 0.001,
    metres_per_radian: float = 0.1,
) -> np.ndarray:
    """Where each seen keypoint of an upright object lies in the object's own frame.

    The oracle knows the object's geometry: ``known`` lists the body-frame positions its
    candidates can have (``IkerTask.known_keypoints``). Each seen point is matched to one of them,
    no two to the same: of the matches whose fit (``object_frame``: a turn about z and a shift)
    leaves a root-mean-square misfit within ``tolerance`` of the smallest, the one whose fitted
    pose lies nearest ``expected`` (the origin's distance from the expected box plus the heading's
    from the expected one). The expectation settles what the points cannot: which end of a
    symmetric box is seen, or where a single point lies on the object.

    Args:
        seen: World positions of the object's seen candidates, shape: (K, 3).
        known: Body-frame positions its candidates can have, shape: (M, 3), M >= K.
        expected: Where the object is expected; its heading is also the one a fit takes when
            the points cannot show one.
        tolerance: Misfit (m) within which matches count as equally good.
        metres_per_radian: How a heading's distance from the expected one weighs against the
            origin's.

    Returns:
        Body-frame positions of the seen points (rows of ``known``), shape: (K, 3).

    Raises:
        ValueError: When no match keeps the seen points' distances (see ``rigid_matches``).
    """
    seen = np.asarray(seen, dtype=np.float64).reshape(-1, 3)
    known = np.asarray(known, dtype=np.float64).reshape(-1, 3)
    local = known[rigid_matches(seen, known)]
    yaw, origin = object_frames(seen, local, expected.heading)
    placed = origin[:, None] + turned_about_z(local, yaw)
    misfit = np.sqrt(np.mean(np.sum((placed - seen) ** 2, axis=-1), axis=1))
    outside = np.maximum(np.asarray(expected.low) - origin, 0.0) + np.maximum(
        origin - np.asarray(expected.high), 0.0
    )
    turn = np.abs(np.mod(yaw - expected.heading + np.pi, 2 * np.pi) - np.pi)
    cost = np.linalg.norm(outside, axis=1) + metres_per_radian * turn
    cost[misfit > misfit.min() + tolerance] = np.inf
    return local[int(np.argmin(cost))]


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
            return (objects.SHOE_HEEL_X, 0.0, GRASP_HEIGHT)
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


def result_source(obj: str, indices: str, mode: str) -> str:
    """The closing ``return`` of an acting stage (``targets`` is an (K, 3) array by then).

    Args:
        obj: Body name of the object acted on.
        indices: Name of the code's variable holding the chosen candidate numbers.
        mode: ``grasp`` or ``push``.
    """
    return (
        "return {\n"
        f'    "object": "{obj}",\n'
        f'    "keypoints": {indices},\n'
        '    "targets": targets.tolist(),\n'
        f'    "mode": "{mode}",\n'
        '    "done": False,\n'
        "}"
    )
