"""Scene files for tests: a concave mug made with trimesh, a ball, and a scene file around them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh

MUG_RADIUS = 0.04
"""Outer radius of the mug (m)."""
MUG_WALL = 0.006
MUG_HEIGHT = 0.10
MUG_BOTTOM = 0.008
"""Thickness of the mug's bottom (m)."""
BALL_RADIUS = 0.012
TABLE_HEIGHT = 0.75
MUG_XY = (0.55, 0.0)
FAST_DECOMPOSITION = {
    "threshold": 0.1,
    "preprocess": "off",
    "resolution": 500,
    "mcts_iterations": 30,
    "mcts_nodes": 10,
    "mcts_max_depth": 2,
}
"""CoACD settings that decompose the mug in about a second and keep its hollow."""


def mug_mesh() -> trimesh.Trimesh:
    """A mug standing on its base at z = 0: a hollow cylinder (a revolved wall-and-bottom profile)
    with a ring handle on the +x side."""
    inner = MUG_RADIUS - MUG_WALL
    profile = np.array(
        [[0, 0], [MUG_RADIUS, 0], [MUG_RADIUS, MUG_HEIGHT], [inner, MUG_HEIGHT],
         [inner, MUG_BOTTOM], [0, MUG_BOTTOM]]
    )  # fmt: skip
    cup = trimesh.creation.revolve(profile, sections=32)
    handle = trimesh.creation.torus(
        major_radius=0.025, minor_radius=0.006, major_sections=24, minor_sections=8
    )
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    handle.apply_translation([MUG_RADIUS + 0.012, 0, MUG_HEIGHT / 2])
    return trimesh.util.concatenate([cup, handle])


def ball_mesh() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=2, radius=BALL_RADIUS)


def mug_object(mesh: str, **overrides) -> dict:
    entry = {
        "name": "mug",
        "mesh": mesh,
        "unit": "m",
        "mass": 0.3,
        "friction": 0.8,
        "pose": {"position": [*MUG_XY, TABLE_HEIGHT + 0.0005], "quaternion": [1, 0, 0, 0]},
        "keypoints": [
            {"name": "handle", "position": [0.067, 0, 0.05], "description": "the handle"}
        ],
    }
    return {**entry, **overrides}


def ball_object(mesh: str, height: float = 0.05, **overrides) -> dict:
    """A ball ``height`` above the mug's bottom, over the mug's axis."""
    z = TABLE_HEIGHT + MUG_BOTTOM + BALL_RADIUS + height
    entry = {
        "name": "ball",
        "mesh": mesh,
        "mass": 0.02,
        "friction": 0.5,
        "pose": {"position": [*MUG_XY, z]},
    }
    return {**entry, **overrides}


def scene_dict(objects: list[dict], **overrides) -> dict:
    scene = {
        "version": 1,
        "table": {"size": [0.8, 1.0], "height": TABLE_HEIGHT, "center": [0.55, 0.0]},
        "camera": {
            "intrinsics": {"fx": 600, "fy": 600, "cx": 320, "cy": 240, "width": 640, "height": 480},
            "pose": {"position": [1.1, 0.0, 1.2], "look_at": [*MUG_XY, TABLE_HEIGHT]},
        },
        "robot": {"embodiment": "gripper", "start_wrist": {"position": [0.35, 0.3, 1.1]}},
        "decomposition": FAST_DECOMPOSITION,
        "objects": objects,
        "task": {"instruction": "put the ball in the mug", "success_tolerance": 0.02},
    }
    return {**scene, **overrides}


def write_scene(folder: Path, scene: dict, name: str = "scene.json") -> Path:
    path = Path(folder) / name
    path.write_text(json.dumps(scene, indent=2))
    return path
