"""The simulator as the robot of an exported policy (``keyscaffold deploy --sim``).

The run's policy is exported (``rl.export``) and its runtime started in its own process
(``deploy.serve``), which imports ``keyscaffold.deploy`` and nothing of the simulator. The
simulator is a ``ScaffoldEnv`` with evaluation settings whose robot commands come from that
process: each control step the env's readers give every robot's joint positions and velocities
and its tracked keypoints (``ScaffoldEnv.measure``), which go over as a message; the position
targets that come back step the env (``ScaffoldEnv.step_controls``), which judges, records and
resets as its own ``step`` does, so success is the env's episode success at the last step, as in
evaluation. Each episode's plans (``ScaffoldEnv.episode_plans``) go over once, when it starts.
Nothing else passes between the two. The link between them may add noise to what is sent and
delay the targets by whole control steps (``CommandDelay``, primed with the start pose).

The same states are then rolled out inside the simulator with the torch policy
(``evaluation.evaluate``): without noise and delay the two must agree, and the report sets
their success rates side by side with the runtime's per-step latency.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from keyscaffold.deploy.serve import RuntimeProcess
from keyscaffold.evaluation.evaluate import evaluate
from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.planning.plan import KeypointPlan, load_plan_set
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.rl.export import export_policy
from keyscaffold.rl.policy_io import PolicyIO
from keyscaffold.rl.run_folder import load_run_config
from keyscaffold.sim.randomization import CommandDelay
from keyscaffold.tasks import make_task
from keyscaffold.util import atomic_write_text

REPORT_FILE = "deploy_sim.json"
VELOCITY_NOISE = 10.0
"""Joint velocity noise per unit of position noise, as the env's observation noise has it."""


def deploy_sim(
    run: Path,
    out: Path,
    episodes: int = 10,
    plans_dir: Path | None = None,
    which: str = "best",
    seed: int = 0,
    observation_noise: float = 0.0,
    action_delay: int = 0,
    command: str = "",
) -> dict:
    """Run a run's exported policy against the simulator from another process, and compare it
    with the in-simulator evaluation of the same checkpoint on the same states.

    Args:
        run: A run folder of ``keyscaffold train``.
        out: Folder of the report (``deploy_sim.json``), the export (``export/``) and the
            in-simulator evaluation (``in_simulator/eval.json``).
        episodes: Episodes, one per state, run side by side.
        plans_dir: A plan set whose first ``episodes`` plans give the states; default: oracle
            plans of the task's test split.
        which: The checkpoint (``best``, ``latest``, ``final``).
        seed: Seed of the test split's states and of the start noise.
        observation_noise: Standard deviation of Gaussian noise on the joint positions (m, rad)
            and keypoints (m) the simulator sends; ten times it on the joint velocities.
        action_delay: Control steps between a target's arrival and its application; the robot
            holds its start pose until the first one applies.
        command: The command line, recorded in the report.

    Returns:
        The report written to ``out/deploy_sim.json``.
    """
    if episodes < 1 or action_delay < 0 or observation_noise < 0:
        raise ValueError(
            "--episodes must be at least 1 and --action-delay and --observation-noise at least "
            f"0; got {episodes}, {action_delay} and {observation_noise}"
        )
    run, out = Path(run), Path(out)
    task = make_task(PolicyIO.load(run).task)
    plans = _plans(task, plans_dir, episodes, seed)
    files = export_policy(run, which, out / "export")
    in_sim = evaluate(
        task,
        plans,
        run,
        out / "in_simulator",
        seed=seed,
        media=False,
        show_progress=False,
        checkpoint=which,
    )
    config = load_run_config(run).env.for_evaluation(len(plans))
    env = ScaffoldEnv(task, plans, config, seed=seed)
    env.assign_plans(np.arange(len(plans)))  # the states and start noise evaluate draws
    started = time.perf_counter()
    rollout = rollout_in_process(env, files["policy"].parent, observation_noise, action_delay, seed)
    seconds = time.perf_counter() - started
    report = {
        "command": command,
        "run": str(run),
        "checkpoint": which,
        "task": task.name,
        "embodiment": task.robot().name,
        "export": str(files["policy"].parent),
        "plans": str(plans_dir) if plans_dir else f"oracle, test split, seed {seed}",
        "num_episodes": len(plans),
        "observation_noise": observation_noise,
        "action_delay": action_delay,
        "separate_process": {
            **_outcome(rollout["success"], plans),
            "final_keypoints": rollout["final_keypoints"],
        },
        "in_simulator": _outcome([e["success"] for e in in_sim["episodes"]], plans),
        "runtime_process": rollout["process"],
        "latency_ms": _percentiles(rollout["step_ms"]),
        "latency_cpu_ms": _percentiles(rollout["step_cpu_ms"]),
        "message_ms": _percentiles(rollout["message_ms"]),
        "round_trip_ms": _percentiles(rollout["round_trip_ms"]),
        "rollout_seconds": seconds,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / REPORT_FILE, json.dumps(report, indent=2))
    return report


