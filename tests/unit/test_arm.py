"""Arms that carry the hand or the gripper: kinematics, the IK step, wrist tracking by the arm
controller, and both environments on an arm."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from box_scene import BOX_CENTER, BOX_HALF, BoxTask

from keyscaffold.geometry import (
    rotation_angle,
    rotation_from_xyz_angles,
    xyz_angles_from_rotation,
)
from keyscaffold.kinematics.ik import dls_step, within
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.rl.keypoint_env import KeypointEnv, KeypointEnvConfig, KeypointGoal
from keyscaffold.sim.batch import BatchedWorlds
from keyscaffold.sim.embodiments import WRIST_JOINTS, make_embodiment
from keyscaffold.sim.embodiments.arm import IK_RESTARTS, REACH_TOLERANCE, ArmEmbodiment
from keyscaffold.sim.scene import (
    CONTROL_DT,
    CameraSpec,
    PhysicsConfig,
    build_model,
    index_scene,
)
from keyscaffold.tasks.base import InitialState
from keyscaffold.tasks.move_apple import MoveApple

ARMS = ("iiwa_hand", "xarm_gripper")
NUM_TARGETS = 200
SPREAD = 0.5
"""Largest change of each joint (rad) from the start to the target configuration, and of the
start from the arm's home pose."""


def _bare_worlds(robot: ArmEmbodiment, num_worlds: int) -> BatchedWorlds:
    """The arm alone above a floor, in ``num_worlds`` worlds."""
    physics = PhysicsConfig()
    model = build_model([], CameraSpec(), physics, robot, [])
    index = index_scene(model, robot, [], [])
    return BatchedWorlds(model, index, num_worlds, 2, physics.substeps, [], np.zeros((0, 3)))


def _place(worlds: BatchedWorlds, robot: ArmEmbodiment, arm_q: np.ndarray) -> None:
    tool = np.broadcast_to(robot.open_pose(), (len(arm_q), robot.num_joints))
    worlds.reset_worlds(np.arange(len(arm_q)), np.concatenate([arm_q, tool], axis=1), {})


def _random_configurations(robot: ArmEmbodiment, center: np.ndarray, rng) -> np.ndarray:
    lower, upper = robot.arm.limits()
    return np.clip(center + rng.uniform(-SPREAD, SPREAD, center.shape), lower, upper)


@pytest.mark.parametrize(
    ("name", "yaw"), [("iiwa_hand", 0.0), ("xarm_gripper", 0.0), ("iiwa_hand", np.pi)]
)
def test_numpy_kinematics_match_the_compiled_arm(name, yaw):
    robot = replace(make_embodiment(name), base_position=(1.3, 0.2, 0.9), base_yaw=yaw)
    worlds = _bare_worlds(robot, 16)
    lower, upper = robot.arm.limits()
    q = np.random.default_rng(1).uniform(np.maximum(lower, -3), np.minimum(upper, 3), (16, 7))
    _place(worlds, robot, q)
    position, rotation, _, _ = robot.chain.forward(q)
    np.testing.assert_allclose(position, worlds.body_position(robot.root_body), atol=1e-9)
    np.testing.assert_allclose(rotation, worlds.body_rotation(robot.root_body), atol=1e-9)
    # the chain's Jacobian is the one MuJoCo computes at the mounting frame
    _, _, jacobian = robot.chain.jacobian(q)
    jacp, jacr = worlds.body_jacobian(robot.root_body, position)
    dofs = worlds.index.robot_qvel[:7]
    np.testing.assert_allclose(jacobian[:, :3], jacp[:, :, dofs], atol=1e-9)
    np.testing.assert_allclose(jacobian[:, 3:], jacr[:, :, dofs], atol=1e-9)


def test_dls_step_solves_a_regular_jacobian_and_stays_finite_at_a_singular_one():
    rng = np.random.default_rng(0)
    jacobian = rng.normal(size=(4, 6, 7))
    error = rng.normal(size=(4, 6)) * 0.01
    lower, upper = -np.ones(7), np.ones(7)
    q = dls_step(jacobian, error, np.zeros((4, 7)), lower, upper, damping=1e-4)
    np.testing.assert_allclose(np.einsum("bij,bj->bi", jacobian, q), error, atol=1e-6)
    singular = np.zeros((4, 6, 7))
    singular[:, 0, 0] = 1.0  # only one direction moves at all
    q = dls_step(singular, np.full((4, 6), 5.0), np.zeros((4, 7)), lower, upper, 0.05, 0.2)
    assert np.isfinite(q).all() and (np.abs(q) <= 0.2 + 1e-12).all()
    q = dls_step(singular, np.full((4, 6), 5.0), np.full((4, 7), 0.9), lower, upper, 0.05)
    assert (q <= upper).all()


