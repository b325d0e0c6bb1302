"""A ``SceneFile`` written back as the JSON that ``scene_file_reader.parse_scene`` reads.

This is how a scene made in code (poses from a pose estimator, meshes from a scanner) becomes a
file the commands take (``--scene FILE``), and how ``scene export`` writes the built-in scenes.
``scene_json`` and ``parse_scene`` are inverses: reading the written file gives the same
``SceneFile`` (mesh paths resolved against the file's folder, and quaternions of unit length,
as the reader normalises them). Fields that are ``None`` (an
object's ``mass`` or ``density``, the task's ``success_tolerance``) are left out, as the reader
expects; everything else is written, defaults included, so the file says what the scene is.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import numpy as np

from keyscaffold.sim.scene_file import (
    Camera,
    Keypoint,
    Pose,
    Robot,
    SceneFile,
    SceneObjectEntry,
    Table,
    TaskHints,
)
from keyscaffold.sim.scene_file_reader import parse_scene
from keyscaffold.util import atomic_write_text


def _plain(value):
    """A setting as JSON writes it: numpy numbers become Python ones, strings stay."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def _floats(values) -> list[float]:
    return [float(v) for v in values]


def pose_json(pose: Pose) -> dict:
    """``{"position": [x, y, z], "quaternion": [w, x, y, z]}``."""
    return {"position": _floats(pose.position), "quaternion": _floats(pose.quaternion)}


def keypoints_json(keypoints: tuple[Keypoint, ...]) -> list[dict]:
    """An object's or the table's ``keypoints`` list."""
    return [
        {
            "name": k.name,
            "position": _floats(k.position),
            "description": k.description,
            "lift": k.lift,
        }
        for k in keypoints
    ]


def object_json(entry: SceneObjectEntry, folder: Path) -> dict:
    """One ``objects`` entry; its mesh path relative to ``folder`` when it lies inside it."""
    mesh = Path(entry.mesh)
    if mesh.is_absolute() and mesh.is_relative_to(Path(folder).resolve()):
        mesh = mesh.relative_to(Path(folder).resolve())
    item: dict = {
        "name": entry.name,
        "mesh": mesh.as_posix(),
        "unit": entry.unit,
        "scale": float(entry.scale),
        "pose": pose_json(entry.pose),
    }
    if entry.mass is not None:
        item["mass"] = float(entry.mass)
    if entry.density is not None:
        item["density"] = float(entry.density)
    item.update(
        friction=float(entry.friction),
        contact={key: _plain(value) for key, value in entry.contact.fields().items()},
        movable=bool(entry.movable),
        rgba=_floats(entry.rgba),
        keypoints=keypoints_json(entry.keypoints),
    )
    return item


def table_json(table: Table | None) -> dict | None:
    """The ``table`` block; ``None`` (no table) stays ``null``."""
    if table is None:
        return None
    return {
        "size": _floats(table.size),
        "height": float(table.height),
        "center": _floats(table.center),
        "friction": float(table.friction),
        "keypoints": keypoints_json(table.keypoints),
    }


def camera_json(camera: Camera) -> dict:
    """The ``camera`` block: K in pixels and the camera-to-world pose in OpenCV axes."""
    intrinsics = {key: float(getattr(camera, key)) for key in ("fx", "fy", "cx", "cy")}
    intrinsics.update(width=int(camera.width), height=int(camera.height))
    return {"intrinsics": intrinsics, "pose": pose_json(camera.pose)}


def robot_json(robot: Robot) -> dict:
    """The ``robot`` block."""
    wrist = _floats(robot.start_wrist)
    return {
        "embodiment": robot.embodiment,
        "start_wrist": {"position": wrist[:3], "angles": wrist[3:]},
    }


def task_json(task: TaskHints) -> dict:
    """The ``task`` block."""
    item: dict = {"instruction": task.instruction, "keypoints": list(task.keypoints)}
    if task.success_tolerance is not None:
        item["success_tolerance"] = float(task.success_tolerance)
    return item


def scene_json(scene: SceneFile, folder: Path) -> dict:
    """The file's JSON object, mesh paths relative to ``folder`` (where the file will lie)."""
    return {
        "version": scene.version,
        "table": table_json(scene.table),
        "camera": camera_json(scene.camera),
        "robot": robot_json(scene.robot),
        "decomposition": {k: _plain(v) for k, v in scene.decomposition.cache_key().items()},
        "objects": [object_json(entry, folder) for entry in scene.objects],
        "task": task_json(scene.task),
    }


def write_scene_file(scene: SceneFile, path: Path) -> Path:
    """Check ``scene`` by reading its JSON back (``SceneFileError`` names the field), then write
    it to ``path`` atomically. Mesh files are not copied: the file names an absolute mesh path
    relative to its folder when it lies inside it, and keeps it absolute otherwise; a relative
    mesh path is written as it is, and means (as the reader reads it) relative to that folder.

    Returns:
        ``path``.
    """
    path = Path(path)
    data = scene_json(scene, path.parent)
    parse_scene(data, path)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return path