def _plans(task, plans_dir: Path | None, episodes: int, seed: int) -> list[KeypointPlan]:
    if plans_dir is None:
        return oracle_plans(task, "test", seed, episodes)
    plans = load_plan_set(plans_dir, task.name)
    if len(plans) < episodes:
        raise ValueError(f"{plans_dir} holds {len(plans)} plans, fewer than --episodes {episodes}")
    return plans[:episodes]


def rollout_in_process(
    env: ScaffoldEnv,
    folder: Path,
    noise: float = 0.0,
    delay: int = 0,
    seed: int = 0,
    cpu: int | None = None,
) -> dict:
    """One episode in every world of ``env`` from its current state, driven by a runtime
    process on the export ``folder`` (module docstring).

    Args:
        env: The worlds, reset to the episode's start, with evaluation settings (no
            termination: every episode ends at the time limit).
        folder: The export folder.
        noise: Observation noise (``deploy_sim``'s ``observation_noise``).
        delay: Action delay in control steps.
        seed: Seed of the noise.
        cpu: A CPU the runtime process is pinned to (default: any).

    Returns:
        ``success`` and ``final_keypoints`` per world, the runtime process's ``step_ms``,
        ``step_cpu_ms`` and ``message_ms`` (every call and step message, timed inside it), the simulator's
        ``round_trip_ms`` per step, and ``process`` (its pid, threads and loaded modules).
    """
    if env.config.terminate or env.episode_length_buf.any():
        raise ValueError(
            "the worlds must start an episode under evaluation settings "
            "(EnvConfig.for_evaluation, then assign_plans)"
        )
    rng = np.random.default_rng(seed + 1)
    process = RuntimeProcess(folder, env.num_envs, cpu)
    try:
        _start_episode(env, process)
        late = CommandDelay(env.num_envs, (delay, delay))
        late(env.worlds.robot_joint_state()[0])  # until the first target applies: the start pose
        round_trips = []
        for step in range(env.max_episode_length):
            message = {"type": "step", "step": step, "robots": _robot_states(env, noise, rng)}
            sent = time.perf_counter()
            robots = process.ask(message, "controls")["robots"]
            round_trips.append(1e3 * (time.perf_counter() - sent))
            controls = late(np.array([r["controls"] for r in robots]))
            env.step_controls(controls, np.array([r["action"] for r in robots]))
    except BaseException:
        process.kill()
        raise
    report = process.close()
    return {
        "success": [bool(s) for s in env.last_episode["success"]],
        "final_keypoints": env.final_keypoints.tolist(),
        "step_ms": report["step_ms"],
        "step_cpu_ms": report["step_cpu_ms"],
        "message_ms": report["message_ms"],
        "round_trip_ms": round_trips,
        "process": {
            "pid": report["pid"],
            "simulator_pid": os.getpid(),
            "threads": process.hello["threads"],
            "modules": report["modules"],
        },
    }


def _start_episode(env: ScaffoldEnv, process: RuntimeProcess) -> None:
    """Send every robot its episode's plan, as the env's policy sees it."""
    if int(process.hello["episode_steps"]) != env.max_episode_length:
        raise ValueError(
            f"the export's episodes last {process.hello['episode_steps']} control steps, the "
            f"simulator's {env.max_episode_length}"
        )
    keypoints, wrist = env.episode_plans()
    episode = [{"keypoints": k.tolist(), "wrist": w.tolist()} for k, w in zip(keypoints, wrist)]
    process.ask({"type": "episode", "plans": episode}, "episode")


def _robot_states(env: ScaffoldEnv, noise: float, rng: np.random.Generator) -> list[dict]:
    """What every robot measures now (``ScaffoldEnv.measure``), with ``noise`` (module
    docstring), as message data."""
    positions, velocities, keypoints = env.measure()
    if noise > 0:
        positions = positions + rng.normal(0.0, noise, positions.shape)
        velocities = velocities + rng.normal(0.0, VELOCITY_NOISE * noise, velocities.shape)
        keypoints = keypoints + rng.normal(0.0, noise, keypoints.shape)
    return [
        {
            "joint_positions": positions[i].tolist(),
            "joint_velocities": velocities[i].tolist(),
            "keypoints": keypoints[i].tolist(),
        }
        for i in range(env.num_envs)
    ]


def _outcome(success: list[bool], plans: list[KeypointPlan]) -> dict:
    count = int(sum(success))
    low, high = wilson_interval(count, len(success))
    return {
        "success_rate": count / len(success),
        "success_ci95": [low, high],
        "successes": count,
        "episodes": [{"plan_id": p.plan_id, "success": bool(s)} for p, s in zip(plans, success)],
    }


def _percentiles(milliseconds: list[float]) -> dict:
    """Median, 95th and 99th percentile, mean and largest of a list of times (ms)."""
    values = np.asarray(milliseconds, dtype=np.float64)
    if values.size == 0:
        return {"count": 0}
    return {
        "count": int(values.size),
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "p99": float(np.percentile(values, 99)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }
