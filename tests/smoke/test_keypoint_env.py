"""IKER's keypoint environment on a tiny gripper scene: a table and a 5 cm box."""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
from box_scene import BOX_CENTER, BOX_HALF, BoxTask

from keyscaffold.iker.skills import PUSH_GAP, execution_config, push_pose
from keyscaffold.rl.checkpoints import load_policy
from keyscaffold.rl.config import PPOConfig, TrainConfig
from keyscaffold.rl.deployed import DeployedPolicy
from keyscaffold.rl.keypoint_env import KeypointEnv, KeypointEnvConfig, KeypointGoal
from keyscaffold.rl.keypoint_rewards import KeypointRewardConfig
from keyscaffold.rl.policy_io import PolicyIO
from keyscaffold.rl.rollout import Validator
from keyscaffold.rl.train import train_env
from keyscaffold.sim.embodiments.gripper import FINGER_HALF, closed_jaw_pose
from keyscaffold.tasks.base import InitialState

KEYPOINTS = np.array([[BOX_HALF, 0.0, 0.0], [-BOX_HALF, 0.0, 0.0], [0.0, 0.0, BOX_HALF]])


def _goal(mode: str, shift, wrist_offset=(0.0, 0.0, 0.08)) -> KeypointGoal:
    """Move the box's three keypoints by ``shift`` (m), starting with the TCP ``wrist_offset`` from
    the box centre."""
    state = InitialState(0, BoxTask.wrist_above(wrist_offset), BoxTask.box_at((0.0, 0.0)))
    targets = BOX_CENTER + KEYPOINTS + np.asarray(shift)
    return KeypointGoal(state, "box", KEYPOINTS, targets, mode)


def _config(**settings) -> KeypointEnvConfig:
    quiet = dict(
        num_envs=2,
        num_threads=1,
        episode_steps=60,
        init_position_noise=0.0,
        init_yaw_noise=0.0,
        grasp_noise=0.0,
    )
    return KeypointEnvConfig(**{**quiet, **settings})


@pytest.fixture(scope="module")
def task() -> BoxTask:
    return BoxTask()


def _toward(env: KeypointEnv, point: np.ndarray, gain: float = 1.0) -> torch.Tensor:
    """Delta-pose actions moving the TCP toward ``point`` (num_envs, 3), hinges held."""
    tcp, _ = env.gripper_pose()
    action = np.zeros((env.num_envs, 6))
    action[:, :3] = np.clip(gain * (point - tcp) / env.config.position_scale, -1.0, 1.0)
    return torch.as_tensor(action, dtype=torch.float32)


def test_shapes_layout_and_logs(task):
    goals = [_goal("push", (0.1, 0.0, 0.0)), _goal("grasp", (0.0, 0.0, 0.1))]
    env = KeypointEnv(task, goals, _config(num_envs=3))
    assert env.num_actions == 6 and env.action_spec.name == "wrist"
    assert env.action_spec.grip_slice == slice(6, 6)
    assert env.action_spec.rotation_slice == slice(3, 6)
    obs = env.get_observations()
    width = sum(size for _, size in env.observation_layout())
    slots = env.config.keypoint_slots
    assert width == 41 + 9 * slots
    assert obs["policy"].shape == (3, width) and obs["critic"].shape == (3, width)
    assert env.keypoints().shape == (3, slots, 3)
    obs, reward, done, extras = env.step(torch.zeros(3, 6))
    assert obs["policy"].dtype == torch.float32 and torch.isfinite(obs["policy"]).all()
    assert reward.shape == (3,) and done.shape == (3,) and extras["time_outs"].shape == (3,)
    terms = ("distance", "keypoints", "direction", "alignment", "success", "action", "drop")
    assert {f"/reward/{name}" for name in terms} <= set(extras["log"])
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.zeros(3, 7))
    # another embodiment drives the same env through its controller: the hand grasps at its palm
    hand_env = KeypointEnv(
        type("HandBox", (BoxTask,), {"embodiment": "hand"})(), goals, _config(num_envs=2)
    )
    obs, *_ = hand_env.step(torch.zeros(2, 6))
    assert obs["policy"].shape == (2, width - 2 + 16) and torch.isfinite(obs["policy"]).all()


