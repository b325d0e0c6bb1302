"""Arms built in code: per-link kinematics and gains (``ArmSpec``), written out as MJCF with
capsule links, and the two arms the registered embodiments use (``IIWA14``, ``XARM7``)."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from keyscaffold.kinematics.chain import SerialChain


@dataclass(frozen=True)
class ArmLink:
    """One link of an arm and the hinge joint that turns it.

    Attributes:
        offset: The link's origin in its parent's frame at zero joint angles (m); every link
            frame is aligned with the base frame at zero angles.
        axis: Joint axis in the link's frame (unit).
        limits: Joint range (rad).
        radius: Radius of the link's capsule (m), which runs to the next link's origin.
        mass: Link mass (kg).
        armature: Reflected rotor inertia of the joint (kg m^2).
        damping: Joint damping (N m s/rad).
        kp: Position gain of the joint's actuator (N m/rad).
        kv: Velocity gain of the joint's actuator (N m s/rad).
        torque_limit: Actuator torque limit (N m).
    """

    offset: tuple[float, float, float]
    axis: tuple[float, float, float]
    limits: tuple[float, float]
    radius: float
    mass: float
    armature: float
    damping: float
    kp: float
    kv: float
    torque_limit: float


@dataclass(frozen=True)
class ArmSpec:
    """Kinematic and dynamic description of an arm.

    Attributes:
        name: Prefix of the arm's body, joint and actuator names.
        links: Base to flange.
        flange_offset: The flange in the last link's frame (m).
        base_radius: Radius of the base column (m).
        home: Joint positions the placing IK starts from (rad), shape: (N,).
        rgba: Colour of the links.
    """

    name: str
    links: tuple[ArmLink, ...]
    flange_offset: tuple[float, float, float]
    base_radius: float
    home: tuple[float, ...]
    rgba: str = "0.85 0.45 0.1 1"

    def joint_names(self) -> list[str]:
        """The arm joints, base to flange."""
        return [f"{self.name}_joint{i + 1}" for i in range(len(self.links))]

    def limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper joint limits, each shape: (N,) (rad)."""
        limits = np.array([link.limits for link in self.links], dtype=np.float64)
        return limits[:, 0], limits[:, 1]

    def chain(self) -> SerialChain:
        """The arm's kinematics with its base at the world origin, ending at the flange."""
        count = len(self.links)
        return SerialChain(
            base_position=np.zeros(3),
            base_rotation=np.eye(3),
            offsets=np.array([link.offset for link in self.links], dtype=np.float64),
            rotations=np.repeat(np.eye(3)[None], count, axis=0),
            axes=np.array([link.axis for link in self.links], dtype=np.float64),
            anchors=np.zeros((count, 3)),
            tip_offset=np.array(self.flange_offset, dtype=np.float64),
            tip_rotation=np.eye(3),
        )

    def body_xml(self, base_position, base_rotation: np.ndarray, flange_xml: str) -> str:
        """The arm's body tree with its base at the given world pose and ``flange_xml`` (the
        tool, in the flange frame) in its flange body; a visual pedestal reaches the floor."""
        links, name = self.links, self.name
        xml = (
            f'<body name="{name}_base" pos="{mjcf_numbers(base_position)}" '
            f'quat="{mjcf_quat(base_rotation)}">'
            f'<geom name="{name}_pedestal" type="cylinder" '
            f'fromto="0 0 {-base_position[2]:.4f} 0 0 0" size="{self.base_radius + 0.02}" '
            'rgba="0.3 0.3 0.32 1" contype="0" conaffinity="0" group="1"/>'
            f'<geom name="{name}_base_geom" type="cylinder" '
            f'fromto="0 0 0 {mjcf_numbers(links[0].offset)}" size="{self.base_radius}" '
            'rgba="0.25 0.25 0.27 1" class="arm" mass="5"/>'
        )
        joints = self.joint_names()
        for i, link in enumerate(links):
            end = links[i + 1].offset if i + 1 < len(links) else self.flange_offset
            xml += (
                f'<body name="{name}_link{i + 1}" pos="{mjcf_numbers(link.offset)}" gravcomp="1">'
                f'<joint name="{joints[i]}" axis="{mjcf_numbers(link.axis)}" '
                f'range="{link.limits[0]:.6g} {link.limits[1]:.6g}" armature="{link.armature}" '
                f'damping="{link.damping}" class="arm"/>'
                f"{_link_geom(f'{name}_link{i + 1}_geom', end, link, self.rgba)}"
            )
        flange = mjcf_numbers(self.flange_offset)
        xml += f'<body name="{name}_flange" pos="{flange}">{flange_xml}</body>'
        return xml + "</body>" * (len(links) + 1)

    def actuators_xml(self) -> str:
        """One position actuator per arm joint, base to flange."""
        return "".join(
            f'<position name="act_{joint}" joint="{joint}" kp="{link.kp}" kv="{link.kv}" '
            f'forcelimited="true" forcerange="-{link.torque_limit} {link.torque_limit}"/>'
            for joint, link in zip(self.joint_names(), self.links)
        )


