"""Objects from a scene file's meshes, its table and its camera, as ``SceneObject`` fragments that
the scene builder carries like the procedural ones.

An imported object is one body named after the object: the original mesh as a visual-only geom
(group 1, never touching anything), and one collision geom per convex part (group 3, hidden in
renders) with the object's friction and contact softness (``solref``). A movable object has
the free joint ``<name>_free``; a fixed one is welded to the world. The body's mass and inertia
come from the convex parts (``mesh_import.mass_properties``). Mesh files live in the mesh cache
(``convex_parts``) and are referenced by absolute path, scaled by the object's unit and scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from keyscaffold.sim import convex_parts
from keyscaffold.sim.mesh_import import load_mesh, mass_properties
from keyscaffold.sim.objects import (
    VISUAL_ONLY,
    WORLD_CONTACT,
    SceneObject,
    free_joint,
    friction,
)
from keyscaffold.sim.scene_file import Camera, Decomposition, SceneFile, SceneObjectEntry, Table

SCENE_FILE_CAMERA = "scene_file"
"""Name of the scene file's camera in the model."""
TABLE_TOP = 0.03
"""Thickness of the table top (m)."""
LEG = 0.025
"""Half the width of a table leg (m)."""


@dataclass(frozen=True)
class ImportedObject:
    """An object read from a scene file: its fragment and where its mesh files are."""

    scene_object: SceneObject
    assets: convex_parts.MeshAssets


def _rgba(values: tuple[float, ...]) -> str:
    return " ".join(f"{v:g}" for v in values)


def imported_object(
    entry: SceneObjectEntry, settings: Decomposition, cache_dir: Path
) -> ImportedObject:
    """Read, check and decompose ``entry``'s mesh (or reuse its cached decomposition) and write
    its MJCF fragment."""
    mesh = load_mesh(entry)
    assets = convex_parts.mesh_assets(entry.name, mesh, settings, cache_dir)
    inertial = mass_properties(entry, assets.part_arrays())
    s = f"{entry.metres_per_unit:.9g}"
    scale = f'scale="{s} {s} {s}"'
    name = entry.name
    meshes = [f'<mesh name="{name}_visual" file="{assets.visual}" {scale} inertia="shell"/>']
    geoms = [
        f'<geom name="{name}_visual" type="mesh" mesh="{name}_visual" rgba="{_rgba(entry.rgba)}" '
        f'mass="0" {VISUAL_ONLY}/>'
    ]
    hidden = _rgba((*entry.rgba[:3], 0.5))
    for i, path in enumerate(assets.parts):
        meshes.append(f'<mesh name="{name}_part_{i}" file="{path}" {scale}/>')
        geoms.append(
            f'<geom name="{name}_part_{i}" type="mesh" mesh="{name}_part_{i}" mass="0" '
            f'group="3" rgba="{hidden}" condim="4" {friction(entry.friction)} '
            f"{entry.contact.mjcf()} {WORLD_CONTACT}/>"
        )
    joint = free_joint(name) if entry.movable else ""
    body = (
        f'<body name="{name}" {entry.pose.mjcf()}>{joint}{inertial.mjcf()}{"".join(geoms)}</body>'
    )
    fragment = SceneObject(name=name, body=body, assets="".join(meshes), movable=entry.movable)
    return ImportedObject(fragment, assets)


def table_fixture(table: Table) -> SceneObject:
    """The support surface: a wooden top at ``table.height`` on four legs, body ``table``."""
    (cx, cy), (sx, sy), h = table.center, table.size, table.height
    hx, hy = sx / 2, sy / 2
    legs = "".join(
        f'<geom name="table_leg_{i}" type="box" pos="{x * (hx - 2 * LEG):.4f} '
        f'{y * (hy - 2 * LEG):.4f} {(h - TABLE_TOP) / 2:.4f}" '
        f'size="{LEG} {LEG} {(h - TABLE_TOP) / 2:.4f}" material="wood" {WORLD_CONTACT}/>'
        for i, (x, y) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1)))
    )
    body = (
        f'<body name="table" pos="{cx:g} {cy:g} 0">'
        f'<geom name="table_top" type="box" pos="0 0 {h - TABLE_TOP / 2:.4f}" '
        f'size="{hx:.4f} {hy:.4f} {TABLE_TOP / 2}" material="wood" '
        f"{friction(table.friction)} {WORLD_CONTACT}/>{legs}</body>"
    )
    return SceneObject(name="table", body=body)


def camera_fixture(camera: Camera) -> SceneObject:
    """The scene file's camera, ``SCENE_FILE_CAMERA``, with its own intrinsics: MuJoCo renders
    it as the pinhole camera K (focal lengths and principal point in pixels)."""
    # OpenCV axes (x right, y down, z forward) -> MuJoCo's (x right, y up, looking along -z).
    rotation = camera.pose.rotation() @ np.diag([1.0, -1.0, -1.0])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rotation.reshape(-1))
    pixel = 1e-5  # sensor size per pixel (m); any value works, only the ratios matter
    pos = " ".join(f"{v:.6g}" for v in camera.pose.position)
    offset = (camera.width / 2 - camera.cx, camera.height / 2 - camera.cy)
    element = (
        f'<camera name="{SCENE_FILE_CAMERA}" pos="{pos}" quat="{" ".join(f"{v:.9g}" for v in quat)}" '
        f'resolution="{camera.width} {camera.height}" focalpixel="{camera.fx:g} {camera.fy:g}" '
        f'principalpixel="{offset[0]:g} {offset[1]:g}" '
        f'sensorsize="{camera.width * pixel:.6g} {camera.height * pixel:.6g}"/>'
    )
    return SceneObject(name=SCENE_FILE_CAMERA, body=element)


def scene_file_objects(scene: SceneFile, cache_dir: Path | None = None) -> list[ImportedObject]:
    """Every object of ``scene``, imported (decomposed once per shape and settings)."""
    cache = Path(cache_dir) if cache_dir is not None else convex_parts.default_cache_dir()
    return [imported_object(entry, scene.decomposition, cache) for entry in scene.objects]


def scene_file_fixtures(scene: SceneFile) -> list[SceneObject]:
    """The table (unless the file has none: the room's floor is the support) and the camera of
    ``scene``."""
    table = [table_fixture(scene.table)] if scene.table is not None else []
    return [*table, camera_fixture(scene.camera)]