def test_goals_with_different_keypoint_counts_share_the_slots(task):
    three = _goal("push", (0.1, 0.05, 0.0))
    # one keypoint, already 2 cm from its target; a second keypoint would be 10 cm away
    one = KeypointGoal(
        three.initial_state, "box", KEYPOINTS[:1], three.targets[:1] - [0.08, 0.05, 0]
    )
    env = KeypointEnv(task, [three, one], _config(keypoint_slots=5))
    env.assign_goals(np.array([0, 1]))
    assert env.keypoints().shape == (2, 5, 3)
    # slots repeat the goal's own keypoints and targets; the repeats weigh nothing
    assert env.world_weights.tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]
    assert np.allclose(env.world_local[0, 3:], KEYPOINTS[:2])
    assert np.allclose(env.world_targets[1], env.world_targets[1, :1])
    # means count each real keypoint once
    assert env.keypoint_distance() == pytest.approx([np.linalg.norm([0.1, 0.05]), 0.02])
    assert env.success().tolist() == [False, True]
    with pytest.raises(ValueError, match="keypoint_slots"):
        KeypointEnv(task, [three], _config(keypoint_slots=2))


def test_rejects_inconsistent_goals(task):
    good = _goal("push", (0.1, 0.0, 0.0))
    with pytest.raises(ValueError, match="movable"):
        KeypointEnv(
            task, [KeypointGoal(good.initial_state, "table", KEYPOINTS, good.targets)], _config()
        )
    with pytest.raises(ValueError, match="mode"):
        KeypointGoal(good.initial_state, "box", KEYPOINTS, good.targets, "throw")


def test_seeded_runs_repeat_exactly(task):
    goals = [_goal("push", (0.1, 0.0, 0.0)), _goal("grasp", (0.0, 0.1, 0.1))]
    config = _config(num_envs=4, episode_steps=10, init_position_noise=0.02, grasp_noise=0.01)

    def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
        env = KeypointEnv(task, goals, config, seed=seed)
        generator = torch.Generator().manual_seed(0)
        observations, rewards = [env.get_observations()["policy"]], []
        for _ in range(15):  # crosses one reset
            obs, reward, _, _ = env.step(torch.rand(4, 6, generator=generator) * 2 - 1)
            observations.append(obs["policy"])
            rewards.append(reward)
        return torch.stack(observations).numpy(), torch.stack(rewards).numpy()

    first, again, other = run(3), run(3), run(4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0][0], other[0][0])


def test_success_comes_from_the_simulator(task):
    goal = _goal("push", (0.1, 0.05, 0.0))
    env = KeypointEnv(task, [goal], _config(episode_steps=3))
    assert not env.success().any()
    assert env.keypoint_distance() == pytest.approx([np.linalg.norm([0.1, 0.05])] * 2)
    env.step(torch.zeros(2, 6))
    # teleport world 1's box so its keypoints sit on the targets
    wrist = np.array([goal.initial_state.wrist])
    pose = np.array([[*(BOX_CENTER + [0.1, 0.05, 0.0]), 1.0, 0.0, 0.0, 0.0]])
    env.controller.reset(np.array([1]), wrist, closed_jaw_pose(), {"box": pose})
    assert env.success().tolist() == [False, True]
    env.step(torch.zeros(2, 6))
    _, _, done, extras = env.step(torch.zeros(2, 6))
    assert done.all()
    assert extras["log"]["/episode/success"] == pytest.approx(0.5)
    assert env.last_episode["success"].tolist() == [0.0, 1.0]
    assert extras["log"]["/reward/success"] == pytest.approx(0.5 * KeypointRewardConfig().success)
    assert not env.success().any()  # both worlds were reset


