"""Tasks on an arm by name (``TASK@EMBODIMENT``): every hand task runs on the iiwa arm and the
book tasks on the xArm with its base placed for the task, the placements kept in
``placement.TABLE`` still serve their tasks and are still what the search finds, and an arm that
cannot serve a task, or carries another tool, is refused with an error naming why."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from box_scene import BOX_CENTER, BoxTask

from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.config import EnvConfig
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.sim.embodiments import make_embodiment
from keyscaffold.sim.embodiments.gripper import FloatingGripper
from keyscaffold.sim.embodiments.hand import FloatingHand
from keyscaffold.tasks import make_task, scaffold_task_names, task_names
from keyscaffold.tasks.base import OracleWaypoints
from keyscaffold.tasks.placement import (
    PLACEMENT_MARGIN,
    PLACEMENT_STATES,
    TABLE,
    PlacementError,
    blocked_bases,
    find_placement,
    margin_shifts,
    obstacle_boxes,
    reach_poses,
    unreachable,
)


def _tool(name: str) -> type:
    robot = make_embodiment(make_task(name).embodiment)
    return type(getattr(robot, "tool", robot))


HAND_TASKS = [name for name in scaffold_task_names() if _tool(name) is FloatingHand]
GRIPPER_TASKS = [name for name in task_names() if _tool(name) is FloatingGripper]
FLOOR_TASKS = ("shoe_place", "shoe_push", "shoes_on_rack")
XARM_TASKS = ("book_push", "book_reorient")
"""The gripper tasks the xArm serves (from the table's height or the work surface's)."""


def test_every_hand_task_and_every_table_entry_is_covered():
    assert len(HAND_TASKS) >= 11 and set(FLOOR_TASKS) <= set(GRIPPER_TASKS)
    assert set(XARM_TASKS) == set(GRIPPER_TASKS) - set(FLOOR_TASKS)
    hand = {(name, "iiwa_hand") for name in HAND_TASKS}
    assert hand | {(name, "xarm_gripper") for name in XARM_TASKS} == set(TABLE)


@pytest.mark.parametrize(("name", "arm"), sorted(TABLE))
def test_a_table_placement_still_serves_its_task_with_its_margin(name, arm):
    task = make_task(f"{name}@{arm}")
    placed, entry = task.robot(), TABLE[name, arm]
    assert placed.base_position == (entry.x, entry.y, entry.z) and placed.base_yaw == entry.yaw
    assert placed.name.startswith(f"{arm}@x=") and f"yaw={entry.yaw:.2f}" in placed.name
    # the start of every state is a rest pose the arm is placed in (raises if it cannot be)
    starts = np.array([task.sample_initial_state(seed).wrist for seed in range(PLACEMENT_STATES)])
    assert placed.rest_qpos(starts, placed.open_pose()).shape == (len(starts), placed.num_controls)
    poses, labels = reach_poses(task)
    assert len(poses) == PLACEMENT_STATES * 21 and len(labels) == len(poses)
    moved = poses[None] + np.pad(margin_shifts(entry.margin), ((0, 0), (0, 3)))[:, None]
    failing, left = unreachable(placed, moved.reshape(-1, 6))
    assert not failing.any(), f"{failing.sum()} poses out of reach, worst {left.max(0)}"
    base = np.array([placed.base_position])
    assert not blocked_bases(placed, base, obstacle_boxes(task, placed)).any()


@pytest.mark.parametrize(
    ("name", "arm"),
    [("move_apple", "iiwa_hand"), ("open_drawer", "iiwa_hand"), ("book_push", "xarm_gripper")],
)
def test_the_search_still_finds_the_table_placement(name, arm):
    assert find_placement(make_task(name), make_embodiment(arm)) == TABLE[name, arm]


def test_a_hand_that_approaches_from_plus_x_gets_the_arm_turned_to_face_it():
    assert TABLE["open_drawer", "iiwa_hand"].yaw == pytest.approx(np.pi)
    assert TABLE["open_drawer", "iiwa_hand"].x > 1.0 > 0.0 > TABLE["move_apple", "iiwa_hand"].x


@pytest.mark.parametrize("name", ["move_apple", "open_drawer", "close_pliers"])
def test_a_task_on_the_arm_steps_finite(name):
    task = make_task(f"{name}@iiwa_hand")
    env = ScaffoldEnv(task, oracle_plans(task, "train", 0, 2), EnvConfig(num_envs=2, num_threads=1))
    start = env.controller.wrist_pose()
    np.testing.assert_allclose(start[:, :3], env.start_wrist[env.plan_index][:, :3], atol=0.06)
    for _ in range(5):
        obs, reward, _, _ = env.step(torch.zeros(2, env.num_actions))
    assert torch.isfinite(obs["policy"]).all() and torch.isfinite(reward).all()
    assert env.io.embodiment == task.robot().name and env.num_actions == task.actions().num_actions


@pytest.mark.parametrize("name", GRIPPER_TASKS)
def test_the_xarm_serves_a_gripper_task_or_says_which_poses_it_misses(name):
    task = make_task(f"{name}@xarm_gripper")
    try:
        placed = task.robot()
    except PlacementError as error:
        message = str(error)
        assert f"cannot be placed for task '{name}@xarm_gripper'" in message
        assert "misses" in message and "seed " in message and "from the shoulder" in message
        return
    assert name not in FLOOR_TASKS, "the xArm reaches 0.7 m: not the floor from 0.8 m up"
    assert not unreachable(placed, reach_poses(task)[0])[0].any()
    assert name in XARM_TASKS and TABLE[name, "xarm_gripper"].margin == PLACEMENT_MARGIN


class PlacedBox(BoxTask):
    """The box on a table at the xArm's height, with a plan that picks it up and lifts it."""

    name = "test_placed_box"
    embodiment = "xarm_gripper"
    place_arm = True

    def oracle_waypoints(self, state, num_waypoints: int) -> OracleWaypoints:
        start = np.array(state.wrist[:3])
        grasp = np.array(self.wrist_above((0.0, 0.0, 0.0))[:3])
        wrist = np.linspace(start, grasp, num_waypoints)
        wrist[num_waypoints // 2 :] = grasp + [0.0, 0.0, 0.1] * np.linspace(0, 1, 10)[:, None]
        keypoints = np.repeat(BOX_CENTER[None, None], num_waypoints, axis=0)
        return OracleWaypoints(keypoints, wrist, np.zeros(3), num_waypoints // 2)


def test_a_gripper_task_within_the_xarms_reach_gets_a_base_that_serves_it():
    task = PlacedBox()
    placed = task.robot()
    assert placed.name.startswith("xarm_gripper@") and placed.base_position[2] == 0.8
    assert placed.base_position[0] < 0.1 - 0.08  # behind the table's back edge
    poses, _ = reach_poses(task)
    assert not unreachable(placed, poses)[0].any()
    task.state_data(task.build_model(), task.sample_initial_state(0))  # placed at rest


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("hammer_three_times@xarm_gripper", ValueError, "FloatingHand tool.*iiwa_hand"),
        ("book_push@iiwa_hand", ValueError, "FloatingGripper tool.*xarm_gripper"),
        ("move_apple@iiwa", KeyError, "unknown embodiment 'iiwa'.*iiwa_hand"),
        ("move_aple@iiwa_hand", KeyError, "Did you mean 'move_apple'"),
    ],
)
def test_a_task_on_an_embodiment_with_another_tool_is_refused(name, error, message):
    with pytest.raises(error, match=message):
        make_task(name)
