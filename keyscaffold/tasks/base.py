"""The Task protocol, initial states and the task registry.

A task is one file: a class decorated with ``@register_task("name")`` whose docstring has three
parts (description, randomizations, success conditions). Success is computed from the simulator
state alone and never from reward.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import mujoco
import numpy as np

from keyscaffold.geometry import points_in_body_frames
from keyscaffold.sim.embodiments.hand import open_finger_pose
from keyscaffold.sim.objects import SceneObject
from keyscaffold.sim.scene import CameraSpec, PhysicsConfig, SceneIndex, build_model, index_scene


@dataclass(frozen=True)
class KeypointSpec:
    """A task keypoint: a point fixed in a body's frame.

    Attributes:
        name: Keypoint name as the instruction and prompts use it.
        body: MuJoCo body the point is attached to.
        local_pos: Position in the body frame (m), shape: (3,).
        description: Where the point is, in words a vision-language model can find it by.
    """

    name: str
    body: str
    local_pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    description: str = ""


@dataclass(frozen=True)
class InitialState:
    """A seeded initial state of a task scene.

    Attributes:
        seed: Seed it was drawn with.
        wrist: Wrist pose (x, y, z, rx, ry, rz), m and rad, shape: (6,).
        objects: Free-joint pose (x, y, z, qw, qx, qy, qz) of every movable object.
    """

    seed: int
    wrist: tuple[float, ...]
    objects: dict[str, tuple[float, ...]]

    def to_json(self) -> dict:
        """Plain-data form for plan files."""
        return {
            "seed": self.seed,
            "wrist": list(self.wrist),
            "objects": {k: list(v) for k, v in self.objects.items()},
        }

    @staticmethod
    def from_json(data: dict) -> InitialState:
        """Inverse of ``to_json``."""
        return InitialState(
            seed=int(data["seed"]),
            wrist=tuple(float(v) for v in data["wrist"]),
            objects={k: tuple(float(x) for x in v) for k, v in data["objects"].items()},
        )


@dataclass(frozen=True)
class OracleWaypoints:
    """Scripted waypoints of a task, in world frame.

    Attributes:
        keypoints: Shape: (N, K, 3).
        wrist: Wrist positions, shape: (N, 3).
        wrist_orientation: Wrist hinge angles held along the plan, shape: (3,).
        grasp_waypoint: Index of the first waypoint at which the hand should be closed, or -1.
    """

    keypoints: np.ndarray
    wrist: np.ndarray
    wrist_orientation: np.ndarray
    grasp_waypoint: int = -1


class Task(ABC):
    """A manipulation task on a scene with the floating hand."""

    name: ClassVar[str] = ""
    instruction: ClassVar[str] = ""
    embodiment: ClassVar[str] = "hand"
    keypoints: ClassVar[tuple[KeypointSpec, ...]] = ()
    camera: ClassVar[CameraSpec] = CameraSpec()
    episode_steps: ClassVar[int] = 300
    start_limit: ClassVar[float] = 0.10
    workspace_low: ClassVar[tuple[float, float, float]] = (0.0, -0.6, 0.85)
    workspace_high: ClassVar[tuple[float, float, float]] = (1.0, 0.6, 1.5)
    contact_bodies: ClassVar[tuple[str, ...]] = ()
    plan_steps: ClassVar[tuple[str, ...]] = ()
    """Step-by-step description of the motion, given to the trajectory planner."""
    default_wrist_orientation: ClassVar[tuple[float, float, float]] = (0.0, 0.0, 0.0)
    """Wrist hinge angles (rad) that planned trajectories hold."""

    @abstractmethod
    def scene_objects(self) -> list[SceneObject]:
        """Fixtures and objects of the scene (the room and the hand are added by the scene)."""

    @abstractmethod
    def sample_initial_state(self, seed: int) -> InitialState:
        """Draw a randomized initial state; the same seed gives the same state."""

    @abstractmethod
    def success(self, keypoints: np.ndarray) -> np.ndarray:
        """Success per world from the keypoints' world positions.

        Args:
            keypoints: Shape: (num_worlds, K, 3).

        Returns:
            Shape: (num_worlds,), bool.
        """

    @abstractmethod
    def oracle_waypoints(self, state: InitialState, num_waypoints: int) -> OracleWaypoints:
        """Scripted keypoint and wrist waypoints from ground truth."""

    def movable_objects(self) -> list[str]:
        """Names of the objects with free joints, in scene order."""
        return [obj.name for obj in self.scene_objects() if obj.movable]

    def keypoint_names(self) -> list[str]:
        """Names of the task keypoints, in order."""
        return [kp.name for kp in self.keypoints]

    def attachable_bodies(self) -> list[str]:
        """Bodies a detected keypoint may be attached to: the task's fixtures and objects."""
        return [obj.name for obj in self.scene_objects()]

    def state_data(self, model: mujoco.MjModel, state: InitialState) -> mujoco.MjData:
        """A ``MjData`` of ``model`` at rest in ``state`` with the hand open, positions computed."""
        index = self.index(model)
        data = mujoco.MjData(model)
        data.qpos[index.wrist_qpos] = state.wrist
        data.qpos[index.finger_qpos] = open_finger_pose()
        for name, pose in state.objects.items():
            data.qpos[index.object_qpos[name]] = pose
        data.ctrl[:] = np.concatenate([state.wrist, open_finger_pose()])
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
            self.scene_objects(), self.camera, physics or PhysicsConfig(), list(self.contact_bodies)
        )

    def index(self, model: mujoco.MjModel) -> SceneIndex:
        """Addresses of the hand, objects and sensors in ``model``."""
        return index_scene(model, self.movable_objects(), list(self.contact_bodies))


_REGISTRY: dict[str, type[Task]] = {}


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator that registers a task under ``name``."""

    def decorate(cls: type[Task]) -> type[Task]:
        if name in _REGISTRY:
            raise ValueError(f"task {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def task_names() -> list[str]:
    """Registered task names, sorted."""
    return sorted(_REGISTRY)


def make_task(name: str) -> Task:
    """Instantiate a registered task; unknown names get the closest match suggested."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(
            f"unknown task {name!r}.{hint} Known tasks: {', '.join(task_names())} "
            "(list them with `keyscaffold tasks`)."
        )
    return _REGISTRY[name]()
