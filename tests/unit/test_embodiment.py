"""The embodiment interface carries a second robot without touching the env."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from keyscaffold.geometry import blend
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.sim.embodiments import WRIST_JOINTS, ActionSpec, Embodiment, make_embodiment
from keyscaffold.tasks.move_apple import MoveApple


class TinyGripper(Embodiment):
    """Two sliding jaws on a floating box: the smallest robot that can hold something."""

    name = "tiny_gripper"
    root_body = "gripper"
    default_action_spec = "jaw"
    tcp_site = "tiny_tcp"

    def joint_names(self):
        return ["jaw_left", "jaw_right"]

    def effector_bodies(self):
        return ["pad_left", "pad_right"]

    def effector_sites(self):
        return ["pad_left_site", "pad_right_site"]

    def open_pose(self):
        return np.array([0.04, 0.04])

    def closed_pose(self):
        return np.zeros(2)

    def action_specs(self):
        closed = np.array([0.0, 0.0])
        return {
            "jaw": ActionSpec("jaw", ("jaw",), lambda a: blend(self.open_pose(), closed, a[:, 0]))
        }

    def defaults_xml(self):
        return '<default class="tiny"><geom contype="2" conaffinity="1" condim="4"/></default>'

    def body_xml(self):
        wrist = "".join(
            f'<joint name="{j}" type="{"slide" if i < 3 else "hinge"}" axis="{a}" armature="0.5"/>'
            for i, (j, a) in enumerate(zip(WRIST_JOINTS, ("1 0 0", "0 1 0", "0 0 1") * 2))
        )
        pads = "".join(
            f'<body name="pad_{side}" pos="0 0 -0.05"><joint name="jaw_{side}" type="slide" '
            f'axis="0 {sign} 0" range="0 0.05" armature="0.01"/><geom class="tiny" type="box" '
            f'size="0.01 0.005 0.03" mass="0.05"/><site name="pad_{side}_site"/></body>'
            for side, sign in (("left", 1), ("right", -1))
        )
        return (
            f'<body name="gripper" gravcomp="1">{wrist}<geom class="tiny" type="box" '
            f'size="0.02 0.06 0.02" mass="0.3"/><site name="tiny_tcp" pos="0 0 -0.05"/>'
            f"{pads}</body>"
        )

    def actuators_xml(self):
        joints = (*WRIST_JOINTS, *self.joint_names())
        return "".join(
            f'<position joint="{j}" kp="{2000 if j in WRIST_JOINTS else 200}" kv="{100 if j in WRIST_JOINTS else 5}"/>'
            for j in joints
        )


class GripperApple(MoveApple):
    embodiment = TinyGripper()


def test_env_runs_on_a_second_embodiment_defined_here():
    task = GripperApple()
    plans = oracle_plans(task, "train", 0, 2)
    env = ScaffoldEnv(task, plans, EnvConfig(num_envs=3, num_threads=1))
    hand_env = ScaffoldEnv(MoveApple(), plans, EnvConfig(num_envs=3, num_threads=1))
    assert env.num_actions == 7 and env.worlds.model.nu == 8
    assert env.worlds.effector_positions().shape == (3, 2, 3)
    # the observation shrinks with the robot: 16 fewer joints (pos, vel) and 2 fewer effectors
    diff = (
        hand_env.get_observations()["policy"].shape[1] - env.get_observations()["policy"].shape[1]
    )
    assert diff == 2 * (22 - 8) + 3 * (4 - 2)
    closing = torch.zeros(3, 7)
    closing[:, 6] = 1.0
    for _ in range(30):
        obs, reward, done, _ = env.step(closing)
    assert torch.isfinite(obs["policy"]).all() and reward.shape == (3,)
    jaws = env.controller.joint_positions()
    assert (jaws < 0.02).all(), jaws  # the closure action closed the jaws


def test_unknown_embodiment_and_spec_are_named():
    with pytest.raises(KeyError, match="Did you mean 'hand'"):
        make_embodiment("hnad")
    with pytest.raises(ValueError, match="no action spec"):
        ScaffoldEnv(
            MoveApple(),
            oracle_plans(MoveApple(), "train", 0, 1),
            EnvConfig(num_envs=1, num_threads=1, action_spec="fingers"),
        )


def test_detected_keypoint_never_makes_success_easier():
    task = MoveApple()
    plan = oracle_plans(task, "train", 0, 1)[0]
    # A "detected" apple point that landed on the board, right where the apple should end up: the
    # plan's tracked point is at the goal from the first step, yet the apple has not moved.
    cheat = replace(
        plan,
        keypoint_bodies=["cutting_board", "cutting_board"],
        keypoint_local=np.array([[0.0, 0.0, 0.08], [0.0, 0.0, 0.01]]),
    )
    env = ScaffoldEnv(task, [cheat], EnvConfig(num_envs=2, num_threads=1, init_position_noise=0.0))
    tracked = env.keypoints()
    assert np.linalg.norm(tracked[:, 0] - (tracked[:, 1] + [0, 0, 0.07]), axis=-1).max() < 0.02
    for _ in range(5):
        env.step(torch.zeros(2, env.num_actions))
    assert not env.monitor.result["success"].any()
    assert env.monitor.result["apple_to_target"].min() > 0.1


@pytest.mark.parametrize("mode", ["carried", "rigid"])
def test_carried_keypoint_follows_its_objects_translation_only(mode):
    task = MoveApple()
    plan = oracle_plans(task, "train", 0, 1)[0]
    surface = replace(plan, keypoint_local=np.array([[0.04, 0.0, 0.0], [0.0, 0.0, 0.01]]))
    config = EnvConfig(num_envs=1, num_threads=1, init_position_noise=0.0, free_keypoints=mode)
    env = ScaffoldEnv(task, [surface], config)
    start = env.keypoints().copy()
    apple = np.asarray(plan.initial_state.objects["apple"], float)
    np.testing.assert_allclose(start[0, 0], apple[:3] + [0.04, 0.0, 0.0], atol=1e-6)

    def place(pose):
        objects = {n: v[:1].copy() for n, v in env.start_objects.items()}
        objects["apple"] = np.array([pose])
        joints = env.controller.joint_positions()[:1]
        env.controller.reset(np.array([0]), env.start_wrist[:1], joints, objects)

    turned = np.concatenate(
        [apple[:3] + [0.0, 0.1, 0.0], [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]]
    )
    place(turned)  # the apple moved 10 cm and turned a quarter about z
    moved = env.keypoints()[0, 0] - start[0, 0]
    if mode == "carried":
        np.testing.assert_allclose(moved, [0.0, 0.1, 0.0], atol=1e-6)
    else:  # the surface point swung from +x to +y of the centre
        np.testing.assert_allclose(moved, [-0.04, 0.14, 0.0], atol=1e-6)
    np.testing.assert_allclose(env.keypoints()[0, 1], start[0, 1], atol=1e-9)  # the board stayed


def test_free_keypoints_mode_is_checked():
    with pytest.raises(ValueError, match="free_keypoints must be 'rigid' or 'carried'"):
        ScaffoldEnv(
            MoveApple(),
            oracle_plans(MoveApple(), "train", 0, 1),
            EnvConfig(num_envs=1, num_threads=1, free_keypoints="loose"),
        )