@pytest.mark.parametrize("name", ARMS)
def test_controller_reaches_random_reachable_targets_within_a_second(name):
    robot = make_embodiment(name)
    worlds = _bare_worlds(robot, NUM_TARGETS)
    controller = robot.controller(worlds)
    rng = np.random.default_rng(0)
    home = np.broadcast_to(np.array(robot.arm.home), (NUM_TARGETS, 7))
    start = _random_configurations(robot, home, rng)
    goal = _random_configurations(robot, start, rng)
    _place(worlds, robot, start)
    target_position, target_rotation, _, _ = robot.chain.forward(goal)
    # the target's angles on the branch of the start's, as a plan's would be
    angles = xyz_angles_from_rotation(target_rotation, controller.wrist_pose()[:, 3:])
    target = np.concatenate([target_position, angles], axis=1)
    lower, upper = robot.arm.limits()
    steps = round(1.0 / CONTROL_DT)  # one second of control steps
    reached = np.full(NUM_TARGETS, steps + 1)
    for step in range(steps):
        controls = controller.controls(target, robot.open_pose())
        arm = controls[:, :7]
        assert np.isfinite(controls).all() and (arm >= lower).all() and (arm <= upper).all()
        worlds.step(controls)
        position_error = np.linalg.norm(
            worlds.body_position(robot.root_body) - target_position, axis=1
        )
        turn = target_rotation @ np.swapaxes(worlds.body_rotation(robot.root_body), 1, 2)
        close = (position_error < 0.01) & (rotation_angle(turn) < 0.05)
        reached = np.where(close & (reached > step), step + 1, reached)
    assert close.all(), (position_error.max(), rotation_angle(turn).max())
    assert reached.max() <= steps
    # the wrist read in the plan's convention lands on the target pose too
    np.testing.assert_allclose(controller.wrist_pose(), target, atol=0.05)


@pytest.mark.parametrize("name", ARMS)
def test_commands_near_the_stretched_pose_stay_finite(name):
    robot = make_embodiment(name)
    worlds = _bare_worlds(robot, 3)
    controller = robot.controller(worlds)
    lower, upper = robot.arm.limits()
    stretched = np.clip(np.zeros((3, 7)), lower, upper)  # straight up (iiwa), or nearly (xArm)
    stretched[1, 1] += 0.02
    _place(worlds, robot, stretched)
    position, rotation, _, _ = robot.chain.forward(stretched)
    beyond = controller.wrist_pose()
    beyond[:, :3] += (
        0.3
        * (position - robot.chain.base_position)
        / np.linalg.norm(position - robot.chain.base_position, axis=1, keepdims=True)
    )  # out of reach along the stretched arm
    for _ in range(30):
        controls = controller.controls(beyond, robot.open_pose())
        assert np.isfinite(controls).all()
        assert (controls[:, :7] >= lower).all() and (controls[:, :7] <= upper).all()
        worlds.step(controls)
    worlds.check_finite()


@pytest.mark.parametrize("name", ARMS)
def test_rest_qpos_places_the_wrist_and_refuses_what_the_arm_cannot_reach(name):
    robot = make_embodiment(name)
    home_position, home_rotation, _, _ = robot.chain.forward(np.array([robot.arm.home]))
    home = np.concatenate([home_position, xyz_angles_from_rotation(home_rotation)], axis=1)
    wrist = np.repeat(home + [0.05, -0.05, 0.03, 0.0, 0.0, 0.0], 2, axis=0)
    wrist[1, 5] += 0.3
    qpos = robot.rest_qpos(wrist, robot.closed_pose())
    assert qpos.shape == (2, 7 + robot.num_joints)
    position, rotation, _, _ = robot.chain.forward(qpos[:, :7])
    np.testing.assert_allclose(position, wrist[:, :3], atol=1e-4)
    np.testing.assert_allclose(rotation, rotation_from_xyz_angles(wrist[:, 3:]), atol=1e-3)
    np.testing.assert_allclose(qpos[:, 7:], np.repeat(robot.closed_pose()[None], 2, 0))
    far = wrist[:1].copy()
    far[0, 0] += 3.0
    with pytest.raises(ValueError, match="cannot reach the wrist pose"):
        robot.rest_qpos(far, robot.open_pose())


