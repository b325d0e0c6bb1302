"""Candidate keypoints for IKER mode: proposal from geometry, projection, pruning, numbered overlay.

A vision-language model cannot name arbitrary 3D points, so IKER shows it a picture with numbered
candidate points and lets it refer to them by number. The candidates come from the scene's geometry:

- **Objects** (movable bodies, normally those with a free joint): the surface of the body's own
  visible geoms is sampled in the body frame, its principal axes are found (PCA about the sample
  centroid), and for each axis the body's extremities along the axis and against it become
  candidates: where the axis line leaves the surface, or the farthest point of the surface in that
  direction when something (a tip, a handle) sticks out clearly beyond it. Optionally the centroid
  is added.
- **Fixtures** (static bodies such as a counter or a rack): a few points spread evenly (k-means)
  over the body's upward-facing (and, when a camera frame is given, visible) surfaces.

Numbers run object by object in the order given, then fixture by fixture. Every candidate is fixed
in its body's frame, so its world position can be read again after the body moves
(``candidate_positions``). ``project_candidates`` keeps the points the camera sees,
``prune_candidates`` removes points whose markers would overlap (fixture points first, then the
higher number) and renumbers the rest, and ``draw_candidates`` puts numbered markers and a legend of
the world axes on a copy of the image. ``propose`` does all of it in one call.

Numbers start at 0: the number drawn on the image is the index into the candidate list that the
stage code receives (see ``keyscaffold.iker.stage``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import mujoco
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keyscaffold.geometry import points_in_body_frames, project_points
from keyscaffold.sim.render import CameraFrame

OBJECT = "object"
FIXTURE = "fixture"
KINDS = (OBJECT, FIXTURE)

_MAX_SAMPLES_PER_GEOM = 4000
_SKIPPED_GEOM_TYPES = {
    int(mujoco.mjtGeom.mjGEOM_PLANE),
    int(mujoco.mjtGeom.mjGEOM_HFIELD),
    int(mujoco.mjtGeom.mjGEOM_SDF),
}
_AXIS_COLOURS = ((220, 30, 30), (20, 150, 40), (30, 70, 230))
"""Legend colours of the world x, y and z axes (red, green, blue)."""


@dataclass(frozen=True)
class Candidate:
    """One candidate keypoint.

    Attributes:
        number: Its number on the image and index in the candidate list.
        body: Name of the body the point is fixed to.
        kind: ``"object"`` or ``"fixture"``.
        world: World position (m), shape: (3,).
        local: Position in the body's frame (m), shape: (3,).
        pixel: Image position (u, v) in pixels, u along the width, shape: (2,); ``None`` until
            projected.
        depth: Distance along the camera's optical axis (m); ``None`` until projected.
    """

    number: int
    body: str
    kind: str
    world: np.ndarray
    local: np.ndarray
    pixel: np.ndarray | None = None
    depth: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain-data form (lists and numbers)."""
        return {
            "number": self.number,
            "body": self.body,
            "kind": self.kind,
            "world": np.asarray(self.world, float).tolist(),
            "local": np.asarray(self.local, float).tolist(),
            "pixel": None if self.pixel is None else np.asarray(self.pixel, float).tolist(),
            "depth": None if self.depth is None else float(self.depth),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Candidate:
        """Inverse of ``to_json``."""
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"candidate kind must be one of {KINDS}, got {kind!r}")
        return Candidate(
            number=int(data["number"]),
            body=str(data["body"]),
            kind=kind,
            world=np.asarray(data["world"], float).reshape(3),
            local=np.asarray(data["local"], float).reshape(3),
            pixel=None
            if data.get("pixel") is None
            else np.asarray(data["pixel"], float).reshape(2),
            depth=None if data.get("depth") is None else float(data["depth"]),
        )


