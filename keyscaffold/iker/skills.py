"""IKER skills: a stage's goal for the keypoint env, its PPO policy, and executing it in one world.

A *skill* is what one trained policy can do: move a given object of a task, in a given mode
(``grasp`` or ``push``), with any number of keypoints up to the env's ``keypoint_slots``. ``skill_key`` names it; the IKER loop trains a skill once per run folder and reuses the
policy when a later stage asks for the same skill with new targets (the policy observes its
targets, so it is goal-conditioned).

``execute`` runs a policy deterministically to the end of one episode in every world of a
``KeypointEnv`` without the time-out reset, so the final simulator state can be read; then the
gripper lets go (jaws open in grasp mode) and lifts a little while the scene settles.
``world_state`` reads a world back into an ``InitialState`` for the next stage.

``ideal_placement`` is the stage a perfect skill would execute: the object moved rigidly to the
pose that best fits its keypoints onto their targets. The IKER loop's ideal execution uses it to
check a plan without training and to give a skill library the scenes that later stages start from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import mujoco
import numpy as np
import torch
from rich.progress import Progress

from keyscaffold.geometry import kabsch, yaw_rotation
from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.iker.stage import StageSpec
from keyscaffold.rl.checkpoints import load_policy
from keyscaffold.rl.config import TrainConfig
from keyscaffold.rl.keypoint_env import KeypointEnv, KeypointEnvConfig, KeypointGoal
from keyscaffold.rl.rollout import Validator
from keyscaffold.rl.run_folder import checkpoint_file
from keyscaffold.rl.train import train_env
from keyscaffold.sim.batch import BatchedWorlds
from keyscaffold.sim.embodiments.gripper import (
    FINGER_HALF,
    FINGERTIP_BELOW_TCP,
    PAD_CENTER_DEPTH,
    PALM_HALF,
)
from keyscaffold.sim.scene import subtree_bodies
from keyscaffold.sim.surface import body_surface_samples
from keyscaffold.tasks.base import InitialState, Task, TaskMonitor
from keyscaffold.util import path_part

SETTLE_STEPS = 45
"""Control steps after an episode in which the gripper lets go and the scene comes to rest."""
RELEASE_LIFT = 0.05
"""How far the wrist rises while the scene settles after an episode (m)."""
IDEAL_CLEARANCE = 0.1
"""Ideal placement: the tool centre point ends this far above the moved grasp point and above
the moved object's top (m)."""
PUSH_FINGERTIP_CLEARANCE = 0.01
"""Push pose: the fingertips' height above the pushed object's lowest point (m)."""
PUSH_GAP = 0.01
"""Push pose: the gap between the closed gripper and the object's back before the push (m)."""


def fixture_bodies(task: Task) -> list[str]:
    """The task's fixture bodies (``IkerTask.fixture_bodies``; else its static scene objects)."""
    fixtures = getattr(task, "fixture_bodies", None)
    if fixtures is not None:
        return list(fixtures())
    return [obj.name for obj in task.scene_objects() if not obj.movable]


def skill_key(task: str, spec: StageSpec) -> str:
    """``<task>/<object>/<mode>``: stages with the same key can share one policy (it observes its
    keypoints and targets, in as many slots as the env has)."""
    return f"{task}/{spec.object}/{spec.mode}"


def skill_folder(library: Path, key: str) -> Path:
    """The run folder of skill ``key`` in a skill library: ``<library>/<task>__<object>__<mode>``
    (as a path part, ``util.path_part``: a scene task's ``scene:mug`` gives ``scene-mug__...``)."""
    return Path(library) / path_part(key.replace("/", "__"))


def library_skill(library: Path, key: str) -> Path | None:
    """The library's finished training run for skill ``key``, or ``None`` when it has none."""
    folder = skill_folder(library, key)
    return folder if (folder / "checkpoints" / "final.pt").exists() else None


