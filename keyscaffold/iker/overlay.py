"""The picture a model sees: numbered markers on the candidates and a legend of the world axes."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keyscaffold.geometry import project_points
from keyscaffold.iker.candidates import Candidate
from keyscaffold.sim.render import CameraFrame

_AXIS_COLOURS = ((220, 30, 30), (20, 150, 40), (30, 70, 230))
"""Legend colours of the world x, y and z axes (red, green, blue)."""


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
