"""A built-in task beside the task made from its exported scene file, on the same states.

``keyscaffold scene export TASK`` writes a built-in task's scene as a scene file; the task made
from that file (``tasks/from_scene.py``) knows only the file: meshes, poses, keypoints and a
success tolerance. It has no oracle, so checking the import against the built-in task borrows
that task's answers, matched by name (``require_same_names``), and nothing else:

- IKER (``SceneWithOracle``): the built-in task's stage code runs on the scene task's own
  candidate keypoints (it picks them by body name, and imported bodies keep their names), with
  its grasp heuristics for those bodies; seed ``s`` is the built-in task's initial state ``s``
  (object names match). The scene, the candidates, the fixtures, the workspace and the verdict
  (``stage_verdict``) stay the scene task's.
- Scaffold (``scene_plan``): a built-in oracle plan becomes the scene task's plan, with the same
  waypoints and the same initial state, and the keypoints' bodies and body-frame positions of
  the scene task. A plan carries its initial state, so training and evaluating on such plans run
  on the built-in task's states.

One exported file serves every state: fixtures are the same in every state of a built-in task,
and the movable objects' poses come from the state.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from keyscaffold.iker.skills import fixture_bodies
from keyscaffold.planning.plan import KeypointPlan, load_plan_set, save_plan_set
from keyscaffold.sim.scene import PhysicsConfig
from keyscaffold.sim.scene_export import SUPPORT_BODY
from keyscaffold.sim.scene_file import SceneFile
from keyscaffold.sim.scene_file_reader import read_scene_file
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import InitialState, Task, TaskMonitor, add_task_factory
from keyscaffold.tasks.from_scene import SceneTask
from keyscaffold.tasks.open_loop import Driver


def exported_name(body: str) -> str:
    """What a built-in task's top-level body is called in its exported scene (the support
    fixture becomes the table)."""
    return "table" if body == SUPPORT_BODY else body


def require_same_names(builtin: Task, scene_task: SceneTask) -> None:
    """Check that the scene task is the built-in task's scene by name: the same movable objects
    and fixtures, the same keypoints in the same order, each on the object that carries it in the
    built-in task (its top-level body).

    Raises:
        ValueError: Naming every difference.
    """
    model = builtin.build_model()

    def owner(body: str) -> str:
        return exported_name(model.body(int(model.body_rootid[model.body(body).id])).name)

    problems = []
    pairs = {
        "movable objects": (builtin.movable_objects(), scene_task.movable_objects()),
        "fixtures": (
            [exported_name(b) for b in fixture_bodies(builtin)],
            fixture_bodies(scene_task),
        ),
    }
    for what, (theirs, mine) in pairs.items():
        if sorted(theirs) != sorted(mine):
            problems.append(
                f"{what}: {sorted(theirs)} in {builtin.name}, {sorted(mine)} in the file"
            )
    if builtin.keypoint_names() != scene_task.keypoint_names():
        problems.append(
            f"keypoints: {builtin.keypoint_names()} in {builtin.name}, "
            f"{scene_task.keypoint_names()} in the file"
        )
    else:
        for theirs, mine in zip(builtin.keypoints, scene_task.keypoints):
            if owner(theirs.body) != mine.body:
                problems.append(
                    f"keypoint {theirs.name!r} lies on {owner(theirs.body)!r} in {builtin.name}, "
                    f"on {mine.body!r} in the file"
                )
    if problems:
        raise ValueError(
            f"{scene_task.scene.path} is not the scene of {builtin.name}: " + "; ".join(problems)
        )


class SceneWithOracle(SceneTask):
    """The task of a built-in IKER task's exported scene, solved with the built-in task's stage
    oracle and grasp heuristics, from the built-in task's initial states (module docstring)."""

    def __init__(self, scene: SceneFile, builtin: Task, cache_dir: Path | None = None) -> None:
        if "iker" not in builtin.modes:
            raise ValueError(f"{builtin.name} has no IKER stage oracle to lend")
        super().__init__(scene, cache_dir=cache_dir)
        require_same_names(builtin, self)
        self.builtin = builtin
        self.modes = (*self.modes, "iker")
        self.stages = builtin.stages

    def num_stages(self) -> int:
        return self.builtin.num_stages()

    def oracle_code(self, stage: int, candidates: Any) -> str:
        """The built-in task's stage code, written for this task's candidates."""
        return self.builtin.oracle_code(stage, candidates)

    def grasp_hint(self, body: str) -> tuple[float, float, float] | None:
        return self.builtin.grasp_hint(body)

    def grasp_angles(self, body: str, pose: Any) -> tuple[float, float, float] | None:
        return self.builtin.grasp_angles(body, pose)

    def sample_initial_state(self, seed: int) -> InitialState:
        """The built-in task's initial state of ``seed``."""
        return self.builtin.sample_initial_state(seed)


def register_with_oracle(path: Path, builtin_name: str) -> SceneWithOracle:
    """Read the scene file at ``path`` and register its task (``scene:<file stem>``) with the
    oracle of the built-in task ``builtin_name``; returns the task."""
    task = SceneWithOracle(read_scene_file(path), make_task(builtin_name))
    add_task_factory(task.name, lambda: task, replace=True)
    return task


def scene_plan(plan: KeypointPlan, scene_task: SceneTask) -> KeypointPlan:
    """A built-in task's plan as the scene task's plan: the same waypoints and initial state, the
    scene task's keypoint bodies and body-frame positions (keypoint names must match)."""
    if plan.keypoint_names != scene_task.keypoint_names():
        raise ValueError(
            f"plan {plan.plan_id} tracks {plan.keypoint_names}, but {scene_task.name} tracks "
            f"{scene_task.keypoint_names()}"
        )
    return replace(
        plan,
        plan_id=f"{scene_task.name}_{plan.plan_id.removeprefix(plan.task + '_')}",
        task=scene_task.name,
        keypoint_bodies=[kp.body for kp in scene_task.keypoints],
        keypoint_local=np.array([kp.local_pos for kp in scene_task.keypoints], dtype=np.float64),
        provenance={**plan.provenance, "from_task": plan.task},
    )


def scene_plan_set(builtin_plans: Path, scene_task: SceneTask, out: Path) -> Path:
    """The built-in plan set at ``builtin_plans`` written as the scene task's plan set in
    ``out``; returns ``out``."""
    return save_plan_set([scene_plan(p, scene_task) for p in load_plan_set(builtin_plans)], out)


def open_loop_success(task: Task, plans: list[KeypointPlan]) -> np.ndarray:
    """Each plan followed open loop (``Driver.follow``: the wrist path, the scripted grip) from
    its initial state, judged by the task's rule at the end; a task that ``reads_goals`` is
    judged against each plan's final waypoints. Shape: (len(plans),), bool."""
    drive = Driver(task, [p.initial_state for p in plans])
    if task.reads_goals:
        drive.monitor.reset(np.arange(len(plans)), np.stack([p.waypoints[-1] for p in plans]))
    return np.asarray(drive.follow(plans)["success"], dtype=bool)


def judged_by(task: Task, state: InitialState) -> bool:
    """The task's own rule on the scene at rest in ``state`` (object poses from another task's
    run with the same object names), jaws open."""
    physics = PhysicsConfig()
    worlds = task.make_worlds(task.build_model(physics), 1, 1, physics.substeps)
    task.put_in_states(worlds, [state])
    return bool(TaskMonitor(task, worlds).update()["success"][0])
