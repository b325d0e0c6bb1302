"""`scene export`: built-in tasks written as scene files and imported again (the path `scene
check` takes) give the same scene: object poses, masses, where objects rest after settling, the
keypoints (also as a task built from the file tracks them), each object's contact softness, and
what the file's camera sees against the task camera. Tasks whose objects have moving parts, and
unknown tasks, are refused by name with nothing written."""

from __future__ import annotations

import json
import re

import mujoco
import numpy as np
import pytest

from keyscaffold.cli import main
from keyscaffold.geometry import points_in_body_frames, rotation_angle
from keyscaffold.sim.objects.imported import SCENE_FILE_CAMERA
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.sim.scene_check import build_scene_file, settle
from keyscaffold.sim.scene_export import largest_colliding_geom
from keyscaffold.sim.scene_file import Contact
from keyscaffold.sim.scene_file_reader import read_scene_file
from keyscaffold.tasks import make_task
from keyscaffold.tasks.from_scene import SceneTask

SEED = 3
SIZE = 96
"""Width and height of the exported camera's images (pixels)."""
TASKS = ("shoe_place", "move_apple")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each task's exported folder, and a mesh cache shared by the imports."""
    root = tmp_path_factory.mktemp("exported")
    for task in TASKS:
        args = ["scene", "export", task, "--seed", str(SEED), "--size", str(SIZE)]
        fmt = ["--mesh-format", "glb"] if task == "shoe_place" else []
        assert main([*args, *fmt, "--out", str(root / task)]) == 0
    return root


def _built_in(name: str):
    task = make_task(name)
    model = task.build_model()
    return task, model, task.state_data(model, task.sample_initial_state(SEED))


def _object_names(model: mujoco.MjModel, segmentation: np.ndarray) -> np.ndarray:
    """The top-level body (object) name under each pixel; '' for the background."""
    roots = np.where(segmentation >= 0, model.body_rootid[np.maximum(segmentation, 0)], -1)
    names = np.array(["", *(model.body(i).name for i in range(model.nbody))])
    return names[roots + 1]


def _frame(model, data, camera):
    renderer = SceneRenderer(model, SIZE, SIZE, quality=False)
    try:
        return renderer.frame(data, camera)
    finally:
        renderer.close()


