"""The IKER loop: look, write a stage's code, train a policy for it, execute, look again.

``run_iker`` solves one initial state of a gripper task stage by stage (SPEC section 6). Each stage:

1. renders the task camera at the current scene state and proposes numbered candidate keypoints
   on the movable objects and the fixtures (``keypoints.propose``);
2. gets the stage's ``get_interaction_data`` code, from the task's oracle or a vision-language
   model, through ``codegen.CodeWork`` (sandbox, contract check, typed failures; the multi-step
   prompt shows every earlier stage's picture, code and outcome);
3. stops when the code says ``done`` (or after the only stage in single-step mode); a stage
   whose code failed (after ``repairs``) is recorded with its typed failure and, in multi-step
   mode, asked again on the same scene with the failure in the history, as is a stage whose
   execution missed (step 5); the run ends after ``stage_retries + 1`` failures in a row or at
   the stage limit (the loop never raises for bad code);
4. otherwise turns the spec into a ``KeypointGoal`` (the chosen candidates' body-frame positions
   and their targets) and trains a PPO policy on it in a ``KeypointEnv`` with randomized starts,
   or reuses the policy of an earlier stage of this run with the same skill
   (``skills.skill_key``: task, object and mode), or the library's policy for that skill (a
   ``skills`` folder that ``keyscaffold.iker.library`` trained on many scenes);
5. executes the policy deterministically in one world from the current state, lets go, settles,
   reads the scene back as the next stage's state and reports the outcome (keypoint success:
   mean distance < 5 cm after the release) to the code work; with ``execution="ideal"`` nothing
   is trained: the object is moved to where its targets put it (``skills.ideal_placement``) and
   the scene settles, which checks a plan and gives a skill library its scenes;
6. optionally perturbs the scene (one movable object moved up to ``perturb`` m in x/y, then
   settled) before the next stage looks at it.

The task's own ``evaluate`` runs after every simulated control step of the run, carried from
stage to stage, so its verdict at the end (``success`` in ``iker.json``) judges the whole run.

Run folder::

    iker.json                 task, settings, success (task's own), stage_success, stages,
                              failure, skills, command, provenance, timing; written before
                              any picture and again after every stage
    stages.png                the stages' pictures in a strip, each titled with its outcome
    codegen/                  the CodeWork folder (requests, answers, code, specs, outcomes)
    stage_<i>/
        scene.png             the numbered candidates the code was written for
        code.py               the stage's code (when any was extracted)
        state_start.json      InitialState the stage started from
        targets.json          spec, skill key, keypoints in the object frame, grasp point and angles
        policy/               the policy's training run (train_env), or
        policy.json           {"reused_from": "stage_<j>/policy", "skill": ...}
        outcome.json          what executing it did (also kept by the code work)
        state_end.json        InitialState after the release (and the perturbation, if any)
        rollout.mp4           the execution (with ``video=True``)
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from keyscaffold.evaluation.media import plt, write_video
from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.iker.code_settings import PROMPT_VERSION, CodeSettings
from keyscaffold.iker.codegen import CodeWork
from keyscaffold.iker.keypoints import propose
from keyscaffold.iker.skills import (
    SETTLE_STEPS,
    execute,
    execution_config,
    fixture_bodies,
    goal_from_spec,
    ideal_placement,
    library_skill,
    load_skill,
    skill_key,
    train_skill,
    world_state,
)
from keyscaffold.iker.stage import StageSpec
from keyscaffold.iker.stage_code import with_target_noise
from keyscaffold.provenance import provenance
from keyscaffold.rl.keypoint_env import (
    KeypointEnv,
    KeypointEnvConfig,
    KeypointGoal,
    outside_workspace,
)
from keyscaffold.rl.keypoint_rewards import SUCCESS_DISTANCE, mean_keypoint_distance
from keyscaffold.rl.train import TrainConfig, profile_config
from keyscaffold.sim.batch import BatchedWorlds, SimulationDiverged
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import InitialState, Task, TaskMonitor
from keyscaffold.util import atomic_write_text
from keyscaffold.vlm.client import VLMClient, VLMConfig

PLANNERS = ("oracle", "vlm")
"""Where stage code comes from: the task's oracle (offline) or a vision-language model."""
EXECUTIONS = ("policy", "ideal")
"""How an accepted stage is carried out: a trained (or reused) PPO policy, or the ideal placement
of the object at its targets (no training)."""
RESULT_FILE = "iker.json"
EXECUTION_FAILURES = ("missed_targets", "left_workspace", "simulation_diverged")
"""Failure types of an executed stage (beside the code failures of ``stage_code.FAILURE_KINDS``)
and of the loop itself: ``request_failed`` (the model's answer did not arrive)."""
VIDEO_SIZE = 320
VIDEO_EVERY = 2