@pytest.mark.parametrize("name", ARMS)
def test_the_placing_ik_tries_other_starts_where_home_gets_stuck(name):
    """Wrist poses of random configurations within the limits: reachable by construction; the
    IK from home alone stops short of some, the IK from every start reaches them all (the same
    way each time), with the home pose's own solutions kept."""
    robot = make_embodiment(name)
    lower, upper = robot.arm.limits()
    starts = robot.ik_starts()
    assert len(starts) == 1 + IK_RESTARTS and np.array_equal(starts[0], robot.arm.home)
    assert (starts >= lower).all() and (starts <= upper).all()
    rng = np.random.default_rng(3)
    q = rng.uniform(0.8 * np.maximum(lower, -np.pi), 0.8 * np.minimum(upper, np.pi), (200, 7))
    position, rotation, _, _ = robot.chain.forward(q)
    wrist = np.concatenate([position, xyz_angles_from_rotation(rotation)], axis=1)
    home_q, home_error = robot.arm_ik(wrist, np.array(robot.arm.home))
    found, error = robot.arm_ik(wrist)
    assert (~within(home_error, REACH_TOLERANCE)).sum() >= 5
    assert within(error, REACH_TOLERANCE).all()
    assert (found >= lower).all() and (found <= upper).all()
    kept = within(home_error, REACH_TOLERANCE)
    np.testing.assert_array_equal(found[kept], home_q[kept])
    placed = robot.rest_qpos(wrist[~kept], robot.open_pose())[:, :7]  # no longer refused
    np.testing.assert_array_equal(placed, found[~kept])
    reached, _, _, _ = robot.chain.forward(placed)
    np.testing.assert_allclose(reached, position[~kept], atol=REACH_TOLERANCE[0])


def test_tools_mount_without_their_wrist_joints():
    for name in ("hand", "gripper"):
        tool = make_embodiment(name)
        assert all(joint not in tool.mounted_body_xml() for joint in WRIST_JOINTS)
        assert all(f"act_{joint}" not in tool.mounted_actuators_xml() for joint in WRIST_JOINTS)
        assert all(joint in tool.body_xml() for joint in WRIST_JOINTS)
    arm = make_embodiment("iiwa_hand")
    assert arm.robot_joints()[:7] == arm.arm_joint_names()
    assert arm.num_controls == 7 + 16 and arm.tcp_site == make_embodiment("hand").tcp_site


class ArmApple(MoveApple):
    embodiment = "iiwa_hand"


def test_scaffold_env_runs_move_apple_on_the_iiwa_arm():
    task = ArmApple()
    env = ScaffoldEnv(task, oracle_plans(task, "train", 0, 2), EnvConfig(num_envs=3, num_threads=1))
    layout = dict(env.io.observation)
    assert layout["joint_positions"] == 7 + 16 and env.num_actions == 7
    start = env.controller.wrist_pose()
    np.testing.assert_allclose(start[:, :3], env.start_wrist[env.plan_index][:, :3], atol=0.06)
    for _ in range(20):
        obs, reward, _, _ = env.step(torch.zeros(3, env.num_actions))
    assert torch.isfinite(obs["policy"]).all() and torch.isfinite(reward).all()
    # proprioception is the arm's joints then the fingers', not dummy wrist joints
    joint_obs = obs["policy"][:, :23].numpy()
    np.testing.assert_allclose(joint_obs, env.worlds.robot_joint_state()[0], atol=1e-5)
    model = env.worlds.model
    by_address = {int(model.jnt_qposadr[j]): model.joint(j).name for j in range(model.njnt)}
    observed = [by_address[int(adr)] for adr in env.worlds.index.robot_qpos]
    assert observed == task.robot().robot_joints() and observed[0] == "iiwa_joint1"


class ArmBoxTask(BoxTask):
    """The box scene for the xArm with the gripper (not registered).

    Description:
        A wooden box stands on a table in front of the arm.

    Randomizations:
        None.

    Success:
        Never (the environment judges its goals itself).
    """

    name = "test_arm_box"
    embodiment = "xarm_gripper"

    def sample_initial_state(self, seed: int) -> InitialState:
        return InitialState(seed, self.wrist(), {"box": (*BOX_CENTER, 1.0, 0.0, 0.0, 0.0)})

    @staticmethod
    def wrist() -> tuple[float, ...]:
        """The gripper pointing down, its flange 0.22 m above the box centre."""
        return (*(BOX_CENTER + [0.0, 0.0, 0.22]), 0.0, 0.0, 0.0)