@dataclass(frozen=True)
class CandidateSet:
    """The numbered candidates of one view and the image that shows them.

    Attributes:
        candidates: Surviving candidates, numbered 0..M-1 in order.
        image: RGB overlay with markers and axis legend, shape: (H, W, 3), uint8; ``None`` when
            loaded from JSON.
        objects: Object body names, in numbering order.
        fixtures: Fixture body names, in numbering order.
        image_shape: (H, W) of the image the pixels refer to.
        min_separation_px: Pruning distance that was used (pixels).
    """

    candidates: tuple[Candidate, ...]
    image: np.ndarray | None
    objects: tuple[str, ...]
    fixtures: tuple[str, ...]
    image_shape: tuple[int, int]
    min_separation_px: float

    def __len__(self) -> int:
        return len(self.candidates)

    def bodies(self) -> list[str]:
        """Body name of each candidate, in number order (what ``parse_stage`` checks against)."""
        return [c.body for c in self.candidates]

    def world_positions(self) -> np.ndarray:
        """World positions when the set was made, shape: (M, 3)."""
        return np.array([c.world for c in self.candidates], dtype=np.float64).reshape(-1, 3)

    def coordinates(self) -> list[list[float]]:
        """World positions as the stage code receives them: one ``[x, y, z]`` per number."""
        return self.world_positions().tolist()

    def pairs(self) -> list[tuple[str, list[float]]]:
        """(body name, world position) per number, the form task oracles read."""
        return [(c.body, np.asarray(c.world, float).tolist()) for c in self.candidates]

    def positions(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
        """World positions of the candidates in ``data`` (after bodies moved), shape: (M, 3)."""
        return candidate_positions(model, data, self.candidates)

    def to_json(self) -> dict[str, Any]:
        """Plain-data record: numbers, bodies, kinds, world, local and pixel positions."""
        return {
            "objects": list(self.objects),
            "fixtures": list(self.fixtures),
            "image_shape": list(self.image_shape),
            "min_separation_px": float(self.min_separation_px),
            "candidates": [c.to_json() for c in self.candidates],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> CandidateSet:
        """Inverse of ``to_json`` (without the image)."""
        candidates = tuple(Candidate.from_json(c) for c in data["candidates"])
        if [c.number for c in candidates] != list(range(len(candidates))):
            raise ValueError("candidate numbers must run 0..M-1 in order")
        height, width = (int(v) for v in data["image_shape"])
        return CandidateSet(
            candidates=candidates,
            image=None,
            objects=tuple(data["objects"]),
            fixtures=tuple(data["fixtures"]),
            image_shape=(height, width),
            min_separation_px=float(data["min_separation_px"]),
        )


# --------------------------------------------------------------------------------------------
# Surface samples of geoms


def _fibonacci_sphere(count: int) -> np.ndarray:
    """Nearly even unit directions, shape: (count, 3)."""
    i = np.arange(count) + 0.5
    z = 1.0 - 2.0 * i / count
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    phi = np.pi * (1.0 + np.sqrt(5.0)) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)


def _effective_spacing(area: float, spacing: float) -> float:
    """``spacing`` widened so that ``area`` holds at most ``_MAX_SAMPLES_PER_GEOM`` samples."""
    return max(spacing, float(np.sqrt(area / _MAX_SAMPLES_PER_GEOM)))


def _grid(half: float, spacing: float) -> np.ndarray:
    """Cell centres of an even grid over [-half, half], shape: (n,)."""
    n = max(1, int(np.ceil(2.0 * half / spacing)))
    return -half + (np.arange(n) + 0.5) * (2.0 * half / n)


def _box_samples(size: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b, c = size
    spacing = _effective_spacing(8.0 * (a * b + b * c + c * a), spacing)
    points, normals = [], []
    for k in range(3):
        i, j = [axis for axis in range(3) if axis != k]
        gi, gj = np.meshgrid(_grid(size[i], spacing), _grid(size[j], spacing), indexing="ij")
        for sign in (1.0, -1.0):
            face = np.zeros((gi.size, 3))
            face[:, i], face[:, j], face[:, k] = gi.ravel(), gj.ravel(), sign * size[k]
            normal = np.zeros(3)
            normal[k] = sign
            points.append(face)
            normals.append(np.repeat(normal[None], len(face), 0))
    signs = np.array([[x, y, z] for x in (1, -1) for y in (1, -1) for z in (1, -1)], float)
    corners = signs * size
    surface = np.concatenate(points)
    feature = np.zeros(len(surface) + 8, bool)
    feature[len(surface) :] = True
    all_normals = np.concatenate([*normals, signs / np.sqrt(3.0)])
    return np.concatenate([surface, corners]), all_normals, feature


def _poles(size: np.ndarray) -> np.ndarray:
    return np.concatenate([np.diag(size), -np.diag(size)])


def _ellipsoid_samples(
    size: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    radius = float(np.mean(size))
    area = 4.0 * np.pi * radius**2
    spacing = _effective_spacing(area, spacing)
    count = int(np.clip(np.ceil(area / spacing**2), 32, _MAX_SAMPLES_PER_GEOM))
    directions = np.concatenate([_fibonacci_sphere(count), np.eye(3), -np.eye(3)])
    points = directions * size
    normals = points / np.maximum(size, 1e-12) ** 2
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    feature = np.zeros(len(points), bool)
    feature[count:] = True
    return points, normals, feature


def _ring(radius: float, spacing: float, minimum: int = 12) -> np.ndarray:
    """Angles of an even ring, a multiple of 4 of them (so the 4 axis directions are hit)."""
    count = max(minimum, int(np.ceil(2.0 * np.pi * radius / spacing)))
    count = 4 * int(np.ceil(count / 4))
    return 2.0 * np.pi * np.arange(count) / count


def _side(radius: float, half: float, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Samples of a cylinder's side (radius, half-length along z) and their normals."""
    theta = _ring(radius, spacing)
    th, z = np.meshgrid(theta, _grid(half, spacing), indexing="ij")
    normals = np.stack([np.cos(th), np.sin(th), np.zeros_like(th)], -1).reshape(-1, 3)
    points = normals * radius
    points[:, 2] = z.ravel()
    return points, normals


def _cylinder_samples(
    size: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    radius, half = float(size[0]), float(size[1])
    spacing = _effective_spacing(2 * np.pi * radius * (2 * half + radius), spacing)
    side, side_normals = _side(radius, half, spacing)
    points, normals = [side], [side_normals]
    rings = max(1, int(round(radius / spacing)))
    disc = [np.zeros((1, 2))]
    for i in range(rings):
        rho = radius * (i + 0.5) / rings
        theta = _ring(rho, spacing, minimum=6)
        disc.append(np.stack([rho * np.cos(theta), rho * np.sin(theta)], -1))
    disc_xy = np.concatenate(disc)
    for sign in (1.0, -1.0):
        cap = np.column_stack([disc_xy, np.full(len(disc_xy), sign * half)])
        points.append(cap)
        normals.append(np.repeat([[0.0, 0.0, sign]], len(cap), 0))
    surface = np.concatenate(points)
    theta = _ring(radius, spacing)
    rims, rim_normals = [], []
    for sign in (1.0, -1.0):
        rims.append(np.stack([radius * np.cos(theta), radius * np.sin(theta)], -1))
        rims[-1] = np.column_stack([rims[-1], np.full(len(theta), sign * half)])
        rim = np.stack([np.cos(theta), np.sin(theta), np.full(len(theta), sign)], -1)
        rim_normals.append(rim / np.sqrt(2.0))
    rim_points = np.concatenate(rims)
    feature = np.zeros(len(surface) + len(rim_points), bool)
    feature[len(surface) :] = True
    return (
        np.concatenate([surface, rim_points]),
        np.concatenate([*normals, *rim_normals]),
        feature,
    )


def _capsule_samples(size: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    radius, half = float(size[0]), float(size[1])
    area = 4.0 * np.pi * radius**2 + 4.0 * np.pi * radius * half
    spacing = _effective_spacing(area, spacing)
    side, side_normals = _side(radius, half, spacing)
    count = int(np.clip(np.ceil(4.0 * np.pi * radius**2 / spacing**2), 32, _MAX_SAMPLES_PER_GEOM))
    directions = np.concatenate([_fibonacci_sphere(count), [[0, 0, 1.0], [0, 0, -1.0]]])
    caps = directions * radius
    caps[:, 2] += np.where(directions[:, 2] >= 0.0, half, -half)
    feature = np.zeros(len(side) + len(caps), bool)
    feature[-2:] = True
    return np.concatenate([side, caps]), np.concatenate([side_normals, directions]), feature


def _mesh_samples(model: mujoco.MjModel, mesh: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    adr, num = int(model.mesh_vertadr[mesh]), int(model.mesh_vertnum[mesh])
    vertices = np.asarray(model.mesh_vert[adr : adr + num], dtype=np.float64)
    fadr, fnum = int(model.mesh_faceadr[mesh]), int(model.mesh_facenum[mesh])
    faces = np.asarray(model.mesh_face[fadr : fadr + fnum], dtype=np.int64)
    vertex_normals = np.zeros_like(vertices)
    if len(faces):
        tri = vertices[faces]
        face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        for corner in range(3):
            np.add.at(vertex_normals, faces[:, corner], face_normals)
        lengths = np.linalg.norm(face_normals, axis=1, keepdims=True)
        good = lengths[:, 0] > 1e-15
        centroids, face_normals = tri[good].mean(axis=1), face_normals[good] / lengths[good]
    else:
        centroids, face_normals = np.zeros((0, 3)), np.zeros((0, 3))
    lengths = np.linalg.norm(vertex_normals, axis=1, keepdims=True)
    vertex_normals = np.divide(
        vertex_normals, lengths, out=np.zeros_like(vertices), where=lengths > 0
    )
    points = np.concatenate([centroids, vertices])
    return points, np.concatenate([face_normals, vertex_normals]), np.zeros(len(points), bool)


def _geom_samples(
    model: mujoco.MjModel, geom: int, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surface samples of one geom in its body's frame.

    Returns:
        points, shape: (P, 3); outward normals, shape: (P, 3); ``feature``, shape: (P,), True for
        the extra corner, rim and pole points that mark extremities but are not even samples.
    """
    kind = int(model.geom_type[geom])
    size = np.asarray(model.geom_size[geom], dtype=np.float64)
    if kind == int(mujoco.mjtGeom.mjGEOM_BOX):
        points, normals, feature = _box_samples(size, spacing)
    elif kind == int(mujoco.mjtGeom.mjGEOM_SPHERE):
        points, normals, feature = _ellipsoid_samples(np.full(3, size[0]), spacing)
    elif kind == int(mujoco.mjtGeom.mjGEOM_ELLIPSOID):
        points, normals, feature = _ellipsoid_samples(size, spacing)
    elif kind == int(mujoco.mjtGeom.mjGEOM_CYLINDER):
        points, normals, feature = _cylinder_samples(size, spacing)
    elif kind == int(mujoco.mjtGeom.mjGEOM_CAPSULE):
        points, normals, feature = _capsule_samples(size, spacing)
    elif kind == int(mujoco.mjtGeom.mjGEOM_MESH):
        points, normals, feature = _mesh_samples(model, int(model.geom_dataid[geom]))
    else:
        return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, bool)
    pos, rotation = _geom_pose(model, geom)
    return points @ rotation.T + pos, normals @ rotation.T, feature


def _visible_geoms(model: mujoco.MjModel, body: int) -> list[int]:
    """The body's own geoms a default render shows (groups 0-2, not transparent, finite)."""
    geoms = []
    for geom in np.flatnonzero(model.geom_bodyid == body):
        if int(model.geom_type[geom]) in _SKIPPED_GEOM_TYPES or int(model.geom_group[geom]) > 2:
            continue
        material = int(model.geom_matid[geom])
        alpha = model.mat_rgba[material][3] if material >= 0 else model.geom_rgba[geom][3]
        if alpha > 0:
            geoms.append(int(geom))
    return geoms


def body_surface_samples(
    model: mujoco.MjModel, body: str, spacing: float = 0.01
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surface samples of a body's own visible geoms, in the body's frame.

    Boxes, spheres, ellipsoids, cylinders and capsules are sampled about every ``spacing``
    metres (at most a few thousand points per geom) plus their corners, rims or poles; meshes give
    their vertices and face centroids. Planes and height fields are skipped; child bodies are not
    included (they may move on their own joints).

    Args:
        model: Compiled model.
        body: Body name.
        spacing: Target distance between samples (m).

    Returns:
        points, shape: (P, 3); outward normals, shape: (P, 3); ``feature``, shape: (P,), True
        for corner, rim and pole points.

    Raises:
        ValueError: If the body does not exist, is the world, or has no visible geoms.
    """
    body_id = _body_id(model, body, "body")
    geoms = _visible_geoms(model, body_id)
    if not geoms:
        raise ValueError(
            f"body {body!r} has no visible geoms of its own (boxes, spheres, ellipsoids, "
            "cylinders, capsules or meshes) to place keypoints on"
        )
    parts = [_geom_samples(model, g, spacing) for g in geoms]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def _body_id(model: mujoco.MjModel, name: str, role: str) -> int:
    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    if body < 0:
        known = sorted(model.body(i).name for i in range(1, model.nbody) if model.body(i).name)
        raise ValueError(f"unknown {role} body {name!r}; the model's bodies are {known}")
    if body == 0:
        raise ValueError(f"the world body cannot be used as {role}; name a body of the scene")
    return int(body)


# --------------------------------------------------------------------------------------------
# Objects: extremities along principal axes


def principal_axes(
    points: np.ndarray, tie_tolerance: float = 0.02
) -> tuple[np.ndarray, np.ndarray]:
    """Principal axes of a point cloud, made unique where the shape leaves them free.

    Axes are ordered by decreasing variance. Where variances agree within ``tie_tolerance``
    (relative to the largest), any axes of that plane or space would do; then the frame's own
    axes are used (a cube's or sphere's axes are x, y, z). Each axis' largest component is
    positive.

    Args:
        points: Shape: (N, 3), N >= 1.
        tie_tolerance: Relative variance difference below which two axes count as equal.

    Returns:
        centre (the mean), shape: (3,); axes as rows, shape: (3, 3), a right-handed rotation's
        rows up to sign.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    centre = points.mean(axis=0)
    offsets = points - centre
    variances, vectors = np.linalg.eigh(offsets.T @ offsets / len(points))
    variances, vectors = variances[::-1], vectors[:, ::-1].T.copy()
    scale = max(float(variances[0]), 1e-18)
    tied = [abs(variances[i] - variances[i + 1]) <= tie_tolerance * scale for i in range(2)]
    if tied[0] and tied[1]:
        vectors = np.eye(3)
    elif tied[0] or tied[1]:
        pair = (0, 1) if tied[0] else (1, 2)
        single = 2 if tied[0] else 0
        basis = vectors[list(pair)]
        reach = np.linalg.norm(basis @ np.eye(3), axis=0)
        first = basis.T @ (basis @ np.eye(3)[int(np.argmax(reach))])
        first /= np.linalg.norm(first)
        vectors[pair[0]] = first
        vectors[pair[1]] = np.cross(vectors[single], first)
    for row in vectors:
        if row[int(np.argmax(np.abs(row)))] < 0:
            row *= -1.0
    return centre, vectors


def _farthest(points: np.ndarray, direction: np.ndarray, spacing: float) -> np.ndarray:
    """The point of ``points`` farthest along ``direction``; the middle of a farthest face."""
    reach = points @ direction
    extent = float(np.ptp(reach)) if len(points) > 1 else 0.0
    farthest = points[reach >= reach.max() - 1e-6 * extent - 1e-12]
    middle = farthest.mean(axis=0)
    gaps = np.linalg.norm(farthest - middle, axis=1)
    if gaps.min() > spacing:  # the farthest points are apart (two legs): take one of them
        return farthest[int(np.argmin(gaps))]
    return middle


def _ray_triangles(origin: np.ndarray, direction: np.ndarray, triangles: np.ndarray) -> float:
    """Distance along a ray to the nearest of ``triangles`` (shape (F, 3, 3)), or -1."""
    edge1 = triangles[:, 1] - triangles[:, 0]
    edge2 = triangles[:, 2] - triangles[:, 0]
    p = np.cross(direction, edge2)
    det = np.einsum("ij,ij->i", edge1, p)
    ok = np.abs(det) > 1e-15
    inv = np.divide(1.0, det, out=np.zeros_like(det), where=ok)
    offset = origin - triangles[:, 0]
    u = np.einsum("ij,ij->i", offset, p) * inv
    q = np.cross(offset, edge1)
    v = (q @ direction) * inv
    t = np.einsum("ij,ij->i", edge2, q) * inv
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    return float(t[hit].min()) if hit.any() else -1.0


def _geom_pose(model: mujoco.MjModel, geom: int) -> tuple[np.ndarray, np.ndarray]:
    """Position, shape: (3,), and rotation, shape: (3, 3), of a geom in its body's frame."""
    rotation = np.zeros(9)
    mujoco.mju_quat2Mat(rotation, np.asarray(model.geom_quat[geom], dtype=np.float64))
    return np.asarray(model.geom_pos[geom], dtype=np.float64), rotation.reshape(3, 3)


def _axis_exit(
    model: mujoco.MjModel, geoms: list[int], centre: np.ndarray, direction: np.ndarray, reach: float
) -> float | None:
    """How far from ``centre`` along ``direction`` the body's surface ends on that line.

    A ray is cast back toward the centre from beyond the body; its first hit is the outermost
    surface on the line. Returns ``None`` when the line misses the body on that side.
    """
    start = centre + 2.0 * reach * direction
    back = -direction
    nearest = np.inf
    for geom in geoms:
        pos, rotation = _geom_pose(model, geom)
        kind = int(model.geom_type[geom])
        if kind == int(mujoco.mjtGeom.mjGEOM_MESH):
            mesh = int(model.geom_dataid[geom])
            adr, num = int(model.mesh_vertadr[mesh]), int(model.mesh_vertnum[mesh])
            fadr, fnum = int(model.mesh_faceadr[mesh]), int(model.mesh_facenum[mesh])
            vertices = model.mesh_vert[adr : adr + num] @ rotation.T + pos
            triangles = vertices[np.asarray(model.mesh_face[fadr : fadr + fnum], dtype=np.int64)]
            distance = _ray_triangles(start, back, triangles) if fnum else -1.0
        else:
            distance = mujoco.mju_rayGeom(
                pos, rotation.ravel(), np.asarray(model.geom_size[geom], float), start, back, kind
            )
        if distance >= 0:
            nearest = min(nearest, float(distance))
    if not np.isfinite(nearest) or 2.0 * reach - nearest <= 0.0:
        return None
    return 2.0 * reach - nearest


def _extremity(
    model: mujoco.MjModel,
    geoms: list[int],
    points: np.ndarray,
    centre: np.ndarray,
    direction: np.ndarray,
    spacing: float,
) -> np.ndarray:
    """Where the body ends along ``direction`` from ``centre``.

    The point where the line from the centre leaves the surface, unless some part of the body
    reaches clearly farther in that direction (more than 5 % of the body's extent along it, e.g. a
    tip or a handle off the axis); then the farthest point (the middle of a farthest face).
    """
    reach = points @ direction
    farthest = float(reach.max() - centre @ direction)
    tolerance = max(1e-3, 0.05 * float(np.ptp(reach)))
    radius = float(np.linalg.norm(points - centre, axis=1).max()) + 1e-3
    exit_distance = _axis_exit(model, geoms, centre, direction, radius)
    if exit_distance is not None and farthest - exit_distance <= tolerance:
        return centre + exit_distance * direction
    return _farthest(points, direction, spacing)


def object_keypoints(
    model: mujoco.MjModel,
    body: str,
    num_axes: int = 3,
    include_center: bool = False,
    spacing: float = 0.01,
) -> np.ndarray:
    """Extremities of a body's geometry along its principal axes, in the body's frame.

    The principal axes come from the surface samples about their centroid (axis 0 the longest).
    For axis 0, then 1, then 2, first along +axis then along -axis: the point where the axis line
    leaves the surface (the middle of a box's end face, a sphere's pole), or, where some part of
    the body reaches clearly farther in that direction (a tip, a handle beside the axis), the
    farthest point of the surface. Points closer than 1 mm to an earlier one are dropped.

    Args:
        model: Compiled model.
        body: Body name (normally a body with a free joint).
        num_axes: How many principal axes, 1 to 3 (2 gives four points in the object's main
            plane).
        include_center: Also add the surface samples' centroid (often inside the object).
        spacing: Surface sampling distance (m).

    Returns:
        Local positions, shape: (P, 3), P <= 2 * num_axes + 1.

    Raises:
        ValueError: Unknown body, no visible geoms, or ``num_axes`` outside 1..3.
    """
    if not 1 <= int(num_axes) <= 3:
        raise ValueError(f"num_axes must be 1, 2 or 3, got {num_axes}")
    points, _, _ = body_surface_samples(model, body, spacing)
    geoms = _visible_geoms(model, model.body(body).id)
    centre, axes = principal_axes(points)
    chosen: list[np.ndarray] = []
    for axis in axes[: int(num_axes)]:
        for sign in (1.0, -1.0):
            chosen.append(_extremity(model, geoms, points, centre, sign * axis, spacing))
    if include_center:
        chosen.append(centre)
    kept: list[np.ndarray] = []
    for point in chosen:
        if all(np.linalg.norm(point - other) > 1e-3 for other in kept):
            kept.append(point)
    return np.array(kept, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Fixtures: points spread over the surface


def _spread(points: np.ndarray, count: int, iterations: int = 20) -> np.ndarray:
    """Indices of ``count`` samples spread evenly over ``points`` (k-means, snapped to samples).

    The clustering starts from farthest-point picks beginning near the centroid, so the result is
    deterministic; the first index is the sample nearest the middle of the surface.
    """
    if len(points) <= count:
        return np.arange(len(points))
    start = int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))
    picks = [start]
    nearest = np.linalg.norm(points - points[start], axis=1)
    for _ in range(count - 1):
        picks.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.linalg.norm(points - points[picks[-1]], axis=1))
    centres = points[picks].copy()
    for _ in range(iterations):
        labels = np.argmin(np.linalg.norm(points[:, None] - centres[None], axis=2), axis=1)
        moved = np.array(
            [
                points[labels == k].mean(axis=0) if np.any(labels == k) else centres[k]
                for k in range(count)
            ]
        )
        if np.allclose(moved, centres):
            break
        centres = moved
    chosen: list[int] = []
    for centre in centres:
        distance = np.linalg.norm(points - centre, axis=1)
        distance[chosen] = np.inf
        chosen.append(int(np.argmin(distance)))
    return np.array(chosen, dtype=np.int64)


def fixture_keypoints(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    body: str,
    count: int = 6,
    spacing: float = 0.02,
    min_normal_z: float = 0.7,
    frame: CameraFrame | None = None,
    occlusion_tolerance: float | None = 0.02,
) -> np.ndarray:
    """Points spread evenly over a fixture's surfaces, in the body's frame.

    The body's own visible geoms are sampled; samples whose outward normal points up (world z
    component >= ``min_normal_z``; -1 allows every face) are kept, and when ``frame`` is given only
    those facing the camera and visible in it (in front of the rendered depth and on a pixel that
    the segmentation gives to this body). ``count`` of them, spread by k-means, are returned.

    Args:
        model: Compiled model.
        data: State whose body poses are used (fixtures do not move, but may be placed).
        body: Fixture body name.
        count: At most this many points.
        spacing: Surface sampling distance (m).
        min_normal_z: Lowest world-z component of a sampled face's normal.
        frame: Camera view that the points should be visible in, or ``None``.
        occlusion_tolerance: With ``frame``: how far (m) behind the rendered surface a sample may
            lie and still count as visible; ``None`` skips the depth check.

    Returns:
        Local positions, shape: (P, 3), P <= count (0 if no surface qualifies).

    Raises:
        ValueError: Unknown body, no visible geoms, or ``count`` < 1.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    points, normals, feature = body_surface_samples(model, body, spacing)
    body_id = model.body(body).id
    rotation = np.asarray(data.xmat[body_id]).reshape(3, 3)
    world = points @ rotation.T + data.xpos[body_id]
    normals_world = normals @ rotation.T
    keep = ~feature & (normals_world[:, 2] >= min_normal_z)
    if frame is not None:
        to_camera = frame.cam_to_world[:3, 3] - world
        keep &= np.einsum("ij,ij->i", normals_world, to_camera) > 0.0
        visible, pixels, _ = _visible(world, frame, occlusion_tolerance, 0.0)
        rows = np.floor(np.nan_to_num(pixels[:, 1])).astype(int).clip(0, frame.depth.shape[0] - 1)
        cols = np.floor(np.nan_to_num(pixels[:, 0])).astype(int).clip(0, frame.depth.shape[1] - 1)
        keep &= visible & (frame.segmentation[rows, cols] == body_id)
    local, world = points[keep], world[keep]
    return local[_spread(world, int(count))]


# --------------------------------------------------------------------------------------------
# Candidates


def _check_names(model: mujoco.MjModel, objects: list[str], fixtures: list[str]) -> None:
    for role, names in (("object", objects), ("fixture", fixtures)):
        if isinstance(names, str):
            raise ValueError(f"{role}s must be a list of body names, got the string {names!r}")
    objects, fixtures = list(objects), list(fixtures)
    if not objects and not fixtures:
        raise ValueError("name at least one object or fixture to propose keypoints on")
    for role, names in (("object", objects), ("fixture", fixtures)):
        for name in names:
            _body_id(model, name, role)
    everything = [*objects, *fixtures]
    repeated = sorted({n for n in everything if everything.count(n) > 1})
    if repeated:
        raise ValueError(f"bodies named more than once among objects and fixtures: {repeated}")


def candidate_keypoints(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    objects: list[str],
    fixtures: list[str] = (),
    *,
    num_axes: int = 3,
    include_center: bool = False,
    points_per_fixture: int = 6,
    fixture_min_normal_z: float = 0.7,
    frame: CameraFrame | None = None,
    occlusion_tolerance: float | None = 0.02,
) -> list[Candidate]:
    """Candidate keypoints of a scene, numbered object by object, then fixture by fixture.

    Args:
        model: Compiled model.
        data: Current state (``mj_forward`` done, so body poses are current).
        objects: Movable object body names, in numbering order.
        fixtures: Static fixture body names, numbered after all objects.
        num_axes: Principal axes per object (see ``object_keypoints``).
        include_center: Add each object's centroid.
        points_per_fixture: At most this many points per fixture.
        fixture_min_normal_z: Which fixture faces get points (see ``fixture_keypoints``).
        frame: When given, fixture points are spread over the surfaces this view shows.
        occlusion_tolerance: Depth tolerance of that visibility check (m), or ``None``.

    Returns:
        Candidates numbered 0..N-1, not yet projected.

    Raises:
        ValueError: Unknown or repeated body names, bodies without visible geoms, no names.
    """
    _check_names(model, objects, fixtures)
    objects, fixtures = list(objects), list(fixtures)
    groups: list[tuple[str, str, np.ndarray]] = []
    for name in objects:
        groups.append((name, OBJECT, object_keypoints(model, name, num_axes, include_center)))
    for name in fixtures:
        local = fixture_keypoints(
            model,
            data,
            name,
            points_per_fixture,
            min_normal_z=fixture_min_normal_z,
            frame=frame,
            occlusion_tolerance=occlusion_tolerance,
        )
        groups.append((name, FIXTURE, local))
    candidates: list[Candidate] = []
    for name, kind, local in groups:
        body = model.body(name).id
        world = points_in_body_frames(data.xpos[body], data.xmat[body], local)
        for point_local, point_world in zip(local, world):
            candidates.append(
                Candidate(len(candidates), name, kind, point_world.copy(), point_local.copy())
            )
    return candidates


def candidate_positions(
    model: mujoco.MjModel, data: mujoco.MjData, candidates: list[Candidate] | tuple[Candidate, ...]
) -> np.ndarray:
    """World positions of candidates in ``data`` (read from the bodies' current poses).

    Args:
        model: Compiled model the candidates were made on.
        data: State with current ``xpos`` / ``xmat`` (after ``mj_forward`` or a step).
        candidates: Candidates in any order.

    Returns:
        Shape: (N, 3), in the candidates' order.
    """
    if not candidates:
        return np.zeros((0, 3))
    ids = [_body_id(model, c.body, "candidate") for c in candidates]
    local = np.array([c.local for c in candidates], dtype=np.float64)
    return points_in_body_frames(data.xpos[ids], data.xmat[ids], local)


def update_candidates(
    model: mujoco.MjModel, data: mujoco.MjData, candidates: list[Candidate] | tuple[Candidate, ...]
) -> list[Candidate]:
    """Candidates with world positions read from ``data``; pixels and depths are cleared."""
    world = candidate_positions(model, data, candidates)
    return [replace(c, world=w, pixel=None, depth=None) for c, w in zip(candidates, world)]


# --------------------------------------------------------------------------------------------
# Projection and pruning


def _visible(
    points_world: np.ndarray, frame: CameraFrame, tolerance: float | None, margin_px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which world points the camera sees, and where.

    Returns:
        mask, shape: (N,); pixels, shape: (N, 2) (NaN where behind the camera); depth along the
        optical axis, shape: (N,).
    """
    points_world = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    rotation, origin = frame.cam_to_world[:3, :3], frame.cam_to_world[:3, 3]
    depth = (points_world - origin) @ rotation[:, 2]
    mask = depth > 1e-6
    pixels = np.full((len(points_world), 2), np.nan)
    if mask.any():
        pixels[mask] = project_points(points_world[mask], frame.intrinsics, frame.cam_to_world)[0]
    height, width = frame.depth.shape
    with np.errstate(invalid="ignore"):
        mask &= (pixels[:, 0] >= margin_px) & (pixels[:, 0] < width - margin_px)
        mask &= (pixels[:, 1] >= margin_px) & (pixels[:, 1] < height - margin_px)
    if tolerance is not None and mask.any():
        cols = np.clip(np.floor(pixels[mask, 0]).astype(int), 0, width - 1)
        rows = np.clip(np.floor(pixels[mask, 1]).astype(int), 0, height - 1)
        surface = np.full(len(cols), -np.inf)
        for dr in (-1, 0, 1):  # the farthest surface in a 3x3 window: lenient at silhouettes
            for dc in (-1, 0, 1):
                r, c = np.clip(rows + dr, 0, height - 1), np.clip(cols + dc, 0, width - 1)
                surface = np.maximum(surface, frame.depth[r, c])
        visible = surface >= depth[mask] - tolerance
        mask[np.flatnonzero(mask)[~visible]] = False
    return mask, pixels, depth


def project_candidates(
    candidates: list[Candidate] | tuple[Candidate, ...],
    frame: CameraFrame,
    occlusion_tolerance: float | None = 0.02,
    margin_px: float = 0.0,
) -> list[Candidate]:
    """Project candidates into a view and keep those the camera sees.

    Points behind the camera or outside the image (less ``margin_px`` from its border) are
    dropped, and, unless ``occlusion_tolerance`` is ``None``, points lying more than that many
    metres behind the rendered surface at their pixel (the farthest surface in a 3x3 window).
    Numbers are kept as they were.

    Args:
        candidates: Candidates with current world positions.
        frame: The rendered view (depth is used for occlusion).
        occlusion_tolerance: Depth tolerance (m), or ``None`` to skip the occlusion test.
        margin_px: Border (pixels) that points must stay inside.

    Returns:
        The visible candidates with ``pixel`` and ``depth`` set, in the same order.
    """
    if frame.depth.shape != frame.rgb.shape[:2]:
        raise ValueError(
            f"frame depth {frame.depth.shape} and image {frame.rgb.shape[:2]} differ in size"
        )
    if not candidates:
        return []
    world = np.array([c.world for c in candidates], dtype=np.float64)
    mask, pixels, depth = _visible(world, frame, occlusion_tolerance, margin_px)
    return [
        replace(c, pixel=pixels[i].copy(), depth=float(depth[i]))
        for i, c in enumerate(candidates)
        if mask[i]
    ]


def prune_candidates(
    candidates: list[Candidate] | tuple[Candidate, ...], min_separation_px: float
) -> list[Candidate]:
    """Drop candidates whose image positions overlap, then renumber the rest 0..M-1.

    Object points win over fixture points; among points of the same kind the lower number wins.
    Candidates are visited in that priority and kept when at least ``min_separation_px`` away
    from every point kept so far. The survivors keep their order and are renumbered
    consecutively.

    Args:
        candidates: Projected candidates (``pixel`` set).
        min_separation_px: Smallest allowed image distance between two kept points (pixels).

    Returns:
        Surviving candidates, numbered 0..M-1.

    Raises:
        ValueError: If a candidate has not been projected or the distance is negative.
    """
    if min_separation_px < 0:
        raise ValueError(f"min_separation_px must be >= 0, got {min_separation_px}")
    unprojected = [c.number for c in candidates if c.pixel is None]
    if unprojected:
        raise ValueError(f"candidates {unprojected} have no pixel; project them first")
    order = sorted(
        range(len(candidates)), key=lambda i: (candidates[i].kind != OBJECT, candidates[i].number)
    )
    kept: list[int] = []
    for i in order:
        pixel = np.asarray(candidates[i].pixel)
        if all(np.linalg.norm(pixel - candidates[j].pixel) >= min_separation_px for j in kept):
            kept.append(i)
    return [replace(candidates[i], number=n) for n, i in enumerate(sorted(kept))]


# --------------------------------------------------------------------------------------------
# Drawing


def default_marker_radius(height: int, width: int) -> int:
    """Marker radius (pixels) that stays readable from 512 to 800 px images."""
    return max(11, int(round(0.02 * min(height, width))))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for name in ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without sized default fonts
        return ImageFont.load_default()


def _centred_text(
    draw: ImageDraw.ImageDraw, centre: tuple[float, float], text: str, font, fill, stroke=None
) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = centre[0] - (left + right) / 2.0
    y = centre[1] - (top + bottom) / 2.0
    if stroke is None:
        draw.text((x, y), text, font=font, fill=fill)
    else:
        draw.text((x, y), text, font=font, fill=fill, stroke_width=2, stroke_fill=stroke)


def _draw_marker(draw: ImageDraw.ImageDraw, pixel: np.ndarray, number: int, radius: int) -> None:
    u, v = float(pixel[0]), float(pixel[1])
    outline = max(2, radius // 6)
    draw.ellipse(
        (u - radius, v - radius, u + radius, v + radius),
        fill=(255, 255, 255),
        outline=(0, 0, 0),
        width=outline,
    )
    text = str(number)
    size = int(round(1.25 * radius))
    font = _font(size)
    while size > 6:
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        if right - left <= 1.6 * radius:
            break
        size -= 1
        font = _font(size)
    _centred_text(draw, (u, v), text, font, (0, 0, 0))


def _axis_directions(frame: CameraFrame, anchor: np.ndarray) -> np.ndarray:
    """Image directions of world +x, +y, +z at ``anchor``, shape: (3, 2), longest of length 1."""
    depth = float((anchor - frame.cam_to_world[:3, 3]) @ frame.cam_to_world[:3, 2])
    step = 0.1 * max(depth, 1e-3)
    ends = np.concatenate([anchor[None], anchor + step * np.eye(3)])
    pixels = project_points(ends, frame.intrinsics, frame.cam_to_world)[0]
    directions = pixels[1:] - pixels[0]
    return directions / max(float(np.linalg.norm(directions, axis=1).max()), 1e-12)


def _draw_legend(image: Image.Image, frame: CameraFrame, anchor: np.ndarray, corner: str) -> None:
    width, height = image.size
    panel = max(80, int(round(0.16 * min(width, height))))
    pad = max(6, panel // 12)
    left = pad if "left" in corner else width - pad - panel
    top = pad if "top" in corner else height - pad - panel
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(overlay).rounded_rectangle(
        (left, top, left + panel, top + panel),
        radius=panel // 10,
        fill=(255, 255, 255, 200),
        outline=(60, 60, 60, 255),
        width=2,
    )
    image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))
    draw = ImageDraw.Draw(image)
    centre = np.array([left + panel / 2.0, top + panel / 2.0])
    length = 0.30 * panel
    line = max(3, panel // 30)
    font = _font(max(12, int(round(0.17 * panel))))
    directions = _axis_directions(frame, anchor)
    for axis, (direction, colour, label) in enumerate(
        zip(directions, _AXIS_COLOURS, ("x", "y", "z"))
    ):
        norm = float(np.linalg.norm(direction))
        if norm < 1e-3:  # the axis points along the view: mark the centre instead
            draw.ellipse((*(centre - line * 2), *(centre + line * 2)), outline=colour, width=line)
            _centred_text(draw, tuple(centre + [0.0, -3 * line * (axis + 1)]), label, font, colour)
            continue
        unit = direction / norm
        tip = centre + length * max(norm, 0.25) * unit
        side = np.array([-unit[1], unit[0]])
        head = 2.5 * line
        base = tip - 1.6 * head * unit
        draw.line((*centre, *base), fill=colour, width=line)
        draw.polygon(
            [tuple(tip), tuple(base + head * side), tuple(base - head * side)], fill=colour
        )
        _centred_text(
            draw, tuple(tip + 0.13 * panel * unit), label, font, colour, stroke=(255, 255, 255)
        )
    draw.ellipse((*(centre - line), *(centre + line)), fill=(40, 40, 40))


def draw_candidates(
    frame: CameraFrame,
    candidates: list[Candidate] | tuple[Candidate, ...],
    marker_radius: int | None = None,
    legend: bool = True,
    legend_corner: str = "top_left",
) -> np.ndarray:
    """Draw numbered markers and a world-axis legend on a copy of the frame's image.

    Each candidate becomes a white disc with a black rim and its number in black. The legend, a
    small panel in a corner, shows the world +x, +y and +z directions as they appear in the image
    around the candidates (red, green and blue arrows labelled x, y, z); an axis seen end-on is
    shortened.

    Args:
        frame: The view the candidates were projected into.
        candidates: Projected candidates (``pixel`` set).
        marker_radius: Disc radius (pixels); default from the image size.
        legend: Draw the axis legend.
        legend_corner: ``top_left``, ``top_right``, ``bottom_left`` or ``bottom_right``.

    Returns:
        The overlay, shape: (H, W, 3), uint8; the frame's image is not changed.

    Raises:
        ValueError: Unprojected candidates or an unknown corner.
    """
    corners = ("top_left", "top_right", "bottom_left", "bottom_right")
    if legend_corner not in corners:
        raise ValueError(f"legend_corner must be one of {corners}, got {legend_corner!r}")
    unprojected = [c.number for c in candidates if c.pixel is None]
    if unprojected:
        raise ValueError(f"candidates {unprojected} have no pixel; project them first")
    rgb = np.asarray(frame.rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frame image must have shape (H, W, 3), got {rgb.shape}")
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    height, width = rgb.shape[:2]
    if legend:
        if candidates:
            anchor = np.mean([c.world for c in candidates], axis=0)
        else:
            anchor = frame.cam_to_world[:3, 3] + frame.cam_to_world[:3, 2]
        _draw_legend(image, frame, anchor, legend_corner)
    draw = ImageDraw.Draw(image)
    radius = marker_radius or default_marker_radius(height, width)
    for candidate in candidates:
        _draw_marker(draw, candidate.pixel, candidate.number, radius)
    return np.asarray(image, dtype=np.uint8).copy()


# --------------------------------------------------------------------------------------------
# One call


def propose(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    frame: CameraFrame,
    objects: list[str],
    fixtures: list[str] = (),
    *,
    num_axes: int = 3,
    include_center: bool = False,
    points_per_fixture: int = 6,
    fixture_min_normal_z: float = 0.7,
    min_separation_px: float | None = None,
    occlusion_tolerance: float | None = 0.02,
    marker_radius: int | None = None,
    legend_corner: str = "top_left",
) -> CandidateSet:
    """Propose, project, prune and draw the numbered candidate keypoints of one view.

    Args:
        model: Compiled model.
        data: The state the frame was rendered from.
        frame: Rendered view (RGB, depth, intrinsics, extrinsics).
        objects: Movable object body names, numbered first, in this order.
        fixtures: Static fixture body names, numbered after the objects.
        num_axes: Principal axes per object (2 per axis: + and -).
        include_center: Add each object's centroid (usually hidden, so dropped unless
            ``occlusion_tolerance`` is ``None``).
        points_per_fixture: At most this many points per fixture, spread over what the view shows.
        fixture_min_normal_z: Lowest world-z component of fixture faces that get points (0.7:
            upward faces; -1: every visible face).
        min_separation_px: Markers closer than this are pruned; default: one marker diameter
            plus 2 pixels, so that no two discs overlap.
        occlusion_tolerance: Depth tolerance (m) of the visibility test, or ``None`` to skip it.
        marker_radius: Marker disc radius (pixels); default from the image size.
        legend_corner: Corner of the axis legend.

    Returns:
        The surviving candidates (numbered 0..M-1) and the overlay image.

    Raises:
        ValueError: Unknown or repeated body names, bodies without visible geoms, bad settings.
    """
    height, width = frame.rgb.shape[:2]
    radius = marker_radius or default_marker_radius(height, width)
    separation = 2.0 * radius + 2.0 if min_separation_px is None else float(min_separation_px)
    candidates = candidate_keypoints(
        model,
        data,
        objects,
        fixtures,
        num_axes=num_axes,
        include_center=include_center,
        points_per_fixture=points_per_fixture,
        fixture_min_normal_z=fixture_min_normal_z,
        frame=frame,
        occlusion_tolerance=occlusion_tolerance,
    )
    visible = project_candidates(candidates, frame, occlusion_tolerance)
    kept = prune_candidates(visible, separation)
    image = draw_candidates(frame, kept, radius, legend_corner=legend_corner)
    return CandidateSet(
        candidates=tuple(kept),
        image=image,
        objects=tuple(objects),
        fixtures=tuple(fixtures),
        image_shape=(int(height), int(width)),
        min_separation_px=separation,
    )
