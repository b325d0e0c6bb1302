"""``keyscaffold deploy --sim``: the exported runtime, in a process of its own that loads no
simulator, drives the simulator through messages, and without noise or delay succeeds exactly
where the in-simulator evaluation of the same checkpoint does on the same states."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from keyscaffold.cli import main
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.checkpoints import load_policy
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.rl.rollout import run_episode
from keyscaffold.rl.run_folder import checkpoint_file

EPISODES = 2


def test_deploy_sim_drives_the_simulator_from_another_process(tiny_run, tmp_path):
    task, config, run = tiny_run
    out = tmp_path / "deploy"
    command = ["deploy", "--sim", str(run), "--episodes", str(EPISODES), "--which", "latest"]
    assert main([*command, "--out", str(out)]) == 0
    report = json.loads((out / "deploy_sim.json").read_text())
    assert report["task"] == task.name and report["num_episodes"] == EPISODES
    assert report["command"].startswith("keyscaffold deploy --sim")
    assert sorted(p.name for p in (out / "export").iterdir()) == [
        "kinematics.json",
        "policy.onnx",
        "policy_io.json",
    ]
    process = report["runtime_process"]
    assert process["pid"] != os.getpid() and process["simulator_pid"] == os.getpid()
    assert process["threads"] == 1
    assert "keyscaffold.deploy.runtime" in process["modules"]
    loaded = {name.split(".")[0] for name in process["modules"]}
    assert loaded == {"keyscaffold"}, f"the runtime process loaded {sorted(loaded)}"
    assert not any(
        m.startswith(("keyscaffold.sim", "keyscaffold.tasks")) for m in process["modules"]
    )
    # every step of every robot timed inside the runtime process
    latency = report["latency_ms"]
    assert latency["count"] == EPISODES * task.episode_steps
    assert 0 < latency["median"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert report["round_trip_ms"]["count"] == task.episode_steps
    remote, local = report["separate_process"], report["in_simulator"]
    assert remote["episodes"] == local["episodes"]
    assert remote["success_rate"] == local["success_rate"]
    assert 0.0 <= remote["success_ci95"][0] <= remote["success_rate"] <= remote["success_ci95"][1]
    in_sim = json.loads((out / "in_simulator" / "eval.json").read_text())
    assert [e["success"] for e in in_sim["episodes"]] == [e["success"] for e in local["episodes"]]
    # the same trajectories, not only the same verdicts: the torch policy in the simulator on
    # the same states ends with the keypoints where the runtime process left them
    env = ScaffoldEnv(task, oracle_plans(task, "test", 0, EPISODES), config.env.for_evaluation(2))
    env.assign_plans(np.arange(EPISODES))
    run_episode(env, load_policy(checkpoint_file(run, "latest"), env))
    np.testing.assert_allclose(remote["final_keypoints"], env.final_keypoints, atol=1e-3)


def test_deploy_needs_the_simulator_flag_and_sane_settings(tiny_run, tmp_path, capsys):
    run = tiny_run[2]
    assert main(["deploy", str(run), "--out", str(tmp_path / "a")]) == 2
    assert "pass --sim" in capsys.readouterr().err
    assert main(["deploy", "--sim", str(run), "--action-delay", "-1"]) == 2
    assert "--action-delay" in capsys.readouterr().err


def test_controls_from_outside_step_the_env_as_its_own_actions(move_apple):
    """``step_controls`` with the targets ``step`` sends gives the same observations, rewards,
    resets and verdicts: the runtime's side and the policy's share the env's stepping."""
    plans = oracle_plans(move_apple, "test", 0, 2)
    own, outside = [ScaffoldEnv(move_apple, plans, EnvConfig().for_evaluation(2)) for _ in range(2)]
    actions = np.random.default_rng(0).uniform(-1, 1, (4, 2, own.num_actions))
    for action in actions:
        with own.worlds.recording() as sent:
            expected = own.step(torch.from_numpy(action))
        result = outside.step_controls(sent[0], action)
        torch.testing.assert_close(result[0]["policy"], expected[0]["policy"], rtol=0, atol=0)
        for got, want in zip(result[1:3], expected[1:3]):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
    np.testing.assert_array_equal(outside.measure()[2], own.measure()[2])
    with pytest.raises(ValueError, match="controls must have shape"):
        outside.step_controls(sent[0][:, :3], actions[0])
