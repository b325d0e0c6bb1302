"""Robot + fixtures + objects + camera -> a compiled MuJoCo model, and where things live in it."""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from keyscaffold.sim.embodiments import hand
from keyscaffold.sim.objects import SceneObject, floor_and_walls, shared_assets

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
    gains: hand.HandGains = field(default_factory=hand.HandGains)

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return max(1, round(CONTROL_DT / self.physics_dt))


@dataclass(frozen=True)
class SceneIndex:
    """Addresses into qpos, qvel, ctrl, sensordata and body/site ids of a compiled scene."""

    wrist_qpos: np.ndarray
    finger_qpos: np.ndarray
    hand_qvel: np.ndarray
    object_qpos: dict[str, np.ndarray]
    object_qvel: dict[str, np.ndarray]
    fingertip_sites: np.ndarray
    contact_sensor_adr: np.ndarray
    body_ids: dict[str, int]


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
    contact_bodies: list[str],
) -> str:
    """Compose the MJCF document of a scene with the floating hand.

    Args:
        objects: Fixtures and objects, in addition to the room.
        camera: The task's scene camera.
        physics: Timestep, contact and gain settings.
        contact_bodies: Bodies whose contact force with each fingertip is sensed.
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
        f"<default>{hand.hand_defaults_xml(physics.gains)}</default>"
        f"<asset>{shared_assets()}{''.join(o.assets for o in all_objects)}</asset>"
        "<worldbody>"
        '<light name="key" pos="1.2 0.6 2.6" dir="-0.4 -0.2 -1" diffuse="0.6 0.6 0.6" castshadow="true"/>'
        '<light name="fill" pos="0.0 -1.0 2.2" dir="0.2 0.5 -1" diffuse="0.25 0.25 0.25" castshadow="false"/>'
        f'<camera name="{camera.name}" pos="{" ".join(map(str, camera.pos))}" fovy="{camera.fovy}" '
        f'xyaxes="{_look_at_xyaxes(pos, target)}"/>'
        f"{''.join(o.body for o in all_objects)}"
        f"{hand.hand_body_xml()}"
        "</worldbody>"
        f"<actuator>{hand.hand_actuators_xml(physics.gains)}</actuator>"
        f"<sensor>{hand.fingertip_contact_sensors_xml(contact_bodies)}</sensor>"
        "</mujoco>"
    )


def build_model(
    objects: list[SceneObject],
    camera: CameraSpec,
    physics: PhysicsConfig,
    contact_bodies: list[str],
) -> mujoco.MjModel:
    """Compile a scene; raises ``ValueError`` naming the MJCF problem if it does not compile."""
    xml = scene_xml(objects, camera, physics, contact_bodies)
    try:
        return mujoco.MjModel.from_xml_string(xml)
    except ValueError as error:
        raise ValueError(f"scene failed to compile: {error}") from error


def index_scene(model: mujoco.MjModel, movable: list[str], contact_bodies: list[str]) -> SceneIndex:
    """Look up the addresses the environment reads and writes every step."""

    def jnt_qpos(name: str, width: int) -> np.ndarray:
        adr = int(model.joint(name).qposadr[0])
        return np.arange(adr, adr + width)

    def jnt_qvel(name: str, width: int) -> np.ndarray:
        adr = int(model.joint(name).dofadr[0])
        return np.arange(adr, adr + width)

    wrist = np.concatenate([jnt_qpos(j, 1) for j in hand.WRIST_JOINTS])
    fingers = np.concatenate([jnt_qpos(j, 1) for j in hand.finger_joint_names()])
    hand_dofs = np.concatenate(
        [jnt_qvel(j, 1) for j in (*hand.WRIST_JOINTS, *hand.finger_joint_names())]
    )
    sensors = []
    for tip in hand.fingertip_body_names():
        for body in contact_bodies:
            sensor = model.sensor(f"touch_{tip}_{body}")
            sensors.append(int(sensor.adr[0]))
    names = [model.body(i).name for i in range(model.nbody)]
    return SceneIndex(
        wrist_qpos=wrist,
        finger_qpos=fingers,
        hand_qvel=hand_dofs,
        object_qpos={name: jnt_qpos(f"{name}_free", 7) for name in movable},
        object_qvel={name: jnt_qvel(f"{name}_free", 6) for name in movable},
        fingertip_sites=np.array([model.site(s).id for s in hand.fingertip_site_names()]),
        contact_sensor_adr=np.array(sensors, dtype=int),
        body_ids={name: i for i, name in enumerate(names) if name},
    )
