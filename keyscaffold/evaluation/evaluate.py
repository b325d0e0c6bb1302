"""Roll a trained policy out on a test plan set and write eval.json with pictures."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import mujoco
import numpy as np
import torch
from rich.progress import Progress

from keyscaffold.evaluation.failures import (
    episode_category,
    failure_breakdown,
    plot_failure_breakdown,
)
from keyscaffold.evaluation.media import draw_keypoint_overlay, write_video
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.planning.plan import KeypointPlan, atomic_write_text
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.rl.train import load_policy, load_run_config
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.tasks.base import Task


def _render_world(
    env: ScaffoldEnv, renderer: SceneRenderer, data: mujoco.MjData, world: int
) -> np.ndarray:
    env.worlds.batch.get_data(world, data)
    mujoco.mj_forward(env.worlds.model, data)
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
        ``frames`` of ``record_world`` (every ``video_every`` steps), its ``keypoints`` trajectory
        (shape (T + 1, K, 3)) and its first frame's calibration.
    """
    obs = env.get_observations()
    frames, trajectory = [], [env.keypoints()[record_world or 0].copy()]
    renderer = data = None
    if record_world is not None:
        renderer = SceneRenderer(env.worlds.model, video_size, video_size, quality=False)
        data = mujoco.MjData(env.worlds.model)
        frames.append(_render_world(env, renderer, data, record_world))
    with Progress(disable=not show_progress) as progress, torch.inference_mode():
        bar = progress.add_task("evaluate", total=env.max_episode_length)
        for step in range(env.max_episode_length):
            obs, _, dones, _ = env.step(policy(obs))
            if record_world is not None:
                ended = bool(dones[record_world])
                source = env.final_keypoints if ended else env.keypoints()
                trajectory.append(source[record_world].copy())
                if step % video_every == 0 and not ended:
                    frames.append(_render_world(env, renderer, data, record_world))
            progress.advance(bar)
    if renderer is not None:
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
) -> dict:
    """Evaluate a trained policy: success rate with a 95% Wilson interval and per-episode rows.

    Every plan runs ``trials_per_plan`` times with different start noise; episodes always run to
    the time limit (no termination) and record whether the keypoints stayed within the task's
    start limit (``tracked_to_end``). Success is judged at the last step.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num = len(plans) * trials_per_plan
    base = env_config or load_run_config(Path(policy_dir)).env
    config = replace(base, num_envs=num, terminate=False, final_limit_fraction=1.0)
    env = ScaffoldEnv(task, plans, config, seed=seed)
    policy = load_policy(Path(policy_dir), env)
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
    if media:
        summary["media"] = _write_media(task, env, plans[0], result, out_dir, episodes[0])
        plot_failure_breakdown(breakdown, out_dir / "failures.png", title=f"{task.name}: outcomes")
        summary["media"]["failures"] = "failures.png"
    atomic_write_text(out_dir / "eval.json", json.dumps(summary, indent=2))
    return summary


def _write_media(
    task: Task, env: ScaffoldEnv, plan: KeypointPlan, result: dict, out_dir: Path, episode: dict
) -> dict:
    video = write_video(result["frames"], out_dir / "rollout.mp4", fps=30)
    renderer = SceneRenderer(env.worlds.model, 640, 640, quality=True)
    data = mujoco.MjData(env.worlds.model)
    env.assign_plans(np.zeros(env.num_envs, dtype=np.int64))
    env.worlds.batch.get_data(0, data)
    mujoco.mj_forward(env.worlds.model, data)
    frame = renderer.frame(data, task.camera.name)
    renderer.close()
    planned, _ = plan.interpolate(task.episode_steps)
    verdict = "success" if episode["success"] else "failure"
    overlay = draw_keypoint_overlay(
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
    return {"video": video.name, "overlay": overlay.name}
