"""The picture a model sees: numbered markers on the candidates and a legend of the world axes."""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from keyscaffold.annotate import (
    LEGEND_CORNERS,
    axis_directions,
    draw_axis_legend,
    draw_numbered_marker,
    to_image,
)
from keyscaffold.iker.candidates import Candidate
from keyscaffold.sim.render import CameraFrame


def default_marker_radius(height: int, width: int) -> int:
    """Marker radius (pixels) that stays readable from 512 to 800 px images."""
    return max(11, int(round(0.02 * min(height, width))))


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
    if legend_corner not in LEGEND_CORNERS:
        raise ValueError(f"legend_corner must be one of {LEGEND_CORNERS}, got {legend_corner!r}")
    unprojected = [c.number for c in candidates if c.pixel is None]
    if unprojected:
        raise ValueError(f"candidates {unprojected} have no pixel; project them first")
    image = to_image(frame.rgb)
    width, height = image.size
    if legend:
        if candidates:
            anchor = np.mean([c.world for c in candidates], axis=0)
        else:
            anchor = frame.cam_to_world[:3, 3] + frame.cam_to_world[:3, 2]
        directions = axis_directions(frame.intrinsics, frame.cam_to_world, anchor)
        draw_axis_legend(image, directions, legend_corner)
    draw = ImageDraw.Draw(image)
    radius = marker_radius or default_marker_radius(height, width)
    for candidate in candidates:
        draw_numbered_marker(draw, candidate.pixel, candidate.number, radius)
    return np.asarray(image, dtype=np.uint8).copy()
