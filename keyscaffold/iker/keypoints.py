"""Candidate keypoints for IKER mode: proposal from geometry, projection, pruning, numbered overlay.

A vision-language model cannot name arbitrary 3D points, so IKER shows it a picture with numbered
candidate points and lets it refer to them by number. The candidates come from the scene's geometry:

- **Objects** (movable bodies, normally those with a free joint): the surface of the body's own
  visible geoms is sampled in the body frame, its principal axes are found (PCA about the sample
  centroid), and for each axis the body's extremities along the axis and against it become
  candidates: where the axis line leaves the surface, or the farthest point of the surface in that
  direction when something (a tip, a handle) sticks out clearly beyond it. Optionally the centroid
  is added.
- **Fixtures** (static bodies such as a counter or a rack): a few points spread evenly (k-means)
  over the body's upward-facing (and, when a camera frame is given, visible) surfaces.

Numbers run object by object in the order given, then fixture by fixture. Every candidate is fixed
in its body's frame, so its world position can be read again after the body moves
(``candidate_positions``). ``project_candidates`` keeps the points the camera sees,
``prune_candidates`` removes points whose markers would overlap (fixture points first, then the
higher number) and renumbers the rest, and ``draw_candidates`` puts numbered markers and a legend of
the world axes on a copy of the image. ``propose`` does all of it in one call.

Numbers start at 0: the number drawn on the image is the index into the candidate list that the
stage code receives (see ``keyscaffold.iker.stage``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import mujoco
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keyscaffold.geometry import points_in_body_frames, project_points
from keyscaffold.sim.extremities import object_keypoints
from keyscaffold.sim.render import CameraFrame
from keyscaffold.sim.surface import body_id, body_surface_samples

OBJECT = "object"
FIXTURE = "fixture"
KINDS = (OBJECT, FIXTURE)

_AXIS_COLOURS = ((220, 30, 30), (20, 150, 40), (30, 70, 230))
"""Legend colours of the world x, y and z axes (red, green, blue)."""


@dataclass(frozen=True)
class Candidate:
    """One candidate keypoint.

    Attributes:
        number: Its number on the image and index in the candidate list.
        body: Name of the body the point is fixed to.
        kind: ``"object"`` or ``"fixture"``.
        world: World position (m), shape: (3,).
        local: Position in the body's frame (m), shape: (3,).
        pixel: Image position (u, v) in pixels, u along the width, shape: (2,); ``None`` until
            projected.
        depth: Distance along the camera's optical axis (m); ``None`` until projected.
    """

    number: int
    body: str
    kind: str
    world: np.ndarray
    local: np.ndarray
    pixel: np.ndarray | None = None
    depth: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain-data form (lists and numbers)."""
        return {
            "number": self.number,
            "body": self.body,
            "kind": self.kind,
            "world": np.asarray(self.world, float).tolist(),
            "local": np.asarray(self.local, float).tolist(),
            "pixel": None if self.pixel is None else np.asarray(self.pixel, float).tolist(),
            "depth": None if self.depth is None else float(self.depth),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Candidate:
        """Inverse of ``to_json``."""
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"candidate kind must be one of {KINDS}, got {kind!r}")
        return Candidate(
            number=int(data["number"]),
            body=str(data["body"]),
            kind=kind,
            world=np.asarray(data["world"], float).reshape(3),
            local=np.asarray(data["local"], float).reshape(3),
            pixel=None
            if data.get("pixel") is None
            else np.asarray(data["pixel"], float).reshape(2),
            depth=None if data.get("depth") is None else float(data["depth"]),
        )


