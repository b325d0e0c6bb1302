"""A trained policy leaves its env: the run folder's policy I/O spec and checkpoint alone give the
same actions as the env's policy on the same observations."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.checkpoints import load_policy
from keyscaffold.rl.deployed import DeployedPolicy
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.rl.policy_io import POLICY_IO_FILE, PolicyIO


@pytest.fixture(scope="module")
def scaffold_run(tiny_run):
    return tiny_run


def test_the_spec_describes_the_env_and_round_trips(scaffold_run):
    task, config, run = scaffold_run
    spec = PolicyIO.load(run)
    env = ScaffoldEnv(task, oracle_plans(task, "val", 0, 1), config.env.for_evaluation(4))
    assert spec == replace(env.io, network=spec.network)
    assert spec.num_observations == env.get_observations()["policy"].shape[1]
    assert spec.num_actions == env.num_actions and spec.action_names[-1] == "closure"
    assert spec.network["hidden_dims"] == [64, 64]
    assert PolicyIO.from_json(json.loads((run / POLICY_IO_FILE).read_text())) == spec
    newer = {**spec.to_json(), "version": spec.version + 1}
    with pytest.raises(ValueError, match="newer"):
        PolicyIO.from_json(newer)


def test_the_deployed_policy_acts_as_the_env_policy(scaffold_run):
    task, config, run = scaffold_run
    env = ScaffoldEnv(task, oracle_plans(task, "val", 0, 1), config.env.for_evaluation(4))
    inside = load_policy(run, env)
    outside = DeployedPolicy(run, "latest")
    obs = env.get_observations()
    for _ in range(5):
        with torch.inference_mode():
            expected = inside(obs).numpy()
        np.testing.assert_allclose(outside(obs["policy"].numpy()), expected, atol=1e-6)
        obs, *_ = env.step(torch.from_numpy(expected))
    with pytest.raises(ValueError, match="observations must have shape"):
        outside(np.zeros((2, 3)))


def test_observations_come_from_named_blocks(scaffold_run):
    task, config, run = scaffold_run
    spec = PolicyIO.load(run)
    blocks = {
        name: np.full((2, width), float(i)) for i, (name, width) in enumerate(spec.observation)
    }
    obs = spec.observe(blocks)
    assert obs.shape == (2, spec.num_observations) and obs.dtype == np.float32
    assert obs[0, -1] == len(spec.observation) - 1  # the last block (phase) comes last
    with pytest.raises(ValueError, match="keypoints"):
        spec.observe({**blocks, "keypoints": np.zeros((2, 1))})
    with pytest.raises(KeyError, match="episode_phase"):
        spec.observe({k: v for k, v in blocks.items() if k != "episode_phase"})
