"""The robot as data (kinematics.json): numpy forward kinematics lands the effector sites where
MuJoCo does, and the grip mapping table gives every action spec's joint targets."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest

from keyscaffold.deploy.kinematics import RobotKinematics
from keyscaffold.sim.embodiments import ActionSpec, make_embodiment
from keyscaffold.sim.robot_description import apply_grip_mapping, grip_mapping, robot_description
from keyscaffold.tasks import make_task
from keyscaffold.tasks.move_apple import MoveApple


@pytest.fixture(scope="module", params=["move_apple", "shoe_place"])
def scene(request):
    task = make_task(request.param)
    model = task.build_model()
    return task, model, robot_description(model, task.robot(), task.actions().name)


def test_forward_kinematics_matches_mujoco(scene):
    task, model, description = scene
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
    assert description["embodiment"] == task.robot().name
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


def test_an_arm_is_refused_until_the_runtime_runs_its_inverse_kinematics():
    with pytest.raises(ValueError, match="not a floating robot"):
        robot_description(ArmApple().build_model(), make_embodiment("iiwa_hand"), "closure")
