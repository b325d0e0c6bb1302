"""What a planner sees of a scene: the task camera's frame, and points lifted from it to 3D.

Every VLM planner asks about the same picture, so this module owns, once for all of them:

- ``Scene``: a task, its MuJoCo model (built on first use) and its seeded initial states;
  ``Scene.frame(seed, folder)`` renders the task camera at a state once (RGB, depth, body-id
  segmentation, intrinsics, camera-to-world) and afterwards reads it back from ``folder``
  (``rgb.png`` and ``frame.npz``), so an answer that arrives later (a Batch import, on another
  machine) is lifted from exactly the pixels the model saw;
- ``LazyRenderer``: one offscreen renderer shared by many frames, opened only when a frame is
  really rendered and closed at the end of a ``with`` block;
- ``lift_keypoints``: answered pixels -> world points (depth, intrinsics, extrinsics), snapped onto
  the nearest task body under them (segmentation) and attached to that body's frame, as
  ``DetectedKeypoint``; ``oracle_keypoints`` gives the task's own keypoints in the same form.

Planners differ in what they ask about the frame (named points for the scaffold planner, numbered
candidate points for IKER), not in how the frame is made, stored or lifted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import imageio.v2 as imageio
import mujoco
import numpy as np

from keyscaffold.geometry import backproject_pixels, project_points
from keyscaffold.planning.answers import AnswerError
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.sim.scene import subtree_bodies
from keyscaffold.tasks.base import InitialState, Task

FRAME_FILE = "frame.npz"
"""Depth, segmentation and calibration of a record's frame (the RGB image is ``RGB_FILE``)."""
RGB_FILE = "rgb.png"


LIFT_RULES = ("on_body", "snapped", "inside_outline", "front_part")
"""How an answered pixel became a point on a body: it lay on the body; it lay off every body and
moved to the nearest body pixel; it lay in a hole that the body surrounds (a scissors' loop), so
it keeps its pixel and takes the depth of the body around it; or it lay just beside a thin part
standing in front of the same object (a handle before a door) and moved onto that part."""

FRONT_RADIUS_PX = 10
"""A part of the same object this close to the answered pixel (pixels) ..."""
FRONT_STEP = 0.02
"""... and this much nearer the camera (m) takes the point: models that point at a handle often
land just beside it, on the door behind."""

MIDDLE_LIMIT = 0.15
"""The most a ``middle`` keypoint moves behind the visible surface (m)."""
OCCLUSION_STEP = 0.01
"""A neighbour this much nearer the camera than a body's last pixel hides the body (m)."""


@dataclass(frozen=True)
class DetectedKeypoint:
    """A keypoint lifted from a pixel and attached to a body."""

    name: str
    pixel: tuple[float, float]
    """(u, v) the answered pixel, before snapping."""
    body: str
    local: tuple[float, float, float]
    world: tuple[float, float, float]
    on_intended: bool
    """It landed on the body that carries the task's own keypoint (the failure breakdown's
    "on the intended part")."""
    snapped_px: float = 0.0
    """How far it was moved to reach a task body (pixels)."""
    rule: str = "on_body"
    """How the pixel met its body (``LIFT_RULES``)."""
    depth_offset: float = 0.0
    """How far a ``middle`` keypoint was moved along the line of sight behind the visible
    surface (m)."""

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> DetectedKeypoint:
        return DetectedKeypoint(
            **{
                **data,
                "pixel": tuple(data["pixel"]),
                "local": tuple(data["local"]),
                "world": tuple(data["world"]),
            }
        )


def attachable_body_ids(task: Task, model: mujoco.MjModel) -> np.ndarray:
    """Ids of every body a detected keypoint may ride: the task's attachable objects and all their
    parts (articulated children included), shape: (B,)."""
    names = subtree_bodies(model, task.attachable_bodies())
    return np.array([model.body(name).id for name in names], dtype=int)


@dataclass(frozen=True)
class _Hit:
    """Where an answered pixel meets a body: the pixel to lift, its depth and body, and how."""

    row: int
    col: int
    depth: float
    body: int
    rule: str
    snapped_px: float = 0.0


