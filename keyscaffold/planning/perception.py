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
from keyscaffold.tasks.base import InitialState, Task

FRAME_FILE = "frame.npz"
"""Depth, segmentation and calibration of a record's frame (the RGB image is ``RGB_FILE``)."""
RGB_FILE = "rgb.png"


@dataclass(frozen=True)
class DetectedKeypoint:
    """A keypoint lifted from a pixel and attached to a body."""

    name: str
    pixel: tuple[float, float]
    """(u, v) the answer named, before snapping."""
    body: str
    local: tuple[float, float, float]
    world: tuple[float, float, float]
    on_intended: bool
    """It landed on the body the task means (used by the failure breakdown)."""
    snapped_px: float = 0.0
    """How far it was moved to reach a task body (pixels)."""

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


def lift_keypoints(
    task: Task,
    model: mujoco.MjModel,
    data: mujoco.MjData,
    frame: dict,
    pixels: dict[str, tuple[float, float]],
    snap_radius_px: int,
) -> list[DetectedKeypoint]:
    """World points under the answered pixels, attached to the task body under (or nearest to) them.

    Args:
        frame: ``depth`` (H, W), ``segmentation`` (H, W) body ids, ``intrinsics``, ``cam_to_world``.
        pixels: (u, v) per keypoint name.

    Raises:
        AnswerError: ``off_body`` when no task body lies within ``snap_radius_px`` of a point.
    """
    seg, depth = frame["segmentation"], frame["depth"]
    height, width = seg.shape
    attachable = np.array([model.body(b).id for b in task.attachable_bodies()])
    on_task_body = np.isin(seg, attachable) & (depth > 0)
    detected = []
    for spec in task.keypoints:
        u, v = pixels[spec.name]
        col, row = min(int(u), width - 1), min(int(v), height - 1)
        snapped = 0.0
        if not on_task_body[row, col]:
            r = snap_radius_px
            r0, r1, c0, c1 = (
                max(row - r, 0),
                min(row + r + 1, height),
                max(col - r, 0),
                min(col + r + 1, width),
            )
            rows, cols = np.nonzero(on_task_body[r0:r1, c0:c1])
            dist = np.hypot(rows + r0 - row, cols + c0 - col)
            if dist.size == 0 or dist.min() > r:
                raise AnswerError(
                    "off_body",
                    f'point "{spec.name}" at pixel ({u:.0f}, {v:.0f}) is not on any object of the '
                    f"scene ({', '.join(task.attachable_bodies())}); point at the object itself",
                )
            best = int(np.argmin(dist))
            row, col, snapped = int(rows[best] + r0), int(cols[best] + c0), float(dist[best])
        body_id = int(seg[row, col])
        world = backproject_pixels(
            np.array([[col + 0.5, row + 0.5]]),
            np.array([depth[row, col]]),
            frame["intrinsics"],
            frame["cam_to_world"],
        )[0]
        rot = data.xmat[body_id].reshape(3, 3)
        local = rot.T @ (world - data.xpos[body_id])
        body = model.body(body_id).name
        detected.append(
            DetectedKeypoint(
                name=spec.name,
                pixel=(float(u), float(v)),
                body=body,
                local=tuple(float(x) for x in local),
                world=tuple(float(x) for x in world),
                on_intended=body == spec.body,
                snapped_px=snapped,
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
