"""Scene files: parsing into the dataclass model, and one clear error per bad file or mesh, with
nothing left half written in the mesh cache."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import trimesh
from scene_files import ball_mesh, ball_object, mug_object, scene_dict, write_scene

from keyscaffold.sim import convex_parts
from keyscaffold.sim.mesh_import import MeshWarning, load_mesh
from keyscaffold.sim.objects.imported import scene_file_objects
from keyscaffold.sim.scene_file import SCENE_FILE_VERSION, Contact, SceneFileError
from keyscaffold.sim.scene_file_reader import parse_scene, read_scene_file
from keyscaffold.tasks import make_task


@pytest.fixture()
def folder(tmp_path):
    ball_mesh().export(tmp_path / "ball.obj")
    return tmp_path


def scene_with(folder, change=None, objects=None):
    """A scene file holding ``objects`` (default: the ball), changed by ``change(dict)``."""
    data = scene_dict(objects or [ball_object("ball.obj")])
    if change:
        change(data)
    return write_scene(folder, data)


def test_a_good_file_reads_into_the_model(folder):
    scene = read_scene_file(scene_with(folder, objects=[mug_object("mug.obj")]))
    assert scene.version == SCENE_FILE_VERSION
    mug = scene.object("mug")
    assert mug.mesh == (folder / "mug.obj").resolve()
    assert mug.movable and mug.mass == 0.3 and mug.unit == "m"
    assert mug.keypoints[0].name == "handle"
    assert scene.robot.embodiment == "gripper"
    assert scene.robot.start_wrist[:3] == (0.35, 0.3, 1.1)
    assert scene.task.success_tolerance == 0.02
    assert scene.decomposition.preprocess == "off"
    # look_at: the optical axis (OpenCV z) points from the camera to the target
    camera = scene.camera
    forward = camera.pose.rotation()[:, 2]
    target = np.array([0.55, 0.0, 0.75]) - np.array(camera.pose.position)
    assert np.allclose(forward, target / np.linalg.norm(target))


def test_a_matrix_pose_equals_its_quaternion(folder):
    angle = 0.4
    c, s = math.cos(angle), math.sin(angle)
    matrix = [[c, -s, 0, 0.5], [s, c, 0, 0.1], [0, 0, 1, 0.8], [0, 0, 0, 1]]

    def as_matrix(data):
        data["objects"][0]["pose"] = {"matrix": matrix}

    pose = read_scene_file(scene_with(folder, as_matrix)).object("ball").pose
    assert pose.position == (0.5, 0.1, 0.8)
    assert np.allclose(pose.quaternion, (math.cos(angle / 2), 0, 0, math.sin(angle / 2)))


def test_a_nearly_unit_quaternion_is_normalised(folder):
    def nearly(data):
        data["objects"][0]["pose"]["quaternion"] = [1.004, 0, 0, 0]

    pose = read_scene_file(scene_with(folder, nearly)).object("ball").pose
    assert pose.quaternion == (1.0, 0.0, 0.0, 0.0)


def _set(path, value):
    """A change that sets ``data[path[0]][path[1]]... = value``."""

    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


BAD_FILES = [
    (_set(["objects", 0, "unit"], "inch"), r"objects\[0\] \('ball'\)\.unit: unknown unit 'inch'"),
    (
        _set(["objects", 0, "pose", "position"], [0.5, float("nan"), 0.8]),
        r"pose\.position: holds NaN or infinity",
    ),
    (
        _set(["objects", 0, "pose", "quaternion"], [1, 0, 0, float("inf")]),
        r"pose\.quaternion: holds NaN or infinity",
    ),
    (
        _set(["objects", 0, "pose", "quaternion"], [1, 0.5, 0, 0]),
        r"pose\.quaternion: has norm 1\.1180; a rotation quaternion \(w, x, y, z\) has norm 1",
    ),
    (
        _set(
            ["objects", 0, "pose"],
            {"matrix": [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
        ),
        r"pose\.matrix: its upper-left 3x3 block is not a rotation",
    ),
    (_set(["objects", 0, "frictoin"], 1.0), r"frictoin: unknown field; did you mean 'friction'\?"),
    (_set(["objects", 0, "mass"], -1), r"\('ball'\)\.mass: must be greater than 0"),
    (_set(["objects", 0, "density"], 500), r"give mass or density, not both"),
    (
        _set(["objects", 0, "mesh"], "ball.fbx"),
        r"ball\.fbx is not one of \.obj, \.ply, \.stl, \.glb",
    ),
    (
        _set(["objects", 0, "contact"], {"timeconst": -0.01}),
        r"\('ball'\)\.contact\.timeconst: must be greater than 0, got -0\.01",
    ),
    (
        _set(["objects", 0, "contact"], {"dampratio": "stiff"}),
        r"\('ball'\)\.contact\.dampratio: must be a number, got 'stiff'",
    ),
    (
        _set(["objects", 0, "contact"], {"time_const": 0.01}),
        r"contact\.time_const: unknown field; did you mean 'timeconst'\?",
    ),
    (
        _set(["objects", 0, "contact"], [0.005, 1.0]),
        r"\('ball'\)\.contact: must be an object like \{\"timeconst\": 0\.005",
    ),
    (_set(["version"], 7), r"version: this keyscaffold reads version 1, got 7"),
    (_set(["camera", "intrinsics", "width"], 640.5), r"camera\.intrinsics\.width: must be a whole"),
    (_set(["table", "height"], "tall"), r"table\.height: must be a number"),
    (_set(["objects"], []), r"objects: must be a non-empty list"),
    (
        _set(["objects", 0, "keypoints"], [{"name": "top", "position": [0, 0, 0], "lift": "up"}]),
        r"keypoints\[0\]\.lift: must be one of surface, middle, got 'up'",
    ),
    (
        _set(["table", "keypoints"], [{"name": "ball top", "position": [0, 0, 0.75]}] * 2),
        r"the keypoint name 'ball top' is used by \['table', 'table'\]",
    ),
    (
        _set(["task", "keypoints"], ["handle"]),
        r"task\.keypoints: 'handle' is no object's or table's keypoint",
    ),
]


@pytest.mark.parametrize("change, message", BAD_FILES)
def test_a_bad_file_gets_one_error_naming_the_field(folder, change, message):
    with pytest.raises(SceneFileError, match=message):
        read_scene_file(scene_with(folder, change))


def test_no_table_table_keypoints_and_the_task_s_keypoint_order_read(folder):
    def floor_scene(data):
        data["objects"][0]["keypoints"] = [
            {"name": "ball top", "position": [0, 0, 0.012], "lift": "middle"}
        ]
        data["task"]["keypoints"] = ["ball top"]

    scene = read_scene_file(scene_with(folder, floor_scene))
    assert scene.table is not None and scene.table.keypoints == ()
    assert scene.object("ball").keypoints[0].lift == "middle"
    assert scene.task.keypoints == ("ball top",)
    scene = read_scene_file(scene_with(folder, _set(["table"], None)))
    assert scene.table is None and scene.task.keypoints == ()
    point = {"name": "edge", "position": [0.4, 0, 0.75], "description": "the front edge"}
    scene = read_scene_file(scene_with(folder, _set(["table", "keypoints"], [point])))
    assert scene.table.keypoints[0].position == (0.4, 0.0, 0.75)
    assert scene.table.keypoints[0].lift == "surface"


def test_contact_softness_defaults_to_the_built_in_objects_and_reaches_the_parts(folder):
    """A file without ``contact`` gets the apple's solref; a given one goes on every part."""
    model = make_task("move_apple").build_model()
    apple = tuple(model.geom("apple_geom").solref)
    assert read_scene_file(scene_with(folder)).object("ball").contact == Contact(*apple)

    soft = _set(["objects", 0, "contact"], {"timeconst": 0.02, "dampratio": 0.8})
    scene = read_scene_file(scene_with(folder, soft))
    assert scene.object("ball").contact == Contact(timeconst=0.02, dampratio=0.8)
    body = scene_file_objects(scene, folder / "cache")[0].scene_object.body
    parts = body.split("<geom ")[2:]  # after the visual geom
    assert parts and all('solref="0.02 0.8"' in part for part in parts)
    partial = _set(["objects", 0, "contact"], {"dampratio": 0.5})
    assert read_scene_file(scene_with(folder, partial)).object("ball").contact == Contact(
        dampratio=0.5
    )