def keypoints_local(spec: StageSpec, candidates: CandidateSet) -> np.ndarray:
    """The stage's chosen candidates in their object's body frame (m), shape: (K, 3).

    Raises:
        ValueError: A chosen candidate is missing or lies on another body (a spec that was not
            checked against these candidates).
    """
    chosen = []
    for number in spec.keypoints:
        if not 0 <= number < len(candidates):
            raise ValueError(f"keypoint {number} is not among the {len(candidates)} candidates")
        candidate = candidates.candidates[number]
        if candidate.body != spec.object:
            raise ValueError(f"keypoint {number} lies on {candidate.body!r}, not {spec.object!r}")
        chosen.append(np.asarray(candidate.local, dtype=np.float64))
    return np.array(chosen).reshape(-1, 3)


def grasp_local(task: Task, spec: StageSpec, local: np.ndarray) -> tuple[float, float, float]:
    """Nominal grasp point in the object's frame (m): the task's hint in grasp mode
    (``IkerTask.grasp_hint``), else the centroid of the chosen keypoints ``local`` (K, 3)."""
    hint = getattr(task, "grasp_hint", None)
    point = hint(spec.object) if spec.mode == "grasp" and hint is not None else None
    if point is None:
        point = np.asarray(local, dtype=np.float64).mean(axis=0)
    return tuple(float(v) for v in point)


def grasp_angles(
    task: Task, spec: StageSpec, state: InitialState
) -> tuple[float, float, float] | None:
    """Wrist hinge angles of the heuristic grasp (``IkerTask.grasp_angles``) in grasp mode, or
    None (the wrist keeps its angles)."""
    angles = getattr(task, "grasp_angles", None)
    if spec.mode != "grasp" or angles is None:
        return None
    return angles(spec.object, state.objects[spec.object])


def push_pose(
    task: Task, body: str, state: InitialState, local: np.ndarray, targets: np.ndarray
) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
    """Where the closed gripper starts a push (the heuristic pre-push pose), or None.

    The push direction is the horizontal line from the chosen keypoints' centroid to their
    targets' centroid. The tool centre point is put behind the object on that line through the
    object's centre, low (the fingertips ``PUSH_FINGERTIP_CLEARANCE`` above the object's lowest
    point) and ``PUSH_GAP`` short of touching: the fingers clear the object's back at their
    heights and the palm clears it at its heights. The wrist is turned so that the gripper's x
    axis points along the push (the palm's broad side leads).

    Args:
        task: The task (its model gives the object's surface).
        body: The pushed object.
        state: The scene the stage starts from.
        local: The chosen keypoints in the object's frame, shape: (K, 3).
        targets: Their world targets (m), shape: (K, 3).

    Returns:
        The tool centre point's start in the object's body frame (m) and the wrist hinge angles
        (rad); None when the targets lie straight above or below the keypoints.
    """
    pose = np.asarray(state.objects[body], dtype=np.float64)
    rotation = np.zeros(9)
    mujoco.mju_quat2Mat(rotation, pose[3:])
    rotation = rotation.reshape(3, 3)
    keypoints = np.asarray(local, dtype=np.float64) @ rotation.T + pose[:3]
    direction = np.asarray(targets, dtype=np.float64).mean(0) - keypoints.mean(0)
    direction[2] = 0.0
    if np.linalg.norm(direction) < 1e-6:
        return None
    direction /= np.linalg.norm(direction)
    surface = body_surface_samples(_task_model(task), body)[0] @ rotation.T + pose[:3]
    centre = surface.mean(0)
    tcp_height = surface[:, 2].min() + PUSH_FINGERTIP_CLEARANCE + FINGERTIP_BELOW_TCP
    behind = (centre - surface) @ direction  # how far each surface point lies behind the centre
    palm_level = surface[:, 2] >= tcp_height + PAD_CENTER_DEPTH
    reach = max(
        behind[~palm_level].max(initial=0.0) + FINGER_HALF[0],
        behind[palm_level].max(initial=0.0) + PALM_HALF[0],
    )
    tcp = centre - (reach + PUSH_GAP) * direction
    tcp[2] = tcp_height
    start = rotation.T @ (tcp - pose[:3])
    yaw = float(np.arctan2(direction[1], direction[0]))
    return tuple(float(v) for v in start), (0.0, 0.0, yaw)