def test_validator_scores_keypoint_policies_repeatably(task):
    # a goal already met (targets on the keypoints) and one 10 cm away: a still policy meets one
    met, far = _goal("push", (0.0, 0.0, 0.0)), _goal("push", (0.1, 0.0, 0.0))
    env = KeypointEnv(
        task, [met, far], _config(num_envs=4, episode_steps=5, init_position_noise=0.01)
    )
    validator = Validator(env, num_variants=2, trials=2, seed=3)
    still = lambda obs: torch.zeros(obs["policy"].shape[0], 6)  # noqa: E731
    assert validator(still) == validator(still) == pytest.approx(0.5)
    assert env.last_episode["success"].tolist() == [1.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="needs 6 worlds"):
        Validator(env, num_variants=3, trials=2, seed=3)


def test_scripted_push_moves_the_box_toward_the_target(task):
    # the closed gripper starts behind the box (-x) and pushes it 10 cm along +x
    goal = _goal("push", (0.1, 0.0, 0.0), wrist_offset=(-0.06, 0.0, 0.08))
    env = KeypointEnv(task, [goal], _config(num_envs=1, episode_steps=200))
    start = env.keypoint_distance()[0]
    behind = BOX_CENTER + [-0.06, 0.0, 0.0]
    direction_before, direction_pushing = [], []
    for _ in range(25):  # down behind the box
        _, _, _, extras = env.step(_toward(env, behind[None]))
        direction_before.append(extras["log"]["/reward/direction"])
    assert env.keypoint_distance()[0] == pytest.approx(start, abs=0.005)
    assert env.jaws_closed.all()
    for _ in range(40):  # push along +x, slowly
        push = env.gripper_pose()[0] + [0.004, 0.0, 0.0]
        push[:, 2] = BOX_CENTER[2]
        _, _, _, extras = env.step(_toward(env, push))
        direction_pushing.append(extras["log"]["/reward/direction"])
    moved = env.object_pose()[0][0] - BOX_CENTER
    assert moved[0] > 0.06, moved
    assert env.keypoint_distance()[0] < start - 0.06
    assert np.mean(direction_pushing) > 0.1 > abs(np.mean(direction_before))


def test_grasp_start_holds_the_wrist_while_the_jaws_close_then_lifts(task):
    goal = KeypointGoal(**{**vars(_goal("grasp", (0.0, 0.0, 0.1))), "grasp_angles": (0, 0, 0.5)})
    config = _config(num_envs=1, episode_steps=200, grasp_angle_noise=0.0)
    env = KeypointEnv(task, [goal], config)
    # the episode starts at the heuristic grasp: TCP on the grasp point, turned to the goal's
    # grasp angles, jaws open and closing
    grasp = env.grasp_point(*env.object_pose())
    assert np.linalg.norm(env.gripper_pose()[0] - grasp) < 1e-6
    wrist, _ = env.worlds.robot_joint_state()
    assert wrist[0, 5] == pytest.approx(0.5) and env.jaws_closed[0]
    jaws_open = wrist[0, 6:].copy()
    start = wrist[0, :6].copy()
    for _ in range(config.grasp_steps):  # the policy's actions are ignored meanwhile
        env.step(torch.ones(1, 6))
    wrist, _ = env.worlds.robot_joint_state()
    assert np.abs(wrist[0, :6] - start).max() < 0.003
    assert (wrist[0, 6:] < jaws_open - 0.01).all()  # closing on the box
    for _ in range(60):  # lift 10 cm
        _, _, _, extras = env.step(_toward(env, grasp + [0.0, 0.0, 0.1], gain=0.5))
    assert env.object_pose()[0][0, 2] - BOX_CENTER[2] > 0.08
    assert env.success()[0] and extras["log"]["/reward/drop"] == 0.0


