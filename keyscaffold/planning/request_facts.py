"""What a version-2 trajectory request tells the model besides the task: measured, not assumed.

Everything here comes from what a real robot would have too (the camera's RGB-D frame with its
segmentation and calibration, and the robot's own model), never from the scene's hidden truth:

- ``measure_parts``: each keypointed part's visible size, from depth and segmentation;
- ``camera_directions``: how the frame's +x, +y and +z look from the camera, in words;
- ``hand_geometry``: where the palm and fingertips sit relative to the "hand" point, how thick the
  palm is, and where the hand goes to close the fingers around a point.

The request's picture, each detected keypoint drawn and named, is ``annotate.draw_named_points``.

Positions are in the request's frame: metres, world axes, relative to the first keypoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from keyscaffold.geometry import backproject_pixels, project_points
from keyscaffold.sim.embodiments import Embodiment


@dataclass(frozen=True)
class PartSize:
    """A part's visible extent along the frame's axes and the height of its top and bottom.

    Attributes:
        extent: Visible size along x, y and z (m), shape: (3,).
        top: Height of its highest visible point in the request's frame (m).
        bottom: Height of its lowest visible point in the request's frame (m).
    """

    extent: tuple[float, float, float]
    top: float
    bottom: float


def measure_parts(frame: dict, body_ids: list[int], origin: np.ndarray) -> list[PartSize]:
    """The visible size of each body in ``body_ids`` from the frame's depth and segmentation.

    Extents are the 2nd-98th percentile range of the body's back-projected pixels (a glint or an
    edge pixel does not widen them); a body seen nowhere gets zero extents at the origin.

    Args:
        frame: ``depth`` (H, W), ``segmentation`` (H, W) body ids, ``intrinsics``, ``cam_to_world``.
        body_ids: One body id per part.
        origin: World point the request's frame is relative to, shape: (3,).
    """
    sizes = []
    for body in body_ids:
        rows, cols = np.nonzero((frame["segmentation"] == body) & (frame["depth"] > 0))
        if rows.size == 0:
            sizes.append(PartSize((0.0, 0.0, 0.0), 0.0, 0.0))
            continue
        pixels = np.stack([cols + 0.5, rows + 0.5], 1)
        points = backproject_pixels(
            pixels, frame["depth"][rows, cols], frame["intrinsics"], frame["cam_to_world"]
        )
        low, high = np.percentile(points, 2, axis=0), np.percentile(points, 98, axis=0)
        sizes.append(
            PartSize(
                tuple(float(v) for v in high - low),
                float(high[2] - origin[2]),
                float(low[2] - origin[2]),
            )
        )
    return sizes


def camera_directions(frame: dict, anchor: np.ndarray, step: float = 0.05) -> dict[str, str]:
    """How each world axis looks from the camera at ``anchor`` (a world point), in words.

    Returns:
        ``{"x": "toward the camera, down in the picture", ...}``: the axis' direction in the
        image (right/left, up/down, when it moves the point by at least a fifth of its largest
        image motion) and toward/away from the camera (when it mostly runs along the line of
        sight: its depth change is at least 0.7 of ``step``).
    """
    words = {}
    base_uv, base_depth = project_points(anchor[None], frame["intrinsics"], frame["cam_to_world"])
    for axis, name in enumerate("xyz"):
        moved = anchor + step * np.eye(3)[axis]
        uv, depth = project_points(moved[None], frame["intrinsics"], frame["cam_to_world"])
        du, dv = (uv - base_uv)[0]
        dz = float(depth[0] - base_depth[0])
        parts = []
        if abs(dz) >= 0.7 * step:
            parts.append("toward the camera" if dz < 0 else "away from the camera")
        largest = max(abs(du), abs(dv))
        image = []
        if abs(dv) >= largest / 5:
            image.append("down" if dv > 0 else "up")
        if abs(du) >= largest / 5:
            image.append("right" if du > 0 else "left")
        if image:
            parts.append(" and ".join(image) + " in the picture")
        words[name] = ", ".join(parts)
    return words


@dataclass(frozen=True)
class HandGeometry:
    """The robot hand's geometry relative to its "hand" point, at the plan's start orientation.

    Attributes:
        palm_centre: Centre of the palm (m), shape: (3,).
        fingertips: Open fingertips (m), shape: (F, 3).
        palm_thickness: Extent of the palm along z (m).
        grasp_offset: Where the hand point goes relative to a point P the closed fingers should
            hold, for P on an object's top: the palm's underside at P's height and P under the
            palm's front half, where the closing fingers press an object against it (m),
            shape: (3,).
    """

    palm_centre: np.ndarray
    fingertips: np.ndarray
    palm_thickness: float
    grasp_offset: np.ndarray


def hand_geometry(
    model: mujoco.MjModel, data: mujoco.MjData, robot: Embodiment, wrist: np.ndarray
) -> HandGeometry:
    """Measure the open hand in ``data`` (posed at the plan's start orientation); the palm is
    the largest geom of the robot's root body.

    Args:
        wrist: The "hand" point in world frame (m), shape: (3,).
    """
    root_geoms = np.flatnonzero(model.geom_bodyid == model.body(robot.root_body).id)
    geom = int(root_geoms[np.argmax(model.geom_rbound[root_geoms])])  # the palm: the largest
    palm = data.geom_xpos[geom].copy()
    half_z = _half_extent(model, data, geom, np.array([0.0, 0.0, 1.0]))
    underside, top = palm[2] - half_z, palm[2] + half_z
    tips = np.array([data.site_xpos[model.site(s).id] for s in robot.effector_sites()])
    reach = tips.mean(0)[:2] - palm[:2]
    ahead = np.append(reach / max(np.linalg.norm(reach), 1e-9), 0.0)  # where the fingers point
    # The closing fingers press a held object against the palm's front half.
    hold = palm + ahead * _half_extent(model, data, geom, ahead) / 2
    grasp = np.array([wrist[0] - hold[0], wrist[1] - hold[1], wrist[2] - underside])
    return HandGeometry(palm - wrist, tips - wrist, float(top - underside), grasp)


def _half_extent(
    model: mujoco.MjModel, data: mujoco.MjData, geom: int, direction: np.ndarray
) -> float:
    """Half the extent of a box, sphere, capsule or cylinder geom along a world unit
    ``direction``, as posed in ``data`` (m); other shapes: their bounding radius."""
    size, rot = model.geom_size[geom], data.geom_xmat[geom].reshape(3, 3)
    local = rot.T @ direction  # the direction in the geom's frame
    kind = int(model.geom_type[geom])
    if kind == int(mujoco.mjtGeom.mjGEOM_BOX):
        return float(np.abs(local) @ size)
    if kind == int(mujoco.mjtGeom.mjGEOM_SPHERE):
        return float(size[0])
    if kind in (int(mujoco.mjtGeom.mjGEOM_CAPSULE), int(mujoco.mjtGeom.mjGEOM_CYLINDER)):
        return float(abs(local[2]) * size[1] + size[0])
    return float(model.geom_rbound[geom])