_MODELS: dict[str, mujoco.MjModel] = {}


def _task_model(task: Task) -> mujoco.MjModel:
    """The task's compiled model, built once per task name."""
    if task.name not in _MODELS:
        _MODELS[task.name] = task.build_model()
    return _MODELS[task.name]


def goal_from_spec(
    task: Task, state: InitialState, spec: StageSpec, candidates: CandidateSet
) -> KeypointGoal:
    """The keypoint-env goal of an accepted (not ``done``) stage from the scene ``state``.

    Args:
        task: The task.
        state: Where the stage starts (wrist and every movable object).
        spec: The accepted stage (``StageSpec``), checked against ``candidates``.
        candidates: The stage's numbered candidates (their body-frame positions are used).
    """
    if spec.done:
        raise ValueError("a stage that says done=True has no goal to train")
    local = keypoints_local(spec, candidates)
    targets = np.asarray(spec.targets, dtype=np.float64)
    contact, angles = grasp_local(task, spec, local), grasp_angles(task, spec, state)
    if spec.mode == "push":
        push = push_pose(task, spec.object, state, local, targets)
        if push is not None:
            contact, angles = push
    return KeypointGoal(
        initial_state=state,
        object=spec.object,
        keypoints_local=local,
        targets=targets,
        mode=spec.mode,
        grasp_local=contact,
        grasp_angles=angles,
    )


def execution_config(config: KeypointEnvConfig, num_envs: int, noise: bool) -> KeypointEnvConfig:
    """Settings of an env that executes or evaluates a policy: ``num_envs`` worlds, no
    termination (every world reaches the time limit), no lifted starts; without ``noise`` the
    worlds start exactly in their goals' states."""
    config = replace(config, num_envs=num_envs, terminate_outside=False, lift_start=0.0)
    if not noise:
        config = replace(config, init_position_noise=0.0, init_yaw_noise=0.0, grasp_noise=0.0)
    return config


def train_skill(
    task: Task,
    goals: list[KeypointGoal],
    run_dir: Path,
    train: TrainConfig,
    env_config: KeypointEnvConfig,
    seed: int = 0,
    description: dict | None = None,
    show_progress: bool = False,
    validation_goals: list[KeypointGoal] | None = None,
) -> Path:
    """Train one PPO policy on ``goals`` in a ``KeypointEnv``; returns the run folder.

    Start noise comes from ``env_config`` (``init_position_noise``, ``init_yaw_noise``,
    ``grasp_noise``); ``run_dir/config.json`` records the env settings beside ``train``. With
    ``validation_goals`` the policy runs ``train.validation_trials`` episodes of each of them
    every ``train.validation_interval`` iterations (same start noise every time, no
    termination) and the one with the best keypoint success is kept as ``checkpoints/best.pt``,
    which ``load_skill`` then uses.
    """
    env = KeypointEnv(task, goals, env_config, seed=seed)
    info = {
        "task": task.name,
        "kind": "iker",
        "goals": len(goals),
        "objects": sorted({goal.object for goal in goals}),
        "embodiment": env.robot.name,
        "action_spec": env.action_spec.name,
        "action_names": list(env.action_spec.names),
        "reward": env_config.reward,
        "keypoint_env": asdict(env_config),
        "train": asdict(train),
        **(description or {}),
    }
    validator = None
    if validation_goals and train.validation_interval > 0:
        trials = train.validation_trials
        config = execution_config(env_config, len(validation_goals) * trials, noise=True)
        validation_env = KeypointEnv(task, validation_goals, config, seed=seed + 1)
        validator = Validator(validation_env, len(validation_goals), trials, seed=seed + 1)
        info["validation"] = {"goals": len(validation_goals), "episodes": validator.num_episodes}
    train_env(env, Path(run_dir), train, info, show_progress=show_progress, validator=validator)
    return Path(run_dir)


