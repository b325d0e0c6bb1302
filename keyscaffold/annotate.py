"""Marks on a picture for a model to read: numbered or named points and a legend of the world axes.

Pure drawing (PIL and numpy) on copies of RGB images, shape (H, W, 3), uint8; pixel positions are
(u, v) with u along the width. Two pictures use it: IKER's numbered candidates
(``iker.overlay``) and the trajectory request's named keypoints (``planning.vlm_planner``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keyscaffold.geometry import project_points

AXIS_COLOURS = ((220, 30, 30), (20, 150, 40), (30, 70, 230))
"""Legend colours of the world x, y and z axes (red, green, blue)."""
LEGEND_CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
POINT_COLOURS = ((230, 60, 50), (40, 130, 230), (250, 190, 30), (60, 180, 90), (190, 80, 200))
"""Colours of named points, in turn."""


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """A bold sans-serif font of ``size`` pixels, or Pillow's default font where none is found."""
    for name in ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without sized default fonts
        return ImageFont.load_default()


def to_image(rgb: np.ndarray) -> Image.Image:
    """A PIL copy of an RGB array, shape: (H, W, 3).

    Raises:
        ValueError: Not an (H, W, 3) array.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frame image must have shape (H, W, 3), got {rgb.shape}")
    return Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")


def centred_text(
    draw: ImageDraw.ImageDraw, centre: tuple[float, float], text: str, font, fill, stroke=None
) -> None:
    """``text`` centred on ``centre`` (pixels), with a white-ish ``stroke`` outline if given."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = centre[0] - (left + right) / 2.0
    y = centre[1] - (top + bottom) / 2.0
    if stroke is None:
        draw.text((x, y), text, font=font, fill=fill)
    else:
        draw.text((x, y), text, font=font, fill=fill, stroke_width=2, stroke_fill=stroke)


def draw_numbered_marker(
    draw: ImageDraw.ImageDraw, pixel: np.ndarray, number: int, radius: int
) -> None:
    """A white disc with a black rim at ``pixel`` and ``number`` in black, shrunk to fit."""
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
    face = font(size)
    while size > 6:
        left, _, right, _ = draw.textbbox((0, 0), text, font=face)
        if right - left <= 1.6 * radius:
            break
        size -= 1
        face = font(size)
    centred_text(draw, (u, v), text, face, (0, 0, 0))


def axis_directions(
    intrinsics: np.ndarray, cam_to_world: np.ndarray, anchor: np.ndarray
) -> np.ndarray:
    """Image directions of world +x, +y, +z at world point ``anchor`` (in front of the camera),
    the longest of length 1, shape: (3, 2).

    Args:
        intrinsics: K, shape: (3, 3).
        cam_to_world: Shape: (4, 4), OpenCV convention.
        anchor: World point (m), shape: (3,).
    """
    depth = float((anchor - cam_to_world[:3, 3]) @ cam_to_world[:3, 2])
    step = 0.1 * max(depth, 1e-3)
    ends = np.concatenate([anchor[None], anchor + step * np.eye(3)])
    pixels = project_points(ends, intrinsics, cam_to_world)[0]
    directions = pixels[1:] - pixels[0]
    return directions / max(float(np.linalg.norm(directions, axis=1).max()), 1e-12)


def draw_axis_legend(image: Image.Image, directions: np.ndarray, corner: str) -> None:
    """A small panel in ``corner`` of ``image`` (changed in place) with the world +x, +y and +z
    directions as red, green and blue arrows labelled x, y, z; an axis seen end-on is shortened,
    or marked by a ring when it points along the view.

    Args:
        image: The picture to draw on.
        directions: Image directions of the world axes (``axis_directions``), shape: (3, 2).
        corner: One of ``LEGEND_CORNERS``.
    """
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
    face = font(max(12, int(round(0.17 * panel))))
    for axis, (direction, colour, label) in enumerate(zip(directions, AXIS_COLOURS, "xyz")):
        norm = float(np.linalg.norm(direction))
        if norm < 1e-3:  # the axis points along the view: mark the centre instead
            draw.ellipse((*(centre - line * 2), *(centre + line * 2)), outline=colour, width=line)
            centred_text(draw, tuple(centre + [0.0, -3 * line * (axis + 1)]), label, face, colour)
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
        centred_text(
            draw, tuple(tip + 0.13 * panel * unit), label, face, colour, stroke=(255, 255, 255)
        )
    draw.ellipse((*(centre - line), *(centre + line)), fill=(40, 40, 40))


def draw_named_points(
    rgb: np.ndarray,
    pixels: list[tuple[float, float]],
    names: list[str],
    legend: np.ndarray | None = None,
    legend_corner: str = "top_left",
) -> np.ndarray:
    """A copy of ``rgb`` with a ringed dot at each (u, v) of ``pixels`` and its name beside it on
    a dark label, colours in turn from ``POINT_COLOURS``.

    Args:
        rgb: The picture, shape: (H, W, 3).
        pixels: One (u, v) per point (pixels).
        names: One name per point.
        legend: Image directions of the world axes (``axis_directions``), shape: (3, 2), to draw
            a legend of them in ``legend_corner``; None: no legend.
        legend_corner: One of ``LEGEND_CORNERS``.

    Returns:
        Shape: (H, W, 3), uint8.
    """
    image = to_image(rgb)
    if legend is not None:
        draw_axis_legend(image, legend, legend_corner)
    draw = ImageDraw.Draw(image)
    size = max(image.size)
    radius, face = max(4, size // 110), font(max(12, size // 45))
    for k, ((u, v), name) in enumerate(zip(pixels, names)):
        colour = POINT_COLOURS[k % len(POINT_COLOURS)]
        box = (u - radius, v - radius, u + radius, v + radius)
        draw.ellipse(box, fill=colour, outline=(255, 255, 255), width=max(1, radius // 3))
        left, top, right, bottom = draw.textbbox((u + 2 * radius, v - 3 * radius), name, font=face)
        draw.rectangle((left - 3, top - 2, right + 3, bottom + 2), fill=(20, 20, 20))
        draw.text((u + 2 * radius, v - 3 * radius), name, fill=colour, font=face)
    return np.asarray(image, dtype=np.uint8).copy()
