"""Shared fixtures: headless rendering and small plan sets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # test helpers: iker_scene, vlm_answers

import pytest  # noqa: E402

import keyscaffold  # noqa: E402,F401  (sets the GL backend before MuJoCo loads)


@pytest.fixture(scope="session")
def move_apple():
    from keyscaffold.tasks import make_task

    return make_task("move_apple")


@pytest.fixture(scope="session")
def train_plans(move_apple):
    from keyscaffold.planning.oracle import oracle_plans

    return oracle_plans(move_apple, "train", 0, 6)
