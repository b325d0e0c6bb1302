"""The digital-twin tasks on the iiwa arm with the hand: every arm base reaches its task's oracle
plans with room for the policy's residual, and a base placed too far is refused naming the pose."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from keyscaffold.tasks import make_task
from keyscaffold.tasks.placement import oracle_wrist_poses

TWINS = ("place_bottle_on_plate", "slide_box_to_bottle", "hammer_three_times")
STATES = 20
MARGIN = 0.05
"""Each pose moved this far (m) along each world axis must stay reachable: the CPU profile's
wrist position residual is ±5 cm."""


@pytest.mark.parametrize("name", TWINS)
def test_the_arm_reaches_every_oracle_wrist_pose_of_20_states_with_margin(name):
    task = make_task(name)
    robot = task.robot()
    assert robot.arm_joint_names() and robot.name.startswith("iiwa_hand")
    poses = np.concatenate(
        [oracle_wrist_poses(task, task.sample_initial_state(seed)) for seed in range(STATES)]
    )
    shifts = np.concatenate([np.zeros((1, 3)), MARGIN * np.eye(3), -MARGIN * np.eye(3)])
    for shift in shifts:
        moved = poses + np.concatenate([shift, np.zeros(3)])
        robot.rest_qpos(moved, robot.open_pose())  # raises naming a pose it cannot reach


def test_a_base_too_far_from_the_plan_is_refused_naming_the_pose():
    task = make_task("place_bottle_on_plate")
    far = replace(task.robot(), base_position=(-0.6, 0.0, 0.9))
    poses = oracle_wrist_poses(task, task.sample_initial_state(0))
    with pytest.raises(ValueError, match=r"cannot reach the wrist pose \[.*Move the base"):
        far.rest_qpos(poses, far.open_pose())