def test_lifted_starts_raise_the_box_before_the_policy_acts_and_never_in_execution(task):
    # targets 20 cm over and 20 cm up: the carry term asks for 26 cm, capped at 10 cm
    goal = _goal("grasp", (0.2, 0.0, 0.2))
    config = _config(num_envs=32, episode_steps=200, lift_start=0.5, lift_start_height=0.1)
    env = KeypointEnv(task, [goal], config, seed=3)
    steps = env.heuristic_steps.copy()
    lifted = steps > config.grasp_steps
    # about half the episodes lift, each by at most 0.1 m at 1 cm a step
    assert 6 <= lifted.sum() <= 26 and steps.max() <= config.grasp_steps + 10
    assert (steps[~lifted] == config.grasp_steps).all()
    heights = []
    for _ in range(int(steps.max())):  # the policy pushes down; the heuristic ignores it
        env.step(torch.tensor([[0.0, 0.0, -1.0, 0.0, 0.0, 0.0]]).repeat(32, 1))
        heights.append(env.object_pose()[0][:, 2] - BOX_CENTER[2])
    rise = np.array(heights)[steps - 1, np.arange(32)]  # when each world's heuristic ends
    expected = (steps - config.grasp_steps) * config.position_scale
    # the wrist's target leads the measured pose by at most target_lead (2 cm)
    assert (rise[lifted] > expected[lifted] - 0.03).all() and (rise < expected + 0.01).all()
    assert np.abs(rise[~lifted]).max() < 0.01  # held on the table, the policy's push ignored

    execution = KeypointEnv(task, [goal], execution_config(config, 32, noise=True), seed=3)
    assert (execution.heuristic_steps == config.grasp_steps).all()
    # no higher than the carry term asks: nothing for targets straight up (within the carry
    # radius), at most the 6 cm clearance for a slide along the table
    above = KeypointEnv(task, [_goal("grasp", (0.0, 0.0, 0.2))], config, seed=3)
    assert (above.heuristic_steps == config.grasp_steps).all()
    slide = KeypointEnv(task, [_goal("grasp", (0.2, 0.0, 0.0))], config, seed=3)
    extra = slide.heuristic_steps - config.grasp_steps
    assert extra.max() <= 6 and (extra > 0).any()


def test_push_start_puts_the_closed_gripper_behind_the_box_and_a_push_reaches_the_targets(task):
    state = InitialState(0, BoxTask.wrist_above((0.0, 0.0, 0.08)), BoxTask.box_at((0.0, 0.0)))
    targets = BOX_CENTER + KEYPOINTS + [0.1, 0.0, 0.0]
    contact, angles = push_pose(task, "box", state, KEYPOINTS, targets)
    # behind the box's back face (x = -2.5 cm): a finger's half thickness and the gap; low
    # enough that the fingertips clear the table by 1 cm; the gripper's x axis along the push
    assert contact == pytest.approx((-BOX_HALF - FINGER_HALF[0] - PUSH_GAP, 0.0, 0.005))
    assert angles == pytest.approx((0.0, 0.0, 0.0))
    aside = push_pose(task, "box", state, KEYPOINTS, BOX_CENTER + KEYPOINTS + [0.0, 0.1, 0.0])
    assert aside[1][2] == pytest.approx(np.pi / 2) and aside[0][1] < -BOX_HALF
    assert push_pose(task, "box", state, KEYPOINTS, BOX_CENTER + KEYPOINTS + [0, 0, 0.1]) is None

    goal = KeypointGoal(state, "box", KEYPOINTS, targets, "push", contact, angles)
    env = KeypointEnv(task, [goal], _config(num_envs=1, episode_steps=200))
    start = env.gripper_pose()[0][0]
    assert start == pytest.approx(BOX_CENTER + contact, abs=1e-3)
    assert env.object_pose()[0][0] == pytest.approx(BOX_CENTER, abs=1e-3)  # not touched
    for _ in range(40):  # push along +x, 6 mm a step, to 1.5 cm short of the box's shift
        env.step(_toward(env, start + [0.085, 0.0, 0.0], gain=0.6))
    assert env.object_pose()[0][0, 0] - BOX_CENTER[0] > 0.06
    assert env.success()[0]
    off = replace(env.config, push_start=False)
    assert KeypointEnv(task, [goal], off).gripper_pose()[0][0, 2] > BOX_CENTER[2] + 0.05


