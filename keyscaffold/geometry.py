"""Pure geometry: interpolation, camera projection and back-projection, rotations.

Conventions: meters and radians; world frame x forward, y left, z up. Cameras use the
OpenCV convention (x right, y down, z forward) for intrinsics ``K`` and ``cam_to_world``.
"""

from __future__ import annotations

import math

import numpy as np


def interpolate_waypoints(waypoints: np.ndarray, num_steps: int) -> np.ndarray:
    """Linearly interpolate waypoints, evenly spaced in time, to ``num_steps`` samples.

    Args:
        waypoints: Shape: (N, ...), N >= 1. The first and last samples equal the first and
            last waypoint.
        num_steps: Number of output samples T >= 1.

    Returns:
        Shape: (T, ...).
    """
    waypoints = np.asarray(waypoints, dtype=np.float64)
    if waypoints.ndim < 1 or waypoints.shape[0] < 1:
        raise ValueError("interpolate_waypoints needs at least one waypoint")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    n = waypoints.shape[0]
    if n == 1 or num_steps == 1:
        return np.repeat(waypoints[:1], num_steps, axis=0)
    t = np.linspace(0.0, n - 1, num_steps)
    lower = np.minimum(np.floor(t).astype(int), n - 2)
    frac = (t - lower).reshape(-1, *([1] * (waypoints.ndim - 1)))
    return waypoints[lower] * (1.0 - frac) + waypoints[lower + 1] * frac


def intrinsics_from_fovy(fovy_deg: float, width: int, height: int) -> np.ndarray:
    """Pinhole intrinsics of a camera with vertical field of view ``fovy_deg``.

    Returns:
        K, shape: (3, 3), pixel centers at integer + 0.5 coordinates.
    """
    focal = 0.5 * height / math.tan(math.radians(fovy_deg) / 2.0)
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def mujoco_camera_to_world(cam_pos: np.ndarray, cam_xmat: np.ndarray) -> np.ndarray:
    """OpenCV-convention camera-to-world transform from a MuJoCo camera pose.

    MuJoCo cameras look along their -z axis with y up; OpenCV cameras look along +z with y down.

    Args:
        cam_pos: Camera position in world, shape: (3,).
        cam_xmat: Camera orientation, shape: (9,) or (3, 3).

    Returns:
        Homogeneous transform, shape: (4, 4).
    """
    rot = np.asarray(cam_xmat, dtype=np.float64).reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
    transform = np.eye(4)
    transform[:3, :3] = rot
    transform[:3, 3] = cam_pos
    return transform