def test_keypoint_env_runs_on_the_xarm_with_the_gripper():
    task = ArmBoxTask()
    keypoints = np.array([[BOX_HALF, 0.0, 0.0], [-BOX_HALF, 0.0, 0.0], [0.0, 0.0, BOX_HALF]])
    state = task.sample_initial_state(0)
    goal = KeypointGoal(state, "box", keypoints, BOX_CENTER + keypoints + [0.1, 0.0, 0.0], "push")
    config = KeypointEnvConfig(
        num_envs=2, num_threads=1, episode_steps=30, init_position_noise=0.0, grasp_noise=0.0
    )
    env = KeypointEnv(task, [goal], config)
    assert env.worlds.model.nu == 7 + 2
    start = env.controller.wrist_pose()
    for _ in range(30):
        obs, reward, _, _ = env.step(torch.zeros(2, env.num_actions))
    assert torch.isfinite(obs["policy"]).all() and torch.isfinite(reward).all()
    assert np.isfinite(env.controller.wrist_pose()).all() and start.shape == (2, 6)
    joint_pos, _ = env.worlds.robot_joint_state()
    assert joint_pos.shape == (2, 9)  # seven arm joints, two jaws


SIX_JOINT_ARM = """<mujoco><compiler angle="degree"/>
<default><joint damping="2" armature="0.2"/><geom type="capsule" size="0.04"/></default>
<worldbody><body name="stand" pos="5 5 5"><geom type="cylinder" size="0.08 0.05"/>
 <body name="shoulder" pos="0 0 0.1"><joint name="j1" axis="0 0 1" range="-170 170"/>
  <geom fromto="0 0 0 0 0 0.2"/>
  <body name="upper" pos="0 0 0.2"><joint name="j2" axis="0 1 0" range="-110 110"/>
   <geom fromto="0 0 0 0 0 0.35"/>
   <body name="elbow_housing" pos="0 0 0.35" euler="0 0 30"><geom type="sphere" size="0.05"/>
    <body name="fore"><joint name="j3" axis="0 1 0" pos="0 0 0.02" range="-150 150"/>
     <geom fromto="0 0 0 0 0 0.3"/>
     <body name="wrist1" pos="0 0 0.3"><joint name="j4" axis="0 0 1" range="-170 170"/>
      <geom fromto="0 0 0 0 0 0.08"/>
      <body name="wrist2" pos="0 0 0.08"><joint name="j5" axis="0 1 0" range="-120 120"/>
       <geom fromto="0 0 0 0 0 0.08"/>
       <body name="wrist3" pos="0 0 0.08"><joint name="j6" axis="0 0 1" range="-175 175"/>
        <geom fromto="0 0 0 0 0 0.05"/>
        <body name="tool0" pos="0 0 0.05" euler="180 0 0"/>
</body></body></body></body></body></body></body></body></worldbody></mujoco>"""


def test_an_arm_read_from_mjcf_carries_the_gripper_and_tracks_targets(tmp_path):
    """Degrees, default classes, a fixed body turned between joints, a joint anchor off its
    body's origin and a turned flange all come through."""
    path = tmp_path / "six_joint_arm.xml"
    path.write_text(SIX_JOINT_ARM)
    joints = [f"j{i}" for i in range(1, 7)]
    robot = ArmEmbodiment.from_mjcf(
        path,
        "stand",
        joints,
        "tool0",
        make_embodiment("gripper"),
        base_position=(0.0, 0.0, 0.8),
        mount_angles=(0.0, 0.0, 0.0),
        name="six_joint_gripper",
    )
    lower, upper = robot.arm.limits()
    np.testing.assert_allclose(upper, np.radians([170, 110, 150, 170, 120, 175]))
    assert robot.robot_joints() == [*joints, "left_jaw", "right_jaw"]
    worlds = _bare_worlds(robot, 8)
    rng = np.random.default_rng(2)
    start = rng.uniform(0.5 * lower, 0.5 * upper, (8, 6))
    _place(worlds, robot, start)
    position, rotation, _, _ = robot.chain.forward(start)
    np.testing.assert_allclose(position, worlds.body_position("gripper"), atol=1e-9)
    np.testing.assert_allclose(rotation, worlds.body_rotation("gripper"), atol=1e-9)
    controller = robot.controller(worlds)
    goal = np.clip(start + rng.uniform(-0.3, 0.3, start.shape), lower, upper)
    target_position, target_rotation, _, _ = robot.chain.forward(goal)
    angles = xyz_angles_from_rotation(target_rotation, controller.wrist_pose()[:, 3:])
    target = np.concatenate([target_position, angles], axis=1)
    for _ in range(round(1.0 / CONTROL_DT)):
        worlds.step(controller.controls(target, robot.open_pose()))
    np.testing.assert_allclose(controller.wrist_pose(), target, atol=0.01)
    placed = robot.rest_qpos(target, robot.open_pose())  # IK from the home pose
    np.testing.assert_allclose(robot.chain.forward(placed[:, :6])[0], target_position, atol=1e-3)
    with pytest.raises(ValueError, match="not the ones given"):
        ArmEmbodiment.from_mjcf(path, "stand", joints[::-1], "tool0", make_embodiment("gripper"))
