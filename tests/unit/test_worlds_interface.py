"""The worlds interface: snapshots restore a world exactly, Jacobians, step recording, forces,
and the embodiment controller's reads and writes; task factories build tasks from data."""

from __future__ import annotations

import numpy as np
import pytest

from keyscaffold.sim.scene import PhysicsConfig
from keyscaffold.tasks import add_task_factory, make_task, remove_task, task_names
from keyscaffold.tasks.move_apple import MoveApple


@pytest.fixture(scope="module")
def scene():
    task = MoveApple()
    physics = PhysicsConfig()
    worlds = task.make_worlds(task.build_model(physics), 3, 1, physics.substeps)
    controller = task.robot().controller(worlds)
    states = [task.sample_initial_state(seed) for seed in range(3)]
    wrist = np.array([s.wrist for s in states])
    objects = {n: np.array([s.objects[n] for s in states]) for n in task.movable_objects()}
    controller.reset(np.arange(3), wrist, task.robot().open_pose(), objects)
    return task, worlds, controller, wrist


def _move(worlds, controller, wrist, steps: int, dx: float = 0.002) -> None:
    target = wrist.copy()
    for _ in range(steps):
        target[:, 0] += dx
        worlds.step(controller.controls(target, controller.robot.open_pose()))


def test_a_restored_world_replays_its_future_exactly(scene):
    task, worlds, controller, wrist = scene
    _move(worlds, controller, wrist, 5)
    saved = worlds.snapshot()
    start = controller.wrist_pose()
    _move(worlds, controller, start, 10)
    after = worlds.snapshot()
    worlds.restore(1, saved[1])
    np.testing.assert_array_equal(worlds.snapshot([1])[0], saved[1])
    for world in (0, 2):  # the other worlds are untouched
        np.testing.assert_array_equal(worlds.snapshot([world])[0], after[world])
    for world in range(3):
        worlds.restore(world, saved[world])
    _move(worlds, controller, start, 10)
    np.testing.assert_allclose(worlds.snapshot(), after, atol=1e-12)


def test_recording_sees_every_control_and_leaves_no_hook(scene):
    _, worlds, controller, wrist = scene
    with worlds.recording() as applied:
        _move(worlds, controller, controller.wrist_pose(), 4)
    np.testing.assert_array_equal(worlds.controls(), applied[-1])
    np.testing.assert_allclose(applied[-1][:, 0] - applied[0][:, 0], 0.006)
    _move(worlds, controller, controller.wrist_pose(), 2)
    assert len(applied) == 4 and applied[0].shape == (3, controller.robot.num_controls)
    assert not worlds.step_hooks


def test_jacobian_of_a_palm_point_follows_the_wrist_slides(scene):
    _, worlds, controller, _ = scene
    point, _ = controller.tcp_pose()
    jacp, jacr = worlds.body_jacobian("hand", point)
    assert jacp.shape == jacr.shape == (3, 3, worlds.model.nv)
    dofs = worlds.index.robot_qvel[:3]
    np.testing.assert_allclose(jacp[:, :, dofs], np.repeat(np.eye(3)[None], 3, 0), atol=1e-9)


def test_an_upward_force_lifts_the_apple_and_is_cleared_again(scene):
    task, worlds, controller, _ = scene
    hold = controller.wrist_pose()
    hold[:, 2] += 0.3  # keep the hand away
    start = worlds.free_pose("apple")[:, 2]
    mass = worlds.model.body_mass[worlds.index.body_ids["apple"]]
    for _ in range(20):
        worlds.apply_forces({"apple": np.array([0.0, 0.0, 3.0 * 9.81 * mass])})
        worlds.step(controller.controls(hold, controller.robot.open_pose()))
    assert (worlds.free_pose("apple")[:, 2] > start + 0.01).all()
    worlds.apply_forces({})
    assert not np.asarray(worlds.xfrc_applied).any()


def test_controller_reads_what_it_wrote(scene):
    task, worlds, controller, wrist = scene
    robot = controller.robot
    closed = robot.closed_pose()
    controller.reset(
        np.array([0]),
        wrist[:1],
        closed,
        {n: worlds.free_pose(n)[:1] for n in task.movable_objects()},
    )
    np.testing.assert_allclose(controller.wrist_pose()[0], wrist[0])
    np.testing.assert_allclose(controller.joint_positions()[0], closed)
    opening = controller.grip_opening()[0]
    moving = np.abs(robot.open_pose() - closed) > 1e-12
    np.testing.assert_allclose(opening[moving], 0.0, atol=1e-12)
    ctrl = controller.controls(wrist, closed)
    assert ctrl.shape == (3, robot.num_controls)


def test_a_task_made_from_data_is_registered_by_a_factory():
    def build() -> MoveApple:
        task = MoveApple()
        task.name = "apple_to_the_left"
        task.instruction = "Move the apple to the left."
        return task

    add_task_factory("apple_to_the_left", build)
    try:
        assert "apple_to_the_left" in task_names()
        task = make_task("apple_to_the_left")
        assert task.instruction == "Move the apple to the left." and "scaffold" in task.modes
        assert make_task("move_apple").instruction != task.instruction  # the class is untouched
        with pytest.raises(ValueError, match="twice"):
            add_task_factory("apple_to_the_left", build)
    finally:
        remove_task("apple_to_the_left")
    with pytest.raises(KeyError, match="apple_to_the_left"):
        make_task("apple_to_the_left")