def project_points(
    points_world: np.ndarray, intrinsics: np.ndarray, cam_to_world: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Project world points to pixels.

    Args:
        points_world: Shape: (M, 3).
        intrinsics: K, shape: (3, 3).
        cam_to_world: Shape: (4, 4), OpenCV convention.

    Returns:
        pixels (u, v) with u along the image width, shape: (M, 2); depth along the optical
        axis in meters, shape: (M,).
    """
    points_world = np.atleast_2d(np.asarray(points_world, dtype=np.float64))
    rot, trans = cam_to_world[:3, :3], cam_to_world[:3, 3]
    points_cam = (points_world - trans) @ rot
    depth = points_cam[:, 2]
    if np.any(depth <= 0):
        raise ValueError("a point lies behind the camera; it cannot be projected")
    uv = (points_cam @ intrinsics.T)[:, :2] / depth[:, None]
    return uv, depth


def backproject_pixels(
    pixels: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray, cam_to_world: np.ndarray
) -> np.ndarray:
    """Lift pixels with metric depth (along the optical axis) to world points.

    Args:
        pixels: (u, v), shape: (M, 2).
        depth: Meters, shape: (M,).
        intrinsics: K, shape: (3, 3).
        cam_to_world: Shape: (4, 4), OpenCV convention.

    Returns:
        World points, shape: (M, 3).
    """
    pixels = np.atleast_2d(np.asarray(pixels, dtype=np.float64))
    depth = np.asarray(depth, dtype=np.float64).reshape(-1)
    homogeneous = np.concatenate([pixels, np.ones((pixels.shape[0], 1))], axis=1)
    rays = homogeneous @ np.linalg.inv(intrinsics).T
    points_cam = rays * depth[:, None]
    return points_cam @ cam_to_world[:3, :3].T + cam_to_world[:3, 3]


def rotation_from_xyz_angles(angles: np.ndarray) -> np.ndarray:
    """Rotation of a chain of hinges about x, then y, then z (each about its moved axis).

    This is the orientation that the floating wrist's three dummy hinge joints produce.

    Args:
        angles: Shape: (..., 3), radians.

    Returns:
        Shape: (..., 3, 3).
    """
    angles = np.asarray(angles, dtype=np.float64)
    cx, cy, cz = np.cos(angles[..., 0]), np.cos(angles[..., 1]), np.cos(angles[..., 2])
    sx, sy, sz = np.sin(angles[..., 0]), np.sin(angles[..., 1]), np.sin(angles[..., 2])
    one, zero = np.ones_like(cx), np.zeros_like(cx)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(*cx.shape, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*cx.shape, 3, 3)
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(*cx.shape, 3, 3)
    return rx @ ry @ rz


def xyz_angles_from_rotation(rotation: np.ndarray, near: np.ndarray | None = None) -> np.ndarray:
    """Hinge angles about x, then y, then z whose ``rotation_from_xyz_angles`` is ``rotation``.

    Every rotation has two angle triples (a, b, c) and (a + pi, pi - b, c + pi), each up to whole
    turns; the one returned lies nearest ``near`` (default: zeros), so a wrist read from a rotation
    keeps the branch of the angles it was commanded with. At b = ±pi/2 only a + c (or a - c) is
    determined, and a is taken from ``near``.

    Args:
        rotation: Shape: (..., 3, 3).
        near: Reference angles, shape: (..., 3) (rad).

    Returns:
        Shape: (..., 3) (rad).
    """
    r = np.asarray(rotation, dtype=np.float64)
    ref = (
        np.zeros(r.shape[:-2] + (3,))
        if near is None
        else np.broadcast_to(near, r.shape[:-2] + (3,))
    )
    cos_b = np.hypot(r[..., 1, 2], r[..., 2, 2])
    b = np.arctan2(r[..., 0, 2], cos_b)
    locked = cos_b < 1e-9
    a = np.where(locked, ref[..., 0], np.arctan2(-r[..., 1, 2], r[..., 2, 2]))
    best, best_distance = None, None
    for branch_a, branch_b in ((a, b), (a + np.pi, np.pi - b)):
        # with a and b fixed, c is the turn about z left over: Rz(c) = (Rx(a) Ry(b))^T R
        partial = rotation_from_xyz_angles(np.stack([branch_a, branch_b, np.zeros_like(b)], -1))
        rest = np.swapaxes(partial, -1, -2) @ r
        branch_c = np.arctan2(rest[..., 1, 0], rest[..., 0, 0])
        angles = np.stack([branch_a, branch_b, branch_c], -1)
        angles = angles + 2.0 * np.pi * np.round((ref - angles) / (2.0 * np.pi))
        distance = np.square(angles - ref).sum(-1)
        if best is None:
            best, best_distance = angles, distance
        else:
            closer = distance < best_distance
            best = np.where(closer[..., None], angles, best)
            best_distance = np.where(closer, distance, best_distance)
    return best


def points_in_body_frames(
    body_pos: np.ndarray, body_mat: np.ndarray, local_points: np.ndarray
) -> np.ndarray:
    """World positions of points fixed in body frames.

    Args:
        body_pos: Shape: (..., K, 3).
        body_mat: Shape: (..., K, 9) or (..., K, 3, 3).
        local_points: Shape: (K, 3).

    Returns:
        Shape: (..., K, 3).
    """
    mats = body_mat.reshape(*body_mat.shape[:-1], 3, 3) if body_mat.shape[-1] == 9 else body_mat
    return body_pos + np.einsum("...ij,...j->...i", mats, local_points)


def yaw_rotation(yaw: float) -> np.ndarray:
    """Rotation matrix of ``yaw`` rad about +z, shape: (3, 3)."""
    return rotation_from_xyz_angles(np.array([0.0, 0.0, yaw]))


def quaternion_yaw(quaternion) -> float:
    """Yaw (rad) of a rotation about +z given as a quaternion (w, x, y, z)."""
    return float(2.0 * np.arctan2(quaternion[3], quaternion[0]))


def yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """Unit quaternion (w, x, y, z) of a rotation by ``yaw`` rad about +z."""
    return (float(np.cos(yaw / 2)), 0.0, 0.0, float(np.sin(yaw / 2)))


def turn_quaternions_about_z(quaternions: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Quaternions (w, x, y, z) turned by ``yaw`` rad about the world +z axis.

    Args:
        quaternions: Shape: (M, 4).
        yaw: Shape: (M,).

    Returns:
        ``q_z(yaw) * q``, shape: (M, 4).
    """
    q = np.asarray(quaternions, dtype=np.float64)
    c, s = np.cos(np.asarray(yaw) / 2.0), np.sin(np.asarray(yaw) / 2.0)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack([c * w - s * z, c * x - s * y, c * y + s * x, c * z + s * w], axis=1)


def sample_phases(times: list[float], values: list[np.ndarray], num_samples: int) -> np.ndarray:
    """Piecewise-linear values at ``num_samples`` evenly spaced times in [0, 1].

    Args:
        times: Increasing key times in [0, 1], length P.
        values: Value at each key time, each of shape (D,) (all the same D).
        num_samples: Samples N.

    Returns:
        Shape: (N, D).
    """
    keys = np.asarray(values, dtype=np.float64).reshape(len(times), -1)
    samples = np.linspace(0.0, 1.0, num_samples)
    return np.stack([np.interp(samples, times, keys[:, i]) for i in range(keys.shape[1])], -1)


_EPS = 1e-9
_RANK_TOL = 1e-6
"""Singular values of centred points below this (m) count as zero (degenerate layouts)."""


def _skew(vector: np.ndarray) -> np.ndarray:
    """Cross-product matrices, shape: (..., 3, 3), of vectors of shape (..., 3)."""
    x, y, z = vector[..., 0], vector[..., 1], vector[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*x.shape, 3, 3)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``a`` to unit vector ``b``.

    Opposite vectors turn half round about an axis perpendicular to ``a``.

    Args:
        a: Unit vectors, shape: (B, 3).
        b: Unit vectors, shape: (B, 3).

    Returns:
        Shape: (B, 3, 3).
    """
    cosine = (a * b).sum(axis=-1)
    cross = _skew(np.cross(a, b))
    eye = np.broadcast_to(np.eye(3), cross.shape)
    opposite = cosine < -1.0 + 1e-9
    rotation = eye + cross + cross @ cross / np.maximum(1.0 + cosine, 1e-9)[..., None, None]
    if opposite.any():
        helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        axis = np.cross(a, helper)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        half_turn = 2.0 * axis[..., :, None] * axis[..., None, :] - eye
        rotation = np.where(opposite[..., None, None], half_turn, rotation)
    return rotation


def kabsch(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rigid transform taking points ``source`` onto ``target``: R s + t ~ t'.

    Degenerate layouts get the least rotation that fits: one point (or coincident points) gives
    R = I, collinear points the smallest rotation of their line onto the targets' best-fit line.
    Reflections are never returned.

    Args:
        source: Shape: (B, K, 3).
        target: Shape: (B, K, 3).

    Returns:
        rotation, shape: (B, 3, 3); translation, shape: (B, 3).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=-2), target.mean(axis=-2)
    centred_s = source - source_mean[..., None, :]
    centred_t = target - target_mean[..., None, :]
    batch = source.shape[:-2]
    rotation = np.broadcast_to(np.eye(3), (*batch, 3, 3)).copy()

    _, spread, directions = np.linalg.svd(centred_s, full_matrices=False)
    rank = (spread > _RANK_TOL).sum(axis=-1)

    general = rank >= 2
    if general.any():
        cov = np.swapaxes(centred_s[general], -1, -2) @ centred_t[general]
        u, _, vt = np.linalg.svd(cov)
        v = np.swapaxes(vt, -1, -2)
        sign = np.sign(np.linalg.det(v @ np.swapaxes(u, -1, -2)))
        fix = np.broadcast_to(np.eye(3), v.shape).copy()
        fix[..., 2, 2] = np.where(sign == 0, 1.0, sign)
        rotation[general] = v @ fix @ np.swapaxes(u, -1, -2)

    line = rank == 1
    if line.any():
        axis = directions[line][..., 0, :]
        along = (centred_s[line] * axis[..., None, :]).sum(axis=-1)
        fitted = (along[..., None] * centred_t[line]).sum(axis=-2)
        length = np.linalg.norm(fitted, axis=-1)
        ok = length > _EPS
        turned = rotation_between(axis, fitted / np.maximum(length, _EPS)[..., None])
        rotation[line] = np.where(ok[..., None, None], turned, np.eye(3))

    translation = target_mean - np.einsum("...ij,...j->...i", rotation, source_mean)
    return rotation, translation


def rotation_angle(rotation: np.ndarray) -> np.ndarray:
    """Angle of rotation matrices (rad).

    Args:
        rotation: Shape: (..., 3, 3).

    Returns:
        Shape: (...), in [0, pi].
    """
    trace = np.trace(rotation, axis1=-2, axis2=-1)
    return np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))


def keypoint_turn(keypoints: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The turn that best takes the keypoints onto their targets (the Kabsch fit's rotation), as
    a rotation vector in world axes (axis times angle, rad), shape: (B, 3).

    Args:
        keypoints: Shape: (B, K, 3).
        targets: Shape: (B, K, 3).
    """
    rotation, _ = kabsch(keypoints, targets)
    return rotation_vector(rotation)


def rotation_vector(rotation: np.ndarray) -> np.ndarray:
    """Rotation vectors (unit axis times angle, rad) of rotation matrices, shape: (..., 3).

    Args:
        rotation: Shape: (..., 3, 3).
    """
    angle = rotation_angle(rotation)
    r = rotation
    # The skew part is sin(angle) times the axis.
    skew = 0.5 * np.stack(
        [r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]],
        axis=-1,
    )
    sin = np.sin(angle)
    scale = np.where(sin > 1e-6, angle / np.maximum(sin, 1e-6), 1.0)
    vector = skew * scale[..., None]
    # Near a half turn the skew part vanishes: the axis is a column of (R + I) / 2 = a a^T.
    flip = (angle > np.pi / 2) & (sin < 1e-3)
    if flip.any():
        outer = 0.5 * (r[flip] + np.eye(3))
        column = np.argmax(np.diagonal(outer, axis1=-2, axis2=-1), axis=-1)
        axis = np.take_along_axis(outer, column[:, None, None], axis=-1)[..., 0]
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        axis *= np.where((axis * skew[flip]).sum(-1) < 0.0, -1.0, 1.0)[:, None]  # sin's sign
        vector[flip] = axis * angle[flip][:, None]
    return vector


