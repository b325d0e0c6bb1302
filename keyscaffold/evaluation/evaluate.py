"""Roll a trained policy out on a test plan set and write eval.json with pictures."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import mujoco
import numpy as np
import torch

from keyscaffold.evaluation.failures import (
    episode_category,
    failure_breakdown,
    plot_failure_breakdown,
)
from keyscaffold.evaluation.media import draw_keypoint_overlay, write_video
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.planning.plan import KeypointPlan
from keyscaffold.rl.checkpoints import load_policy
from keyscaffold.rl.env import EPISODE_FIELDS, EnvConfig, ScaffoldEnv
from keyscaffold.rl.rollout import run_episode
from keyscaffold.rl.run_folder import checkpoint_file, load_run_config
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.tasks.base import Task
from keyscaffold.util import atomic_write_text


def _render_world(
    env: ScaffoldEnv, renderer: SceneRenderer, data: mujoco.MjData, world: int
) -> np.ndarray:
    env.worlds.world_data(world, data)
    return renderer.rgb(data, env.task.camera.name)


def rollout(
    env: ScaffoldEnv,
    policy: torch.nn.Module,
    record_world: int | None = 0,
    video_every: int = 2,
    video_size: int = 320,
    show_progress: bool = True,
) -> dict:
    """Run one episode in every world with the deterministic policy.

    Returns:
        ``frames`` of ``record_world`` (every ``video_every`` steps) and its ``keypoints``
        trajectory (shape (T + 1, K, 3)).
    """
    frames, trajectory = [], [env.keypoints()[record_world or 0].copy()]
    if record_world is None:
        run_episode(env, policy, show_progress=show_progress)
        return {"frames": frames, "keypoints": np.array(trajectory)}
    renderer = SceneRenderer(env.worlds.model, video_size, video_size, quality=False)
    data = mujoco.MjData(env.worlds.model)
    frames.append(_render_world(env, renderer, data, record_world))

    def record(step: int, dones: np.ndarray) -> None:
        ended = bool(dones[record_world])
        source = env.final_keypoints if ended else env.keypoints()
        trajectory.append(source[record_world].copy())
        if step % video_every == 0 and not ended:
            frames.append(_render_world(env, renderer, data, record_world))

    try:
        run_episode(env, policy, on_step=record, show_progress=show_progress)
    finally:
        renderer.close()
    return {"frames": frames, "keypoints": np.array(trajectory)}


def evaluate(
    task: Task,
    plans: list[KeypointPlan],
    policy_dir: Path,
    out_dir: Path,
    trials_per_plan: int = 1,
    seed: int = 0,
    env_config: EnvConfig | None = None,
    media: bool = True,
    show_progress: bool = True,
    checkpoint: str = "best",
) -> dict:
    """Evaluate a trained policy: success rate with a 95% Wilson interval and per-episode rows.

    ``checkpoint`` ``best`` takes the run's best validated checkpoint when it has one, ``latest``
    the last one written (``policy_dir`` may also name a checkpoint file).

    Every plan runs ``trials_per_plan`` times with different start noise; episodes always run to
    the time limit (no termination) and record whether the keypoints stayed within the task's
    start limit (``tracked_to_end``). Success is judged at the last step.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num = len(plans) * trials_per_plan
    base = env_config or load_run_config(Path(policy_dir)).env
    config = base.for_evaluation(num)
    env = ScaffoldEnv(task, plans, config, seed=seed)
    checkpoint_path = checkpoint_file(Path(policy_dir), checkpoint)
    policy = load_policy(checkpoint_path, env)
    env.assign_plans(np.repeat(np.arange(len(plans)), trials_per_plan))
    start = time.perf_counter()
    result = rollout(env, policy, record_world=0 if media else None, show_progress=show_progress)
    seconds = time.perf_counter() - start
    episodes = [
        {
            "plan_id": plans[i // trials_per_plan].plan_id,
            "seed": seed * 1000 + i % trials_per_plan,
            "success": bool(env.last_episode["success"][i]),
            "tracked_to_end": bool(env.last_episode["tracked"][i]),
            "return": float(env.last_episode["return"][i]),
            "length": int(env.last_episode["length"][i]),
            "task_metrics": {
                name: float(values[i])
                for name, values in env.last_episode.items()
                if name not in EPISODE_FIELDS
            },
        }
        for i in range(num)
    ]
    for i, episode in enumerate(episodes):
        episode["category"] = episode_category(episode, plans[i // trials_per_plan])
    breakdown = failure_breakdown([e["category"] for e in episodes])
    successes = sum(e["success"] for e in episodes)
    low, high = wilson_interval(successes, num)
    summary = {
        "task": task.name,
        "policy": str(policy_dir),
        "checkpoint": str(checkpoint_path),
        "num_plans": len(plans),
        "trials_per_plan": trials_per_plan,
        "num_episodes": num,
        "success_rate": successes / num,
        "success_ci95": [low, high],
        "tracked_to_end_rate": float(np.mean([e["tracked_to_end"] for e in episodes])),
        "mean_return": float(np.mean([e["return"] for e in episodes])),
        "failure_breakdown": breakdown,
        "rollout_seconds": seconds,
        "episodes": episodes,
    }
    # The numbers land before any picture is drawn: a picture that fails loses no result.
    atomic_write_text(out_dir / "eval.json", json.dumps(summary, indent=2))
    if media:
        summary["media"] = _write_media(task, env, plans[0], result, out_dir, summary)
        atomic_write_text(out_dir / "eval.json", json.dumps(summary, indent=2))
    return summary


def _write_media(
    task: Task, env: ScaffoldEnv, plan: KeypointPlan, result: dict, out_dir: Path, summary: dict
) -> dict:
    """Video, keypoint overlay and outcome chart; each one that cannot be drawn is skipped.

    Returns:
        File names of the pictures written, and ``skipped``: picture name to the reason.
    """
    pictures = {
        "video": lambda: write_video(result["frames"], out_dir / "rollout.mp4", fps=30),
        "overlay": lambda: _draw_overlay(task, env, plan, result, out_dir, summary["episodes"][0]),
        "failures": lambda: plot_failure_breakdown(
            summary["failure_breakdown"],
            out_dir / "failures.png",
            title=f"{task.name}: outcomes",
        ),
    }
    written, skipped = {}, {}
    for name, draw in pictures.items():
        try:
            written[name] = draw().name
        except Exception as error:  # a picture must never cost the evaluation its numbers
            skipped[name] = f"{type(error).__name__}: {error}"
            warnings.warn(f"evaluation picture {name!r} skipped: {error}", stacklevel=2)
    return {**written, **({"skipped": skipped} if skipped else {})}


def _draw_overlay(
    task: Task, env: ScaffoldEnv, plan: KeypointPlan, result: dict, out_dir: Path, episode: dict
) -> Path:
    renderer = SceneRenderer(env.worlds.model, 640, 640, quality=True)
    env.assign_plans(np.zeros(env.num_envs, dtype=np.int64))
    data = env.worlds.world_data(0)
    frame = renderer.frame(data, task.camera.name)
    renderer.close()
    planned, _ = plan.interpolate(task.episode_steps)
    verdict = "success" if episode["success"] else "failure"
    return draw_keypoint_overlay(
        frame.rgb,
        frame.intrinsics,
        frame.cam_to_world,
        plan.keypoint_names,
        current=result["keypoints"][0],
        planned=planned,
        actual=result["keypoints"],
        path=out_dir / "overlay.png",
        title=f"{plan.plan_id}: plan (dashed) vs actual (solid), {verdict}",
    )
