"""The Task protocol, initial states and the task registry.

A task is one file: a class decorated with ``@register_task("name")`` whose docstring has three
parts (description, randomizations, success conditions). Every control step the env calls the
task's ``evaluate`` on all worlds: it reads the simulator (the task's own keypoints, named joints,
contacts between named bodies) and the task's per-world state buffers, which are reset with each
world, and returns ``success`` and named metrics. Success never comes from reward, and never from
a plan's (possibly detected) keypoints.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import mujoco
import numpy as np

from keyscaffold.geometry import points_in_body_frames
from keyscaffold.registry import Registry
from keyscaffold.sim.batch import BatchedWorlds
from keyscaffold.sim.embodiments import ActionSpec, Embodiment, make_embodiment
from keyscaffold.sim.embodiments.arm import ArmEmbodiment
from keyscaffold.sim.objects import SceneObject
from keyscaffold.sim.scene import (
    CameraSpec,
    PhysicsConfig,
    SceneIndex,
    bodies_bounds,
    build_model,
    index_scene,
    subtree_bodies,
)
from keyscaffold.tasks.placement import on_embodiment, place_arm


@dataclass(frozen=True)
class KeypointSpec:
    """A task keypoint: a point fixed in a body's frame.

    Attributes:
        name: Keypoint name as the instruction and prompts use it.
        body: MuJoCo body the point is attached to.
        local_pos: Position in the body frame (m), shape: (3,).
        description: Where the point is, in words a vision-language model can find it by.
        lift: Where along the camera's line of sight a detected point is placed: on the
            visible ``surface`` under its pixel, or in the ``middle`` of the object behind it
            (for a point that names an object's centre, such as the middle of an apple).
    """

    name: str
    body: str
    local_pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    description: str = ""
    lift: str = "surface"

    def __post_init__(self) -> None:
        if self.lift not in ("surface", "middle"):
            raise ValueError(f"keypoint {self.name!r}: lift must be 'surface' or 'middle'")


@dataclass(frozen=True)
class InitialState:
    """A seeded initial state of a task scene.

    Attributes:
        seed: Seed it was drawn with.
        wrist: Wrist pose (x, y, z, rx, ry, rz), m and rad, shape: (6,).
        objects: Free-joint pose (x, y, z, qw, qx, qy, qz) of every movable object.
        joints: Position of named object joints (a drawer's slide, a door's hinge), m or rad;
            joints not named start at 0.
    """

    seed: int
    wrist: tuple[float, ...]
    objects: dict[str, tuple[float, ...]]
    joints: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        """Plain-data form for plan files."""
        return {
            "seed": self.seed,
            "wrist": list(self.wrist),
            "objects": {k: list(v) for k, v in self.objects.items()},
            "joints": dict(self.joints),
        }

    @staticmethod
    def from_json(data: dict) -> InitialState:
        """Inverse of ``to_json`` (states written before joints existed load with none)."""
        return InitialState(
            seed=int(data["seed"]),
            wrist=tuple(float(v) for v in data["wrist"]),
            objects={k: tuple(float(x) for x in v) for k, v in data["objects"].items()},
            joints={k: float(v) for k, v in data.get("joints", {}).items()},
        )


@dataclass(frozen=True)
class OracleWaypoints:
    """Scripted waypoints of a task, in world frame.

    Attributes:
        keypoints: Shape: (N, K, 3).
        wrist: Wrist positions, shape: (N, 3).
        wrist_orientation: Wrist hinge angles, held along the plan (shape (3,)) or one row per
            waypoint (shape (N, 3)).
        grasp_waypoint: Index of the first waypoint at which the hand should be closed, or -1.
    """

    keypoints: np.ndarray
    wrist: np.ndarray
    wrist_orientation: np.ndarray
    grasp_waypoint: int = -1


WORKSPACE_STATES = 20
"""Seeded initial states a derived workspace covers (``Task.workspace``)."""


class Task(ABC):
    """A manipulation task on a scene with a floating robot."""

    name: ClassVar[str] = ""
    instruction: ClassVar[str] = ""
    modes: ClassVar[tuple[str, ...]] = ("scaffold",)
    """How the task is solved, declared: ``scaffold`` (a trajectory plan tracked by a residual
    policy; the task has an oracle plan, ``oracle_waypoints``) and/or ``iker`` (stage by stage
    from keypoint code; the task has oracle stage code, ``oracle_code``). A task from a scene
    file (``tasks/from_scene.py``) has no oracle; it declares ``scaffold`` when the file gives
    keypoints and a tolerance, and is solved in IKER mode with a model's code only."""
    embodiment: ClassVar[str | Embodiment] = "hand"
    """Registered embodiment name (or an ``Embodiment`` instance)."""
    place_arm: ClassVar[bool] = False
    """Whether an arm embodiment stands where ``tasks/placement.py`` places it for this task
    (a base from which it reaches every pose of the task's oracle plans) instead of at its
    registered base. Tasks run on an arm by name (``move_apple@iiwa_hand``, ``make_task``) and
    the digital twins set it."""
    action_spec: ClassVar[str] = ""
    """The embodiment's action spec this task uses; empty for the embodiment's default."""
    keypoints: ClassVar[tuple[KeypointSpec, ...]] = ()
    camera: ClassVar[CameraSpec] = CameraSpec()
    episode_steps: ClassVar[int] = 300
    start_limit: ClassVar[float] = 0.10
    workspace_low: ClassVar[tuple[float, float, float] | None] = None
    workspace_high: ClassVar[tuple[float, float, float] | None] = None
    """A box every planned point must lie in (m); ``None`` (the default) derives it from the scene
    (``workspace``)."""
    workspace_reach: ClassVar[tuple[float, float, float, float]] = (0.35, 0.35, 0.15, 0.45)
    """How far a derived workspace reaches beyond the task's objects: in x and in y (either side),
    below their lowest point and above their top (m); room for the hand around and over what it
    works on."""
    contact_bodies: ClassVar[tuple[str, ...]] = ()
    """Objects whose contact with the robot's effectors is sensed (and rewarded)."""
    contact_pairs: ClassVar[tuple[tuple[str, str], ...]] = ()
    """Further body pairs whose contact force ``evaluate`` reads; the robot's root body stands
    for the whole robot."""
    plan_steps: ClassVar[tuple[str, ...]] = ()
    """Step-by-step description of the motion, given to the trajectory planner."""
    default_wrist_orientation: ClassVar[tuple[float, float, float]] = (0.0, 0.0, 0.0)
    """Wrist hinge angles (rad) that planned trajectories hold."""
    free_keypoints: ClassVar[str] = "rigid"
    """How a tracked keypoint on a free object follows it: ``rigid`` (fixed in the object's
    frame, so it turns with the object) or ``carried`` (its offset from the object's frame is
    taken at reset and carried along with the object's translation only). ``carried`` suits
    objects whose turn the task ignores: a point detected on an apple's surface then does not
    move when the apple rocks or rolls in the hand. Hinged and sliding parts are always rigid."""
    reads_goals: ClassVar[bool] = False
    """Whether ``evaluate`` judges against goals from outside the task: where each keypoint
    should end, ``state["goals"]`` (num_worlds, K, 3), m. An env that runs a plan in each world
    passes the plan's final keypoint waypoints at every reset (``TaskMonitor.reset``); a task
    from a scene file, which has no success rule of its own, reads them. Tasks never import
    plans."""
    stage_verdict: ClassVar[bool] = False
    """IKER mode: the run's verdict is its stages' keypoint success (every acting stage reached
    its targets, and a multi-step run said done) instead of ``evaluate``."""
    cpu_settings: ClassVar[tuple[str, ...]] = ()
    """``--set`` settings (``env.wrist_position_scale=0.1``, ...) that the CPU profile takes for
    this task before the user's own ``--set``; for a task whose measured best differs from the
    profile's (docs/results.md). The run's ``config.json`` records the settings that ran."""

    @abstractmethod
    def scene_objects(self) -> list[SceneObject]:
        """Fixtures and objects of the scene (the room and the robot are added by the scene)."""

    @abstractmethod
    def sample_initial_state(self, seed: int) -> InitialState:
        """Draw a randomized initial state; the same seed gives the same state."""

    @abstractmethod
    def evaluate(
        self, worlds: BatchedWorlds, state: dict[str, np.ndarray], step: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Judge every world after a control step, updating the task's state buffers in place.

        Args:
            worlds: The simulator view: ``keypoints()`` (the task's own keypoints),
                ``joint_position(name)``, ``joint_velocity(name)``, ``pair_contact_force(a, b)``,
                ``effector_contact_by_object()``, ``body_position(name)``, ``body_rotation(name)``.
            state: The task's per-world buffers from ``init_state``, each of leading size
                num_worlds.
            step: Control steps taken in each world's episode, shape: (num_worlds,).

        Returns:
            ``success`` (bool, shape (num_worlds,)) and any named metrics of the same shape.
        """

    @abstractmethod
    def oracle_waypoints(self, state: InitialState, num_waypoints: int) -> OracleWaypoints:
        """Scripted keypoint and wrist waypoints from ground truth."""

    def init_state(self, num_worlds: int) -> dict[str, np.ndarray]:
        """The task's per-world state buffers (counters, accumulated paths), before any reset."""
        return {}

    def reset_state(
        self, state: dict[str, np.ndarray], ids: np.ndarray, worlds: BatchedWorlds
    ) -> None:
        """Reset the buffers of worlds ``ids`` after those worlds were reset (default: zeros)."""
        for buffer in state.values():
            buffer[ids] = 0

    def set_goals(self, state: dict[str, np.ndarray], ids: np.ndarray, goals: np.ndarray) -> None:
        """Write the goals of worlds ``ids`` (shape (len(ids), K, 3), m) into ``state["goals"]``;
        for tasks that ``reads_goals``."""
        goals = np.asarray(goals, dtype=np.float64)
        expected = (len(ids), len(self.keypoints), 3)
        if goals.shape != expected:
            raise ValueError(f"task {self.name} needs goals of shape {expected}, got {goals.shape}")
        state["goals"][ids] = goals

    def wrist_orientations(
        self, state: InitialState, keypoint_waypoints: np.ndarray, wrist_waypoints: np.ndarray
    ) -> np.ndarray:
        """Wrist hinge angles along a plan whose positions come from a planner, shape: (N, 3).

        The default holds ``default_wrist_orientation``; tasks whose wrist must turn with the
        object (a door's arc) derive it from the planned keypoints.
        """
        return np.repeat(
            np.asarray(self.default_wrist_orientation, float)[None], len(wrist_waypoints), 0
        )

    def workspace(self) -> tuple[np.ndarray, np.ndarray]:
        """The box (low, high), each shape (3,), m, that every planned point must lie in.

        Declared by the task, or derived from its scene: the box around the task's objects and
        all their parts, over ``WORKSPACE_STATES`` seeded initial states and every articulated
        part moved through its whole range (a drawer pulled out, a door swung open), widened by
        ``workspace_reach`` sideways and above; its floor is the objects' lowest point.
        """
        if self.workspace_low is not None and self.workspace_high is not None:
            return np.asarray(self.workspace_low, float), np.asarray(self.workspace_high, float)
        cached = getattr(self, "_workspace", None)
        if cached is None:
            cached = self._derive_workspace()
            self._workspace = cached
        return cached

    def _derive_workspace(self) -> tuple[np.ndarray, np.ndarray]:
        model = self.build_model()
        index = self.index(model)
        bodies = subtree_bodies(model, [obj.name for obj in self.scene_objects() if obj.movable])
        boxes = []
        for seed in range(WORKSPACE_STATES):
            data = self.state_data(model, self.sample_initial_state(seed))
            for fraction in np.linspace(0.0, 1.0, 5):
                for name, bounds in index.joint_range.items():
                    if bounds is not None:
                        data.qpos[index.joint_qpos[name]] = np.interp(fraction, (0, 1), bounds)
                mujoco.mj_kinematics(model, data)
                boxes.append(bodies_bounds(model, data, bodies))
        boxes = np.array(boxes)
        low, high = boxes[:, 0].min(0), boxes[:, 1].max(0)
        reach = np.asarray(self.workspace_reach, float)
        return (
            np.array([low[0] - reach[0], low[1] - reach[1], low[2] - reach[2]]),
            np.array([high[0] + reach[0], high[1] + reach[1], high[2] + reach[3]]),
        )

    def stated_distances(self) -> list[tuple[str, float]]:
        """Every distance the task's text states (instruction, steps, keypoint descriptions), in
        the order it states them, with the scene's own value of it (m), measured on the oracle
        plan or the scene; a test keeps them within 25%. Empty when the text states none."""
        return []

    def robot(self) -> Embodiment:
        """The task's embodiment; an arm placed for the task when ``place_arm``."""
        robot = make_embodiment(self.embodiment)
        if self.place_arm and isinstance(robot, ArmEmbodiment):
            return place_arm(self, robot)
        return robot

    def put_in_states(self, worlds: BatchedWorlds, states: list[InitialState]):
        """Reset worlds ``0 .. len(states) - 1`` to ``states`` with the robot open (joints a state
        does not name start at 0); returns the robot's controller on ``worlds``."""
        robot = self.robot()
        controller = robot.controller(worlds)
        joint_names = sorted({n for s in states for n in s.joints})
        controller.reset(
            np.arange(len(states)),
            np.array([s.wrist for s in states], dtype=np.float64),
            robot.open_pose(),
            {n: np.array([s.objects[n] for s in states]) for n in states[0].objects},
            {n: np.array([s.joints.get(n, 0.0) for s in states]) for n in joint_names},
        )
        return controller

    def actions(self) -> ActionSpec:
        """The action spec the task's policy acts through."""
        return self.robot().action_spec(self.action_spec)

    def movable_objects(self) -> list[str]:
        """Names of the objects with free joints, in scene order."""
        return [obj.name for obj in self.scene_objects() if obj.movable]

    def keypoint_names(self) -> list[str]:
        """Names of the task keypoints, in order."""
        return [kp.name for kp in self.keypoints]

    def attachable_bodies(self) -> list[str]:
        """Objects a detected keypoint may ride, each with all its parts (a drawer, a door, a
        tool's second link): by default the movable objects. Fixtures (the counter, a sink)
        never move, so a point on them could not be tracked; a task whose keypoints lie on a
        fixture adds it here."""
        return self.movable_objects()

    def validate_state(self, index: SceneIndex, state: InitialState) -> None:
        """Raise ``ValueError`` if ``state`` names unknown objects or joints, or a joint value
        lies outside its joint's range."""
        missing = sorted(set(self.movable_objects()) - set(state.objects))
        if missing:
            raise ValueError(
                f"initial state {state.seed} of {self.name} lacks the poses of {missing}"
            )
        for name, value in state.joints.items():
            if name not in index.joint_qpos:
                raise ValueError(
                    f"initial state {state.seed} of {self.name} sets joint {name!r}, which the "
                    f"scene does not have (it has {sorted(index.joint_qpos)})"
                )
            bounds = index.joint_range[name]
            if bounds is not None and not bounds[0] - 1e-9 <= value <= bounds[1] + 1e-9:
                raise ValueError(
                    f"initial state {state.seed} of {self.name}: joint {name!r} = {value:.4f} lies "
                    f"outside its range {bounds[0]:.4f}..{bounds[1]:.4f}"
                )

    def state_data(self, model: mujoco.MjModel, state: InitialState) -> mujoco.MjData:
        """A ``MjData`` of ``model`` at rest in ``state`` with the robot open, positions computed."""
        index = self.index(model)
        self.validate_state(index, state)
        embodiment = self.robot()
        robot = embodiment.rest_qpos(np.array([state.wrist]), embodiment.open_pose())[0]
        data = mujoco.MjData(model)
        data.qpos[index.robot_qpos] = robot
        for name, pose in state.objects.items():
            data.qpos[index.object_qpos[name]] = pose
        for name, value in state.joints.items():
            data.qpos[index.joint_qpos[name]] = value
        data.ctrl[:] = robot
        mujoco.mj_forward(model, data)
        return data

    def keypoint_positions(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
        """World positions of the task keypoints in ``data``, shape: (K, 3)."""
        ids = [model.body(kp.body).id for kp in self.keypoints]
        local = np.array([kp.local_pos for kp in self.keypoints], dtype=np.float64)
        return points_in_body_frames(data.xpos[ids], data.xmat[ids], local)

    def build_model(self, physics: PhysicsConfig | None = None) -> mujoco.MjModel:
        """Compile the task scene."""
        return build_model(
            self.scene_objects(),
            self.camera,
            physics or PhysicsConfig(),
            self.robot(),
            list(self.contact_bodies),
            list(self.contact_pairs),
        )

    def index(self, model: mujoco.MjModel) -> SceneIndex:
        """Addresses of the robot, objects, joints and sensors in ``model``."""
        return index_scene(
            model,
            self.robot(),
            self.movable_objects(),
            list(self.contact_bodies),
            list(self.contact_pairs),
        )

    def make_worlds(
        self,
        model: mujoco.MjModel,
        num_worlds: int,
        num_threads: int,
        substeps: int,
    ) -> BatchedWorlds:
        """Batched copies of the scene whose ``keypoints()`` are this task's own keypoints."""
        return BatchedWorlds(
            model,
            self.index(model),
            num_worlds,
            num_threads,
            substeps,
            [kp.body for kp in self.keypoints],
            np.array([kp.local_pos for kp in self.keypoints], dtype=np.float64).reshape(-1, 3),
        )


def start_wrist(
    rng: np.random.Generator,
    grasp: np.ndarray,
    height: tuple[float, float],
    spread: float = 0.05,
    orientation: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 0.0),
    hinge_noise: float = 0.0,
) -> tuple[float, ...]:
    """A seeded wrist start pose above a grasp pose, the way every task's sampler draws it.

    Position: ``grasp`` plus uniform ±``spread`` in x and y and ``height`` (low, high) in z;
    orientation: ``orientation`` plus uniform ±``hinge_noise`` per hinge (no draw when 0).
    """
    offset = [rng.uniform(-spread, spread), rng.uniform(-spread, spread), rng.uniform(*height)]
    angles = np.asarray(orientation, dtype=np.float64)
    if hinge_noise:
        angles = angles + rng.uniform(-hinge_noise, hinge_noise, size=3)
    return tuple(float(v) for v in (*(np.asarray(grasp) + offset), *angles))


def upright(position: tuple[float, ...] | np.ndarray) -> tuple[float, ...]:
    """The free-joint pose (x, y, z, qw, qx, qy, qz), shape: (7,), of an object standing unturned
    at ``position`` (x, y, z in m, shape (3,)): its orientation is the identity quaternion."""
    return (*(float(v) for v in position), 1.0, 0.0, 0.0, 0.0)


class TaskMonitor:
    """Runs a task's ``evaluate`` over batched worlds and keeps its per-world state buffers."""

    def __init__(self, task: Task, worlds: BatchedWorlds) -> None:
        self.task, self.worlds = task, worlds
        self.state = task.init_state(worlds.num_worlds)
        self.step = np.zeros(worlds.num_worlds, dtype=np.int64)
        self.result: dict[str, np.ndarray] = {}
        task.reset_state(self.state, np.arange(worlds.num_worlds), worlds)

    def reset(self, ids: np.ndarray, goals: np.ndarray | None = None) -> None:
        """Reset the task state of worlds ``ids`` (call after the worlds themselves are reset).

        Args:
            ids: Worlds reset, shape: (M,).
            goals: Where each task keypoint should end in those worlds, shape: (M, K, 3), m
                (a plan's final waypoints); required by a task that ``reads_goals``, unused by
                the others.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size:
            self.step[ids] = 0
            self.task.reset_state(self.state, ids, self.worlds)
            if self.task.reads_goals:
                if goals is None:
                    raise ValueError(
                        f"task {self.task.name} judges success against the goals of a plan; "
                        "run it in an env that follows plans (keyscaffold plan, train, eval)"
                    )
                self.task.set_goals(self.state, ids, goals)

    def update(self) -> dict[str, np.ndarray]:
        """Count one control step in every world and evaluate the task; returns the result."""
        self.step += 1
        result = self.task.evaluate(self.worlds, self.state, self.step)
        success = np.asarray(result.get("success"))
        if success.shape != (self.worlds.num_worlds,):
            raise ValueError(
                f"task {self.task.name}'s evaluate must return 'success' of shape "
                f"({self.worlds.num_worlds},), got {success.shape}"
            )
        self.result = {**result, "success": success.astype(bool)}
        return self.result


_TASKS: Registry[Task] = Registry("task", " (list them with `keyscaffold tasks`).")
register_task = _TASKS.register
add_task_factory = _TASKS.add
"""Register a function that builds a task with no arguments (a task made from data)."""
remove_task = _TASKS.remove
task_names = _TASKS.names


def make_task(name: str) -> Task:
    """A new task by its registered name, or ``TASK@EMBODIMENT`` for a task run on another
    registered embodiment with the same tool (``on_embodiment``)."""
    task_name, _, embodiment = name.partition("@")
    task = _TASKS.make(task_name)
    return on_embodiment(task, embodiment) if embodiment else task
