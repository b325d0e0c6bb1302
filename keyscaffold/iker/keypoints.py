"""Candidate keypoints for IKER mode: proposal from geometry, projection, pruning, numbered overlay.

A vision-language model cannot name arbitrary 3D points, so IKER shows it a picture with numbered
candidate points and lets it refer to them by number. The candidates come from the scene's geometry:

- **Objects** (movable bodies, normally those with a free joint): the body's extremities along
  its principal axes and against them (``sim.extremities.object_keypoints``); optionally the
  centroid is added.
- **Fixtures** (static bodies such as a counter or a rack): a few points spread evenly (k-means)
  over the body's upward-facing (and, when a camera frame is given, visible) surfaces
  (``fixture_points``).

Numbers run object by object in the order given, then fixture by fixture. Every candidate is fixed
in its body's frame (``candidates``), so its world position can be read again after the body
moves. ``projection.project_candidates`` keeps the points the camera sees,
``projection.prune_candidates`` removes points whose markers would overlap and renumbers the rest,
and ``overlay.draw_candidates`` puts numbered markers and a legend of the world axes on a copy of
the image. ``propose`` does all of it in one call.

Numbers start at 0: the number drawn on the image is the index into the candidate list that the
stage code receives (see ``keyscaffold.iker.stage``).
"""

from __future__ import annotations

import mujoco
import numpy as np

from keyscaffold.geometry import points_in_body_frames
from keyscaffold.iker.candidates import FIXTURE, OBJECT, Candidate, CandidateSet
from keyscaffold.iker.fixture_points import fixture_keypoints
from keyscaffold.iker.overlay import default_marker_radius, draw_candidates
from keyscaffold.iker.projection import project_candidates, prune_candidates
from keyscaffold.sim.extremities import object_keypoints
from keyscaffold.sim.render import CameraFrame
from keyscaffold.sim.surface import body_id


def _check_names(model: mujoco.MjModel, objects: list[str], fixtures: list[str]) -> None:
    for role, names in (("object", objects), ("fixture", fixtures)):
        if isinstance(names, str):
            raise ValueError(f"{role}s must be a list of body names, got the string {names!r}")
    objects, fixtures = list(objects), list(fixtures)
    if not objects and not fixtures:
        raise ValueError("name at least one object or fixture to propose keypoints on")
    for role, names in (("object", objects), ("fixture", fixtures)):
        for name in names:
            body_id(model, name, role)
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