def _surrounded(rows: np.ndarray, cols: np.ndarray, row: int, col: int) -> bool:
    """Body pixels (``rows``, ``cols``) lie on every side of (``row``, ``col``): at least 7 of 8
    directions around it hold one."""
    angles = np.arctan2(rows - row, cols - col)
    sectors = np.unique(((angles + np.pi) / (2 * np.pi) * 8).astype(int) % 8)
    return sectors.size >= 7


def _meet_body(
    on_body: np.ndarray, seg: np.ndarray, depth: np.ndarray, row: int, col: int, radius: int
) -> _Hit | None:
    """The body under pixel (``row``, ``col``), or around it, or nearest to it within ``radius``
    pixels; None when no body pixel lies that close."""
    if on_body[row, col]:
        return _Hit(row, col, float(depth[row, col]), int(seg[row, col]), "on_body")
    rows, cols, dist = _body_pixels_near(on_body, row, col, radius)
    if dist.size == 0:
        return None
    if _surrounded(rows, cols, row, col):  # a hole in the body: keep the pixel, take its depth
        ring = dist <= np.quantile(dist, 0.25)
        bodies, counts = np.unique(seg[rows[ring], cols[ring]], return_counts=True)
        body = int(bodies[np.argmax(counts)])
        mine = ring & (seg[rows, cols] == body)
        hole_depth = float(np.median(depth[rows[mine], cols[mine]]))
        return _Hit(row, col, hole_depth, body, "inside_outline")
    best = int(np.argmin(dist))
    r, c = int(rows[best]), int(cols[best])
    return _Hit(r, c, float(depth[r, c]), int(seg[r, c]), "snapped", float(dist[best]))