def load_skill(run_dir: Path, env: KeypointEnv, which: str = "best") -> Callable:
    """The deterministic policy of a skill's run folder for ``env``: its best validated
    checkpoint (the latest when the run kept none), or ``which`` (``latest``, ``final``)."""
    return load_policy(checkpoint_file(Path(run_dir), which), env)


def _release(
    env: KeypointEnv, steps: int, on_step: Callable[[], None] | None, lift: float = RELEASE_LIFT
) -> None:
    """Let go and settle: the wrist holds still for half the steps (jaws opening in grasp
    mode), then rises by ``lift``."""
    worlds, controller, robot = env.worlds, env.controller, env.robot
    hold = controller.wrist_pose()
    raised = hold.copy()
    raised[:, 2] = np.minimum(raised[:, 2] + lift, env.workspace_high[2])
    jaws = np.where(env.grasp_mode[:, None], robot.open_pose(), robot.closed_pose())
    for step in range(steps):
        target = hold if step < steps // 2 else raised
        worlds.step(controller.controls(target, jaws))
        worlds.check_finite()
        if on_step is not None:
            on_step()


def execute(
    env: KeypointEnv,
    policy: Callable,
    settle_steps: int = SETTLE_STEPS,
    monitor: TaskMonitor | None = None,
    on_step: Callable[[], None] | None = None,
    show_progress: bool = False,
) -> dict[str, np.ndarray]:
    """One deterministic episode of ``policy`` in every world from the env's current state, then
    the release; the worlds keep their final state (no reset).

    Args:
        env: A keypoint env without termination (``execution_config``).
        policy: Observations -> actions, shape: (num_envs, 6).
        settle_steps: Control steps of the release after the episode.
        monitor: The task's own judge on ``env.worlds``, updated after every control step.
        on_step: Called after every control step (e.g. to record video frames).
        show_progress: Progress bar over the episode.

    Returns:
        Per world, shape (num_envs,): ``episode_distance`` and ``episode_success`` (mean
        keypoint distance and < 5 cm, at the episode's last step), ``outside`` (the object left
        the workspace), ``final_distance`` and ``final_success`` (after the release), and with a
        monitor ``task_success`` (the task's ``evaluate`` at the very end) and
        ``task_metrics`` (its other per-world values then, by name).
    """
    if env.config.terminate_outside:
        raise ValueError("execute needs an env without termination; see execution_config")
    steps = env.max_episode_length

    def after_step() -> None:
        if monitor is not None:
            monitor.update()
        if on_step is not None:
            on_step()

    obs = env.get_observations()
    progress = Progress(disable=not show_progress)
    try:
        with progress, torch.inference_mode():
            bar = progress.add_task("execute", total=steps)
            for step in range(steps):
                if step == steps - 1:
                    env.max_episode_length = steps + 1  # no time-out reset: keep the final state
                obs, _, _, _ = env.step(policy(obs))
                after_step()
                progress.advance(bar)
    finally:
        env.max_episode_length = steps
    position, _ = env.object_pose()
    result = {
        "episode_distance": env.keypoint_distance().copy(),
        "episode_success": env.success().copy(),
        "outside": env.outside_workspace(position),
    }
    _release(env, settle_steps, after_step)
    result["final_distance"] = env.keypoint_distance().copy()
    result["final_success"] = env.success().copy()
    if monitor is not None and monitor.result:
        result["task_success"] = monitor.result["success"].copy()
        result["task_metrics"] = {
            name: np.asarray(values, dtype=np.float64).copy()
            for name, values in monitor.result.items()
            if name != "success" and np.shape(values) == (env.num_envs,)
        }
    return result


