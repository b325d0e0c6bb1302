"""A scene from a user's meshes, as a JSON file: the objects, the table they stand on, the camera
and the robot, read into frozen dataclasses and checked field by field.

``scene_file_reader.read_scene_file(path)`` is the only way in. Every refusal is a ``SceneFileError`` that names the
file, the field (``objects[1] ('mug').pose.quaternion``) and what to change. Paths of meshes are
relative to the scene file. All poses are in the world frame: metres, z up, the floor at z = 0.
docs/file_formats.md is the reference of the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

SCENE_FILE_VERSION = 1
"""The version this code reads and writes."""
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
"""Length unit of a mesh file -> metres per unit."""
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb")
QUATERNION_TOLERANCE = 0.01
"""A quaternion whose norm is within this of 1 is normalised; one further off is refused."""
ROTATION_TOLERANCE = 0.01
"""Largest deviation of a 4x4 pose's rotation block from an orthonormal matrix that is repaired."""
KEYPOINT_LIFTS = ("surface", "middle")
"""Where a detected keypoint is placed along the camera's ray (``tasks.base.KeypointSpec.lift``)."""


class SceneFileError(ValueError):
    """A scene file, or an object in it, that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Pose:
    """A rigid pose: ``position`` (m, shape (3,)) and unit ``quaternion`` (w, x, y, z)."""

    position: tuple[float, float, float]
    quaternion: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)

    def rotation(self) -> np.ndarray:
        """Rotation matrix, shape: (3, 3)."""
        matrix = np.zeros(9)
        mujoco.mju_quat2Mat(matrix, np.asarray(self.quaternion, dtype=np.float64))
        return matrix.reshape(3, 3)

    def mjcf(self) -> str:
        """The pose as MJCF ``pos`` and ``quat`` attributes."""
        pos = " ".join(f"{v:.6g}" for v in self.position)
        quat = " ".join(f"{v:.9g}" for v in self.quaternion)
        return f'pos="{pos}" quat="{quat}"'


@dataclass(frozen=True)
class Decomposition:
    """CoACD settings of the convex decomposition that becomes an object's collision geometry.

    Defaults are CoACD's own, except fewer tree-search iterations; they take tens of seconds for
    a mug-sized scan, once per mesh (the result is cached). A test or a quick look can set
    ``preprocess`` "off", ``resolution`` 500 and ``mcts_iterations`` 30 (about a second).
    """

    threshold: float = 0.05
    """Largest concavity a part may keep, relative to the mesh's size; smaller: more parts."""
    max_convex_hulls: int = -1
    """Merge parts down to at most this many; -1: no limit."""
    preprocess: str = "auto"
    """Remesh to a closed manifold first: ``auto`` (when the mesh is not one), ``on``, ``off``."""
    preprocess_resolution: int = 50
    resolution: int = 2000
    """Samples per part for the concavity measure."""
    mcts_iterations: int = 100
    mcts_nodes: int = 20
    mcts_max_depth: int = 3
    seed: int = 0

    def cache_key(self) -> dict:
        """Every setting that changes the result, as plain data for the cache key."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Contact:
    """How soft an object's contacts are: MuJoCo's ``solref`` (time constant, damping ratio) on
    every collision part of the object.

    A contact between two geoms uses the mean of their two settings. The default is what the
    built-in grasped objects carry (the apple, the bottle, the hammer's handle, a shoe's sole):
    stiff, so a grasped object does not sink into the fingers. MuJoCo raises a time constant
    under two physics steps to two steps (16.7 ms at the default 1/120 s step).
    """

    timeconst: float = 0.005
    """Time constant of the contact's spring and damper (s); smaller: stiffer."""
    dampratio: float = 1.0
    """Damping ratio; 1: critically damped, no bounce."""

    def fields(self) -> dict[str, float]:
        """The setting as the file writes it: field name -> value."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def mjcf(self) -> str:
        """The setting as an MJCF ``solref`` attribute."""
        return f'solref="{self.timeconst:.9g} {self.dampratio:.9g}"'


@dataclass(frozen=True)
class Keypoint:
    """A named point on an object or on the table, for tasks built from the file.

    Attributes:
        name: What the point is called; unique in the file.
        position: In the object's frame, after unit and scale (m), shape: (3,).
        description: Where the point is, in words a vision-language model can find it by.
        lift: Where a detected point is placed along the camera's ray: on the visible
            ``surface`` or in the ``middle`` of the object behind it.
    """

    name: str
    position: tuple[float, float, float]
    description: str = ""
    lift: str = "surface"


@dataclass(frozen=True)
class SceneObjectEntry:
    """One object of a scene file.

    Attributes:
        name: Body name in the scene (letters, digits, ``_``).
        mesh: Absolute path of the mesh file (given relative to the scene file).
        unit: Length unit of the mesh file: ``m``, ``cm`` or ``mm``.
        scale: Uniform factor on top of the unit.
        pose: The object frame (the mesh's origin) in the world.
        mass: Total mass (kg), or ``None`` when ``density`` is given (or the object is fixed).
        density: kg/m^3 of the collision geometry's volume, or ``None``.
        friction: Sliding friction coefficient.
        contact: How soft its contacts are (MuJoCo's ``solref`` of its collision parts).
        movable: A free joint (``True``) or fixed to the world.
        rgba: Colour of the visual mesh.
        keypoints: Named points on the object.
    """

    name: str
    mesh: Path
    unit: str = "m"
    scale: float = 1.0
    pose: Pose = Pose((0.0, 0.0, 0.0))
    mass: float | None = None
    density: float | None = None
    friction: float = 1.0
    contact: Contact = Contact()
    movable: bool = True
    rgba: tuple[float, float, float, float] = (0.75, 0.72, 0.68, 1.0)
    keypoints: tuple[Keypoint, ...] = ()

    @property
    def metres_per_unit(self) -> float:
        """What one mesh-file unit is in the scene (m): the unit times ``scale``."""
        return UNITS[self.unit] * self.scale


@dataclass(frozen=True)
class Table:
    """The support surface: a table whose top is ``size`` (x, y; m) at ``height`` (m), centred
    at ``center`` (x, y; m). Its frame (body ``table``) lies on the floor under the centre, with
    the world's axes; ``keypoints`` are in that frame."""

    size: tuple[float, float] = (1.0, 1.2)
    height: float = 0.75
    center: tuple[float, float] = (0.55, 0.0)
    friction: float = 1.0
    keypoints: tuple[Keypoint, ...] = ()


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: intrinsics in pixels and its camera-to-world pose in OpenCV axes (x right,
    y down, z forward)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    pose: Pose

    def intrinsics(self) -> np.ndarray:
        """K, shape: (3, 3)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Robot:
    """The embodiment (a registered name) and its start wrist pose (x, y, z in m, hinge angles
    about x, y, z in rad)."""

    embodiment: str = "gripper"
    start_wrist: tuple[float, float, float, float, float, float] = (0.35, 0.0, 1.05, 0, 0, 0)


@dataclass(frozen=True)
class TaskHints:
    """What a task built from the file reads."""

    instruction: str = ""
    success_tolerance: float | None = None
    """How close (m) the task's keypoints must come to their goals to count as success."""
    keypoints: tuple[str, ...] = ()
    """Names of the objects' and the table's keypoints the task uses, in the task's order; empty:
    every keypoint, objects in file order, then the table's."""


@dataclass(frozen=True)
class SceneFile:
    """A whole scene file; ``path`` is where it was read from."""

    path: Path
    objects: tuple[SceneObjectEntry, ...]
    camera: Camera
    table: Table | None = Table()
    """``None``: no table; the objects stand on the floor (z = 0)."""
    robot: Robot = Robot()
    decomposition: Decomposition = Decomposition()
    task: TaskHints = TaskHints()
    version: int = SCENE_FILE_VERSION

    def object(self, name: str) -> SceneObjectEntry:
        """The object called ``name``."""
        for entry in self.objects:
            if entry.name == name:
                return entry
        raise KeyError(
            f"{self.path}: no object {name!r}; objects: {[o.name for o in self.objects]}"
        )