def _body_pixels_near(
    mask: np.ndarray, row: int, col: int, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and pixel distances of the True pixels of ``mask`` within ``radius`` of
    (``row``, ``col``), each shape: (M,)."""
    reach = int(np.ceil(radius))
    r0, c0 = max(row - reach, 0), max(col - reach, 0)
    rows, cols = np.nonzero(mask[r0 : row + reach + 1, c0 : col + reach + 1])
    rows, cols = rows + r0, cols + c0
    dist = np.hypot(rows - row, cols - col)
    near = dist <= radius
    return rows[near], cols[near], dist[near]


def _front_part(hit: _Hit, on_body: np.ndarray, seg, depth, roots: np.ndarray) -> _Hit:
    """``hit`` moved onto a part of the same object that stands in front of it within
    ``FRONT_RADIUS_PX`` (the nearest such pixel), or ``hit`` itself when there is none."""
    same = on_body & (roots[np.maximum(seg, 0)] == roots[hit.body])
    front = same & (depth < hit.depth - FRONT_STEP)
    rows, cols, dist = _body_pixels_near(front, hit.row, hit.col, FRONT_RADIUS_PX)
    if dist.size == 0:
        return hit
    best = int(np.argmin(dist))
    r, c = int(rows[best]), int(cols[best])
    moved = hit.snapped_px + float(dist[best])
    return _Hit(r, c, float(depth[r, c]), int(seg[r, c]), "front_part", moved)


def _outline(inside: np.ndarray, depth: np.ndarray, start: int, step: int) -> int | None:
    """Index of the last True of ``inside`` walking from ``start`` by ``step`` without a gap, or
    None when the walk ends at something in front of the body (an occluder, not its outline)."""
    end = start
    while 0 <= end + step < inside.size and inside[end + step]:
        end += step
    beyond = end + step
    if 0 <= beyond < inside.size and 0 < depth[beyond] < depth[end] - OCCLUSION_STEP:
        return None
    return end


def _middle_offset(frame: dict, hit: _Hit, point: np.ndarray) -> float:
    """How far behind the visible surface the middle of the body under ``hit`` lies (m),
    measured from depth and segmentation only: the body's visible extent from ``point`` to its
    outline along the image row and column, across the line of sight, the shortest of the four
    (a part that joins on one side, like a hammer's handle at its head, does not widen it; a
    side hidden behind something in front of the body is not counted)."""
    seg, depth = frame["segmentation"], frame["depth"]
    row_depth, col_depth = depth[hit.row], depth[:, hit.col]
    inside_row = (seg[hit.row] == hit.body) & (row_depth > 0)
    inside_col = (seg[:, hit.col] == hit.body) & (col_depth > 0)
    ends = [(hit.row, _outline(inside_row, row_depth, hit.col, s)) for s in (-1, 1)]
    ends += [(_outline(inside_col, col_depth, hit.row, s), hit.col) for s in (-1, 1)]
    ends = [(r, c) for r, c in ends if r is not None and c is not None]
    if not ends:
        return 0.0
    rows, cols = np.array(ends).T
    edges = backproject_pixels(
        np.stack([cols + 0.5, rows + 0.5], 1),
        depth[rows, cols],
        frame["intrinsics"],
        frame["cam_to_world"],
    )
    ray = point - frame["cam_to_world"][:3, 3]
    ray /= np.linalg.norm(ray)
    across = edges - point
    across -= np.outer(across @ ray, ray)
    return float(min(np.linalg.norm(across, axis=1).min(), MIDDLE_LIMIT))


def lift_keypoints(
    task: Task,
    model: mujoco.MjModel,
    data: mujoco.MjData,
    frame: dict,
    pixels: dict[str, tuple[float, float]],
    snap_radius_px: int,
) -> list[DetectedKeypoint]:
    """World points under the answered pixels, attached to the body part under (or around, or
    nearest to) them.

    A pixel on a part of a task object (articulated children included) rides that part. A pixel
    off every part moves to the nearest part pixel within ``snap_radius_px``, unless parts
    surround it (a hole, a loop): then it keeps its pixel and takes their depth. A pixel just
    beside a part of the same object that stands in front of it (a handle) moves onto that part
    (``FRONT_RADIUS_PX``, ``FRONT_STEP``). A keypoint whose
    spec lies in the ``middle`` of its object moves behind the visible surface, along the line of
    sight, by half the object's visible width there.

    Args:
        frame: ``depth`` (H, W), ``segmentation`` (H, W) body ids, ``intrinsics``, ``cam_to_world``.
        pixels: (u, v) per keypoint name.

    Raises:
        AnswerError: ``off_body`` when no task body lies within ``snap_radius_px`` of a point.
    """
    seg, depth = frame["segmentation"], frame["depth"].astype(np.float64)
    height, width = seg.shape
    on_body = np.isin(seg, attachable_body_ids(task, model)) & (depth > 0)
    detected = []
    for spec in task.keypoints:
        u, v = pixels[spec.name]
        col, row = min(max(int(u), 0), width - 1), min(max(int(v), 0), height - 1)
        hit = _meet_body(on_body, seg, depth, row, col, snap_radius_px)
        if hit is not None:
            hit = _front_part(hit, on_body, seg, depth, model.body_rootid)
        if hit is None:
            names = ", ".join(subtree_bodies(model, task.attachable_bodies()))
            raise AnswerError(
                "off_body",
                f'point "{spec.name}" at pixel ({u:.0f}, {v:.0f}) is not on any object of the '
                f"scene ({names}) nor within {snap_radius_px} px of one; point at the object "
                "itself",
            )
        world = backproject_pixels(
            np.array([[hit.col + 0.5, hit.row + 0.5]]),
            np.array([hit.depth]),
            frame["intrinsics"],
            frame["cam_to_world"],
        )[0]
        offset = _middle_offset(frame, hit, world) if spec.lift == "middle" else 0.0
        if offset:
            ray = world - frame["cam_to_world"][:3, 3]
            world = world + offset * ray / np.linalg.norm(ray)
        rot = data.xmat[hit.body].reshape(3, 3)
        body = model.body(hit.body).name
        detected.append(
            DetectedKeypoint(
                name=spec.name,
                pixel=(float(u), float(v)),
                body=body,
                local=tuple(float(x) for x in rot.T @ (world - data.xpos[hit.body])),
                world=tuple(float(x) for x in world),
                on_intended=body == spec.body,
                snapped_px=hit.snapped_px,
                rule=hit.rule,
                depth_offset=offset,
            )
        )
    return detected


def oracle_keypoints(
    task: Task, model: mujoco.MjModel, data: mujoco.MjData, frame: dict
) -> list[DetectedKeypoint]:
    """The task's own keypoints, as if perfectly detected (the oracle-keypoint baseline)."""
    world = task.keypoint_positions(model, data)
    uv, _ = project_points(world, frame["intrinsics"], frame["cam_to_world"])
    return [
        DetectedKeypoint(
            spec.name,
            tuple(float(x) for x in uv[i]),
            spec.body,
            tuple(spec.local_pos),
            tuple(float(x) for x in world[i]),
            True,
        )
        for i, spec in enumerate(task.keypoints)
    ]


class LazyRenderer:
    """A ``SceneRenderer`` opened on the first frame rendered and closed by ``close`` (or ``with``).

    Lets a loop over many states share one renderer without opening one (or building the model)
    when every frame is already on disk.

    Args:
        model: The model, or a function that gives it (called only when a frame is rendered).
        size: Side of the square image (pixels).
    """

    def __init__(self, model: mujoco.MjModel | Callable[[], mujoco.MjModel], size: int) -> None:
        self._model, self.size = model, size
        self._renderer: SceneRenderer | None = None

    def get(self) -> SceneRenderer:
        """The renderer, opened now if it is not open yet."""
        if self._renderer is None:
            model = self._model() if callable(self._model) else self._model
            self._renderer = SceneRenderer(model, self.size, self.size, quality=True)
        return self._renderer

    def frame(self, data: mujoco.MjData, camera: str):
        return self.get().frame(data, camera)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> LazyRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def has_frame(folder: Path) -> bool:
    """A frame was already rendered into ``folder``."""
    return (Path(folder) / FRAME_FILE).exists()


def read_frame(folder: Path) -> dict:
    """The frame kept in ``folder``: ``rgb``, ``depth``, ``segmentation``, ``intrinsics``,
    ``cam_to_world``."""
    path = Path(folder) / FRAME_FILE
    with np.load(path) as stored:
        frame = {k: stored[k] for k in stored.files}
    frame["rgb"] = imageio.imread(path.parent / RGB_FILE)
    return frame


def write_frame(folder: Path, shot) -> dict:
    """Keep a rendered ``shot`` in ``folder`` (atomically); returns it as a frame dict."""
    path = Path(folder) / FRAME_FILE
    frame = {
        "depth": shot.depth,
        "segmentation": shot.segmentation.astype(np.int16),
        "intrinsics": shot.intrinsics,
        "cam_to_world": shot.cam_to_world,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path.parent / RGB_FILE, shot.rgb)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **frame)
    tmp.replace(path)
    return {**frame, "rgb": shot.rgb}


