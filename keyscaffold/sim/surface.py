"""Surface samples of a body's geometry, in the body's frame (MuJoCo primitives and meshes).

``body_surface_samples`` samples the body's own visible geoms about every ``spacing`` metres and
adds the corner, rim and pole points that mark extremities; ``visible_geoms`` says which geoms a
default render shows, ``geom_pose`` where a geom sits in its body, and ``body_id`` turns a body
name into its id with a message that lists the model's bodies.
"""

from __future__ import annotations

import mujoco
import numpy as np

_MAX_SAMPLES_PER_GEOM = 4000
_SKIPPED_GEOM_TYPES = {
    int(mujoco.mjtGeom.mjGEOM_PLANE),
    int(mujoco.mjtGeom.mjGEOM_HFIELD),
    int(mujoco.mjtGeom.mjGEOM_SDF),
}


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
    pos, rotation = geom_pose(model, geom)
    return points @ rotation.T + pos, normals @ rotation.T, feature


def visible_geoms(model: mujoco.MjModel, body: int) -> list[int]:
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
    geoms = visible_geoms(model, body_id(model, body, "body"))
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


def body_id(model: mujoco.MjModel, name: str, role: str) -> int:
    """The id of body ``name``; ``role`` (object, fixture, candidate...) names it in the error.

    Raises:
        ValueError: Unknown body, or the world body.
    """
    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    if body < 0:
        known = sorted(model.body(i).name for i in range(1, model.nbody) if model.body(i).name)
        raise ValueError(f"unknown {role} body {name!r}; the model's bodies are {known}")
    if body == 0:
        raise ValueError(f"the world body cannot be used as {role}; name a body of the scene")
    return int(body)


def geom_pose(model: mujoco.MjModel, geom: int) -> tuple[np.ndarray, np.ndarray]:
    """Position, shape: (3,), and rotation, shape: (3, 3), of a geom in its body's frame."""
    rotation = np.zeros(9)
    mujoco.mju_quat2Mat(rotation, np.asarray(model.geom_quat[geom], dtype=np.float64))
    return np.asarray(model.geom_pos[geom], dtype=np.float64), rotation.reshape(3, 3)