class _Judge:
    """The task's ``evaluate`` with its per-world buffers carried from world set to world set
    (every stage executes in a new env of one world)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.state: dict[str, np.ndarray] | None = None
        self.step = 0
        self.result: dict[str, np.ndarray] = {}

    def monitor(self, worlds: BatchedWorlds) -> TaskMonitor:
        """A monitor on ``worlds`` (one world) that continues where the last one stopped."""
        monitor = TaskMonitor(self.task, worlds)
        if self.state is not None:
            monitor.state = self.state
            monitor.step[:] = self.step
        return monitor

    def keep(self, monitor: TaskMonitor) -> None:
        self.state, self.step = monitor.state, int(monitor.step[0])
        if monitor.result:
            self.result = monitor.result

    @property
    def success(self) -> bool | None:
        return None if not self.result else bool(self.result["success"][0])


PERTURB_TRIES = 8
"""Draws of a perturbation before the last one is kept (see ``_perturb``)."""


def perturb_state(
    task: Task, state: InitialState, distance: float, rng: np.random.Generator
) -> tuple[InitialState, dict]:
    """Move one movable object (drawn by ``rng``) in x and y by ``distance / 2``..``distance`` m
    in a random direction, kept inside the task's workspace.

    Returns:
        The moved state and the record: ``object``, ``offset`` (dx, dy actually applied, m),
        ``before`` and ``after`` (the object's free-joint poses, (7,) each).
    """
    names = task.movable_objects()
    name = names[int(rng.integers(len(names)))]
    angle = rng.uniform(0.0, 2.0 * np.pi)
    length = rng.uniform(0.5, 1.0) * distance
    before = np.array(state.objects[name], dtype=np.float64)
    after = before.copy()
    after[:2] += length * np.array([np.cos(angle), np.sin(angle)])
    after[:2] = np.clip(after[:2], task.workspace_low[:2], task.workspace_high[:2])
    moved = replace(state, objects={**state.objects, name: tuple(float(v) for v in after)})
    record = {
        "object": name,
        "offset": (after[:2] - before[:2]).tolist(),
        "before": before.tolist(),
        "after": after.tolist(),
    }
    return moved, record


class _Run:
    """One IKER run in a folder: the task, its model, renderer and judge, the code work."""

    def __init__(
        self,
        task: Task,
        out: Path,
        work: CodeWork,
        client: Any,
        seed: int,
        train: TrainConfig,
        env_config: KeypointEnvConfig,
        image_size: int,
        settle_steps: int,
        video: bool,
        show_progress: bool,
        execution: str = "policy",
        library: Path | None = None,
    ) -> None:
        self.task, self.out, self.work, self.client, self.seed = task, out, work, client, seed
        self.execution, self.library = execution, library
        self.train, self.env_config = train, env_config
        self.settle_steps, self.video, self.show_progress = settle_steps, video, show_progress
        physics = env_config.physics
        self.model = task.build_model(physics)
        self.renderer = SceneRenderer(self.model, image_size, image_size, quality=True)
        self.settle_worlds = task.make_worlds(self.model, 1, 1, physics.substeps)
        self.judge = _Judge(task)
        self.objects, self.fixtures = task.movable_objects(), fixture_bodies(task)
        self.skills: dict[str, str] = {}
        """Skill key -> policy run folder, relative to ``out``."""
        self.frames: list[np.ndarray] = []
        """Video frames of the last execution, written after its results."""

    def close(self) -> None:
        self.renderer.close()

    # ----------------------------------------------------------------------------- scene
    def look(self, state: InitialState) -> CandidateSet:
        """Render the task camera at ``state`` and propose the numbered candidates."""
        data = self.task.state_data(self.model, state)
        frame = self.renderer.frame(data, self.task.camera.name)
        return propose(self.model, data, frame, self.objects, self.fixtures)

    def _put(self, state: InitialState) -> BatchedWorlds:
        """The one-world settle model at ``state`` (jaws open), positions computed."""
        worlds = self.settle_worlds
        robot = self.task.robot()
        robot.controller(worlds).reset(
            np.array([0]),
            np.array([state.wrist], dtype=np.float64),
            robot.open_pose(),
            {name: np.array([pose]) for name, pose in state.objects.items()},
            {name: np.array([value]) for name, value in state.joints.items()},
        )
        return worlds

    def settle(self, state: InitialState, steps: int) -> InitialState:
        """Let the scene at ``state`` rest ``steps`` control steps (wrist held, jaws open)."""
        worlds = self._put(state)
        wrist = np.array([state.wrist], dtype=np.float64)
        robot = self.task.robot()
        controls = robot.controller(worlds).controls(wrist, robot.open_pose())
        monitor = self.judge.monitor(worlds)
        for _ in range(steps):
            worlds.step(controls)
            worlds.check_finite()
            monitor.update()
        self.judge.keep(monitor)
        return world_state(self.task, worlds, 0, state.seed)

    # ----------------------------------------------------------------------------- a stage
    def policy_for(
        self, index: int, key: str, goal: KeypointGoal, folder: Path
    ) -> tuple[str, bool, float]:
        """The policy run folder (relative to ``out``) of a stage's skill, whether it was reused,
        and the training time (s)."""
        if key not in self.skills and self.library is not None:
            found = library_skill(self.library, key)
            if found is not None:
                self.skills[key] = str(found.resolve())
        if key in self.skills:
            reused = self.skills[key]
            pointer = {"reused_from": reused, "skill": key}
            atomic_write_text(folder / "policy.json", json.dumps(pointer, indent=2))
            return reused, True, 0.0
        start = time.perf_counter()
        run_dir = folder / "policy"
        config = replace(self.train, seed=self.train.seed + index)
        train_skill(
            self.task,
            [goal],
            run_dir,
            config,
            self.env_config,
            seed=self.seed * 1000 + index,
            description={"skill": key, "stage": index},
            show_progress=self.show_progress,
            validation_goals=[goal],
        )
        relative = str(run_dir.relative_to(self.out))
        self.skills[key] = relative
        return relative, False, time.perf_counter() - start

    def execute(
        self, goal: KeypointGoal, policy_dir: str, folder: Path
    ) -> tuple[dict, InitialState]:
        """Run the stage's policy from its start in one world; returns the per-world results of
        ``skills.execute`` (world 0, as plain values) and the state after the release; with
        ``video`` the frames wait in ``frames`` for ``write_video``."""
        config = execution_config(self.env_config, num_envs=1, noise=False)
        env = KeypointEnv(self.task, [goal], config, seed=self.seed)
        policy = load_skill(self.out / policy_dir, env)
        monitor = self.judge.monitor(env.worlds)
        frames: list[np.ndarray] = []
        on_step, renderer = None, None
        if self.video:
            renderer = SceneRenderer(env.worlds.model, VIDEO_SIZE, VIDEO_SIZE, quality=False)
            data = mujoco.MjData(env.worlds.model)

            def on_step() -> None:
                if monitor.step[0] % VIDEO_EVERY == 0:
                    env.worlds.world_data(0, data)
                    frames.append(renderer.rgb(data, self.task.camera.name))

        try:
            result = execute(
                env,
                policy,
                self.settle_steps,
                monitor=monitor,
                on_step=on_step,
                show_progress=self.show_progress,
            )
        finally:
            if renderer is not None:
                renderer.close()
        self.judge.keep(monitor)
        self.frames = frames
        metrics = result.pop("task_metrics", {})
        values = {key: value[0].item() for key, value in result.items()}
        values["task_metrics"] = {name: float(value[0]) for name, value in metrics.items()}
        return values, world_state(self.task, env.worlds, 0, self.seed)

    def place(self, goal: KeypointGoal) -> tuple[dict, InitialState]:
        """Ideal execution of ``goal`` from its start: the object moved to the pose that fits its
        keypoints onto the targets, the wrist above it, then the scene settles. Returns the
        values ``execute`` gives (world 0) and the settled state."""
        worlds = self._put(goal.initial_state)
        pose, wrist = ideal_placement(self.task, worlds, goal)
        state = goal.initial_state
        placed = replace(
            state,
            wrist=tuple(float(v) for v in wrist),
            objects={**state.objects, goal.object: tuple(float(v) for v in pose)},
        )

        def distance(worlds: BatchedWorlds) -> float:
            position = worlds.body_position(goal.object)[0]
            rotation = worlds.body_rotation(goal.object)[0]
            keypoints = position + goal.keypoints_local @ rotation.T
            return float(mean_keypoint_distance(keypoints[None], goal.targets[None])[0])

        placed_distance = distance(self._put(placed))
        settled = self.settle(placed, self.settle_steps)
        final = distance(self.settle_worlds)
        position = np.asarray(settled.objects[goal.object][:3])
        margin = self.env_config.workspace_margin
        values = {
            "episode_distance": placed_distance,
            "episode_success": placed_distance < SUCCESS_DISTANCE,
            "outside": bool(outside_workspace(self.task, position, margin)),
            "final_distance": final,
            "final_success": final < SUCCESS_DISTANCE,
            "task_success": self.judge.success,
        }
        return values, settled

    def write_video(self, folder: Path) -> None:
        """``folder/rollout.mp4`` of the last execution's frames (none: nothing is written)."""
        frames, self.frames = self.frames, []
        if frames:
            try:
                write_video(frames, folder / "rollout.mp4", fps=30)
            except Exception as error:  # a video must never cost the run its results
                warnings.warn(f"rollout video skipped: {error}", stacklevel=2)


def _state_json(state: InitialState) -> str:
    return json.dumps(state.to_json(), indent=2)


def _stage_title(record: dict) -> str:
    """Two lines under a stage's picture in ``stages.png``."""
    head = f"stage {record['stage']}"
    if record.get("done"):
        return f"{head}: done"
    if record.get("object") is None:
        return f"{head}: failed\n{record.get('failure')}"
    verdict = "success" if record.get("success") else "no success"
    distance = record.get("final_distance")
    distance = "" if distance is None else f", {distance:.3f} m"
    reused = " (reused)" if record.get("reused_policy") else ""
    return f"{head}: {record['mode']} {record['object']}{reused}\n{verdict}{distance}"


def draw_stages(out: Path, summary: dict) -> Path | None:
    """``stages.png``: each stage's picture with its outcome, left to right; None if no stage
    has a picture."""
    pictures = [(r, out / f"stage_{r['stage']}" / "scene.png") for r in summary["stages"]]
    pictures = [(r, path) for r, path in pictures if path.exists()]
    if not pictures:
        return None
    fig, axes = plt.subplots(1, len(pictures), figsize=(3.4 * len(pictures), 3.9), squeeze=False)
    for ax, (record, path) in zip(axes[0], pictures):
        ax.imshow(plt.imread(path))
        ax.set_title(_stage_title(record), fontsize=9)
        ax.axis("off")
    verdict = {True: "task succeeded", False: "task not succeeded", None: "task not judged"}
    fig.suptitle(f"{summary['task']} ({summary['planner']}): {verdict[summary['success']]}")
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.93))
    path = out / "stages.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def resume_iker(task_name: str, out: Path, **settings) -> dict:
    """The finished IKER run in ``out`` (its ``iker.json`` read back), or ``run_iker(task_name,
    out, **settings)``; an interrupted run found there is removed and started again."""
    out = Path(out)
    result = out / RESULT_FILE
    if result.exists():
        summary = json.loads(result.read_text())
        if "total_s" in summary.get("timing", {}) and "error" not in summary:
            return summary
    if out.exists():
        shutil.rmtree(out)
    return run_iker(task_name, out, **settings)


