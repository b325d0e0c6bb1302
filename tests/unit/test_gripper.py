"""The floating parallel-jaw gripper: it builds, tracks its wrist, and grasps with real physics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.sim.embodiments import WRIST_JOINTS, make_embodiment
from keyscaffold.sim.embodiments.gripper import (
    JAW_TRAVEL,
    TCP_OFFSET,
    FloatingGripper,
)
from keyscaffold.tasks.base import InitialState
from keyscaffold.tasks.move_apple import APPLE_RADIUS, MoveApple
from keyscaffold.tasks.open_loop import Driver


class GripperApple(MoveApple):
    embodiment = "gripper"


@pytest.fixture(scope="module")
def task():
    return GripperApple()


def _start(task: GripperApple, offset=(0.0, 0.0, 0.0)) -> tuple[InitialState, np.ndarray]:
    """The task's first initial state with the gripper's TCP ``offset`` from the apple's centre,
    pointing straight down; returns it and the apple's start position."""
    state = task.sample_initial_state(0)
    apple = np.array(state.objects["apple"][:3])
    wrist = (*(apple + offset + [0.0, 0.0, TCP_OFFSET]), 0.0, 0.0, 0.0)
    return InitialState(seed=0, wrist=wrist, objects=state.objects), apple


def test_gripper_builds_in_a_scene_with_eight_controls(task):
    robot = make_embodiment("gripper")
    assert isinstance(robot, FloatingGripper) and robot.name == "gripper"
    assert robot.num_controls == 8 and robot.action_spec().names == (*WRIST_JOINTS, "grip")
    model = task.build_model()
    assert model.nu == 8
    assert [model.actuator(i).name for i in range(8)] == [
        f"act_{j}" for j in (*WRIST_JOINTS, "left_jaw", "right_jaw")
    ]
    assert [model.jnt_range[model.joint(j).id].tolist() for j in robot.joint_names()] == [
        [0.0, JAW_TRAVEL]
    ] * 2
    # grip <= 0 is fully open, >= 1 fully closed, halfway in between
    grip = robot.action_spec().grip_targets(np.array([[-1.0], [0.5], [2.0]]))
    np.testing.assert_allclose(grip, [[JAW_TRAVEL] * 2, [JAW_TRAVEL / 2] * 2, [0.0] * 2])
    np.testing.assert_allclose(robot.open_pose(), [JAW_TRAVEL] * 2)
    # Franka/Robotiq-like size and weight: palm 17 cm wide, the whole robot under 1 kg
    palm = model.geom("gripper_palm")
    assert 0.1 <= 2 * palm.size[1] <= 0.2
    assert 0.5 < model.body_subtreemass[model.body("gripper").id] < 1.0

    data = task.state_data(model, _start(task, (0.0, 0.0, 0.1))[0])
    wrist = data.body("gripper").xpos
    tcp = data.site("gripper_tcp").xpos
    pads = np.array([data.site(s).xpos for s in robot.effector_sites()])
    np.testing.assert_allclose(tcp, wrist - [0.0, 0.0, TCP_OFFSET], atol=1e-9)
    np.testing.assert_allclose(pads.mean(axis=0), tcp, atol=1e-9)
    np.testing.assert_allclose(pads[0] - pads[1], [0.0, 2 * JAW_TRAVEL, 0.0], atol=1e-9)


def test_wrist_tracks_a_commanded_pose_within_millimetres(task):
    drive = Driver(task, [_start(task, (0.0, 0.0, 0.15))[0]])
    target = np.array(drive.wrist) + [0.06, -0.05, 0.04, 0.3, -0.2, 0.5]
    for _ in range(45):  # 0.75 s
        drive.step(target)
    wrist = drive.worlds.robot_joint_state()[0][0, :6]
    assert np.abs(wrist[:3] - target[0, :3]).max() < 0.003, wrist - target[0]
    assert np.abs(wrist[3:] - target[0, 3:]).max() < 0.01, wrist - target[0]


def _grasp_and_lift(task: GripperApple, side: float) -> tuple[Driver, np.ndarray, np.ndarray]:
    """Descend 6 cm onto the grasp height (TCP 1 cm above the apple's centre, ``side`` m along x),
    close over 10 steps, lift 12 cm and hold half a second.

    Returns the driver, the apple's start position and the effector-apple contact force during
    the hold, shape: (steps, 2).
    """
    state, apple = _start(task, (side, 0.0, APPLE_RADIUS / 4 + 0.06))
    drive = Driver(task, [state])
    above = np.array(drive.wrist[0])
    grasp = above - [0.0, 0.0, 0.06, 0.0, 0.0, 0.0]
    for t in range(25):
        drive.step(above + min(1.0, t / 20) * (grasp - above), [[0.0]])
    for t in range(15):
        drive.step(grasp, [[t / 10]])
    lifted = grasp + [0.0, 0.0, 0.12, 0.0, 0.0, 0.0]
    for t in range(40):
        drive.step(grasp + min(1.0, t / 30) * (lifted - grasp), [[1.0]])
    forces = []
    for _ in range(30):
        drive.step(lifted, [[1.0]])
        forces.append(drive.worlds.effector_contact_by_object()[0, :, 0].copy())
    return drive, apple, np.array(forces)


def test_closing_on_the_apple_lifts_it_with_both_pads_in_contact(task):
    drive, apple, forces = _grasp_and_lift(task, 0.0)
    rise = drive.worlds.keypoints()[0, 0, 2] - apple[2]
    assert rise > 0.10, rise
    assert (forces > 10.0).all(), forces.min(axis=0)  # both pads squeeze the apple throughout
    jaws = drive.worlds.robot_joint_state()[0][0, 6:]
    assert (jaws > 0.75 * APPLE_RADIUS).all(), jaws  # the apple stops the jaws
    wrist_error = drive.worlds.robot_joint_state()[0][0, :3] - drive.wrist[0, :3]
    assert np.abs(wrist_error).max() < 0.003, wrist_error  # the load barely sags the wrist


def test_closing_ten_cm_beside_the_apple_leaves_it_on_the_counter(task):
    drive, apple, forces = _grasp_and_lift(task, 0.10)
    assert drive.worlds.keypoints()[0, 0, 2] - apple[2] < 0.01
    assert (forces == 0.0).all()
    assert (drive.worlds.robot_joint_state()[0][0, 6:] < 0.002).all()  # closed on nothing


def test_env_steps_the_gripper_with_random_actions(task):
    plans = oracle_plans(task, "train", 0, 2)
    env = ScaffoldEnv(task, plans, EnvConfig(num_envs=4, num_threads=1))
    assert env.num_actions == 7 and env.worlds.model.nu == 8
    assert env.worlds.effector_positions().shape == (4, 2, 3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(40):
        action = torch.rand(4, 7, generator=generator) * 2.0 - 1.0
        obs, reward, done, _ = env.step(action)
        assert torch.isfinite(obs["policy"]).all() and torch.isfinite(reward).all()
    assert reward.shape == (4,) and done.shape == (4,)
