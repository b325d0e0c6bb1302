"""Robot + fixtures + objects + camera -> a compiled MuJoCo model, and where things live in it.

The robot is any ``Embodiment``; the scene adds the room, the task's fixtures and objects, the
camera, one contact sensor per (robot effector, task object) pair and one per contact pair the task
names (for example a hammer's head against a nail, or a sponge against the counter).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from keyscaffold.sim.embodiments import Embodiment
from keyscaffold.sim.embodiments.base import effector_sensor_name
from keyscaffold.sim.objects import SceneObject
from keyscaffold.sim.objects.room import floor_and_walls, shared_assets

CONTROL_DT = 1.0 / 60.0
"""One control step (s)."""


@dataclass(frozen=True)
class CameraSpec:
    """A fixed scene camera looking from ``pos`` at ``target``."""

    name: str = "scene"
    pos: tuple[float, float, float] = (1.35, 0.0, 1.55)
    target: tuple[float, float, float] = (0.45, 0.0, 0.9)
    fovy: float = 50.0


@dataclass(frozen=True)
class PhysicsConfig:
    """Simulation settings shared by every scene."""

    physics_dt: float = 1.0 / 120.0
    """Physics timestep (s); the control step is a whole multiple of it."""
    impratio: float = 10.0
    """Ratio of frictional to normal constraint impedance (elliptic cones)."""

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return max(1, round(CONTROL_DT / self.physics_dt))


@dataclass(frozen=True)
class SceneIndex:
    """Addresses into qpos, qvel, sensordata and body/site ids of a compiled scene.

    Attributes:
        robot_qpos: qpos addresses of the robot's joints (``Embodiment.robot_joints``), shape:
            (robot nq,).
        robot_qvel: Their dof addresses, shape: (robot nq,).
        object_qpos: Free-joint qpos addresses (7) of every movable object.
        object_qvel: Free-joint dof addresses (6) of every movable object.
        joint_qpos: qpos address of every named hinge or slide joint outside the robot.
        joint_qvel: dof address of those joints.
        joint_range: (low, high) of those joints; ``None`` where the joint is unlimited.
        effector_sites: Site id of each robot effector, shape: (E,).
        effector_contact_adr: Sensor addresses of (effector, task object) pairs, effector-major,
            shape: (E * C,).
        pair_contact_adr: Sensor address of each contact pair the task names.
        body_ids: Body id by name.
    """

    robot_qpos: np.ndarray
    robot_qvel: np.ndarray
    object_qpos: dict[str, np.ndarray]
    object_qvel: dict[str, np.ndarray]
    joint_qpos: dict[str, int]
    joint_qvel: dict[str, int]
    joint_range: dict[str, tuple[float, float] | None]
    effector_sites: np.ndarray
    effector_contact_adr: np.ndarray
    pair_contact_adr: dict[tuple[str, str], int]
    body_ids: dict[str, int]


def pair_sensor_name(a: str, b: str) -> str:
    """Name of the contact sensor between bodies ``a`` and ``b``."""
    return f"contact_{a}__{b}"


def _pair_sensors_xml(pairs: list[tuple[str, str]], robot_root: str) -> str:
    """Net contact force sensors between named bodies; the robot's root means its whole tree."""

    def side(i: int, name: str) -> str:
        return f'{"subtree" if name == robot_root else "body"}{i}="{name}"'

    return "".join(
        f'<contact name="{pair_sensor_name(a, b)}" {side(1, a)} {side(2, b)} data="force" '
        'reduce="netforce" num="1"/>'
        for a, b in pairs
    )


def _look_at_xyaxes(pos: np.ndarray, target: np.ndarray) -> str:
    forward = target - pos
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return " ".join(f"{v:.6f}" for v in (*right, *up))


def scene_xml(
    objects: list[SceneObject],
    camera: CameraSpec,
    physics: PhysicsConfig,
    embodiment: Embodiment,
    contact_bodies: list[str],
    contact_pairs: list[tuple[str, str]] = (),
) -> str:
    """Compose the MJCF document of a scene with a robot.

    Args:
        objects: Fixtures and objects, in addition to the room.
        camera: The task's scene camera.
        physics: Timestep and contact settings.
        embodiment: The robot.
        contact_bodies: Bodies whose contact force with each robot effector is sensed.
        contact_pairs: Further body pairs whose contact force is sensed.
    """
    pos, target = np.array(camera.pos, float), np.array(camera.target, float)
    all_objects = [floor_and_walls(), *objects]
    return (
        '<mujoco model="keyscaffold_scene">'
        '<compiler angle="radian" autolimits="true"/>'
        f'<option timestep="{physics.physics_dt:.8f}" integrator="implicitfast" cone="elliptic" '
        f'impratio="{physics.impratio}" gravity="0 0 -9.81"/>'
        '<visual><global offwidth="1024" offheight="1024"/><quality shadowsize="2048"/>'
        '<headlight ambient="0.35 0.35 0.35" diffuse="0.4 0.4 0.4" specular="0.1 0.1 0.1"/></visual>'
        f"<default>{embodiment.defaults_xml()}</default>"
        f"<asset>{shared_assets()}{''.join(o.assets for o in all_objects)}</asset>"
        "<worldbody>"
        '<light name="key" pos="1.2 0.6 2.6" dir="-0.4 -0.2 -1" diffuse="0.6 0.6 0.6" castshadow="true"/>'
        '<light name="fill" pos="0.0 -1.0 2.2" dir="0.2 0.5 -1" diffuse="0.25 0.25 0.25" castshadow="false"/>'
        f'<camera name="{camera.name}" pos="{" ".join(map(str, camera.pos))}" fovy="{camera.fovy}" '
        f'xyaxes="{_look_at_xyaxes(pos, target)}"/>'
        f"{''.join(o.body for o in all_objects)}"
        f"{embodiment.body_xml()}"
        "</worldbody>"
        f"<actuator>{embodiment.actuators_xml()}</actuator>"
        f"<sensor>{embodiment.contact_sensors_xml(contact_bodies)}"
        f"{_pair_sensors_xml(list(contact_pairs), embodiment.root_body)}</sensor>"
        "</mujoco>"
    )


