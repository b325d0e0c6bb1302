"""Candidate points of fixtures (static bodies such as a counter or a rack).

A few points spread evenly (k-means) over the body's upward-facing (and, when a camera frame is
given, visible) surfaces.
"""

from __future__ import annotations

import mujoco
import numpy as np

from keyscaffold.iker.projection import visible_points
from keyscaffold.sim.render import CameraFrame
from keyscaffold.sim.surface import body_surface_samples


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
        visible, pixels, _ = visible_points(world, frame, occlusion_tolerance, 0.0)
        rows = np.floor(np.nan_to_num(pixels[:, 1])).astype(int).clip(0, frame.depth.shape[0] - 1)
        cols = np.floor(np.nan_to_num(pixels[:, 0])).astype(int).clip(0, frame.depth.shape[1] - 1)
        keep &= visible & (frame.segmentation[rows, cols] == body_id)
    local, world = points[keep], world[keep]
    return local[_spread(world, int(count))]