def run_iker(
    task_name: str,
    out: Path,
    planner: str = "oracle",
    vlm: VLMConfig | None = None,
    minutes_per_stage: float = 10.0,
    seed: int = 0,
    multi_step: bool | None = None,
    max_stages: int = 6,
    perturb: float = 0.0,
    train: TrainConfig | None = None,
    env_config: KeypointEnvConfig | None = None,
    repairs: int = 1,
    image_size: int = 512,
    settle_steps: int = SETTLE_STEPS,
    video: bool = False,
    command: str = "",
    show_progress: bool = False,
    execution: str = "policy",
    skills: Path | None = None,
    stage_retries: int = 2,
    label_keypoints: bool = True,
    prompt_version: str = PROMPT_VERSION,
    target_noise: float = 0.0,
) -> dict:
    """Solve one initial state of an IKER task stage by stage; writes the run folder ``out``.

    Args:
        task_name: A registered gripper task (the IKER tasks: shoe_place, shoe_push, book_push,
            book_reorient, shoes_on_rack).
        out: The run folder (new, or empty).
        planner: ``oracle`` (the task's oracle writes each stage's code, offline) or ``vlm``.
        vlm: Endpoint, model and cache of the model (``planner="vlm"``; default ``VLMConfig()``).
        minutes_per_stage: Training wall time of each newly trained policy.
        seed: Seed of the initial state (``task.sample_initial_state``).
        multi_step: Multi-step prompt with history and ``done``; default: the task has more than
            one stage (``num_stages() > 1``).
        max_stages: Stages a multi-step run may take before it fails with ``stage_limit``.
        perturb: After each executed stage of a multi-step run that goes on, move one movable
            object by up to this far in x/y (m, seeded by ``seed`` and the stage); 0: never.
        train: PPO settings (default: the CPU profile); ``minutes`` becomes
            ``minutes_per_stage``.
        env_config: Keypoint env settings for training (start noise, reward, episode length);
            execution uses them without noise in one world.
        repairs: Times an unusable model answer is sent back with its problem.
        image_size: Width and height of the scene pictures (pixels).
        settle_steps: Control steps of the release after each execution and of the settling
            after a perturbation.
        video: Write ``stage_<i>/rollout.mp4`` of each execution.
        command: The command line to record (default: this call, spelled out).
        show_progress: Progress bars while training and executing.
        execution: ``policy`` (train or reuse a PPO policy per skill) or ``ideal`` (place the
            object at its targets; nothing is trained, see ``skills.ideal_placement``).
        skills: A skill library folder (``keyscaffold.iker.library``): a stage whose skill it
            holds reuses that policy instead of training one.
        stage_retries: Times a multi-step run asks for a failed stage again (its code unusable
            after the repairs, or its execution short of the targets) before it ends.
        label_keypoints: v2 requests list the object under every keypoint number; False hides
            that, as IKER's paper did.
        prompt_version: The code prompt's template (``v2``; ``v1`` stays selectable).
        target_noise: With the oracle planner, every target of its code is off by a uniform
            draw from [-target_noise, target_noise] m per axis (``stage_code.with_target_noise``),
            as a competent model's answer is; 0: exact.

    Returns:
        The contents of ``iker.json``.

    Raises:
        ValueError: Unknown planner, a task that is not on the gripper, bad settings.
        FileExistsError: ``out`` already holds an IKER run.
    """
    if planner not in PLANNERS:
        raise ValueError(f"unknown IKER planner {planner!r}; use one of {', '.join(PLANNERS)}")
    if perturb < 0:
        raise ValueError(f"--perturb must be a distance >= 0 (m), got {perturb}")
    if minutes_per_stage <= 0:
        raise ValueError(f"--minutes must be positive, got {minutes_per_stage}")
    if execution not in EXECUTIONS:
        raise ValueError(f"unknown execution {execution!r}; use one of {', '.join(EXECUTIONS)}")
    if target_noise and planner != "oracle":
        raise ValueError("--target-noise perturbs the oracle's answers; use --planner oracle")
    if skills is not None and not Path(skills).is_dir():
        raise ValueError(f"skill library {skills} is not a folder; build one with iker.library")
    task = make_task(task_name)
    if task.robot().name != "gripper":
        raise ValueError(
            f"IKER runs on the parallel gripper; task {task.name!r} uses {task.robot().name!r}"
        )
    if planner == "oracle" and "iker" not in task.modes:
        raise ValueError(f"task {task.name!r} has no stage oracle; use --planner vlm")
    out = Path(out)
    if (out / RESULT_FILE).exists() or (out / "codegen").exists():
        raise FileExistsError(f"{out} already holds an IKER run; pick a new --out")
    out.mkdir(parents=True, exist_ok=True)
    if multi_step is None:
        multi_step = getattr(task, "num_stages", lambda: 1)() > 1
    vlm = vlm or VLMConfig()
    train = replace(train or profile_config("cpu"), minutes=minutes_per_stage)
    env_config = env_config or KeypointEnvConfig()
    settings = CodeSettings.for_task(
        task,
        seeds=[seed],
        multi_step=multi_step,
        max_stages=max_stages,
        source=planner,
        repairs=repairs,
        stage_retries=stage_retries,
        label_keypoints=label_keypoints,
        prompt_version=prompt_version,
        **(
            {"model": vlm.model, "temperature": vlm.temperature, "max_tokens": vlm.max_tokens}
            if planner == "vlm"
            else {}
        ),
    )
    oracle = task.oracle_code if planner == "oracle" else None
    if oracle is not None and target_noise > 0:
        oracle = with_target_noise(oracle, target_noise, seed)
    work = CodeWork(out / "codegen", settings, oracle=oracle)
    client = VLMClient(vlm) if planner == "vlm" else None
    summary: dict[str, Any] = {
        "task": task.name,
        "instruction": task.instruction,
        "planner": planner,
        "seed": seed,
        "multi_step": multi_step,
        "max_stages": max_stages,
        "perturb": perturb,
        "execution": execution,
        "skill_library": None if skills is None else str(skills),
        "success": None,
        "stage_success": [],
        "done": False,
        "failure": None,
        "stages": [],
        "skills": {},
        "settings": {
            "minutes_per_stage": minutes_per_stage,
            "train": asdict(train),
            "keypoint_env": asdict(env_config),
            "image_size": image_size,
            "settle_steps": settle_steps,
            "repairs": repairs,
            "stage_retries": stage_retries,
            "label_keypoints": label_keypoints,
            "prompt_version": prompt_version,
            "target_noise": target_noise,
            **({"vlm": {"base_url": vlm.base_url, "model": vlm.model}} if planner == "vlm" else {}),
        },
        "command": command or _call_text(task.name, planner, out, seed, multi_step, perturb),
        **provenance(),
        "timing": {},
    }
    run = _Run(
        task,
        out,
        work,
        client,
        seed,
        train,
        env_config,
        image_size,
        settle_steps,
        video and execution == "policy",
        show_progress,
        execution,
        None if skills is None else Path(skills),
    )
    started = time.perf_counter()
    atomic_write_text(out / RESULT_FILE, json.dumps(summary, indent=2))
    try:
        _loop(run, summary, task.sample_initial_state(seed), perturb)
    except BaseException as error:
        summary["error"] = f"{type(error).__name__}: {error}"
        raise
    finally:
        run.close()
        summary["skills"] = dict(run.skills)
        summary["timing"]["total_s"] = time.perf_counter() - started
        # The numbers land before any picture is drawn: a picture that fails loses no result.
        atomic_write_text(out / RESULT_FILE, json.dumps(summary, indent=2))
    try:
        picture = draw_stages(out, summary)
        summary["stages_png"] = None if picture is None else picture.name
    except Exception as error:  # the strip must never cost the run its results
        warnings.warn(f"stages.png skipped: {error}", stacklevel=2)
    return summary


