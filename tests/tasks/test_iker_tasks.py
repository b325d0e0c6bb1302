"""The IKER tasks on the gripper: their scenes settle, scripted gripper pushes and grasps move the
objects the right way, and each task's oracle stage code, run in the sandbox and parsed as a stage,
names targets that make the task succeed once the object reaches them (and fail when it misses).
"""

from __future__ import annotations

from dataclasses import replace

import mujoco
import numpy as np
import pytest

from keyscaffold.geometry import quaternion_yaw, yaw_rotation
from keyscaffold.iker.stage import STAGE_ENTRY, StageSpec, parse_stage
from keyscaffold.sandbox import run_untrusted
from keyscaffold.sim.embodiments.gripper import TCP_OFFSET
from keyscaffold.sim.extremities import object_keypoints
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import Task
from keyscaffold.tasks.iker_common import UPPER_SHELF, IkerTask, heel_grasp_point, heel_grasp_yaw
from keyscaffold.tasks.iker_oracle_code import frame_positions
from keyscaffold.tasks.open_loop import Driver
from keyscaffold.tasks.shoes_on_rack_oracle import BOX_EXPECTED, SHOE_ON_FLOOR, SHOE_ON_SHELF

IKER_TASKS = ("shoe_place", "shoe_push", "book_push", "book_reorient", "shoes_on_rack")
PARKED = (0.9, 0.5, 1.8, 0.0, 0.0, 0.0)
"""A wrist pose far from every object."""
SETTLE_STEPS = 45
"""Control steps an object rests after a teleport before the task is judged (0.75 s)."""
NEAR_MISS = {
    "shoe_place": np.array([0.12, 0.0, 0.0]),  # half off the shelf's front edge
    "book_push": np.array([-0.08, 0.0, 0.0]),  # short of the edge
    "book_reorient": np.array([0.25, 0.0, 0.9 + 0.015 - 0.93]),  # on the table, before the shelf
    "shoes_on_rack": np.array([0.25, 0.0, 0.0]),  # the right shoe dropped in front of the rack
}
"""Offsets of the last stage's targets that make a near miss (shoe_push is computed)."""


def _driver(task: Task, seed: int, parked: bool = True) -> Driver:
    state = task.sample_initial_state(seed)
    return Driver(task, [replace(state, wrist=PARKED) if parked else state])


def _candidates(task: Task, drive: Driver) -> list[tuple[str, list[float]]]:
    """The task's own keypoints, numbered in order, as stage candidates of world 0."""
    points = drive.worlds.keypoints()[0]
    return [(kp.body, points[i].tolist()) for i, kp in enumerate(task.keypoints)]


def _run_stage(task: IkerTask, stage: int, candidates) -> StageSpec:
    code = task.oracle_code(stage, candidates)
    value = run_untrusted(
        code, STAGE_ENTRY, {"keypoint_coordinates": [point for _, point in candidates]}
    )
    return parse_stage(
        value,
        [body for body, _ in candidates],
        task.movable_objects(),
        task.workspace_low,
        task.workspace_high,
    )


