"""A task made from a scene file and an instruction (``scene:<file stem>``).

The file's movable objects are the task's objects, its fixed objects and its table are fixtures,
its camera is the task camera and its robot the embodiment. Nothing in the file says how to solve
the task, so it has no oracle: plans and stage code come from a vision-language model.

- **IKER mode** needs only the instruction: candidate keypoints come from the imported meshes
  like from any other body, and the run's verdict is its stages' keypoint success
  (``stage_verdict``).
- **Scaffold mode** takes the task's keypoints (names, positions, descriptions) from the file's
  objects' and table's ``keypoints`` (those ``task.keypoints`` names, if given) and judges success against the goals the env passes in: the final
  waypoint of the plan each world follows (``reads_goals``). Every keypoint must end within the
  file's ``task.success_tolerance`` of its goal.

Initial states: seed 0 is the file's poses; every other seed moves each movable object by up to
``Randomization.start_position`` in x and y and turns it by up to ``Randomization.start_yaw``
(IKER's table of randomizations). Mass and friction are drawn per world by the env's
``PhysicsRandomizer`` like for every task; the size is compiled into the meshes, so a resized
scene is a variant of the task (``SceneTask.variant``).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np

from keyscaffold.geometry import turn_quaternions_about_z
from keyscaffold.sim.mesh_import import load_mesh
from keyscaffold.sim.objects import SceneObject
from keyscaffold.sim.objects.imported import scene_file_objects, table_fixture
from keyscaffold.sim.randomization import Randomization
from keyscaffold.sim.scene import CameraSpec
from keyscaffold.sim.scene_file import Keypoint, SceneFile, SceneFileError, SceneObjectEntry
from keyscaffold.sim.scene_file_reader import read_scene_file
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    Task,
    add_task_factory,
)

PREFIX = "scene:"
"""Names of tasks made from scene files start with this."""
KEYPOINT_REACH = 0.05
"""How far (m) a keypoint may lie outside its object's mesh bounds."""
WORKSPACE_REACH = (0.15, 0.15, 0.6)
"""Room around the table and the objects in a derived workspace: x, y either side and above (m)."""


def scene_task_name(path: Path) -> str:
    """``scene:<file stem>``, the name a scene file's task is registered under."""
    return f"{PREFIX}{Path(path).stem}"


def camera_spec(scene: SceneFile) -> CameraSpec:
    """The file's camera as the task camera: its position, looking along its optical axis, with
    the vertical field of view of its intrinsics (renders are square, so the sides of a wide
    image are cut)."""
    pose = scene.camera.pose
    forward = pose.rotation()[:, 2]
    position = np.asarray(pose.position, float)
    fovy = float(np.degrees(2.0 * np.arctan(scene.camera.height / (2.0 * scene.camera.fy))))
    return CameraSpec(
        name="scene",
        pos=tuple(float(v) for v in position),
        target=tuple(float(v) for v in position + forward),
        fovy=fovy,
    )


