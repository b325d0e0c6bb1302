"""How IKER task oracles write stage code: the pieces of source they assemble (numbers and
matrices as literals, the stage function, the finished stage, alignment and object-frame helpers
inside the generated code) and the ground-truth matching they read candidates with (which
candidate numbers lie on a body, rigid matches of seen keypoints to an object's known ones,
expected object poses). The generated code is what a model would write: numpy on
``keypoint_coordinates``."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

Candidates = Sequence[tuple[str, Sequence[float]]]
"""Numbered candidate keypoints: (body name, world position (3,)) pairs; list index = number."""


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
