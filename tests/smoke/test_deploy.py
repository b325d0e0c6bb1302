"""A trained policy leaves the simulator: ``keyscaffold export`` writes policy.onnx,
policy_io.json and kinematics.json, and ``keyscaffold.deploy.PolicyRuntime``, fed what a robot
measures, builds the env's observations and sends the env's controls, without torch or MuJoCo,
on a floating hand and on an arm carrying it (the arm controller's inverse kinematics included)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from keyscaffold.cli import main
from keyscaffold.deploy import PlanTargets, PolicyRuntime
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.config import cpu_profile
from keyscaffold.rl.deployed import DeployedPolicy, build_actor
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.rl.export import export_actor, export_policy
from keyscaffold.rl.policy_io import PolicyIO
from keyscaffold.rl.runner import runner_config
from keyscaffold.sim.robot_description import robot_description
from keyscaffold.tasks import make_task
from keyscaffold.tasks.move_apple import MoveApple

STEPS = 6
ARM_STEPS = 12


class ArmApple(MoveApple):
    """move_apple with the hand on the iiwa arm (not registered)."""

    embodiment = "iiwa_hand"


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    task, config, run = tiny_run
    out = tmp_path_factory.mktemp("export")
    assert (
        main(["export", str(run), "--format", "onnx", "--which", "latest", "--out", str(out)]) == 0
    )
    return task, config, run, out


def test_the_export_folder_holds_the_policy_and_the_robot(exported):
    _, _, run, out = exported
    assert sorted(p.name for p in out.iterdir()) == [
        "kinematics.json",
        "policy.onnx",
        "policy_io.json",
    ]
    assert (out / "policy_io.json").read_text() == (run / "policy_io.json").read_text()
    robot = json.loads((out / "kinematics.json").read_text())
    assert robot["embodiment"] == "hand" and robot["controller"] == "floating"
    assert [j["name"] for j in robot["joints"]][:6] == ["wrist_x", "wrist_y", "wrist_z"] + [
        "wrist_rx",
        "wrist_ry",
        "wrist_rz",
    ]
    assert robot["grip"]["action_spec"] == "closure" and len(robot["grip"]["open"]) == 16


@pytest.fixture(scope="module")
def arm_exported(tmp_path_factory):
    """An untrained actor for move_apple on the iiwa arm, exported; returns (env, folder)."""
    task = ArmApple()
    env = ScaffoldEnv(task, oracle_plans(task, "val", 0, 2), EnvConfig().for_evaluation(2))
    ppo = replace(cpu_profile()[0], hidden_dims=(64, 64))
    spec = replace(env.io, network=runner_config(ppo, 50)["actor"])
    torch.manual_seed(0)
    actor = build_actor(spec)
    with torch.no_grad():  # bolder actions than fresh weights give: the arm must move
        for parameter in actor.parameters():
            parameter.mul_(3.0)
    out = tmp_path_factory.mktemp("arm_export")
    export_actor(actor, spec, task, out)
    return env, out


def test_the_runtime_observes_and_controls_as_the_env(exported):
    task, config, run, out = exported
    env = ScaffoldEnv(task, oracle_plans(task, "val", 0, 2), config.env.for_evaluation(3))
    runtimes = [PolicyRuntime(out) for _ in range(env.num_envs)]
    steps = runtimes[0].io["episode_steps"]
    plans = [PlanTargets(*env.plans[i].interpolate(steps)) for i in env.plan_index]
    torch_actor = DeployedPolicy(run, "latest")
    env_obs = env.get_observations()["policy"].numpy()
    for t in range(STEPS):
        joint_pos, joint_vel = env.worlds.robot_joint_state()
        keypoints = env.keypoints()
        results = [
            runtime.step(joint_pos[i], joint_vel[i], keypoints[i], plans[i], t)
            for i, runtime in enumerate(runtimes)
        ]
        observations = np.stack([r.observation for r in results])
        np.testing.assert_allclose(observations, env_obs, atol=1e-5)
        actions = np.stack([r.action for r in results])
        np.testing.assert_allclose(actions, torch_actor(observations), atol=1e-5)
        with env.worlds.recording() as sent:
            env_obs = env.step(torch.from_numpy(actions))[0]["policy"].numpy()
        np.testing.assert_allclose(sent[0], np.stack([r.controls for r in results]), atol=1e-5)
    assert env.episode_length_buf.numpy().tolist() == [STEPS] * env.num_envs


def test_the_runtime_drives_the_arm_as_the_simulator(arm_exported):
    """On the iiwa arm the runtime reads the wrist from the arm's joints and sends arm joint
    targets one IK step toward its wrist target: the simulator's controller, stepped with the
    runtime's actions from the same state, sends the same targets."""
    env, out = arm_exported
    robot = json.loads((out / "kinematics.json").read_text())
    assert robot["controller"] == "arm" and robot["arm"]["num_joints"] == 7
    runtimes = [PolicyRuntime(out) for _ in range(env.num_envs)]
    assert runtimes[0].joint_names == env.robot.robot_joints()
    steps = runtimes[0].io["episode_steps"]
    plans = [PlanTargets(*env.plans[i].interpolate(steps)) for i in env.plan_index]
    env_obs = env.get_observations()["policy"].numpy()
    largest_move = 0.0
    for t in range(ARM_STEPS):
        joint_pos, joint_vel = env.worlds.robot_joint_state()
        keypoints = env.keypoints()
        results = [
            runtime.step(joint_pos[i], joint_vel[i], keypoints[i], plans[i], t)
            for i, runtime in enumerate(runtimes)
        ]
        np.testing.assert_allclose(np.stack([r.observation for r in results]), env_obs, atol=1e-5)
        actions = np.stack([r.action for r in results])
        with env.worlds.recording() as sent:
            env_obs = env.step(torch.from_numpy(actions))[0]["policy"].numpy()
        controls = np.stack([r.controls for r in results])
        assert controls.shape == (env.num_envs, 7 + 16)
        np.testing.assert_allclose(controls, sent[0], rtol=0, atol=1e-9)
        largest_move = max(largest_move, np.abs(controls[:, :7] - joint_pos[:, :7]).max())
    assert largest_move > 1e-3, "the arm targets never left the measured joints"


