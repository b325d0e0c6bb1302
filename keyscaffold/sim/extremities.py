"""Extremities of a body's geometry along its principal axes: keypoints found on the shape alone.

``object_keypoints`` samples the body's surface (``sim.surface``), finds its principal axes (PCA
about the sample centroid, ``principal_axes``) and, for each axis, takes where the body ends along
it and against it: where the axis line leaves the surface, or the farthest point of the surface in
that direction when something (a tip, a handle) sticks out clearly beyond it.
"""

from __future__ import annotations

import mujoco
import numpy as np

from keyscaffold.sim.surface import body_surface_samples, geom_pose, visible_geoms


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
        pos, rotation = geom_pose(model, geom)
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
    geoms = visible_geoms(model, model.body(body).id)
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
