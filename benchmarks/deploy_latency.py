"""Per-step latency of the deployment runtime on one CPU core, for a floating hand policy and an
iiwa-arm policy (the arm's inverse kinematics step included).

Usage:
    .venv/bin/python benchmarks/deploy_latency.py --episodes 2
        exports an untrained actor (fresh weights: the time of a step does not depend on them)
        of each network size for move_apple on the floating hand and on the iiwa arm, and runs
        episodes of each in the simulator through a runtime process pinned to one core with one
        thread, the simulator on the other cores (``evaluation.deploy_sim.rollout_in_process``,
        as ``keyscaffold deploy --sim`` runs it). Each ``PolicyRuntime.step`` call is timed
        inside the runtime process (observation, forward kinematics, the ONNX actor, the
        post-processing, the arm's IK step); the message handling and the simulator's round
        trip are reported beside it. The thread's CPU time per step is recorded beside the
        wall-clock time, which other processes on a shared machine inflate. Writes
        benchmarks/results/deploy_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import torch

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.evaluation.deploy_sim import rollout_in_process
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.provenance import provenance
from keyscaffold.rl.config import PPOConfig, cpu_profile
from keyscaffold.rl.deployed import build_actor
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.rl.export import export_actor
from keyscaffold.rl.runner import runner_config
from keyscaffold.tasks.move_apple import MoveApple
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "deploy_latency.json"
TARGET_MS = 2.0


class ArmMoveApple(MoveApple):
    """move_apple with the hand on the iiwa arm."""

    embodiment = "iiwa_hand"


NETWORKS = {
    "cpu profile (256, 128, 64)": cpu_profile()[0].hidden_dims,
    "default (512, 512, 512)": PPOConfig().hidden_dims,
}


def summary(milliseconds: list[float]) -> dict:
    values = np.asarray(milliseconds)
    return {
        "count": int(values.size),
        "median": round(float(np.median(values)), 4),
        "p95": round(float(np.percentile(values, 95)), 4),
        "p99": round(float(np.percentile(values, 99)), 4),
        "max": round(float(values.max()), 4),
    }


def measure(task, hidden_dims: tuple[int, ...], episodes: int, cpu: int, folder: Path) -> dict:
    """Latency of one robot's runtime over ``episodes`` episodes of ``task``."""
    env = ScaffoldEnv(task, oracle_plans(task, "test", 0, 1), EnvConfig().for_evaluation(1))
    ppo = replace(cpu_profile()[0], hidden_dims=hidden_dims)
    spec = replace(env.io, network=runner_config(ppo, 50)["actor"])
    torch.manual_seed(0)
    export_actor(build_actor(spec), spec, task, folder)
    times: dict[str, list[float]] = {
        "step_ms": [],
        "step_cpu_ms": [],
        "message_ms": [],
        "round_trip_ms": [],
    }
    for _ in range(episodes):
        env.assign_plans(np.zeros(1, dtype=np.int64))
        result = rollout_in_process(env, folder, cpu=cpu)
        for name in times:
            times[name] += result[name]
    robot = json.loads((folder / "kinematics.json").read_text())
    return {
        "task": f"move_apple on {env.robot.name}",
        "robot": env.robot.name,
        "controller": robot["controller"],
        "joints": len(robot["joints"]),
        "bodies": len(robot["bodies"]),
        "hidden_dims": list(hidden_dims),
        "observations": spec.num_observations,
        "actions": spec.num_actions,
        "runtime_step_ms": summary(times["step_ms"]),
        "runtime_step_cpu_ms": summary(times["step_cpu_ms"]),
        "message_ms": summary(times["message_ms"]),
        "round_trip_ms": summary(times["round_trip_ms"]),
        "median_below_target": bool(np.median(times["step_ms"]) < TARGET_MS),
        "p99_below_target": bool(np.percentile(times["step_ms"], 99) < TARGET_MS),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1, help="episodes per policy")
    parser.add_argument("--cpu", type=int, default=0, help="the core the runtime is pinned to")
    args = parser.parse_args(argv)
    others = set(range(os.cpu_count() or 1)) - {args.cpu}
    if others:  # the simulator keeps off the runtime's core
        os.sched_setaffinity(0, others)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for task in (MoveApple(), ArmMoveApple()):
            for label, dims in NETWORKS.items():
                folder = Path(scratch) / f"{task.robot().name}_{len(rows)}"
                row = {"network": label, **measure(task, dims, args.episodes, args.cpu, folder)}
                rows.append(row)
                step, cpu = row["runtime_step_ms"], row["runtime_step_cpu_ms"]
                print(
                    f"{row['task']:24s} {label:27s} step median {step['median']:.3f} ms, "
                    f"p95 {step['p95']:.3f}, p99 {step['p99']:.3f}; CPU median "
                    f"{cpu['median']:.3f}, p99 {cpu['p99']:.3f}",
                    flush=True,
                )
    result = {
        "command": f"python benchmarks/deploy_latency.py --episodes {args.episodes} "
        f"--cpu {args.cpu}",
        **provenance(),
        "what": "PolicyRuntime.step timed inside a runtime process pinned to one core, one "
        "onnxruntime and numpy thread, fed by the simulator through messages: wall-clock time "
        "(runtime_step_ms) and the thread's CPU time (runtime_step_cpu_ms, what a step costs "
        "whatever else the machine runs); untrained actors (fresh weights), as the time of a "
        "step does not depend on the weights",
        "target_ms": TARGET_MS,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "processor": platform.processor() or platform.machine(),
        "loadavg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "seconds": round(time.perf_counter() - started, 1),
        "results": rows,
    }
    atomic_write_text(RESULTS, json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