@pytest.mark.parametrize(
    "task_name, grip_full_range, rotation_limit, spec_name",
    [
        ("move_apple", True, 0.2, ""),
        ("close_scissors", False, None, ""),
        ("shoe_place", True, None, ""),
        ("move_apple", False, None, "wrist"),
    ],
)
def test_actions_become_the_env_targets_on_every_robot(
    exported, tmp_path, task_name, grip_full_range, rotation_limit, spec_name
):
    """The runtime's post-processing (grip range, residual scales, rotation clip, grip mapping)
    against the env's own (``PolicyIO.grip_actions``, ``ActionSpec.targets``), for the hand's
    closure and per-finger grips, the gripper's jaws and the wrist-only spec (grip held closed)."""
    out = exported[3]
    task = make_task(task_name)
    robot = task.robot()
    spec = robot.action_spec(spec_name or task.actions().name)
    folder = shutil.copytree(out, tmp_path / "export")
    io = PolicyIO.load(out)
    io = replace(
        io,
        embodiment=robot.name,
        action_spec=spec.name,
        action_names=spec.names,
        action_alpha=(),
        rest_action=(),
        grip_full_range=grip_full_range,
        rotation_limit=rotation_limit,
        rotation_scale=0.5,
    )
    io.save(folder)
    description = robot_description(task.build_model(), robot, spec.name)
    (folder / "kinematics.json").write_text(json.dumps(description))
    runtime = PolicyRuntime(folder)
    rng = np.random.default_rng(0)
    plan = PlanTargets(rng.normal(size=(8, 2, 3)), rng.normal(size=(8, 6)))
    averages = rng.uniform(-1.0, 1.0, size=(5, spec.num_actions))
    for step, average in enumerate(averages):
        wrist, joints = spec.targets(
            plan.wrist[step : step + 1],
            io.grip_actions(average[None]),
            io.position_scale,
            io.rotation_scale,
            rotation_limit,
        )
        got_wrist, got_joints = runtime.targets(average, plan, step)
        np.testing.assert_allclose(got_wrist, wrist[0], atol=1e-12)
        np.testing.assert_allclose(got_joints, joints[0], atol=1e-12)


