"""A scene file and an instruction are a task: a mug and a plate written as OBJ meshes by the test
become `scene:mug_plate`. IKER mode runs from the command line against the local test model
server; scaffold mode judges success by the plan's final keypoints within the file's tolerance;
randomization reaches the imported objects; a bad file is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import trimesh
from scene_files import TABLE_HEIGHT, mug_mesh, mug_object, scene_dict, write_scene

from keyscaffold.cli import main
from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.planning.plan import KeypointPlan
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.sim.randomization import Randomization
from keyscaffold.tasks import make_task, remove_task
from keyscaffold.tasks.from_scene import register_scene_task
from keyscaffold.vlm.local_server import FakeVLMServer, Reply

NAME = "scene:mug_plate"
TOLERANCE = 0.03
PLATE_XY = (0.55, -0.15)
PLATE_TOP = 0.015


def plate_object(**overrides) -> dict:
    entry = {
        "name": "plate",
        "mesh": "plate.obj",
        "mass": 0.4,
        "friction": 0.9,
        "pose": {"position": [*PLATE_XY, TABLE_HEIGHT + 0.0005]},
        "keypoints": [
            {"name": "plate centre", "position": [0, 0, PLATE_TOP], "description": "the middle"}
        ],
    }
    return {**entry, **overrides}


def mug_plate(**task) -> dict:
    objects = [
        mug_object("mug.obj", pose={"position": [0.5, 0.15, TABLE_HEIGHT + 0.0005]}),
        plate_object(),
    ]
    hints = {"instruction": "put the mug on the plate", "success_tolerance": TOLERANCE, **task}
    return scene_dict(objects, task=hints)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Meshes, the scene file and a mesh cache (``KEYSCAFFOLD_CACHE``) for the module."""
    folder = tmp_path_factory.mktemp("mug_plate")
    mug_mesh().export(folder / "mug.obj")
    plate = trimesh.creation.cylinder(radius=0.09, height=PLATE_TOP, sections=32)
    plate.apply_translation([0, 0, PLATE_TOP / 2])
    plate.export(folder / "plate.obj")
    write_scene(folder, mug_plate(), "mug_plate.json")
    patch = pytest.MonkeyPatch()
    patch.setenv("KEYSCAFFOLD_CACHE", str(folder / "cache"))
    yield folder
    patch.undo()
    remove_task(NAME)


@pytest.fixture(scope="module")
def task(folder):
    return register_scene_task(folder / "mug_plate.json")


# ----------------------------------------------------------------------------- IKER mode
def _moves_the_mug_onto_the_plate(out):
    """The fake model: every mug candidate shifted so that the mug stands on the plate's middle."""

    def responder(body: dict) -> Reply:
        record = out / "codegen/records/0000000/code-0.candidates.json"
        candidates = CandidateSet.from_json(json.loads(record.read_text()))
        bodies = candidates.bodies()
        mug = [i for i, b in enumerate(bodies) if b == "mug"]
        plate = [i for i, b in enumerate(bodies) if b == "plate"]
        code = (
            "import numpy as np\n\n\ndef get_interaction_data(keypoint_coordinates):\n"
            "    k = np.array(keypoint_coordinates)\n"
            f"    mug, plate = k[{mug}], k[{plate}]\n"
            "    shift = plate.mean(axis=0) - mug.mean(axis=0)\n"
            "    shift[2] = plate[:, 2].max() - mug[:, 2].min() + 0.005\n"
            f'    return {{"object": "mug", "keypoints": {mug}, "targets": (mug + shift).tolist(), '
            '"mode": "grasp", "done": False}\n'
        )
        return Reply(content=f"Here is the code.\n```python\n{code}```\n")

    return responder