def build_model(
    objects: list[SceneObject],
    camera: CameraSpec,
    physics: PhysicsConfig,
    embodiment: Embodiment,
    contact_bodies: list[str],
    contact_pairs: list[tuple[str, str]] = (),
) -> mujoco.MjModel:
    """Compile a scene; raises ``ValueError`` naming the MJCF problem if it does not compile."""
    xml = scene_xml(objects, camera, physics, embodiment, contact_bodies, contact_pairs)
    try:
        return mujoco.MjModel.from_xml_string(xml)
    except ValueError as error:
        raise ValueError(f"scene failed to compile: {error}") from error


def index_scene(
    model: mujoco.MjModel,
    embodiment: Embodiment,
    movable: list[str],
    contact_bodies: list[str],
    contact_pairs: list[tuple[str, str]] = (),
) -> SceneIndex:
    """Look up the addresses the environment reads and writes every step."""

    def jnt_qpos(name: str, width: int) -> np.ndarray:
        adr = int(model.joint(name).qposadr[0])
        return np.arange(adr, adr + width)

    def jnt_qvel(name: str, width: int) -> np.ndarray:
        adr = int(model.joint(name).dofadr[0])
        return np.arange(adr, adr + width)

    robot_joints = embodiment.robot_joints()
    robot = set(robot_joints)
    sensors = [
        int(model.sensor(effector_sensor_name(effector, body)).adr[0])
        for effector in embodiment.effector_bodies()
        for body in contact_bodies
    ]
    scalar_types = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    named = [
        model.joint(j)
        for j in range(model.njnt)
        if int(model.jnt_type[j]) in scalar_types and model.joint(j).name not in robot
    ]
    names = [model.body(i).name for i in range(model.nbody)]
    return SceneIndex(
        robot_qpos=np.concatenate([jnt_qpos(j, 1) for j in robot_joints]),
        robot_qvel=np.concatenate([jnt_qvel(j, 1) for j in robot_joints]),
        object_qpos={name: jnt_qpos(f"{name}_free", 7) for name in movable},
        object_qvel={name: jnt_qvel(f"{name}_free", 6) for name in movable},
        joint_qpos={j.name: int(j.qposadr[0]) for j in named},
        joint_qvel={j.name: int(j.dofadr[0]) for j in named},
        joint_range={
            j.name: (float(j.range[0]), float(j.range[1])) if int(j.limited[0]) else None
            for j in named
        },
        effector_sites=np.array([model.site(s).id for s in embodiment.effector_sites()]),
        effector_contact_adr=np.array(sensors, dtype=int),
        pair_contact_adr={
            (a, b): int(model.sensor(pair_sensor_name(a, b)).adr[0]) for a, b in contact_pairs
        },
        body_ids={name: i for i, name in enumerate(names) if name},
    )


def subtree_bodies(model: mujoco.MjModel, roots: list[str]) -> list[str]:
    """Names of the bodies in the kinematic subtrees of ``roots`` (the roots first, then their
    descendants in model order): an object's articulated parts (a drawer, a door, a tool's second
    link) belong to the object."""
    root_ids = [model.body(name).id for name in roots]
    inside = set(root_ids)
    for body in range(model.nbody):  # parents come before their children in MuJoCo's order
        if int(model.body_parentid[body]) in inside and body != 0:
            inside.add(body)
    ordered = root_ids + [b for b in range(model.nbody) if b in inside and b not in root_ids]
    return [model.body(b).name for b in ordered]


def bodies_bounds(model: mujoco.MjModel, data: mujoco.MjData, bodies: list[str]) -> np.ndarray:
    """Axis-aligned world box around every geom of ``bodies`` (each geom's bounding sphere) in
    ``data``'s current pose, shape: (2, 3) (low, high; m)."""
    ids = [model.body(name).id for name in bodies]
    geoms = np.flatnonzero(np.isin(model.geom_bodyid, ids))
    if geoms.size == 0:
        raise ValueError(f"bodies {bodies} have no geoms to bound")
    centers, radii = data.geom_xpos[geoms], model.geom_rbound[geoms][:, None]
    return np.stack([(centers - radii).min(0), (centers + radii).max(0)])