def _kabsch(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Rotation R, shift t and largest residual of the rigid map ``target ~ R @ source + t``.

    Args:
        source: Shape: (K, 3), K >= 3 points not on one line.
        target: Shape: (K, 3).
    """
    a, b = source.mean(axis=0), target.mean(axis=0)
    u, _, vt = np.linalg.svd((source - a).T @ (target - b))
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    rotation = vt.T @ flip @ u.T
    shift = b - rotation @ a
    residual = np.abs(source @ rotation.T + shift - target).max()
    return rotation, shift, float(residual)


def _teleport(task: Task, drive: Driver, spec: StageSpec, candidates, targets=None) -> float:
    """Move ``spec.object`` rigidly so that its chosen keypoints land on the targets, at rest.

    Returns the largest deviation of the targets from a rigid move of the keypoints (m).
    """
    targets = spec.targets if targets is None else targets
    source = np.array([candidates[i][1] for i in spec.keypoints])
    rotation, shift, residual = _kabsch(source, targets)
    body = spec.object
    position = rotation @ drive.worlds.body_position(body)[0] + shift
    quaternion = np.empty(4)
    mujoco.mju_mat2Quat(quaternion, (rotation @ drive.worlds.body_rotation(body)[0]).ravel())
    index = drive.worlds.index
    poses = {
        name: drive.worlds.qpos[:, index.object_qpos[name]].copy()
        for name in task.movable_objects()
    }
    poses[body][0] = [*position, *quaternion]
    drive.controller.reset(np.array([0]), np.array([PARKED]), drive.robot.open_pose(), poses)
    return residual


def _settle(drive: Driver) -> dict:
    result = {}
    for _ in range(SETTLE_STEPS):
        result = drive.step()
    return result


@pytest.mark.parametrize("name", IKER_TASKS)
def test_scene_settles_with_the_gripper_at_its_start(name):
    task = make_task(name)
    assert isinstance(task, IkerTask) and task.robot().name == "gripper"
    states = [task.sample_initial_state(seed) for seed in range(4)]
    drive = Driver(task, states)
    names = task.movable_objects()
    positions = np.stack([drive.worlds.body_position(n) for n in names], 1).copy()
    rotations = np.stack([drive.worlds.body_rotation(n) for n in names], 1).copy()
    for _ in range(60):  # 1 s, the gripper holding its start pose
        result = drive.step()
        assert not result["success"].any()
    drift = np.linalg.norm(
        np.stack([drive.worlds.body_position(n) for n in names], 1) - positions, axis=-1
    )
    turn = np.abs(np.stack([drive.worlds.body_rotation(n) for n in names], 1) - rotations)
    assert drift.max() < 0.003, dict(zip(names, drift.max(axis=0)))
    assert turn.max() < 0.01


def test_closed_gripper_pushes_the_book_toward_the_edge():
    task = make_task("book_push")
    for seed in (0, 1):
        state = task.sample_initial_state(seed)
        drive = Driver(task, [state])
        book = drive.worlds.body_position("book")[0].copy()
        push = np.array([*(task._push_start(book) + [0.0, 0.0, TCP_OFFSET]), 0.0, 0.0, 0.0])
        above = push + [0.0, 0.0, 0.08, 0.0, 0.0, 0.0]
        for t in range(30):  # close and come down behind the book
            drive.step(above + min(1.0, t / 20) * (push - above), [[1.0]])
        end = push + [0.12, 0.0, 0.0, 0.0, 0.0, 0.0]
        for t in range(70):
            drive.step(push + min(1.0, t / 60) * (end - push), [[1.0]])
        moved = drive.worlds.body_position("book")[0] - book
        assert moved[0] > 0.08, moved  # pushed along +x, nearly as far as the fingers went
        assert abs(moved[1]) < 0.03 and abs(moved[2]) < 0.005, moved
        assert drive.worlds.body_rotation("book")[0, 2, 2] > 0.99  # still flat


def test_closed_gripper_pushes_the_right_shoe_toward_its_pair():
    task = make_task("shoe_push")
    for seed in (0, 1):
        state = task.sample_initial_state(seed)
        drive = Driver(task, [state])
        shoe = drive.worlds.body_position("right_shoe")[0].copy()
        start, end, yaw = task._push(state)
        direction = (end - start) / np.linalg.norm(end - start)
        push = np.array([*(start + [0.0, 0.0, TCP_OFFSET]), 0.0, 0.0, yaw])
        above = push + [0.0, 0.0, 0.10, 0.0, 0.0, 0.0]
        for t in range(30):
            drive.step(above + min(1.0, t / 20) * (push - above), [[1.0]])
        stop = push + np.concatenate([0.14 * direction, np.zeros(3)])
        for t in range(70):
            drive.step(push + min(1.0, t / 60) * (stop - push), [[1.0]])
        moved = drive.worlds.body_position("right_shoe")[0] - shoe
        along = moved @ direction
        assert along > 0.06, moved  # the palm met the shoe after 4 cm and pushed it on
        assert np.linalg.norm(moved - along * direction) < 0.5 * along, moved
        assert drive.worlds.body_rotation("right_shoe")[0, 2, 2] > 0.95  # not tipped over


@pytest.mark.parametrize("name", ["shoe_place", "shoes_on_rack"])
def test_pinching_the_heel_lifts_the_shoe(name):
    """Come down over the heel counter, close, lift 12 cm and hold half a second."""
    task = make_task(name)
    state = task.sample_initial_state(0)
    body = "shoe" if name == "shoe_place" else "left_shoe"
    pose = state.objects[body]
    grasp = np.array(
        [
            *(heel_grasp_point(pose) + [0.0, 0.0, TCP_OFFSET]),
            0.0,
            0.0,
            heel_grasp_yaw(quaternion_yaw(pose[3:])),
        ]
    )
    above = grasp + [0.0, 0.0, 0.08, 0.0, 0.0, 0.0]
    drive = Driver(task, [replace(state, wrist=tuple(above))])
    column = task.contact_bodies.index(body)
    shoe = drive.worlds.body_position(body)[0].copy()
    for t in range(40):
        drive.step(above + min(1.0, t / 30) * (grasp - above), [[0.0]])
    for t in range(20):
        drive.step(grasp, [[min(1.0, t / 10)]])
    lifted = grasp + [0.0, 0.0, 0.12, 0.0, 0.0, 0.0]
    for t in range(50):
        drive.step(grasp + min(1.0, t / 40) * (lifted - grasp), [[1.0]])
    forces = []
    for _ in range(30):
        drive.step(lifted, [[1.0]])
        forces.append(drive.worlds.effector_contact_by_object()[0, :, column].copy())
    rise = drive.worlds.body_position(body)[0, 2] - shoe[2]
    assert rise > 0.09, rise
    assert (np.array(forces) > 5.0).all(), np.min(forces, axis=0)  # both pads hold the heel
    assert drive.worlds.body_rotation(body)[0, 2, 2] > np.cos(np.radians(15.0))  # hangs level


def test_no_gripper_contact_no_lift():
    """Closing 6 cm beside the heel leaves the shoe on the floor."""
    task = make_task("shoe_place")
    state = task.sample_initial_state(0)
    pose = state.objects["shoe"]
    yaw = heel_grasp_yaw(quaternion_yaw(pose[3:]))
    side = np.array([np.cos(yaw), np.sin(yaw), 0.0]) * 0.06  # along the heel counter, off it
    grasp = np.array([*(heel_grasp_point(pose) + side + [0.0, 0.0, TCP_OFFSET + 0.04]), 0, 0, yaw])
    drive = Driver(task, [replace(state, wrist=tuple(grasp))])
    for t in range(20):
        drive.step(grasp, [[min(1.0, t / 10)]])
    for t in range(40):
        drive.step(grasp + [0.0, 0.0, 0.12 * min(1.0, t / 30), 0.0, 0.0, 0.0], [[1.0]])
    assert drive.worlds.body_position("shoe")[0, 2] < 0.005


@pytest.mark.parametrize("name", IKER_TASKS)
def test_oracle_stages_reach_success_and_near_misses_fail(name):
    """Each stage: oracle code -> sandbox -> parsed stage -> the object teleported onto the
    targets and left to rest; the task succeeds after the last stage and not before, the stage
    after the last says done, and the last stage's targets moved aside make a near miss."""
    task = make_task(name)
    assert task.num_stages() == len(task.stages) >= 1
    for seed in (0, 1):
        drive = _driver(task, seed)
        result = {}
        for stage in range(task.num_stages()):
            candidates = _candidates(task, drive)
            spec = _run_stage(task, stage, candidates)
            assert not spec.done and spec.mode in ("grasp", "push")
            assert len(spec.keypoints) >= 3
            residual = _teleport(task, drive, spec, candidates)
            assert residual < 1e-6, residual  # the targets move the keypoints rigidly
            result = _settle(drive)
            last = stage == task.num_stages() - 1
            assert bool(result["success"][0]) == last, (stage, result)
            if name == "shoes_on_rack":
                assert result["stage"][0] == stage + 1
        assert result["success"][0]
        done = _run_stage(task, task.num_stages(), _candidates(task, drive))
        assert done.done and not done.keypoints

        # near miss: the same run, with the last stage's targets moved aside
        drive = _driver(task, seed)
        for stage in range(task.num_stages()):
            candidates = _candidates(task, drive)
            spec = _run_stage(task, stage, candidates)
            targets = spec.targets
            if stage == task.num_stages() - 1:
                if name == "shoe_push":  # 7 cm too far from the left shoe
                    left = np.array([p for b, p in candidates if b == "left_shoe"]).mean(axis=0)
                    away = spec.targets.mean(axis=0) - left
                    away[2] = 0.0
                    targets = targets + 0.07 * away / np.linalg.norm(away)
                else:
                    targets = targets + NEAR_MISS[name]
            _teleport(task, drive, spec, candidates, targets)
            result = _settle(drive)
        assert not result["success"][0], result


def test_shoes_on_rack_wants_the_box_aside_before_any_shoe():
    """A shoe put on the shelf while the box still blocks it spoils the run, whatever follows."""
    task = make_task("shoes_on_rack")
    drive = _driver(task, 0)
    box_y = drive.worlds.body_position("shoe_box")[0, 1]
    # the left shoe squeezed onto the shelf beside the unpushed box, on the box's far side
    candidates = _candidates(task, drive)
    left = [i for i, (body, _) in enumerate(candidates) if body == "left_shoe"]
    source = np.array([candidates[i][1] for i in left])
    goal = np.array([0.3, -0.27 if box_y >= 0 else 0.27, UPPER_SHELF])
    centre = drive.worlds.body_position("left_shoe")[0]
    early = StageSpec("left_shoe", tuple(left), source - centre + goal, "grasp", False)
    _teleport(task, drive, early, candidates)
    result = _settle(drive)
    assert result["stage"][0] == 0 and not result["success"][0]
    for stage in range(task.num_stages()):
        if stage == 1:
            continue  # the left shoe is already up there
        candidates = _candidates(task, drive)
        _teleport(task, drive, _run_stage(task, stage, candidates), candidates)
        result = _settle(drive)
    assert not result["success"][0], result  # all on the shelf, but out of order


def test_shoes_on_rack_oracle_redoes_what_a_displacement_undid():
    """The oracle's next stage follows the scene: box, left shoe, right shoe, done; a box slid
    back toward the middle after it was pushed aside is pushed aside again."""
    task = make_task("shoes_on_rack")
    drive = _driver(task, 0)
    for stage in range(task.num_stages()):
        candidates = _candidates(task, drive)
        assert task.next_step(candidates) == stage
        _teleport(task, drive, _run_stage(task, stage, candidates), candidates)
        _settle(drive)
    candidates = _candidates(task, drive)
    assert task.next_step(candidates) == task.num_stages()
    assert "done" in task.oracle_code(task.num_stages(), candidates).lower()
    right = [i for i, (body, _) in enumerate(candidates) if body == "right_shoe"]
    points = np.array([candidates[i][1] for i in right])
    raised = StageSpec("right_shoe", tuple(right), points + [0.0, 0.0, 0.04], "grasp", False)
    _teleport(task, drive, raised, candidates)  # held 4 cm up: over the shelf, not standing
    assert task.next_step(_candidates(task, drive)) == 2

    drive = _driver(task, 0)
    candidates = _candidates(task, drive)
    _teleport(task, drive, _run_stage(task, 0, candidates), candidates)
    _settle(drive)
    candidates = _candidates(task, drive)
    assert task.next_step(candidates) == 1
    box = [i for i, (body, _) in enumerate(candidates) if body == "shoe_box"]
    source = np.array([candidates[i][1] for i in box])
    back = -0.08 * np.sign(source[:, 1].mean())  # 8 cm back toward the middle
    slid = StageSpec("shoe_box", tuple(box), source + [0.0, back, 0.0], "push", False)
    _teleport(task, drive, slid, candidates)
    _settle(drive)
    candidates = _candidates(task, drive)
    assert task.next_step(candidates) == 0
    assert _run_stage(task, 1, candidates).object == "shoe_box"  # whatever the stage's number


@pytest.mark.parametrize(
    ("body", "expected", "position"),
    [
        ("shoe_box", BOX_EXPECTED, (0.3, -0.15, UPPER_SHELF + 0.06)),
        ("left_shoe", SHOE_ON_FLOOR, (0.67, -0.17, 0.0)),
        ("right_shoe", SHOE_ON_FLOOR, (0.67, 0.17, 0.0)),
        ("left_shoe", SHOE_ON_SHELF, (0.3, 0.14, UPPER_SHELF)),
    ],
)
def test_seen_keypoints_are_matched_to_their_places_on_the_object(body, expected, position):
    """Any subset of an object's proposed candidates, even a single point, and any two or more
    of the task's own keypoints are matched to where those points lie in the object's frame (a
    lone side point of the task's own shoe keypoints could be either side: both lie at one
    height)."""
    task = make_task("shoes_on_rack")
    known = task.known_keypoints(body)
    rng = np.random.default_rng(0)
    proposed = object_keypoints(task.build_model(), body)
    own = np.array([kp.local_pos for kp in task.keypoints if kp.body == body])
    for local, fewest in ((proposed, 1), (own, 2)):
        for _ in range(20):
            turn = yaw_rotation(expected.heading + rng.uniform(-0.25, 0.25))
            seen = rng.choice(len(local), rng.integers(fewest, len(local) + 1), replace=False)
            world = np.array(position) + local[seen] @ turn.T
            np.testing.assert_allclose(frame_positions(world, known, expected), local[seen])


def test_oracle_code_refuses_stages_it_does_not_have_and_missing_objects():
    task = make_task("shoes_on_rack")
    drive = _driver(task, 0)
    candidates = _candidates(task, drive)
    with pytest.raises(ValueError, match="stages 0..0"):
        make_task("shoe_place").oracle_code(2, candidates)
    with pytest.raises(ValueError, match="start at 0"):
        task.oracle_code(-1, candidates)
    with pytest.raises(ValueError, match="no candidate keypoint lies on 'shoe_box'"):
        task.oracle_code(0, [c for c in candidates if c[0] != "shoe_box"])


def test_oracle_code_without_length_keeps_the_heading():
    """With candidates that do not span the shoe's length the code moves it without turning it."""
    task = make_task("shoe_place")
    drive = _driver(task, 0)
    candidates = _candidates(task, drive)
    sides = [c for i, c in enumerate(candidates) if "side" in task.keypoints[i].name]
    others = [c for c in candidates if c[0] != "shoe"]
    spec = _run_stage(task, 0, sides + others)
    source = np.array([p for _, p in sides])
    moved = spec.targets - source
    np.testing.assert_allclose(moved, np.repeat(moved[:1], len(moved), 0), atol=1e-9)
    assert moved[0, 2] == pytest.approx(UPPER_SHELF)