def wrist_residual(
    action: np.ndarray,
    position_scale: float,
    rotation_scale: float,
    rotation_limit: float | None = None,
) -> np.ndarray:
    """The wrist pose residual of wrist actions in [-1, 1].

    Args:
        action: Position then hinge-angle actions, shape: (..., 6).
        position_scale: Position residual at action 1 (m).
        rotation_scale: Hinge-angle residual at action 1 (rad).
        rotation_limit: Largest hinge-angle residual (rad); None: ``rotation_scale``.

    Returns:
        Shape: (..., 6).
    """
    scale = np.array([position_scale] * 3 + [rotation_scale] * 3)
    residual = np.asarray(action, dtype=np.float64)[..., :6] * scale
    if rotation_limit is not None and rotation_limit < rotation_scale:
        residual[..., 3:] = np.clip(residual[..., 3:], -rotation_limit, rotation_limit)
    return residual


def blend(open_pose: np.ndarray, closed_pose: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Joint targets between two poses: amount <= 0 gives ``open_pose``, >= 1 ``closed_pose``.

    Args:
        open_pose: Shape: (J,).
        closed_pose: Shape: (J,).
        amount: Shape: (B,) for one amount per world, or (B, J) for one per joint.

    Returns:
        Shape: (B, J).
    """
    amount = np.clip(amount, 0.0, 1.0)
    if amount.ndim == 1:
        amount = amount[:, None]
    return open_pose + amount * (closed_pose - open_pose)


def rotation_6d(rotation: np.ndarray) -> np.ndarray:
    """The first two columns of rotation matrices, shape: (..., 6), of shape (..., 3, 3)."""
    return np.concatenate([rotation[..., :, 0], rotation[..., :, 1]], axis=-1)
