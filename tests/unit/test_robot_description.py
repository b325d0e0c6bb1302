"""The robot as data (kinematics.json): numpy forward kinematics lands the effector sites where
MuJoCo does, on floating robots and on an arm, the grip mapping table gives every action spec's
joint targets, and an arm's serial chain must agree with the scene."""

from __future__ import annotations

import json
from dataclasses import replace

import mujoco
import numpy as np
import pytest

from keyscaffold.deploy.kinematics import RobotKinematics
from keyscaffold.kinematics.chain import SerialChain
from keyscaffold.sim.embodiments import ActionSpec, make_embodiment
from keyscaffold.sim.robot_description import apply_grip_mapping, grip_mapping, robot_description
from keyscaffold.tasks import make_task
from keyscaffold.tasks.move_apple import MoveApple


@pytest.fixture(scope="module", params=["move_apple", "shoe_place"])
def scene(request):
    task = make_task(request.param)
    model = task.build_model()
    return task, model, robot_description(model, task.robot(), task.actions().name)


def _check_effectors(model: mujoco.MjModel, description: dict) -> None:
    """The description's effector sites land where MuJoCo puts them at random joints."""
    description = json.loads(json.dumps(description))  # as read back from the file
    kinematics = RobotKinematics(description)
    addresses = [model.joint(j["name"]).qposadr[0] for j in description["joints"]]
    sites = [model.site(s["name"]).id for s in description["effector_sites"]]
    data = mujoco.MjData(model)
    joint_positions = np.random.default_rng(0).uniform(-1.5, 1.5, size=(4, len(addresses)))
    expected = []
    for row in joint_positions:
        data.qpos[addresses] = row
        mujoco.mj_kinematics(model, data)
        expected.append(np.array(data.site_xpos[sites]))
    np.testing.assert_allclose(kinematics.effector_positions(joint_positions), expected, atol=1e-12)


def test_forward_kinematics_matches_mujoco(scene):
    task, model, description = scene
    _check_effectors(model, description)
    assert description["embodiment"] == task.robot().name
    assert description["controller"] == "floating"
    assert description["wrist_joints"] == [0, 1, 2, 3, 4, 5]


def test_every_action_spec_is_a_grip_table(scene):
    task, _, _ = scene
    robot = task.robot()
    grips = np.random.default_rng(1).uniform(-1.0, 2.0, size=(16, 4))
    for name in [*robot.action_specs(), "wrist"]:
        spec = robot.action_spec(name)
        table = grip_mapping(robot, spec)
        count = len(spec.grip_names)
        np.testing.assert_array_equal(
            apply_grip_mapping(table, grips[:, :count]), spec.grip_targets(grips[:, :count])
        )


def test_a_grip_that_is_no_blend_is_refused():
    robot = make_task("move_apple").robot()
    squared = ActionSpec("squared", ("closure",), lambda g: np.repeat(g**2, 16, axis=1))
    with pytest.raises(ValueError, match="other than blending"):
        grip_mapping(robot, squared)


class ArmApple(MoveApple):
    embodiment = "iiwa_hand"


def test_an_arm_is_described_with_its_chain_and_checked_against_the_scene():
    model, arm = ArmApple().build_model(), make_embodiment("iiwa_hand")
    description = robot_description(model, arm, "closure")
    _check_effectors(model, description)
    assert description["controller"] == "arm" and "wrist_joints" not in description
    assert [j["name"] for j in description["joints"]] == arm.robot_joints()
    assert description["bodies"][0]["name"] == "iiwa_base"
    table = json.loads(json.dumps(description["arm"]))
    assert table["num_joints"] == 7 and table["ik_damping"] == arm.ik_damping
    np.testing.assert_array_equal(table["lower"], arm.arm.limits()[0])
    chain = SerialChain.from_json(table["chain"])
    q = np.random.default_rng(2).uniform(-1.0, 1.0, size=(3, 7))
    for got, expected in zip(chain.jacobian(q), arm.chain.jacobian(q)):
        np.testing.assert_array_equal(got, expected)
    elsewhere = replace(arm, base_position=(-0.25, 0.01, 0.9))  # not where the scene has it
    with pytest.raises(ValueError, match="serial chain puts the tool's mounting frame"):
        robot_description(model, elsewhere, "closure")