def test_malformed_inputs_are_refused(exported):
    task, _, _, out = exported
    runtime = PolicyRuntime(out)
    plan = PlanTargets(*oracle_plans(task, "val", 0, 1)[0].interpolate(task.episode_steps))
    joints, keypoints = np.zeros(22), np.zeros((len(task.keypoints), 3))
    with pytest.raises(ValueError, match="episode starts at step 0"):
        runtime.step(joints, joints, keypoints, plan, 3)
    with pytest.raises(ValueError, match=r"joint_positions must have shape \(22,\)"):
        runtime.step(np.zeros(21), joints, keypoints, plan, 0)
    with pytest.raises(ValueError, match="keypoints hold NaN"):
        runtime.step(joints, joints, np.full_like(keypoints, np.nan), plan, 0)
    runtime.step(joints, joints, keypoints, plan, 0)
    with pytest.raises(ValueError, match="keypoints hold NaN"):
        runtime.step(joints, joints, np.full_like(keypoints, np.nan), plan, 1)
    with pytest.raises(ValueError, match="plan keypoints must have shape"):
        PlanTargets(plan.keypoints[0], plan.wrist)
    with pytest.raises(ValueError, match="NaN"):
        PlanTargets(plan.keypoints, np.full_like(plan.wrist, np.nan))
    with pytest.raises(ValueError, match="the plan has 1 keypoints"):
        runtime.step(joints, joints, keypoints, PlanTargets(plan.keypoints[:, :1], plan.wrist), 1)


def test_what_the_runtime_does_not_cover_is_refused(exported, tmp_path):
    _, _, run, out = exported
    folder = shutil.copytree(out, tmp_path / "export")
    io = json.loads((folder / "policy_io.json").read_text())
    (folder / "policy_io.json").write_text(json.dumps({**io, "mode": "wrist_delta"}))
    with pytest.raises(ValueError, match="plan_residual"):
        PolicyRuntime(folder)
    (folder / "policy_io.json").write_text(json.dumps(io))
    robot = json.loads((folder / "kinematics.json").read_text())
    (folder / "kinematics.json").write_text(json.dumps({**robot, "controller": "wheeled"}))
    with pytest.raises(ValueError, match="drives floating and arm robots"):
        PolicyRuntime(folder)
    skill = shutil.copytree(run, tmp_path / "skill")
    (skill / "policy_io.json").write_text(json.dumps({**io, "mode": "wrist_delta"}))
    with pytest.raises(ValueError, match="wrist_delta"):
        export_policy(skill, "latest", tmp_path / "skill_export")


BLOCKED_IMPORT = """
import importlib.abc, json, sys

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "mujoco", "tensordict", "rsl_rl"):
            raise ImportError(f"{name} is blocked")
        return None

sys.meta_path.insert(0, Blocked())
import numpy as np
from keyscaffold.deploy import PlanTargets, PolicyRuntime

runtime = PolicyRuntime(sys.argv[1])
joints = np.zeros(len(runtime.joint_names))
keypoints = np.zeros((runtime.num_keypoints, 3))
plan = PlanTargets(np.zeros((5, runtime.num_keypoints, 3)), np.zeros((5, 6)))
step = runtime.step(joints, joints, keypoints, plan, 0)
print(json.dumps({"controls": len(step.controls), "modules": sorted(
    m for m in sys.modules if m.startswith("keyscaffold") or m.split(".")[0] in ("torch", "mujoco")
)}))
"""


@pytest.mark.parametrize("robot", ["hand", "iiwa_hand"])
def test_the_runtime_needs_neither_torch_nor_mujoco(exported, arm_exported, robot):
    out = exported[3] if robot == "hand" else arm_exported[1]
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORT, str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["controls"] == (22 if robot == "hand" else 23)
    # the runtime, and the numpy-only policy I/O spec, geometry and kinematics it shares with
    # the envs and the arm controller
    assert report["modules"] == [
        "keyscaffold",
        "keyscaffold.deploy",
        "keyscaffold.deploy.controllers",
        "keyscaffold.deploy.kinematics",
        "keyscaffold.deploy.runtime",
        "keyscaffold.geometry",
        "keyscaffold.kinematics",
        "keyscaffold.kinematics.chain",
        "keyscaffold.kinematics.ik",
        "keyscaffold.rl",
        "keyscaffold.rl.policy_io",
        "keyscaffold.util",
    ]
