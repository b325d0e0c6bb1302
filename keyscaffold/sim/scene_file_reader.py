"""Reading a scene file (JSON) into the ``scene_file`` dataclasses, checking every field.

Each refusal is a ``SceneFileError`` naming the file, the field and the fix; a field this reader
does not know is refused too (with the closest known name), so a misspelt setting is never
silently ignored.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from keyscaffold.sim.scene_file import (
    KEYPOINT_LIFTS,
    MESH_SUFFIXES,
    QUATERNION_TOLERANCE,
    ROTATION_TOLERANCE,
    SCENE_FILE_VERSION,
    UNITS,
    Camera,
    Contact,
    Decomposition,
    Keypoint,
    Pose,
    Robot,
    SceneFile,
    SceneFileError,
    SceneObjectEntry,
    Table,
    TaskHints,
)


@dataclass
class _Fields:
    """A JSON object being read, with its place in the file for messages."""

    data: dict
    where: str
    file: Path
    used: set[str] = field(default_factory=set)

    def fail(self, key: str | None, message: str) -> SceneFileError:
        place = f"{self.where}.{key}" if key else self.where
        return SceneFileError(f"{self.file}: {place.lstrip('.')}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: object = ...) -> object:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        return self.data[key]

    def number(self, key: str, default: object = ..., low: float | None = None) -> float:
        value = self.raw(key, default)
        if value is default and default is not ...:
            return value  # type: ignore[return-value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise self.fail(key, f"must be finite, got {value!r}")
        if low is not None and value <= low:
            raise self.fail(key, f"must be greater than {low:g}, got {value!r}")
        return float(value)

    def vector(self, key: str, size: int, default: object = ...) -> tuple[float, ...]:
        value = self.raw(key, default)
        if value is default and default is not ...:
            return value  # type: ignore[return-value]
        return _vector(value, size, lambda message: self.fail(key, message))

    def text(self, key: str, default: object = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {value!r}")
        return value

    def child(self, key: str, default: object = ...) -> _Fields:
        value = self.raw(key, {} if default is not ... else ...)
        if not isinstance(value, dict):
            raise self.fail(key, f"must be an object ({{...}}), got {value!r}")
        return _Fields(value, f"{self.where}.{key}", self.file)

    def done(self) -> None:
        """Refuse fields this reader does not know (a typo would otherwise be ignored)."""
        for key in self.data:
            if key not in self.used:
                close = difflib.get_close_matches(key, self.used, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail(key, f"unknown field{hint} Known: {', '.join(sorted(self.used))}")


def _vector(value: object, size: int, fail) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != size:
        raise fail(f"must be a list of {size} numbers, got {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise fail(f"must hold numbers only, got {value!r}")
    if not all(math.isfinite(v) for v in value):
        raise fail(f"holds NaN or infinity: {value!r}")
    return tuple(float(v) for v in value)


def _quaternion(values: tuple[float, ...], fail) -> tuple[float, float, float, float]:
    norm = float(np.linalg.norm(values))
    if abs(norm - 1.0) > QUATERNION_TOLERANCE:
        raise fail(
            f"has norm {norm:.4f}; a rotation quaternion (w, x, y, z) has norm 1 (within "
            f"{QUATERNION_TOLERANCE}): check its order and values"
        )
    return tuple(float(v) / norm for v in values)  # type: ignore[return-value]


def _matrix_pose(value: object, fail) -> Pose:
    if not isinstance(value, list) or len(value) != 4:
        raise fail(f"must be 4 rows of 4 numbers, got {value!r}")
    rows = np.array([_vector(row, 4, fail) for row in value])
    if not np.allclose(rows[3], (0, 0, 0, 1), atol=1e-6):
        raise fail(f"its last row must be [0, 0, 0, 1], got {rows[3].tolist()}")
    rotation = rows[:3, :3]
    u, _, vt = np.linalg.svd(rotation)
    nearest = u @ vt
    if np.linalg.det(nearest) < 0 or np.abs(rotation - nearest).max() > ROTATION_TOLERANCE:
        raise fail(
            "its upper-left 3x3 block is not a rotation (orthonormal, determinant +1): "
            "remove scale and mirroring from the matrix and give them as the object's scale"
        )
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, nearest.reshape(-1))
    return Pose(tuple(rows[:3, 3]), tuple(quat))  # type: ignore[arg-type]


def _look_at(position: np.ndarray, target: np.ndarray, fail) -> tuple[float, ...]:
    """Quaternion of an OpenCV camera at ``position`` looking at ``target``, image up toward +z."""
    forward = target - position
    if np.linalg.norm(forward) < 1e-9:
        raise fail("look_at equals position")
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    if np.linalg.norm(right) < 1e-6:
        raise fail("looks straight up or down; give a quaternion instead of look_at")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.column_stack([right, down, forward]).reshape(-1))
    return tuple(quat)


def _pose(reader: _Fields, key: str, allow_look_at: bool = False) -> Pose:
    pose = reader.child(key)
    fail = pose.fail
    if pose.has("matrix"):
        result = _matrix_pose(pose.raw("matrix"), lambda m: fail("matrix", m))
    else:
        position = pose.vector("position", 3)
        if allow_look_at and pose.has("look_at"):
            target = np.array(pose.vector("look_at", 3))
            quat = _look_at(np.array(position), target, lambda m: fail("look_at", m))
        else:
            values = pose.vector("quaternion", 4, (1.0, 0.0, 0.0, 0.0))
            quat = _quaternion(values, lambda m: fail("quaternion", m))
        result = Pose(position, quat)  # type: ignore[arg-type]
    pose.done()
    return result


def _object(reader: _Fields, folder: Path) -> SceneObjectEntry:
    name = reader.text("name")
    if not name or not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise reader.fail("name", f"must start with a letter and hold letters, digits, _: {name!r}")
    reader.where += f" ({name!r})"
    mesh = Path(reader.text("mesh"))
    if mesh.suffix.lower() not in MESH_SUFFIXES:
        raise reader.fail("mesh", f"{mesh.name} is not one of {', '.join(MESH_SUFFIXES)}")
    unit = reader.text("unit", "m")
    if unit not in UNITS:
        raise reader.fail("unit", f"unknown unit {unit!r}; use one of {', '.join(UNITS)}")
    movable = reader.raw("movable", True)
    if not isinstance(movable, bool):
        raise reader.fail("movable", f"must be true or false, got {movable!r}")
    mass = reader.number("mass", None, low=0.0)
    density = reader.number("density", None, low=0.0)
    if mass is not None and density is not None:
        raise reader.fail("mass", "give mass or density, not both")
    if movable and mass is None and density is None:
        raise reader.fail(None, "a movable object needs mass (kg) or density (kg/m^3)")
    keypoints = _keypoints(reader)
    entry = SceneObjectEntry(
        name=name,
        mesh=(folder / mesh).resolve(),
        unit=unit,
        scale=reader.number("scale", 1.0, low=0.0),
        pose=_pose(reader, "pose"),
        mass=mass,
        density=density,
        friction=reader.number("friction", 1.0, low=0.0),
        contact=_contact(reader),
        movable=movable,
        rgba=reader.vector("rgba", 4, SceneObjectEntry.rgba),  # type: ignore[arg-type]
        keypoints=tuple(keypoints),
    )
    reader.done()
    return entry


def _contact(reader: _Fields) -> Contact:
    """The optional ``contact`` block of an object; a missing field keeps ``Contact``'s default."""
    if reader.has("contact") and not isinstance(reader.data["contact"], dict):
        raise reader.fail(
            "contact",
            f'must be an object like {{"timeconst": 0.005, "dampratio": 1.0}}, '
            f"got {reader.data['contact']!r}",
        )
    contact = reader.child("contact", {})
    values = {
        name: contact.number(name, default, low=0.0) for name, default in Contact().fields().items()
    }
    contact.done()
    return Contact(**values)


