"""Which candidates a camera sees, and which of them stay apart enough to be drawn.

``project_candidates`` keeps the points the camera sees (in front of it, inside the image, not
hidden behind the rendered surface); ``prune_candidates`` removes points whose markers would
overlap (fixture points first, then the higher number) and renumbers the rest.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from keyscaffold.geometry import project_points
from keyscaffold.iker.candidates import OBJECT, Candidate
from keyscaffold.sim.render import CameraFrame


def visible_points(
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
    mask, pixels, depth = visible_points(world, frame, occlusion_tolerance, margin_px)
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