def _call_text(task: str, planner: str, out: Path, seed: int, multi: bool, perturb: float) -> str:
    return (
        f"run_iker({task!r}, {str(out)!r}, planner={planner!r}, seed={seed}, "
        f"multi_step={multi}, perturb={perturb})"
    )


def _loop(run: _Run, summary: dict, state: InitialState, perturb: float) -> None:
    """The stages, until done, a final failure or the stage limit; a failed stage is asked
    again (``CodeWork.fail``, ``record_outcome``); fills ``summary`` in place."""
    work, seed, out = run.work, run.seed, run.out
    timing = summary["timing"]
    for index in range(work.settings.stage_limit + 1):
        if work.waiting_for(seed) in ("done", "failed"):
            break
        folder = out / f"stage_{index}"
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "state_start.json", _state_json(state))
        start = time.perf_counter()
        candidates = run.look(state)
        work.observe(seed, index, candidates)
        (folder / "scene.png").write_bytes(
            (work.record_dir(seed) / f"code-{index}.png").read_bytes()
        )
        work.run(run.client, show_progress=run.show_progress)
        timing[f"stage_{index}_code_s"] = time.perf_counter() - start
        code = work.code(seed, index)
        if code is not None:
            atomic_write_text(folder / "code.py", code)
        record: dict[str, Any] = {
            "stage": index,
            "code": code,
            "object": None,
            "mode": None,
            "keypoints": [],
            "targets": None,
            "done": False,
            "success": None,
            "final_distance": None,
            "failure": None,
            "failure_message": None,
            "reused_policy": False,
            "policy": None,
            "skill": None,
            "perturbation": None,
        }
        summary["stages"].append(record)
        spec = work.stage_spec(seed, index)
        if spec is None:
            if _code_failed(work, seed, index, record, summary):
                break
            atomic_write_text(out / RESULT_FILE, json.dumps(summary, indent=2))
            continue  # the same scene, asked again with the failure in the history
        record.update(spec.to_json())
        if spec.done:
            summary["done"] = True
            record["success"] = None
            break
        state = _act(run, summary, record, index, spec, candidates, state, folder)
        if record["failure"] == "simulation_diverged":
            break
        if perturb > 0 and work.waiting_for(seed) == "observe":
            state = _perturb(run, record, index, state, perturb, folder)
        atomic_write_text(out / RESULT_FILE, json.dumps(summary, indent=2))
        run.write_video(folder)  # pictures after the numbers
    if work.waiting_for(seed) == "failed" and summary["failure"] is None:
        failure = work.failure(seed)  # stage_limit: recorded by the code work after an outcome
        summary["failure"] = {
            "stage": failure.stage,
            "kind": failure.kind,
            "message": failure.message,
        }
    summary["stage_success"] = [
        bool(r["success"]) for r in summary["stages"] if r["object"] and not r["done"]
    ]
    if run.judge.success is None:  # nothing was simulated: judge the scene as it stands
        run.settle(state, 1)
    summary["success"] = run.judge.success