@dataclass(frozen=True)
class CandidateSet:
    """The numbered candidates of one view and the image that shows them.

    Attributes:
        candidates: Surviving candidates, numbered 0..M-1 in order.
        image: RGB overlay with markers and axis legend, shape: (H, W, 3), uint8; ``None`` when
            loaded from JSON.
        objects: Object body names, in numbering order.
        fixtures: Fixture body names, in numbering order.
        image_shape: (H, W) of the image the pixels refer to.
        min_separation_px: Pruning distance that was used (pixels).
    """

    candidates: tuple[Candidate, ...]
    image: np.ndarray | None
    objects: tuple[str, ...]
    fixtures: tuple[str, ...]
    image_shape: tuple[int, int]
    min_separation_px: float

    def __len__(self) -> int:
        return len(self.candidates)

    def bodies(self) -> list[str]:
        """Body name of each candidate, in number order (what ``parse_stage`` checks against)."""
        return [c.body for c in self.candidates]

    def world_positions(self) -> np.ndarray:
        """World positions when the set was made, shape: (M, 3)."""
        return np.array([c.world for c in self.candidates], dtype=np.float64).reshape(-1, 3)

    def coordinates(self) -> list[list[float]]:
        """World positions as the stage code receives them: one ``[x, y, z]`` per number."""
        return self.world_positions().tolist()

    def pairs(self) -> list[tuple[str, list[float]]]:
        """(body name, world position) per number, the form task oracles read."""
        return [(c.body, np.asarray(c.world, float).tolist()) for c in self.candidates]

    def positions(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
        """World positions of the candidates in ``data`` (after bodies moved), shape: (M, 3)."""
        return candidate_positions(model, data, self.candidates)

    def to_json(self) -> dict[str, Any]:
        """Plain-data record: numbers, bodies, kinds, world, local and pixel positions."""
        return {
            "objects": list(self.objects),
            "fixtures": list(self.fixtures),
            "image_shape": list(self.image_shape),
            "min_separation_px": float(self.min_separation_px),
            "candidates": [c.to_json() for c in self.candidates],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> CandidateSet:
        """Inverse of ``to_json`` (without the image)."""
        candidates = tuple(Candidate.from_json(c) for c in data["candidates"])
        if [c.number for c in candidates] != list(range(len(candidates))):
            raise ValueError("candidate numbers must run 0..M-1 in order")
        height, width = (int(v) for v in data["image_shape"])
        return CandidateSet(
            candidates=candidates,
            image=None,
            objects=tuple(data["objects"]),
            fixtures=tuple(data["fixtures"]),
            image_shape=(height, width),
            min_separation_px=float(data["min_separation_px"]),
        )


# --------------------------------------------------------------------------------------------
# Fixtures: points spread over the surface


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
        visible, pixels, _ = _visible(world, frame, occlusion_tolerance, 0.0)
        rows = np.floor(np.nan_to_num(pixels[:, 1])).astype(int).clip(0, frame.depth.shape[0] - 1)
        cols = np.floor(np.nan_to_num(pixels[:, 0])).astype(int).clip(0, frame.depth.shape[1] - 1)
        keep &= visible & (frame.segmentation[rows, cols] == body_id)
    local, world = points[keep], world[keep]
    return local[_spread(world, int(count))]


# --------------------------------------------------------------------------------------------
# Candidates


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


def candidate_positions(
    model: mujoco.MjModel, data: mujoco.MjData, candidates: list[Candidate] | tuple[Candidate, ...]
) -> np.ndarray:
    """World positions of candidates in ``data`` (read from the bodies' current poses).

    Args:
        model: Compiled model the candidates were made on.
        data: State with current ``xpos`` / ``xmat`` (after ``mj_forward`` or a step).
        candidates: Candidates in any order.

    Returns:
        Shape: (N, 3), in the candidates' order.
    """
    if not candidates:
        return np.zeros((0, 3))
    ids = [body_id(model, c.body, "candidate") for c in candidates]
    local = np.array([c.local for c in candidates], dtype=np.float64)
    return points_in_body_frames(data.xpos[ids], data.xmat[ids], local)


def update_candidates(
    model: mujoco.MjModel, data: mujoco.MjData, candidates: list[Candidate] | tuple[Candidate, ...]
) -> list[Candidate]:
    """Candidates with world positions read from ``data``; pixels and depths are cleared."""
    world = candidate_positions(model, data, candidates)
    return [replace(c, world=w, pixel=None, depth=None) for c, w in zip(candidates, world)]


# --------------------------------------------------------------------------------------------
# Projection and pruning


def _visible(
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
    mask, pixels, depth = _visible(world, frame, occlusion_tolerance, margin_px)
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


# --------------------------------------------------------------------------------------------
# Drawing


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


# --------------------------------------------------------------------------------------------
# One call


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
