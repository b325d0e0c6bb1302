"""A scene file's scene on its own, with its robot, for checking it: which objects start inside
each other, which move while the scene settles, and what the file's camera sees.

``build_scene_file`` compiles the table, the imported objects, the file's camera and the named
embodiment (at its start wrist pose) with the same scene builder that tasks use.
``check_scene_file`` lets it settle and writes a report and pictures (``keyscaffold scene check``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
from PIL import Image

from keyscaffold.geometry import rotation_angle
from keyscaffold.sim.embodiments import Embodiment, make_embodiment
from keyscaffold.sim.objects.imported import (
    SCENE_FILE_CAMERA,
    ImportedObject,
    scene_file_fixtures,
    scene_file_objects,
)
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.sim.scene import CameraSpec, PhysicsConfig, build_model, index_scene
from keyscaffold.sim.scene_file import SceneFile, SceneFileError
from keyscaffold.util import atomic_write, atomic_write_text

PENETRATION_TOLERANCE = 0.001
"""Overlap (m) below which two touching bodies count as resting on each other."""
MOVE_TOLERANCE = 0.005
"""An object that moves farther than this while settling (m) is reported."""
ROBOT = "robot"
"""How the robot is named in contact reports."""


@dataclass(frozen=True)
class Penetration:
    """Two bodies that overlap, and by how much (m)."""

    first: str
    second: str
    depth: float


@dataclass(frozen=True)
class BuiltScene:
    """A compiled scene file: model, data at the start, the robot and the imported objects."""

    scene: SceneFile
    model: mujoco.MjModel
    data: mujoco.MjData
    embodiment: Embodiment
    objects: tuple[ImportedObject, ...]

    def penetrations(self, tolerance: float = PENETRATION_TOLERANCE) -> list[Penetration]:
        """Pairs of bodies overlapping by more than ``tolerance`` now, deepest first."""
        return penetrations(self.model, self.data, self.embodiment.root_body, tolerance)

    def require_apart(self, tolerance: float = PENETRATION_TOLERANCE) -> None:
        """Raise ``SceneFileError`` naming every pair of bodies that start inside each other."""
        found = self.penetrations(tolerance)
        if found:
            pairs = "; ".join(f"{p.first} and {p.second} by {p.depth * 1000:.1f} mm" for p in found)
            raise SceneFileError(
                f"{self.scene.path}: objects start inside each other: {pairs}. Move them apart "
                "(an object resting on the table has its lowest point at the table's height)"
            )


def build_scene_file(
    scene: SceneFile, cache_dir: Path | None = None, physics: PhysicsConfig | None = None
) -> BuiltScene:
    """Compile ``scene`` with its embodiment at the start wrist pose (data after ``mj_forward``).

    Args:
        scene: The scene file.
        cache_dir: Mesh cache (default ``convex_parts.default_cache_dir()``).
        physics: Timestep and contact settings (the tasks' default).
    """
    embodiment = make_embodiment(scene.robot.embodiment)
    imported = scene_file_objects(scene, cache_dir)
    objects = [*scene_file_fixtures(scene), *(o.scene_object for o in imported)]
    model = build_model(objects, CameraSpec(), physics or PhysicsConfig(), embodiment, [])
    camera = scene.camera
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, camera.width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, camera.height)
    movable = [o.scene_object.name for o in imported if o.scene_object.movable]
    index = index_scene(model, embodiment, movable, [])
    robot = embodiment.rest_qpos(np.array([scene.robot.start_wrist]), embodiment.open_pose())[0]
    data = mujoco.MjData(model)
    data.qpos[index.robot_qpos] = robot
    data.ctrl[:] = robot
    mujoco.mj_forward(model, data)
    return BuiltScene(scene, model, data, embodiment, tuple(imported))


def penetrations(
    model: mujoco.MjModel, data: mujoco.MjData, robot_root: str, tolerance: float
) -> list[Penetration]:
    """Deepest overlap of each pair of top-level bodies (the robot's bodies count as one).

    Returns:
        One entry per pair overlapping by more than ``tolerance`` (m), deepest first.
    """
    robot = model.body(robot_root).id

    def owner(geom: int) -> str:
        root = int(model.body_rootid[model.geom_bodyid[geom]])
        return ROBOT if root == int(model.body_rootid[robot]) else model.body(root).name

    deepest: dict[tuple[str, str], float] = {}
    for contact in data.contact[: data.ncon]:
        depth = -float(contact.dist)
        a, b = sorted((owner(contact.geom1), owner(contact.geom2)))
        if a != b and depth > tolerance:
            deepest[(a, b)] = max(depth, deepest.get((a, b), 0.0))
    pairs = [Penetration(a, b, depth) for (a, b), depth in deepest.items()]
    return sorted(pairs, key=lambda p: -p.depth)


def object_poses(built: BuiltScene) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World position (3,) and rotation (3, 3) of every imported object now."""
    poses = {}
    for item in built.objects:
        body = built.data.body(item.scene_object.name)
        poses[item.scene_object.name] = (body.xpos.copy(), body.xmat.reshape(3, 3).copy())
    return poses


def settle(built: BuiltScene, seconds: float) -> None:
    """Step the scene for ``seconds`` with the robot held at its start."""
    steps = round(seconds / built.model.opt.timestep)
    for _ in range(steps):
        mujoco.mj_step(built.model, built.data)
    if not np.isfinite(built.data.qpos).all():
        raise SceneFileError(
            f"{built.scene.path}: the simulation diverged while settling (NaN positions); "
            "look for objects deep inside each other or extreme masses"
        )


def render_camera(built: BuiltScene, path: Path) -> None:
    """Write the file camera's view of the scene now as a PNG."""
    camera = built.scene.camera
    renderer = SceneRenderer(built.model, camera.width, camera.height)
    try:
        rgb = renderer.rgb(built.data, SCENE_FILE_CAMERA)
    finally:
        renderer.close()
    atomic_write(path, lambda handle: Image.fromarray(rgb).save(handle, format="PNG"), mode="wb")


def check_scene_file(
    scene: SceneFile,
    out: Path,
    cache_dir: Path | None = None,
    settle_seconds: float = 2.0,
    move_tolerance: float = MOVE_TOLERANCE,
) -> dict:
    """Build ``scene``, let it settle, and write ``OUT/start.png``, ``OUT/settled.png`` (the file's
    camera) and ``OUT/contacts.json``.

    Returns:
        The report: ``start_penetrations`` (pairs and depth, m), ``moved`` (objects that moved
        more than ``move_tolerance`` while settling), ``objects`` (per object: distance moved
        (m), turn (rad), parts, whether the decomposition came from the cache), ``ok``.
    """
    out = Path(out)
    built = build_scene_file(scene, cache_dir)
    start_pairs = built.penetrations()
    render_camera(built, out / "start.png")
    before = object_poses(built)
    settle(built, settle_seconds)
    after = object_poses(built)
    render_camera(built, out / "settled.png")
    rows = {}
    for item in built.objects:
        name = item.scene_object.name
        (p0, r0), (p1, r1) = before[name], after[name]
        rows[name] = {
            "moved_m": float(np.linalg.norm(p1 - p0)),
            "turned_rad": float(rotation_angle(r1 @ r0.T)),
            "movable": item.scene_object.movable,
            "parts": len(item.assets.parts),
            "decomposition_from_cache": item.assets.from_cache,
            "mesh_cache": str(item.assets.visual.parent),
        }
    moved = [name for name, row in rows.items() if row["moved_m"] > move_tolerance]
    report = {
        "scene": str(scene.path),
        "settle_seconds": settle_seconds,
        "move_tolerance_m": move_tolerance,
        "penetration_tolerance_m": PENETRATION_TOLERANCE,
        "start_penetrations": [
            {"bodies": [p.first, p.second], "depth_m": p.depth} for p in start_pairs
        ],
        "moved": moved,
        "objects": rows,
        "ok": not start_pairs and not moved,
    }
    atomic_write_text(out / "contacts.json", json.dumps(report, indent=2) + "\n")
    return report
