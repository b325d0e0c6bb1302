"""Carrying out an IKER run's stages in the simulator: look, train or reuse a policy, execute, settle.

``StageRunner`` holds a run's task, model, renderer and judge (``TaskJudge``: the task's own
``evaluate``, carried from stage to stage); ``loop.run_iker`` drives it stage by stage.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from keyscaffold.evaluation.media import write_video
from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.iker.codegen import CodeWork
from keyscaffold.iker.keypoints import propose
from keyscaffold.iker.run_settings import IkerSettings
from keyscaffold.iker.skills import (
    execute,
    execution_config,
    fixture_bodies,
    ideal_placement,
    library_skill,
    load_skill,
    train_skill,
    world_state,
)
from keyscaffold.rl.config import TrainConfig
from keyscaffold.rl.keypoint_env import (
    KeypointEnv,
    KeypointEnvConfig,
    KeypointGoal,
    outside_workspace,
)
from keyscaffold.rl.keypoint_rewards import SUCCESS_DISTANCE, mean_keypoint_distance
from keyscaffold.sim.batch import BatchedWorlds
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.tasks.base import InitialState, Task, TaskMonitor
from keyscaffold.util import atomic_write_text

VIDEO_SIZE = 320
VIDEO_EVERY = 2


class TaskJudge:
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


class StageRunner:
    """One IKER run in a folder: the task, its model, renderer and judge, the code work."""

    def __init__(
        self,
        task: Task,
        out: Path,
        work: CodeWork,
        client: Any,
        settings: IkerSettings,
        train: TrainConfig,
        env_config: KeypointEnvConfig,
    ) -> None:
        """Open the run's model, renderer and settle worlds.

        Args:
            task: The run's task.
            out: The run folder.
            work: The run's code work.
            client: The model's client (None offline).
            settings: The run's settings.
            train: PPO settings, resolved (``settings.train`` or the default, with its minutes).
            env_config: Keypoint env settings, resolved (``settings.env_config`` or the default).
        """
        self.task, self.out, self.work, self.client = task, out, work, client
        self.seed, self.execution = settings.seed, settings.execution
        self.library = None if settings.skills is None else Path(settings.skills)
        self.train, self.env_config = train, env_config
        self.settle_steps, self.show_progress = settings.settle_steps, settings.show_progress
        self.video = settings.video and settings.execution == "policy"
        physics = env_config.physics
        self.model = task.build_model(physics)
        size = settings.image_size
        self.renderer = SceneRenderer(self.model, size, size, quality=True)
        self.settle_worlds = task.make_worlds(self.model, 1, 1, physics.substeps)
        self.judge = TaskJudge(task)
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
        self.task.put_in_states(worlds, [state])
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
            "task_metrics": {
                name: float(value[0])
                for name, value in self.judge.result.items()
                if name != "success"
            },
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


def state_json(state: InitialState) -> str:
    """An ``InitialState`` as indented JSON text."""
    return json.dumps(state.to_json(), indent=2)