def test_iker_runs_a_scene_file_with_a_model_from_the_command_line(folder, tmp_path):
    out = tmp_path / "run"
    with FakeVLMServer(_moves_the_mug_onto_the_plate(out)) as server:
        args = [
            "iker", "--scene", str(folder / "mug_plate.json"), "put the mug on the plate",
            "--planner", "vlm", "--ideal", "--out", str(out), "--base-url", server.url,
            "--model", "test-model", "--cache-dir", str(tmp_path / "vlm"), "--no-video",
        ]  # fmt: skip
        assert main(args) == 0
        (request,) = server.requests
    summary = json.loads((out / "iker.json").read_text())
    assert summary["task"] == NAME and summary["instruction"] == "put the mug on the plate"
    assert summary["planner"] == "vlm" and summary["execution"] == "ideal"
    assert summary["command"].startswith("keyscaffold iker 'put the mug on the plate' --scene")
    (stage,) = summary["stages"]
    assert stage["object"] == "mug" and stage["failure"] is None
    assert stage["success"] is True and stage["final_distance"] < 0.05
    assert summary["stage_success"] == [True] and summary["success"] is True
    text = "\n".join(p["text"] for p in request["messages"][0]["content"] if p["type"] == "text")
    assert "put the mug on the plate" in text
    # Candidates came from the imported meshes and the table; the mug now stands on the plate.
    record = out / "codegen/records/0000000/code-0.candidates.json"
    bodies = set(CandidateSet.from_json(json.loads(record.read_text())).bodies())
    assert {"mug", "plate", "table"} <= bodies
    end = json.loads((out / "stage_0/state_end.json").read_text())["objects"]
    assert np.linalg.norm(np.array(end["mug"][:2]) - end["plate"][:2]) < 0.03
    assert end["mug"][2] > end["plate"][2] + PLATE_TOP - 0.005


def test_an_instruction_on_the_command_line_replaces_the_files_and_oracle_is_refused(
    folder, tmp_path, capsys
):
    scene = str(folder / "mug_plate.json")
    assert main(["iker", "--scene", scene, "--out", str(tmp_path / "o")]) == 2
    assert "has no stage oracle; use --planner vlm" in capsys.readouterr().err
    assert make_task(NAME).instruction == "put the mug on the plate"
    assert main(["plan", "--scene", scene, "--out", str(tmp_path / "p")]) == 2
    assert "scene:mug_plate comes from a scene file and has no oracle plan" in (
        capsys.readouterr().err
    )
    assert main(["plan", "move_apple", "--scene", scene]) == 2
    assert "is not the task of" in capsys.readouterr().err


# ----------------------------------------------------------------------------- scaffold mode
def _plans(task, offsets: np.ndarray) -> list[KeypointPlan]:
    """One plan per offset (m, shape (P, K, 3)): its keypoints stay where the scene puts them,
    then end ``offset`` away; the wrist holds its start, away from the objects."""
    state = task.sample_initial_state(0)
    model = task.build_model()
    start = task.keypoint_positions(model, task.state_data(model, state))
    wrist = np.repeat(np.array([state.wrist[:3]]), 3, axis=0)
    return [
        KeypointPlan(
            plan_id=f"p{i}",
            task=task.name,
            keypoint_names=task.keypoint_names(),
            keypoint_bodies=[kp.body for kp in task.keypoints],
            keypoint_local=np.array([kp.local_pos for kp in task.keypoints]),
            waypoints=np.stack([start, start, start + offset]),
            wrist_waypoints=wrist,
            wrist_orientation=np.zeros(3),
            initial_state=state,
        )
        for i, offset in enumerate(offsets)
    ]


def test_scaffold_success_is_every_keypoint_within_the_tolerance_of_its_plans_end(task):
    assert task.modes == ("scaffold",) and task.keypoint_names() == ["handle", "plate centre"]
    offsets = np.zeros((4, 2, 3))
    offsets[1, 0, 0] = TOLERANCE - 0.004  # just inside
    offsets[2, 1, 1] = TOLERANCE + 0.004  # just outside
    offsets[3, 0, 2] = 0.10
    plans = _plans(task, offsets)
    config = EnvConfig(num_envs=4, num_threads=1, init_position_noise=0.0)
    env = ScaffoldEnv(task, plans, config, seed=0)
    env.assign_plans(np.arange(4))
    assert np.allclose(env.monitor.state["goals"], env.plan_keypoints[:, -1])
    for _ in range(5):
        env.step(torch.zeros(4, env.num_actions))
    result = env.monitor.result
    assert result["success"].tolist() == [True, True, False, False]
    moved = np.linalg.norm(env.worlds.keypoints() - env.plan_keypoints[:, 0], axis=-1).max()
    assert moved < 0.002  # the objects rested: the verdict is the goals' doing
    assert result["goal_distance"][1] == pytest.approx(TOLERANCE - 0.004, abs=0.002)