def _code_failed(work: CodeWork, seed: int, index: int, record: dict, summary: dict) -> bool:
    """Record a stage that got no usable code in its ``record``; True when the run ends there
    (a final, typed failure, or an answer that never arrived: ``request_failed``), False when
    the stage is asked again (``CodeWork.attempt_failure``)."""
    again, final = work.attempt_failure(seed, index), work.failure(seed)
    if again is not None:
        kind, message = again["kind"], again["message"]
    elif final is not None:
        kind, message = final.kind, final.message
    else:  # the request itself failed; its answer never came
        kind = "request_failed"
        message = "the model's answer did not arrive; see codegen/requests.log.jsonl"
    record.update(success=False, failure=kind, failure_message=message)
    if again is None:
        summary["failure"] = {"stage": index, "kind": kind, "message": message}
    return again is None


def _act(
    run: _Run,
    summary: dict,
    record: dict,
    index: int,
    spec: StageSpec,
    candidates: CandidateSet,
    state: InitialState,
    folder: Path,
) -> InitialState:
    """Train (or reuse) and execute an accepted stage; returns the state it leaves."""
    task, timing = run.task, summary["timing"]
    goal = goal_from_spec(task, state, spec, candidates)
    key = skill_key(task.name, spec)
    targets = {
        **spec.to_json(),
        "skill": key,
        "keypoints_local": goal.keypoints_local.tolist(),
        "grasp_local": list(goal.grasp_local),
        "grasp_angles": None if goal.grasp_angles is None else list(goal.grasp_angles),
    }
    atomic_write_text(folder / "targets.json", json.dumps(targets, indent=2))
    try:
        if run.execution == "ideal":
            policy_dir, reused, train_s = None, False, 0.0
            start = time.perf_counter()
            values, state = run.place(goal)
        else:
            policy_dir, reused, train_s = run.policy_for(index, key, goal, folder)
            start = time.perf_counter()
            values, state = run.execute(goal, policy_dir, folder)
        timing[f"stage_{index}_train_s"] = train_s
        timing[f"stage_{index}_execute_s"] = time.perf_counter() - start
    except SimulationDiverged as error:
        outcome = {"success": False, "final_distance": None, "failure": "simulation_diverged"}
        run.work.record_outcome(run.seed, index, {**outcome, "message": str(error)})
        record.update(success=False, failure="simulation_diverged", failure_message=str(error))
        summary["failure"] = {"stage": index, "kind": "simulation_diverged", "message": str(error)}
        return state
    failure = None
    if values["outside"]:
        failure = "left_workspace"
    elif not values["final_success"]:
        failure = "missed_targets"
    outcome = {
        "success": bool(values["final_success"]),
        "final_distance": float(values["final_distance"]),
        "failure": failure,
        "episode_success": bool(values["episode_success"]),
        "episode_distance": float(values["episode_distance"]),
        "reused_policy": reused,
        "policy": policy_dir,
        "task_success": values.get("task_success"),
        "task_metrics": values.get("task_metrics", {}),
    }
    run.work.record_outcome(run.seed, index, outcome)
    atomic_write_text(folder / "outcome.json", json.dumps(outcome, indent=2))
    atomic_write_text(folder / "state_end.json", _state_json(state))
    record.update(
        success=outcome["success"],
        final_distance=outcome["final_distance"],
        episode_success=outcome["episode_success"],
        episode_distance=outcome["episode_distance"],
        failure=failure,
        reused_policy=reused,
        policy=policy_dir,
        skill=key,
    )
    return state