class SceneTask(Task):
    """A task read from a scene file (see the module docstring).

    Description:
        Whatever the file's instruction says, on the file's table with its objects.

    Randomizations:
        Seed 0: the file's poses. Other seeds: each movable object within ±2 cm in x and y and
        ±0.05 rad of yaw of its pose in the file. Mass, friction (per world, in training) and
        size (``variant``) as IKER's table of randomizations.

    Success:
        IKER mode: every stage's keypoints reach their targets. Scaffold mode: every keypoint of
        the file ends within ``success_tolerance`` of its plan's final waypoint.
    """

    reads_goals = True
    stage_verdict = True

    def __init__(
        self, scene: SceneFile, instruction: str = "", cache_dir: Path | None = None
    ) -> None:
        self.scene, self.cache_dir = scene, cache_dir
        self.name = scene_task_name(scene.path)
        self.instruction = instruction or scene.task.instruction
        if not self.instruction:
            raise SceneFileError(
                f"{scene.path}: task.instruction is missing; write what the robot should do "
                "there, or give the instruction on the command line"
            )
        self.embodiment = scene.robot.embodiment
        self.keypoints = _keypoints(scene)
        self.tolerance = scene.task.success_tolerance
        self.modes = ("scaffold",) if self.keypoints and self.tolerance is not None else ()
        self.camera = camera_spec(scene)
        self.contact_bodies = tuple(self.movable_objects())
        self.workspace_low, self.workspace_high = _workspace(scene)
        self._objects: list[SceneObject] | None = None

    def require_scaffold(self) -> None:
        """Raise ``SceneFileError`` naming what the file lacks for scaffold mode (keypoints to
        track and a success tolerance)."""
        if not self.keypoints:
            raise SceneFileError(
                f"{self.scene.path}: scaffold mode tracks named keypoints; give an object or "
                "the table a keypoints list ({name, position, description})"
            )
        if self.tolerance is None:
            raise SceneFileError(
                f"{self.scene.path}: task.success_tolerance is missing; scaffold mode judges "
                "success by how close (m) the keypoints end to the plan's final waypoints"
            )

    def variant(self, seed: int, randomization: Randomization | None = None) -> SceneTask:
        """The same task with every object's size (and its keypoints' positions) scaled by a
        factor drawn from ``randomization.object_scale`` with ``seed``; the same seed gives the
        same sizes. A given mass stays; a mass from density follows the volume."""
        low, high = (randomization or Randomization()).object_scale
        rng = np.random.default_rng(seed)
        objects = []
        for entry in self.scene.objects:
            factor = float(rng.uniform(low, high))
            points = tuple(
                replace(k, position=tuple(float(v) * factor for v in k.position))
                for k in entry.keypoints
            )
            objects.append(replace(entry, scale=entry.scale * factor, keypoints=points))
        scene = replace(self.scene, objects=tuple(objects))
        return SceneTask(scene, self.instruction, self.cache_dir)

    def scene_objects(self) -> list[SceneObject]:
        if self._objects is None:
            imported = scene_file_objects(self.scene, self.cache_dir)
            table = [] if self.scene.table is None else [table_fixture(self.scene.table)]
            self._objects = [*table, *(o.scene_object for o in imported)]
        return list(self._objects)

    def attachable_bodies(self) -> list[str]:
        """The movable objects, and the table when a keypoint lies on it."""
        table = any(kp.body == "table" for kp in self.keypoints)
        return self.movable_objects() + (["table"] if table else [])

    def movable_objects(self) -> list[str]:
        return [entry.name for entry in self.scene.objects if entry.movable]

    def fixture_bodies(self) -> list[str]:
        """The file's fixed objects and its table: IKER's fixture candidates lie on them."""
        fixed = [entry.name for entry in self.scene.objects if not entry.movable]
        return fixed + ([] if self.scene.table is None else ["table"])

    def sample_initial_state(self, seed: int) -> InitialState:
        moved = Randomization()
        rng = np.random.default_rng(seed)
        objects = {}
        for entry in self.scene.objects:
            if not entry.movable:
                continue
            pose = np.array([*entry.pose.position, *entry.pose.quaternion])
            if seed != 0:
                pose[:2] += rng.uniform(-moved.start_position, moved.start_position, 2)
                yaw = rng.uniform(-moved.start_yaw, moved.start_yaw, 1)
                pose[3:] = turn_quaternions_about_z(pose[None, 3:], yaw)[0]
            objects[entry.name] = tuple(float(v) for v in pose)
        wrist = tuple(float(v) for v in self.scene.robot.start_wrist)
        return InitialState(seed=seed, wrist=wrist, objects=objects)

    def init_state(self, num_worlds: int) -> dict[str, np.ndarray]:
        return {"goals": np.full((num_worlds, len(self.keypoints), 3), np.nan)}

    def reset_state(self, state, ids, worlds) -> None:
        """Nothing to clear: the goals are written by ``set_goals`` at every reset."""

    def evaluate(self, worlds, state, step):
        """Success: every keypoint within the tolerance of its goal; never without goals (IKER
        mode) or a tolerance. Metric ``goal_distance``: the largest keypoint distance to its
        goal (m)."""
        goals = state["goals"]
        if not self.keypoints or self.tolerance is None or not np.isfinite(goals).all():
            return {"success": np.zeros(worlds.num_worlds, dtype=bool)}
        distance = np.linalg.norm(worlds.keypoints() - goals, axis=-1).max(axis=-1)
        return {"success": distance <= self.tolerance, "goal_distance": distance}

    def oracle_waypoints(self, state: InitialState, num_waypoints: int) -> OracleWaypoints:
        raise ValueError(
            f"task {self.name} comes from a scene file and has no oracle plan (nothing but a "
            "plan says where its keypoints should go); plan it with --planner vlm"
        )