def test_a_movable_object_needs_a_mass(folder):
    def no_mass(data):
        del data["objects"][0]["mass"]

    with pytest.raises(SceneFileError, match=r"\('ball'\): a movable object needs mass"):
        read_scene_file(scene_with(folder, no_mass))


def test_a_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "scene.json"
    path.write_text("version: 1\n")
    with pytest.raises(SceneFileError, match="not valid JSON"):
        read_scene_file(path)


def _import(folder, scene_data, cache):
    return scene_file_objects(parse_scene(scene_data, folder / "scene.json"), cache)


def _flat_mesh(path):
    trimesh.Trimesh(
        [[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0.1, 0.1, 0]], [[0, 1, 2], [1, 3, 2]]
    ).export(path)


BAD_MESHES = [
    ("missing.obj", None, r"object 'ball': mesh .*missing\.obj does not exist"),
    (
        "broken.glb",
        b"\x00\x01 not a binary glTF",
        r"object 'ball': mesh .*broken\.glb cannot be read",
    ),
    (
        "empty.obj",
        b"# nothing here\n",
        r"object 'ball': mesh .*empty\.obj (has no faces|cannot be read|holds no)",
    ),
    ("flat.stl", _flat_mesh, r"object 'ball': mesh flat\.stl has no volume"),
]