PERTURB_SETTLE_TOLERANCE = 0.02
"""How far (m) the settling may carry the displaced object off its height and the other objects
off their places for the draw to count as a displacement (``_plausible_displacement``)."""


def _plausible_displacement(
    before: InitialState, moved: InitialState, settled: InitialState, name: str
) -> bool:
    """Whether moving ``name`` (``before`` -> ``moved``) and settling made a plain displacement:
    the object came to rest within half the drawn offset of where it was put, at its height
    (within ``PERTURB_SETTLE_TOLERANCE``), and no other object moved further than that. A draw
    that overlaps another body is thrown out of the overlap by the contact solver: the box then
    jumps back across the shelf or falls off it, which no person moving it would do."""
    drawn = np.subtract(moved.objects[name][:2], before.objects[name][:2])
    landed = np.subtract(settled.objects[name][:3], moved.objects[name][:3])
    if np.linalg.norm(landed[:2]) > 0.5 * np.linalg.norm(drawn) + 1e-9:
        return False
    if abs(landed[2]) > PERTURB_SETTLE_TOLERANCE:
        return False
    others = [other for other in before.objects if other != name]
    return all(
        np.linalg.norm(np.subtract(settled.objects[o][:3], before.objects[o][:3]))
        <= PERTURB_SETTLE_TOLERANCE
        for o in others
    )


def _perturb(
    run: _Run, record: dict, index: int, state: InitialState, distance: float, folder: Path
) -> InitialState:
    """Move one object after stage ``index`` and let the scene settle; recorded in ``record``.

    A displacement into another object or the gripper is pushed back, or thrown, while the
    scene settles; such a draw is replaced by a new one (up to ``PERTURB_TRIES`` draws; the
    record keeps how many) until it is a displacement a person could have made
    (``_plausible_displacement``).
    """
    rng = np.random.default_rng([run.seed, index])
    for draws in range(1, PERTURB_TRIES + 1):  # noqa: B007 (the count is recorded)
        moved, perturbation = perturb_state(run.task, state, distance, rng)
        settled = run.settle(moved, run.settle_steps)
        name = perturbation["object"]
        if _plausible_displacement(state, moved, settled, name):
            break
    perturbation["settled"] = list(settled.objects[name])
    perturbation["draws"] = draws
    record["perturbation"] = perturbation
    atomic_write_text(folder / "perturbation.json", json.dumps(perturbation, indent=2))
    atomic_write_text(folder / "state_end.json", _state_json(settled))
    return settled