def _iiwa_link(offset, axis, limit, radius, mass, big: bool) -> ArmLink:
    # kv * dt / armature stays below 2 at 120 Hz: a saturated actuator's damping does not
    # chatter even where the integrator cannot treat it implicitly
    gains = (2000.0, 100.0, 320.0) if big else (600.0, 20.0, 110.0)
    return ArmLink(offset, axis, (-limit, limit), radius, mass, 0.5 if big else 0.15, 1.0, *gains)


IIWA14 = ArmSpec(
    name="iiwa",
    links=(
        _iiwa_link((0, 0, 0.1575), (0, 0, 1), 2.967, 0.07, 4.0, True),
        _iiwa_link((0, 0, 0.2025), (0, 1, 0), 2.094, 0.07, 4.0, True),
        _iiwa_link((0, 0, 0.2045), (0, 0, 1), 2.967, 0.065, 3.0, True),
        _iiwa_link((0, 0, 0.2155), (0, 1, 0), 2.094, 0.065, 2.7, True),
        _iiwa_link((0, 0, 0.1845), (0, 0, 1), 2.967, 0.055, 1.7, False),
        _iiwa_link((0, 0, 0.2155), (0, 1, 0), 2.094, 0.055, 1.8, False),
        _iiwa_link((0, 0, 0.081), (0, 0, 1), 3.054, 0.045, 0.3, False),
    ),
    flange_offset=(0.0, 0.0, 0.045),
    base_radius=0.1,
    home=(0.0, 0.5, 0.0, 1.5, 0.0, -0.43, 0.0),
)
"""A KUKA LBR iiwa 14 R820-like arm: 0.36 m to the shoulder, 0.42 m upper arm, 0.40 m forearm,
0.126 m from the wrist to the flange; limits ±170, ±120, ±170, ±120, ±170, ±120, ±175 degrees.
At zero angles it stands straight up (a singular pose)."""


def _xarm_link(offset, axis, limits, radius, mass, big: bool) -> ArmLink:
    gains = (1500.0, 60.0, 80.0) if big else (600.0, 15.0, 30.0)
    return ArmLink(offset, axis, limits, radius, mass, 0.3 if big else 0.1, 1.0, *gains)


TURN = 2.0 * np.pi
XARM7 = ArmSpec(
    name="xarm",
    links=(
        _xarm_link((0, 0, 0.267), (0, 0, 1), (-TURN, TURN), 0.05, 2.4, True),
        _xarm_link((0, 0, 0), (0, 1, 0), (-2.059, 2.0944), 0.05, 1.2, True),
        _xarm_link((0, 0, 0.293), (0, 0, 1), (-TURN, TURN), 0.045, 1.7, True),
        _xarm_link((0.0525, 0, 0), (0, 1, 0), (-0.19198, 3.927), 0.045, 1.3, True),
        _xarm_link((0.1, 0, -0.0775), (1, 0, 0), (-TURN, TURN), 0.04, 1.6, False),
        _xarm_link((0.2425, 0, 0), (0, 1, 0), (-1.69297, np.pi), 0.04, 1.2, False),
        _xarm_link((0.076, 0, 0), (0, 0, -1), (-TURN, TURN), 0.035, 0.2, False),
    ),
    flange_offset=(0.0, 0.0, -0.097),
    base_radius=0.08,
    home=(0.0, 0.2, 0.0, 0.9, 0.0, -1.1, 0.0),
    rgba="0.9 0.9 0.92 1",
)
"""A UFACTORY xArm7-like arm: 0.267 m to the shoulder, 0.293 m upper arm with a 0.0525 m elbow
offset, a 0.3425 m forearm 0.0775 m below the elbow, and a wrist 0.076 m forward and 0.097 m
down to the flange. At zero angles the upper arm stands up, the forearm points forward and the
flange down. Limits follow the xArm7's (±360 degrees on the roll joints)."""


def mjcf_numbers(values) -> str:
    """Numbers as an MJCF attribute value."""
    return " ".join(f"{float(v):.9g}" for v in np.ravel(values))


def mjcf_quat(rotation: np.ndarray) -> str:
    """MJCF ``quat`` (w x y z) of a rotation matrix."""
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rotation, dtype=np.float64).reshape(9))
    return mjcf_numbers(quat)


def _link_geom(name: str, end, link: ArmLink, rgba: str) -> str:
    """A link's capsule from its origin to ``end`` (the next joint), or a ball where they meet."""
    shape = f'type="capsule" fromto="0 0 0 {mjcf_numbers(end)}"'
    if np.linalg.norm(end) < 1e-3:
        shape = 'type="sphere"'
    return (
        f'<geom name="{name}" {shape} size="{link.radius}" mass="{link.mass}" rgba="{rgba}" '
        'class="arm"/>'
    )