# ----------------------------------------------------------------------------- randomization
def test_randomization_reaches_the_imported_objects_deterministically(task):
    file_pose = task.sample_initial_state(0).objects["mug"]
    assert file_pose[:3] == pytest.approx((0.5, 0.15, TABLE_HEIGHT + 0.0005))
    first, again, other = (task.sample_initial_state(s).objects["mug"] for s in (1, 1, 2))
    assert first == again and first != other
    shift = np.abs(np.array(first[:2]) - file_pose[:2])
    assert 0 < shift.max() <= 0.02 and first[2] == file_pose[2]
    assert 0 < abs(2 * np.arctan2(first[6], first[3])) <= 0.05

    plans = _plans(task, np.zeros((1, 2, 3)))
    config = EnvConfig(num_envs=3, num_threads=1, randomization=Randomization(enabled=True))

    def drawn(seed):
        env = ScaffoldEnv(task, plans, config, seed=seed)
        mug = env.worlds.index.body_ids["mug"]
        parts = np.flatnonzero(env.worlds.model.geom_bodyid == mug)
        return env.randomizer.mass[:, mug].copy(), env.randomizer.friction[:, parts, 0].copy()

    (mass, friction), (mass_again, _), (mass_other, _) = drawn(3), drawn(3), drawn(4)
    assert np.array_equal(mass, mass_again) and not np.allclose(mass, mass_other)
    assert np.all((mass >= 0.3 * 0.3 - 1e-9) & (mass <= 0.3 * 2.0 + 1e-9))
    assert len(set(np.round(mass, 6))) == 3 and np.ptp(friction[:, -1]) > 0

    sizes = [_mug_height(task.variant(seed)) for seed in (5, 5, 6)]
    nominal = _mug_height(task)
    assert sizes[0] == sizes[1] != sizes[2]
    assert all(0.8 * nominal <= size <= 1.2 * nominal for size in sizes)
    variant = task.variant(5)
    ratio = sizes[0] / nominal
    assert variant.keypoints[0].local_pos[0] == pytest.approx(0.067 * ratio)


def _mug_height(task) -> float:
    """Height of the mug's visual mesh in the compiled model (m)."""
    model = task.build_model()
    mesh = model.mesh("mug_visual").id
    start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
    return float(np.ptp(model.mesh_vert[start : start + count, 2]))


# ----------------------------------------------------------------------------- bad files
@pytest.mark.parametrize(
    ("change", "verb", "message"),
    [
        ({"success_tolerance": None}, "plan", "task.success_tolerance is missing"),
        ({"instruction": ""}, "iker", "task.instruction is missing"),
        ({"keypoints": ["spout"]}, "plan", "'spout' is no object's or table's keypoint"),
        ({"far": True}, "plan", "lies 0.4"),
    ],
)
def test_a_bad_scene_file_is_one_clear_error(folder, tmp_path, capsys, change, verb, message):
    hints = {k: v for k, v in change.items() if k != "far" and v is not None}
    scene = mug_plate(**hints)
    if change.get("success_tolerance", 0) is None:
        del scene["task"]["success_tolerance"]
    if change.get("far"):
        scene["objects"][1]["keypoints"][0]["position"] = [0.5, 0, 0]
    path = write_scene(folder, scene, "bad.json")
    try:
        assert main([verb, "--scene", str(path), "--out", str(tmp_path / "out")]) == 2
    finally:
        remove_task("scene:bad")
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("keyscaffold: error:") and message in line and "bad.json" in line