def test_grasp_heuristic_closes_near_the_box_and_lifts_it(task):
    goal = _goal("grasp", (0.0, 0.0, 0.1))
    config = _config(num_envs=1, episode_steps=200, grasp_noise=0.01, grasp_start=False)
    env = KeypointEnv(task, [goal], config)
    grasp = env.grasp_point(*env.object_pose())
    assert np.abs(grasp - BOX_CENTER).max() <= 0.01 + 1e-9  # the randomized grasp point
    jaws_open = env.worlds.robot_joint_state()[0][0, 6:].copy()
    assert not env.jaws_closed.any()
    distances = []
    for _ in range(60):  # descend onto the grasp point at most 6 mm a step
        distances.append(np.linalg.norm(env.gripper_pose()[0] - grasp))
        env.step(_toward(env, grasp, gain=0.6))
        # open until the TCP has come within the grasp radius, closed from then on
        assert env.jaws_closed[0] == (min(distances) < env.config.grasp_radius)
    assert distances[0] > 0.07 and env.jaws_closed[0]
    jaws = env.worlds.robot_joint_state()[0][0, 6:]
    assert (jaws < jaws_open - 0.01).all() and (jaws > 0.015).all(), jaws  # closed on the box
    for _ in range(60):  # lift 10 cm
        _, _, _, extras = env.step(_toward(env, grasp + [0.0, 0.0, 0.1], gain=0.5))
    lifted = env.object_pose()[0][0, 2] - BOX_CENTER[2]
    assert lifted > 0.08, lifted
    assert env.success()[0]
    assert extras["log"]["/reward/drop"] == 0.0


def test_object_pose_baseline_and_ppo_run(task, tmp_path):
    goals = [_goal("push", (0.1, 0.0, 0.0)), _goal("grasp", (0.0, 0.0, 0.1))]
    baseline = KeypointEnv(task, goals, _config(reward="object_pose"))
    _, reward, _, extras = baseline.step(torch.zeros(2, 6))
    assert {"/reward/position", "/reward/orientation"} <= set(extras["log"])
    assert torch.isfinite(reward).all()

    # the training loop of scaffold mode runs IKER's env unchanged
    env = KeypointEnv(task, goals, _config(num_envs=8, episode_steps=12, init_position_noise=0.02))
    ppo = PPOConfig(
        num_steps_per_env=8, num_learning_epochs=1, num_mini_batches=2, hidden_dims=(32, 32)
    )
    config = TrainConfig(max_iterations=3, minutes=5.0, save_interval=2, ppo=ppo)
    described = {"task": task.name, "train": asdict(config)}
    final = train_env(env, tmp_path / "run", config, described, show_progress=False)
    assert final.exists() and (tmp_path / "run/checkpoints/latest.pt").exists()
    with (tmp_path / "run/metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    assert {"reward_keypoints", "reward_alignment", "keypoint_distance"} <= set(rows[0])
    assert all(np.isfinite(float(r["reward_keypoints"])) for r in rows)
    assert any(r["success"] != "" for r in rows)  # 12-step episodes end within 8-step rollouts
    # the policy leaves the env: its spec and checkpoint alone give the env policy's actions
    spec = PolicyIO.load(tmp_path / "run")
    assert spec.mode == "wrist_delta" and spec == replace(env.io, network=spec.network)
    obs = env.get_observations()
    with torch.inference_mode():
        inside = load_policy(tmp_path / "run", env)(obs).numpy()
    outside = DeployedPolicy(tmp_path / "run", "latest")(obs["policy"].numpy())
    np.testing.assert_allclose(outside, inside, atol=1e-6)


def test_keypoint_env_does_not_load_the_vlm_layer():
    code = (
        "import sys, keyscaffold.rl.keypoint_env; "
        "print(sorted(m for m in sys.modules if m.startswith(('keyscaffold.vlm', "
        "'keyscaffold.planning.vlm_planner'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
