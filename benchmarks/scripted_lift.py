"""Does the grasp start hold the shoe when the wrist goes straight up? Built-in against file.

Usage:
    .venv/bin/python benchmarks/scripted_lift.py --scene runs/scene_round_trip_lift/shoe_place/scene/shoe_place.json
        writes benchmarks/results/scripted_lift.json

For shoe_place and the task read from its exported scene file (``scene_round_trip.py`` writes
it): the oracle goals of the 10 training states of split seeds 0-2, 64 episodes of the keypoint
env each, with no policy: the grasp start (the jaws close while the wrist holds still), then the
wrist commanded straight up at full action for the rest of 60 control steps. Per seed: the share
of episodes whose keypoints rose more than 15 cm, their median rise (m) and the share that
dropped the shoe (the TCP farther from the grasp point than the reward's ``drop_distance``). It separates physics (can the grasp
carry the shoe at all) from exploration (does PPO find the lift).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.evaluation.scene_round_trip import register_with_oracle
from keyscaffold.iker.evaluate import oracle_goals
from keyscaffold.planning.oracle import split_seeds
from keyscaffold.provenance import keep_in_list, provenance
from keyscaffold.rl.keypoint_env import KeypointEnv, KeypointEnvConfig
from keyscaffold.tasks import make_task
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "scripted_lift.json"
STEPS, WORLDS, LIFTED = 60, 64, 0.15


def lift(task_name: str, seed: int, folder: Path) -> dict:
    """Scripted lifts on the oracle goals of split seed ``seed``'s training states."""
    task = make_task(task_name)
    config = KeypointEnvConfig(num_envs=WORLDS)
    goals, _ = oracle_goals(task, split_seeds("train", seed, 10), folder, 512, config.physics)
    env = KeypointEnv(task, list(goals.values()), config, seed=0)
    env.reset()
    start = env.keypoints()[:, :, 2].mean(axis=1).copy()
    action = torch.zeros(WORLDS, env.num_actions)
    for step in range(STEPS):
        action[:, 2] = float(step >= config.grasp_steps)
        env.step(action)
    rise = env.keypoints()[:, :, 2].mean(axis=1) - start
    tcp, _ = env.gripper_pose()
    gap = np.linalg.norm(tcp - env.grasp_point(*env.object_pose()), axis=-1)
    return {"seed": seed, "goals": len(goals), "lifted": float(np.mean(rise > LIFTED)),
            "median_rise_m": float(np.median(rise)), "dropped": float(np.mean(gap > config.rewards.drop_distance))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", type=Path, required=True, help="shoe_place's exported scene")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "scripted_lift")
    args = parser.parse_args()
    file_task = register_with_oracle(args.scene, "shoe_place").name
    row = {"task": "shoe_place", "steps": STEPS, "episodes_per_seed": WORLDS}
    for key, name in (("built_in", "shoe_place"), ("from_file", file_task)):
        row[key] = [lift(name, s, args.out / key / f"seed_{s}") for s in range(3)]
        print(key, row[key], flush=True)
    row.update(command=f"python benchmarks/scripted_lift.py --scene {args.scene}", **provenance())
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    atomic_write_text(RESULTS, json.dumps(keep_in_list(kept, row), indent=2) + "\n")


if __name__ == "__main__":
    main()
