"""Importing meshes from a scene file: a concave mug saved as OBJ, PLY and GLB rests on the table,
keeps its hollow (a ball dropped in stays inside), is decomposed once, and `scene check` reports
what it sees."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scene_files import (
    BALL_RADIUS,
    MUG_BOTTOM,
    MUG_HEIGHT,
    MUG_RADIUS,
    MUG_WALL,
    MUG_XY,
    TABLE_HEIGHT,
    ball_mesh,
    ball_object,
    mug_mesh,
    mug_object,
    scene_dict,
    write_scene,
)

from keyscaffold.cli import main
from keyscaffold.sim import convex_parts
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.sim.scene_check import build_scene_file, object_poses, settle
from keyscaffold.sim.scene_file import SceneFileError
from keyscaffold.sim.scene_file_reader import read_scene_file


@pytest.fixture(scope="module")
def meshes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("meshes")
    mug = mug_mesh()
    for suffix in ("obj", "ply", "glb"):
        mug.export(folder / f"mug.{suffix}")
    ball_mesh().export(folder / "ball.stl")
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mesh_cache")


@pytest.mark.parametrize("suffix", ["obj", "ply", "glb"])
def test_a_mug_rests_on_the_table_and_holds_a_ball(meshes, cache, suffix):
    scene = read_scene_file(
        write_scene(meshes, scene_dict([mug_object(f"mug.{suffix}"), ball_object("ball.stl")]))
    )
    built = build_scene_file(scene, cache)
    built.require_apart()
    mug = built.objects[0]
    assert mug.scene_object.movable and len(mug.assets.parts) > 1
    assert 'name="mug_free"' in mug.scene_object.body
    before = object_poses(built)
    settle(built, 2.0)
    after = object_poses(built)
    assert np.linalg.norm(after["mug"][0] - before["mug"][0]) < 0.005
    ball = after["ball"][0]
    assert np.linalg.norm(ball[:2] - np.array(MUG_XY)) < MUG_RADIUS - MUG_WALL
    resting = TABLE_HEIGHT + MUG_BOTTOM + BALL_RADIUS
    assert abs(ball[2] - resting) < 0.005, "the ball does not rest on the mug's inner bottom"
    assert ball[2] < TABLE_HEIGHT + MUG_HEIGHT


def test_the_decomposition_is_reused(meshes, cache, monkeypatch):
    path = write_scene(meshes, scene_dict([mug_object("mug.obj")]), "again.json")
    first = build_scene_file(read_scene_file(path), cache).objects[0].assets

    def no_second_run(*args, **kwargs):
        raise AssertionError("CoACD ran again on a cached mesh")

    monkeypatch.setattr(convex_parts, "decompose", no_second_run)
    second = build_scene_file(read_scene_file(path), cache).objects[0].assets
    assert second.from_cache and second.parts == first.parts
    entry = json.loads((second.visual.parent / "parts.json").read_text())
    assert entry["parts"] == len(second.parts)


def test_a_fixed_object_is_welded_to_the_world(meshes, cache):
    scene = read_scene_file(
        write_scene(meshes, scene_dict([mug_object("mug.obj", movable=False)]), "fixed.json")
    )
    built = build_scene_file(scene, cache)
    assert "freejoint" not in built.objects[0].scene_object.body
    assert built.model.body("mug").jntnum[0] == 0


def test_objects_that_start_inside_each_other_are_named_with_their_depth(meshes, cache):
    wall = [MUG_XY[0] + MUG_RADIUS - MUG_WALL / 2, MUG_XY[1], TABLE_HEIGHT + 0.05]
    objects = [mug_object("mug.obj"), ball_object("ball.stl", pose={"position": wall})]
    scene = read_scene_file(write_scene(meshes, scene_dict(objects), "overlap.json"))
    built = build_scene_file(scene, cache)
    with pytest.raises(
        SceneFileError, match=r"start inside each other: ball and mug by \d+\.\d mm"
    ):
        built.require_apart()


def test_the_camera_sees_what_its_intrinsics_say(meshes, cache):
    data = scene_dict([mug_object("mug.obj")])
    data["camera"]["intrinsics"].update({"fx": 700, "fy": 650, "cx": 400, "cy": 180})
    scene = read_scene_file(write_scene(meshes, data, "camera.json"))
    built = build_scene_file(scene, cache)
    renderer = SceneRenderer(built.model, 640, 480)
    frame = renderer.frame(built.data, "scene_file")
    renderer.close()
    rows, cols = np.nonzero(frame.segmentation == built.model.body("mug").id)
    # the mug's rim and base circles, projected with the file's K and pose (OpenCV axes)
    angles = np.linspace(0, 2 * np.pi, 64)
    ring = np.stack([MUG_RADIUS * np.cos(angles), MUG_RADIUS * np.sin(angles)], 1)
    points = np.concatenate(
        [np.c_[ring + MUG_XY, np.full(64, TABLE_HEIGHT + z)] for z in (0.0, MUG_HEIGHT)]
    )
    camera = scene.camera
    local = (points - camera.pose.position) @ camera.pose.rotation()
    pixels = local[:, :2] / local[:, 2:] * [camera.fx, camera.fy] + [camera.cx, camera.cy]
    assert abs(rows.min() - pixels[:, 1].min()) < 3 and abs(rows.max() - pixels[:, 1].max()) < 3
    assert abs(cols.min() - pixels[:, 0].min()) < 3 and abs(cols.max() - pixels[:, 0].max()) < 3


def test_scene_check_writes_pictures_and_a_contact_report(meshes, cache, tmp_path):
    objects = [mug_object("mug.obj"), ball_object("ball.stl", height=0.004)]
    path = write_scene(meshes, scene_dict(objects), "check.json")
    out = tmp_path / "check"
    assert main(["scene", "check", str(path), "--out", str(out), "--cache-dir", str(cache)]) == 0
    report = json.loads((out / "contacts.json").read_text())
    assert report["ok"] and report["start_penetrations"] == [] and report["moved"] == []
    assert report["objects"]["mug"]["decomposition_from_cache"]
    assert (out / "start.png").stat().st_size > 1000 and (out / "settled.png").is_file()

    # a ball placed above the rim falls in: it moved, and the check says so (exit code 2)
    objects[1] = ball_object("ball.stl", height=0.12)
    path = write_scene(meshes, scene_dict(objects), "falls.json")
    assert main(["scene", "check", str(path), "--out", str(out), "--cache-dir", str(cache)]) == 2
    report = json.loads((out / "contacts.json").read_text())
    assert report["moved"] == ["ball"] and not report["ok"]