@pytest.mark.parametrize("name, content, message", BAD_MESHES)
def test_a_bad_mesh_gets_one_error_and_leaves_the_cache_empty(folder, name, content, message):
    if callable(content):
        content(folder / name)
    elif content is not None:
        (folder / name).write_bytes(content)
    cache = folder / "cache"
    with pytest.raises(SceneFileError, match=message):
        _import(folder, scene_dict([ball_object(name)]), cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_a_mesh_in_the_wrong_unit_is_refused_with_its_size(folder):
    trimesh.creation.box([50.0, 50.0, 50.0]).export(folder / "crate.obj")
    cache = folder / "cache"
    with pytest.raises(
        SceneFileError, match=r"'crate': mesh crate\.obj is 50 m across after unit 'm' and scale 1"
    ):
        _import(folder, scene_dict([ball_object("crate.obj", name="crate")]), cache)
    with pytest.raises(SceneFileError, match=r"is 0\.0005 mm across after unit 'mm'"):
        entry = ball_object("crate.obj", name="crate", unit="mm", scale=0.00001)
        _import(folder, scene_dict([entry]), cache)
    assert not cache.exists()


def test_a_mesh_that_is_not_watertight_warns_and_is_still_used(folder):
    box = trimesh.creation.box([0.05, 0.05, 0.05])
    box.update_faces(np.arange(len(box.faces)) != 0)  # a hole: one triangle missing
    box.export(folder / "open_box.obj")
    entry = parse_scene(scene_dict([ball_object("open_box.obj", name="box")]), folder / "s.json")
    with pytest.warns(MeshWarning, match=r"'box': mesh open_box\.obj is not watertight"):
        mesh = load_mesh(entry.objects[0])
    assert not mesh.watertight


def test_a_failed_decomposition_leaves_no_partial_cache_entry(folder, monkeypatch):
    written = []

    def fail_after_first(path, vertices, faces):
        if written:
            raise OSError("disk full")
        written.append(path)
        path.write_bytes(b"partial")

    monkeypatch.setattr(convex_parts, "_write_stl", fail_after_first)
    cache = folder / "cache"
    with pytest.raises(OSError, match="disk full"):
        _import(folder, scene_dict([ball_object("ball.obj")]), cache)
    assert written and not written[0].exists()
    assert list(cache.iterdir()) == []


def test_the_format_reference_example_reads(tmp_path):
    """The example in docs/file_formats.md is a valid scene file."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "file_formats.md").read_text()
    example = text.split("<!-- scene file example -->")[1].split("```json")[1].split("```")[0]
    data = json.loads(example)
    scene = parse_scene(copy.deepcopy(data), tmp_path / "scene.json")
    assert [o.name for o in scene.objects] == [o["name"] for o in data["objects"]]
