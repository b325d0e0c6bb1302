"""Scene files written from the dataclass model: the writer and the reader are inverses, and a
scene made in code (as from a pose estimator's output) becomes a file the importer reads."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scene_files import ball_mesh, ball_object, mug_object, scene_dict, write_scene

from keyscaffold.sim.scene_file import (
    Camera,
    Contact,
    Keypoint,
    Pose,
    SceneFile,
    SceneFileError,
    SceneObjectEntry,
    TaskHints,
)
from keyscaffold.sim.scene_file_reader import read_scene_file
from keyscaffold.sim.scene_file_writer import scene_json, write_scene_file


def _same(a: SceneFile, b: SceneFile) -> bool:
    """Equal but for the path, and for the camera's rotation up to rounding (a look-at pose is
    written as the quaternion it was turned into, which the reader normalises again)."""
    turn_a, turn_b = a.camera.pose.rotation(), b.camera.pose.rotation()
    b = replace(b, path=a.path, camera=a.camera)
    return a == b and np.allclose(turn_a, turn_b, atol=1e-12)


def test_reading_what_was_written_gives_the_same_scene(tmp_path):
    data = scene_dict([mug_object("mug.obj"), ball_object("ball.obj")])
    data["objects"][1]["contact"] = {"timeconst": 0.01, "dampratio": 0.8}
    data["table"]["keypoints"] = [{"name": "spot", "position": [0.1, 0.0, 0.75]}]
    scene = read_scene_file(write_scene(tmp_path, data))
    out = write_scene_file(scene, tmp_path / "again" / "scene.json")
    again = read_scene_file(out)
    assert _same(scene, again)
    assert again.object("ball").contact == Contact(0.01, 0.8)
    # meshes outside the new file's folder keep their absolute paths; inside, relative ones
    written = json.loads(out.read_text())
    assert Path(written["objects"][0]["mesh"]).is_absolute()
    assert scene_json(scene, tmp_path)["objects"][0]["mesh"] == "mug.obj"


def test_a_scene_made_in_code_imports(tmp_path):
    ball_mesh().export(tmp_path / "ball.obj")
    scene = SceneFile(
        path=tmp_path / "scene.json",
        objects=(
            SceneObjectEntry(
                name="ball",
                mesh=tmp_path / "ball.obj",
                pose=Pose((0.5, 0.0, 0.8), (1.0, 0.0, 0.0, 0.0)),
                density=500.0,
                keypoints=(Keypoint("top", (0.0, 0.0, 0.03), "the ball's top"),),
            ),
        ),
        camera=Camera(600.0, 600.0, 320.0, 240.0, 640, 480, Pose((1.4, 0.0, 1.3))),
        task=TaskHints("lift the ball", 0.02, ("top",)),
    )
    path = write_scene_file(scene, tmp_path / "scene.json")
    data = json.loads(path.read_text())
    assert "mass" not in data["objects"][0] and data["objects"][0]["density"] == 500.0
    assert data["objects"][0]["mesh"] == "ball.obj"
    assert _same(read_scene_file(path), scene)


def test_a_bad_scene_is_refused_before_anything_is_written(tmp_path):
    scene = read_scene_file(write_scene(tmp_path, scene_dict([ball_object("ball.obj")])))
    movable_without_mass = replace(scene.objects[0], mass=None, density=None)
    target = tmp_path / "out" / "scene.json"
    with pytest.raises(SceneFileError, match="mass"):
        write_scene_file(replace(scene, objects=(movable_without_mass,)), target)
    assert not target.exists()