def _keypoints(reader: _Fields) -> tuple[Keypoint, ...]:
    """The optional ``keypoints`` list of an object or of the table."""
    items = reader.raw("keypoints", [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise reader.fail("keypoints", "must be a list of {name, position, description} objects")
    keypoints = []
    for i, item in enumerate(items):
        point = _Fields(item, f"{reader.where}.keypoints[{i}]", reader.file)
        name, position = point.text("name"), point.vector("position", 3)
        description, lift = point.text("description", ""), point.text("lift", "surface")
        if not name:
            raise point.fail("name", "must not be empty")
        if lift not in KEYPOINT_LIFTS:
            raise point.fail("lift", f"must be one of {', '.join(KEYPOINT_LIFTS)}, got {lift!r}")
        keypoints.append(Keypoint(name, position, description, lift))  # type: ignore[arg-type]
        point.done()
    return tuple(keypoints)


def _camera(reader: _Fields) -> Camera:
    camera = reader.child("camera")
    intrinsics = camera.child("intrinsics")
    values = {key: intrinsics.number(key, low=0.0) for key in ("fx", "fy", "cx", "cy")}
    size = {}
    for key in ("width", "height"):
        value = intrinsics.number(key, low=0.0)
        if value != int(value):
            raise intrinsics.fail(key, f"must be a whole number of pixels, got {value}")
        size[key] = int(value)
    intrinsics.done()
    result = Camera(**values, **size, pose=_pose(camera, "pose", allow_look_at=True))
    camera.done()
    return result


def _table(reader: _Fields) -> Table | None:
    if reader.has("table") and reader.data["table"] is None:
        reader.used.add("table")
        return None  # no table: the objects stand on the floor
    table = reader.child("table", {})
    result = Table(
        size=table.vector("size", 2, Table.size),  # type: ignore[arg-type]
        height=table.number("height", Table.height, low=0.0),
        center=table.vector("center", 2, Table.center),  # type: ignore[arg-type]
        friction=table.number("friction", Table.friction, low=0.0),
        keypoints=_keypoints(table),
    )
    if min(result.size) <= 0:
        raise table.fail("size", f"must be positive, got {list(result.size)}")
    table.done()
    return result


def _robot(reader: _Fields) -> Robot:
    robot = reader.child("robot", {})
    embodiment = robot.text("embodiment", Robot.embodiment)
    wrist = robot.child("start_wrist", {})
    start = (
        *wrist.vector("position", 3, Robot.start_wrist[:3]),
        *wrist.vector("angles", 3, Robot.start_wrist[3:]),
    )
    wrist.done()
    robot.done()
    return Robot(embodiment, start)  # type: ignore[arg-type]


def _decomposition(reader: _Fields) -> Decomposition:
    settings = reader.child("decomposition", {})
    values = {}
    for name, default in Decomposition().cache_key().items():
        if isinstance(default, str):
            values[name] = settings.text(name, default)
        else:
            number = settings.number(name, default)
            if isinstance(default, int) and number != int(number):
                raise settings.fail(name, f"must be a whole number, got {number}")
            values[name] = type(default)(number)
    if values["preprocess"] not in ("auto", "on", "off"):
        raise settings.fail("preprocess", f"must be auto, on or off, got {values['preprocess']!r}")
    if not 0 < values["threshold"] <= 1:
        raise settings.fail("threshold", f"must lie in (0, 1], got {values['threshold']}")
    settings.done()
    return Decomposition(**values)


def parse_scene(data: object, path: Path) -> SceneFile:
    """A ``SceneFile`` from the parsed JSON ``data`` of the file at ``path``."""
    path = Path(path)
    if not isinstance(data, dict):
        raise SceneFileError(f"{path}: the file must hold one JSON object ({{...}})")
    top = _Fields(data, "", path)
    version = top.raw("version")
    if version != SCENE_FILE_VERSION:
        raise top.fail(
            "version", f"this keyscaffold reads version {SCENE_FILE_VERSION}, got {version!r}"
        )
    items = top.raw("objects")
    if not isinstance(items, list) or not items:
        raise top.fail("objects", "must be a non-empty list of objects")
    objects = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise top.fail(f"objects[{i}]", f"must be an object ({{...}}), got {item!r}")
        objects.append(_object(_Fields(item, f"objects[{i}]", path), path.parent))
    names = [o.name for o in objects]
    for name in set(names):
        if names.count(name) > 1 or name in ("table", "room"):
            raise top.fail("objects", f"the name {name!r} is used twice (table and room are taken)")
    table = _table(top)
    scene = SceneFile(
        path=path.resolve(),
        objects=tuple(objects),
        camera=_camera(top),
        table=table,
        robot=_robot(top),
        decomposition=_decomposition(top),
        task=_task(top, objects, table),
    )
    top.done()
    return scene


def _task(top: _Fields, objects: list[SceneObjectEntry], table: Table | None) -> TaskHints:
    """The ``task`` block; its ``keypoints`` must name keypoints of the file, each once."""
    owners = [(o.name, k.name) for o in objects for k in o.keypoints]
    owners += [("table", k.name) for k in (table.keypoints if table else ())]
    names = [name for _, name in owners]
    for name in names:
        if names.count(name) > 1:
            places = [o for o, n in owners if n == name]
            raise top.fail("objects", f"the keypoint name {name!r} is used by {places}; rename one")
    task = top.child("task", {})
    chosen = task.raw("keypoints", [])
    if not isinstance(chosen, list) or not all(isinstance(n, str) for n in chosen):
        raise task.fail("keypoints", f"must be a list of keypoint names, got {chosen!r}")
    for name in chosen:
        if name not in names:
            raise task.fail("keypoints", f"{name!r} is no object's or table's keypoint: {names}")
        if chosen.count(name) > 1:
            raise task.fail("keypoints", f"{name!r} is listed twice")
    hints = TaskHints(
        task.text("instruction", ""),
        task.number("success_tolerance", None, low=0.0),
        tuple(chosen),
    )
    task.done()
    return hints


def read_scene_file(path: Path) -> SceneFile:
    """Read and check a scene file; raises ``SceneFileError`` naming the field to fix."""
    path = Path(path)
    if not path.is_file():
        raise SceneFileError(f"{path}: no such scene file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SceneFileError(f"{path}: not valid JSON ({error})") from error
    return parse_scene(data, path)