def _keypoints(scene: SceneFile) -> tuple[KeypointSpec, ...]:
    """The file's keypoints as task keypoints: those ``task.keypoints`` names, in its order, or
    every object's and then the table's; an object's must lie on its mesh."""
    points: dict[str, KeypointSpec] = {}
    for entry in scene.objects:
        if entry.keypoints:
            low, high = _mesh_bounds(entry)
        for keypoint in entry.keypoints:
            position = np.asarray(keypoint.position)
            outside = float(np.max(np.maximum(low - position, position - high)))
            if outside > KEYPOINT_REACH:
                raise SceneFileError(
                    f"{scene.path}: objects ({entry.name!r}).keypoints ({keypoint.name!r}): "
                    f"position {list(keypoint.position)} lies {outside:.3f} m outside the "
                    f"object's mesh ({np.round(low, 3).tolist()} to {np.round(high, 3).tolist()} "
                    "m in its frame); keypoint positions are in the object's frame, in metres "
                    "after unit and scale"
                )
            points[keypoint.name] = _spec(keypoint, entry.name)
    for keypoint in scene.table.keypoints if scene.table is not None else ():
        points[keypoint.name] = _spec(keypoint, "table")
    chosen = scene.task.keypoints or tuple(points)
    return tuple(points[name] for name in chosen)


def _spec(keypoint: Keypoint, body: str) -> KeypointSpec:
    return KeypointSpec(keypoint.name, body, keypoint.position, keypoint.description, keypoint.lift)


def _mesh_bounds(entry: SceneObjectEntry) -> tuple[np.ndarray, np.ndarray]:
    """The object's mesh bounds in its frame (m), each shape (3,)."""
    vertices = load_mesh(entry).vertices * entry.metres_per_unit
    return vertices.min(axis=0), vertices.max(axis=0)


def _workspace(scene: SceneFile) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A box around the table top and every object's mesh at its pose (the corners of its
    bounds, turned), widened by ``WORKSPACE_REACH``: a wide fixture (a shelf) counts whole."""
    points = []
    for entry in scene.objects:
        low, high = _mesh_bounds(entry)
        corners = np.array(list(itertools.product(*zip(low, high))))
        points += list(corners @ entry.pose.rotation().T + entry.pose.position)
    if scene.table is not None:
        (cx, cy), (sx, sy), height = scene.table.center, scene.table.size, scene.table.height
        points += [(cx - sx / 2, cy - sy / 2, height), (cx + sx / 2, cy + sy / 2, height)]
    points = np.array(points, dtype=np.float64)
    rx, ry, above = WORKSPACE_REACH
    low = points.min(axis=0) - (rx, ry, 0.05)
    high = points.max(axis=0) + (rx, ry, above)
    return tuple(float(v) for v in low), tuple(float(v) for v in high)


def register_scene_task(
    path: Path, instruction: str = "", cache_dir: Path | None = None
) -> SceneTask:
    """Read the scene file at ``path`` and register its task as ``scene:<file stem>`` (again
    after the file changed); returns the task. Raises ``SceneFileError`` naming what to fix."""
    task = SceneTask(read_scene_file(path), instruction, cache_dir)
    add_task_factory(task.name, lambda: task, replace=True)
    return task