def world_state(task: Task, worlds: BatchedWorlds, world: int, seed: int) -> InitialState:
    """World ``world`` of ``worlds`` as an ``InitialState``: wrist pose, every movable object's
    free-joint pose (unit quaternion) and the object joints (clipped to their ranges)."""
    wrist = task.robot().controller(worlds).wrist_pose()[world]
    objects = {
        name: tuple(float(v) for v in worlds.free_pose(name)[world])
        for name in task.movable_objects()
    }
    joints = {}
    for name, bounds in worlds.index.joint_range.items():
        value = float(worlds.joint_position(name)[world])
        joints[name] = value if bounds is None else float(np.clip(value, *bounds))
    return InitialState(seed, tuple(float(v) for v in wrist), objects, joints)


def planar_fit(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares turn about z and shift in x/y taking points ``source`` onto ``target``
    (what a push can do to an object sliding on its support): R s + t ~ t', t[2] = 0.

    Args:
        source: Shape: (K, 3).
        target: Shape: (K, 3).

    Returns:
        rotation about z, shape: (3, 3); translation, shape: (3,).
    """
    a = source[:, :2] - source[:, :2].mean(axis=0)
    b = target[:, :2] - target[:, :2].mean(axis=0)
    yaw = np.arctan2(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]), np.sum(a * b))
    rotation = yaw_rotation(float(yaw))
    shift = target.mean(axis=0) - rotation @ source.mean(axis=0)
    shift[2] = 0.0
    return rotation, shift


def ideal_placement(
    task: Task, worlds: BatchedWorlds, goal: KeypointGoal, world: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Where a perfect skill would leave the goal's object and the wrist, from the state world
    ``world`` of ``worlds`` holds (its positions computed, as after a reset).

    The object turns and moves rigidly by the Kabsch fit of its keypoints onto the targets; a
    pushed object (``mode="push"``) slides on its support, so only its heading and its place in
    x/y change (``planar_fit``): targets that ask a push to lift or tilt it cannot be met. The
    wrist keeps its hinge angles and moves so that the tool centre point is ``IDEAL_CLEARANCE``
    above the moved grasp point and above the moved object's top (``moved_top``; kept inside the
    task's workspace box), as after a release and a lift: open jaws left beside a standing object
    would knock it while the scene settles.

    Returns:
        The object's free-joint pose, shape: (7,); the wrist pose, shape: (6,).
    """
    position = worlds.body_position(goal.object)[world].astype(np.float64)
    rotation = worlds.body_rotation(goal.object)[world].astype(np.float64)
    keypoints = position + goal.keypoints_local @ rotation.T
    if goal.mode == "push":
        turn, shift = planar_fit(keypoints, np.asarray(goal.targets, dtype=np.float64))
    else:
        turns, shifts = kabsch(keypoints[None], goal.targets[None])
        turn, shift = turns[0], shifts[0]
    moved_rotation = turn @ rotation
    moved_position = turn @ position + shift
    quaternion = np.empty(4)
    mujoco.mju_mat2Quat(quaternion, moved_rotation.ravel())
    controller = task.robot().controller(worlds)
    tcp = controller.tcp_pose()[0][world]
    grasp = moved_position + moved_rotation @ np.asarray(goal.grasp_local)
    wanted = grasp.copy()
    wanted[2] = max(grasp[2], moved_top(worlds, goal.object, world, turn, shift)) + IDEAL_CLEARANCE
    wanted = np.clip(wanted, task.workspace_low, task.workspace_high)
    wrist = controller.wrist_pose()[world]
    wrist[:3] += wanted - tcp
    return np.concatenate([moved_position, quaternion]), wrist


def moved_top(
    worlds: BatchedWorlds, body: str, world: int, turn: np.ndarray, shift: np.ndarray
) -> float:
    """Height of the highest point of the object ``body`` (its geoms' bounding spheres, parts
    below it included) once world ``world``'s object is turned by ``turn`` (3, 3) about the
    world's origin and moved by ``shift`` (3,) (m)."""
    model = worlds.model
    data = worlds.world_data(world)
    ids = [model.body(name).id for name in subtree_bodies(model, [body])]
    geoms = np.flatnonzero(np.isin(model.geom_bodyid, ids))
    centers = data.geom_xpos[geoms] @ turn.T + shift
    return float(np.max(centers[:, 2] + model.geom_rbound[geoms]))