@pytest.mark.parametrize("name", TASKS)
def test_an_exported_task_imports_as_the_same_scene(exported, name, tmp_path_factory):
    folder = exported / name
    scene = read_scene_file(folder / "scene.json")
    cache = tmp_path_factory.mktemp("cache")
    built = build_scene_file(scene, cache)
    task, model, data = _built_in(name)
    state = task.sample_initial_state(SEED)

    names = [entry.name for entry in scene.objects]
    expected = [o.name for o in task.scene_objects() if o.name != "counter"]
    assert names == expected
    assert (scene.table is None) == (name == "shoe_place")
    assert scene.robot.embodiment == task.robot().name
    assert np.allclose(scene.robot.start_wrist, state.wrist)
    assert scene.task.instruction == task.instruction
    assert scene.task.keypoints == tuple(task.keypoint_names())
    for entry in scene.objects:
        assert entry.movable == (entry.name in task.movable_objects())
        assert entry.mesh.suffix == (".glb" if name == "shoe_place" else ".obj")
        mine, theirs = built.data.body(entry.name), data.body(entry.name)
        assert np.linalg.norm(mine.xpos - theirs.xpos) < 0.001
        turn = rotation_angle(mine.xmat.reshape(3, 3) @ theirs.xmat.reshape(3, 3).T)
        assert turn < 0.01
        mass, true_mass = built.model.body(entry.name).mass[0], model.body(entry.name).mass[0]
        assert abs(mass - true_mass) < 0.01 * true_mass

    # every keypoint of the file sits where the task's keypoint is
    points = {k.name: (e, k) for e in scene.objects for k in e.keypoints}
    if scene.table is not None:
        points.update({k.name: (None, k) for k in scene.table.keypoints})
    moved = []
    for name_ in scene.task.keypoints:
        entry, point = points[name_]
        body = built.data.body(entry.name if entry else "table")
        moved.append(points_in_body_frames(body.xpos[None], body.xmat[None], [point.position])[0])
    assert np.abs(np.array(moved) - task.keypoint_positions(model, data)).max() < 1e-6
    lifts = {k.name: k.lift for _, k in points.values()}
    assert [lifts[k.name] for k in task.keypoints] == [k.lift for k in task.keypoints]
    # ... and a task built from the file tracks the same keypoints at the same places
    from_file = SceneTask(scene, cache_dir=cache)
    assert from_file.keypoint_names() == task.keypoint_names()
    file_model = from_file.build_model()
    file_data = from_file.state_data(file_model, from_file.sample_initial_state(0))
    positions = from_file.keypoint_positions(file_model, file_data)
    assert np.abs(positions - task.keypoint_positions(model, data)).max() < 1e-6

    # the file's camera sees what the task camera sees
    mine = _frame(built.model, built.data, SCENE_FILE_CAMERA)
    theirs = _frame(model, data, task.camera.name)
    assert np.allclose(mine.intrinsics, theirs.intrinsics)
    assert np.allclose(mine.cam_to_world, theirs.cam_to_world, atol=1e-6)
    seen_mine = _object_names(built.model, mine.segmentation)
    seen_theirs = _object_names(model, theirs.segmentation)
    for entry in scene.objects:
        on_object = seen_theirs == entry.name
        assert on_object.sum() > 20, f"{entry.name} is hardly in view"
        assert (seen_mine[on_object] == entry.name).mean() >= 0.95
        depth_error = np.abs(mine.depth - theirs.depth)[on_object]
        assert (depth_error < 0.01).mean() >= 0.95

    # after a second of settling, every object rests where the task's does
    settle(built, 1.0)
    for _ in range(round(1.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    for entry in scene.objects:
        gap = np.linalg.norm(built.data.body(entry.name).xpos - data.body(entry.name).xpos)
        assert gap < 0.005, f"{entry.name} rests {gap * 1000:.1f} mm from the task's"


@pytest.mark.parametrize("name", TASKS)
def test_each_object_keeps_its_contact_softness(exported, name, tmp_path_factory):
    """The file's ``contact`` is the built-in object's solref, and every imported part has it."""
    scene = read_scene_file(exported / name / "scene.json")
    built = build_scene_file(scene, tmp_path_factory.mktemp("cache"))
    _, model, _ = _built_in(name)
    for entry in scene.objects:
        solref = model.geom_solref[largest_colliding_geom(model, model.body(entry.name).id)]
        assert entry.contact == Contact(*solref)
        names = [built.model.geom(g).name for g in range(built.model.ngeom)]
        parts = [g for g, n in enumerate(names) if n.startswith(f"{entry.name}_part_")]
        assert parts and np.array_equal(built.model.geom_solref[parts], [solref] * len(parts))


def test_the_export_is_a_readable_folder_with_one_mesh_per_object(exported):
    data = json.loads((exported / "move_apple" / "scene.json").read_text())
    meshes = sorted(p.name for p in (exported / "move_apple" / "meshes").iterdir())
    assert meshes == ["apple.obj", "cutting_board.obj"]
    assert [o["mesh"] for o in data["objects"]] == ["meshes/cutting_board.obj", "meshes/apple.obj"]
    assert data["table"]["height"] == pytest.approx(0.9)
    assert not any(p.name.startswith(".") for p in exported.iterdir())


@pytest.mark.parametrize(
    "name, message",
    [
        ("open_drawer", r"scene export open_drawer: objects with moving parts .*'chest'.*drawer"),
        ("open_fridge", r"'fridge': joint door_hinge \(moves 'fridge_door'\)"),
        ("no_such_task", r"unknown task 'no_such_task'"),
    ],
)
def test_what_cannot_be_exported_is_refused_by_name(tmp_path, capsys, name, message):
    out = tmp_path / "scene"
    assert main(["scene", "export", name, "--out", str(out)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary folder


def test_an_existing_output_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "scene").mkdir()
    assert main(["scene", "export", "move_apple", "--out", str(tmp_path / "scene")]) == 2
    assert "exists" in capsys.readouterr().err
