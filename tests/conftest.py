"""Shared fixtures: headless rendering and small plan sets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # test helpers: iker_scene, vlm_answers

import pytest  # noqa: E402

import keyscaffold  # noqa: E402,F401  (sets the GL backend before MuJoCo loads)


@pytest.fixture
def sparse_video(monkeypatch):
    """``evaluate`` keeps a video frame every 30 control steps instead of every 2: the video is
    still drawn from the task's scene and written, at a tenth of the rendering (for tests that
    evaluate but look at no frame; test_cli's eval checks the full video)."""
    from functools import partial

    from keyscaffold.evaluation import evaluate

    monkeypatch.setattr(evaluate, "rollout", partial(evaluate.rollout, video_every=30))


@pytest.fixture(scope="session")
def move_apple():
    from keyscaffold.tasks import make_task

    return make_task("move_apple")


@pytest.fixture(scope="session")
def train_plans(move_apple):
    from keyscaffold.planning.oracle import oracle_plans

    return oracle_plans(move_apple, "train", 0, 6)


@pytest.fixture(scope="session")
def tiny_run(move_apple, tmp_path_factory):
    """A move_apple policy trained for 2 iterations (8 worlds, a (64, 64) actor): a real run
    folder with checkpoints and its policy I/O spec. Returns (task, config, run folder)."""
    from dataclasses import replace

    from keyscaffold.planning.oracle import oracle_plans
    from keyscaffold.rl.config import TrainConfig, cpu_profile
    from keyscaffold.rl.train import train

    ppo, env = cpu_profile()
    ppo = replace(ppo, hidden_dims=(64, 64), num_steps_per_env=8)
    config = TrainConfig(minutes=5.0, max_iterations=2, ppo=ppo, env=replace(env, num_envs=8))
    run = tmp_path_factory.mktemp("tiny_run")
    train(move_apple, oracle_plans(move_apple, "train", 0, 2), run, config, show_progress=False)
    return move_apple, config, run