class Scene:
    """A task's model and initial states, and the task camera's frame of each state.

    Args:
        task: The task.
        image_size: Side of the square camera image (pixels).
    """

    def __init__(self, task: Task, image_size: int) -> None:
        self.task = task
        self.image_size = image_size
        self._model: mujoco.MjModel | None = None

    @property
    def model(self) -> mujoco.MjModel:
        if self._model is None:
            self._model = self.task.build_model()
        return self._model

    def state(self, seed: int) -> InitialState:
        return self.task.sample_initial_state(seed)

    def data(self, seed: int) -> mujoco.MjData:
        """Simulation data at the seed's initial state."""
        return self.task.state_data(self.model, self.state(seed))

    def renderer(self) -> LazyRenderer:
        """A renderer for many frames, opened only if one is rendered (use it in ``with``)."""
        return LazyRenderer(lambda: self.model, self.image_size)

    def frame(
        self, seed: int, folder: Path, renderer: SceneRenderer | LazyRenderer | None = None
    ) -> dict:
        """The state's camera frame: rendered once into ``folder``, then read from there.

        Args:
            renderer: Renders the frame if it is not on disk yet; without one, a renderer is
                opened for this frame and closed again.
        """
        if has_frame(folder):
            return read_frame(folder)
        data = self.data(seed)
        own = renderer is None
        size = self.image_size
        renderer = renderer or SceneRenderer(self.model, size, size, quality=True)
        shot = renderer.frame(data, self.task.camera.name)
        if own:
            renderer.close()
        return write_frame(folder, shot)
