"""What each command-line verb does, as plain functions (the CLI only parses and prints)."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v2 as imageio
import mujoco
import numpy as np

from keyscaffold.evaluation.evaluate import evaluate
from keyscaffold.evaluation.media import draw_keypoint_overlay, plot_training_curve
from keyscaffold.planning.oracle import oracle_plan, oracle_plans
from keyscaffold.planning.plan import atomic_write_text, find_plan_set, load_plan_set, save_plan_set
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.rl.train import TrainConfig, train
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.tasks import make_task


def render_task(task_name: str, seed: int, out: Path, size: int = 800) -> Path:
    """Render the task camera at an initial state with keypoints drawn on top."""
    task = make_task(task_name)
    plan = oracle_plan(task, seed)
    env = ScaffoldEnv(task, [plan], EnvConfig(num_envs=1, num_threads=1, init_position_noise=0.0))
    data = mujoco.MjData(env.worlds.model)
    env.worlds.batch.get_data(0, data)
    mujoco.mj_forward(env.worlds.model, data)
    renderer = SceneRenderer(env.worlds.model, size, size, quality=True)
    frame = renderer.frame(data, task.camera.name)
    renderer.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(out / "rgb.png", frame.rgb)
    np.save(out / "depth.npy", frame.depth)
    np.save(out / "segmentation.npy", frame.segmentation)
    keypoints = env.worlds.keypoints()[0]
    draw_keypoint_overlay(
        frame.rgb,
        frame.intrinsics,
        frame.cam_to_world,
        plan.keypoint_names,
        keypoints,
        path=out / "overlay.png",
        title=task.instruction,
    )
    camera = {
        "task": task.name,
        "seed": seed,
        "width": size,
        "height": size,
        "intrinsics": frame.intrinsics.tolist(),
        "cam_to_world": frame.cam_to_world.tolist(),
        "convention": "OpenCV: x right, y down, z forward; depth in meters along z",
        "keypoints": {n: keypoints[i].tolist() for i, n in enumerate(plan.keypoint_names)},
    }
    atomic_write_text(out / "camera.json", json.dumps(camera, indent=2))
    return out


def make_plans(
    task_name: str, num_plans: int, split: str, seed: int, waypoints: int, out: Path
) -> Path:
    """Oracle plans for a split, saved as a plan set under ``out/<task>/<split>/oracle``."""
    if num_plans < 1:
        raise ValueError(f"--num-plans must be at least 1, got {num_plans}")
    task = make_task(task_name)
    plans = oracle_plans(task, split, seed, num_plans, waypoints)
    return save_plan_set(plans, Path(out) / task.name / split / "oracle")


def train_policy(
    task_name: str, plans_dir: Path, out: Path, config: TrainConfig, resume: bool
) -> Path:
    """Train on a plan set and draw the run's curve."""
    task = make_task(task_name)
    plans = load_plan_set(plans_dir, task.name)
    final = train(
        task, plans, Path(out), config, plans_dir=str(find_plan_set(plans_dir)), resume=resume
    )
    plot_training_curve(
        Path(out) / "metrics.csv", Path(out) / "curve.png", title=f"{task.name} training"
    )
    return final


def evaluate_policy(
    task_name: str, policy: Path, plans_dir: Path, out: Path, trials_per_plan: int, seed: int
) -> dict:
    """Evaluate a run's policy on a plan set."""
    if trials_per_plan < 1:
        raise ValueError(f"--trials-per-plan must be at least 1, got {trials_per_plan}")
    task = make_task(task_name)
    plans = load_plan_set(plans_dir, task.name)
    return evaluate(task, plans, Path(policy), Path(out), trials_per_plan, seed)


def demo(
    out: Path, minutes: float, train_plans: int, test_plans: int, trials_per_plan: int
) -> dict:
    """Plan, train within ``minutes`` and evaluate move_apple; everything lands under ``out``."""
    out = Path(out)
    train_dir = make_plans("move_apple", train_plans, "train", 0, 20, out / "plans")
    test_dir = make_plans("move_apple", test_plans, "test", 0, 20, out / "plans")
    config = TrainConfig(minutes=minutes)
    resume = (out / "train" / "checkpoints" / "latest.pt").exists()
    train_policy("move_apple", train_dir, out / "train", config, resume=resume)
    summary = evaluate_policy(
        "move_apple", out / "train", test_dir, out / "eval", trials_per_plan, 0
    )
    plot_training_curve(
        out / "train" / "metrics.csv", out / "eval" / "curve.png", title="move_apple training"
    )
    return summary
