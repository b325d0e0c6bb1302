"""Arms that carry a tool: a serial chain of hinge joints with the hand or the gripper on its
flange, built from primitive shapes.

An ``ArmSpec`` describes the kinematics (per link: offset from its parent at zero joint angles,
joint axis, limits, capsule radius, mass, joint armature and damping, PD gains). An
``ArmEmbodiment`` mounts a floating robot's tool tree (``Embodiment.mounted_body_xml``) on the
flange of an arm whose base stands at a given world pose. Policies and plans still speak of the
tool's wrist pose: ``arm_controller.ArmController`` turns wrist targets into arm joint targets by
damped-least-squares inverse kinematics, and ``rest_qpos`` places the arm by the same IK. The
arm's effectors, grip poses, action specs and tool centre point are the tool's.

Two arms are registered: ``iiwa_hand`` (a 7-DoF KUKA LBR iiwa 14-like arm with the 16-DoF hand)
and ``xarm_gripper`` (a 7-DoF UFACTORY xArm7-like arm with the parallel gripper).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from keyscaffold.geometry import rotation_from_xyz_angles, yaw_rotation
from keyscaffold.sim.embodiments import ik
from keyscaffold.sim.embodiments.arm_controller import ArmController
from keyscaffold.sim.embodiments.base import ActionSpec, Embodiment, add_embodiment
from keyscaffold.sim.embodiments.gripper import FloatingGripper
from keyscaffold.sim.embodiments.hand import FloatingHand
from keyscaffold.sim.embodiments.kinematics import SerialChain

REACH_TOLERANCE = (0.005, 0.02)
"""Largest position (m) and angle (rad) error of a placed arm before ``rest_qpos`` refuses."""


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


def _fmt(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def _quat(rotation: np.ndarray) -> str:
    """MJCF ``quat`` (w x y z) of a rotation matrix."""
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rotation, dtype=np.float64).reshape(9))
    return _fmt(quat)


def _link_geom(name: str, end, link: ArmLink, rgba: str) -> str:
    """A link's capsule from its origin to ``end`` (the next joint), or a ball where they meet."""
    shape = f'type="capsule" fromto="0 0 0 {_fmt(end)}"'
    if np.linalg.norm(end) < 1e-3:
        shape = 'type="sphere"'
    return (
        f'<geom name="{name}" {shape} size="{link.radius}" mass="{link.mass}" rgba="{rgba}" '
        'class="arm"/>'
    )


@dataclass
class ArmEmbodiment(Embodiment):
    """An arm with a tool (the hand or the gripper) on its flange.

    The wrist pose is the pose of the tool's mounting frame (its ``root_body``), in the floating
    tool's convention, so plans and policies mean the same thing on the arm.

    Attributes:
        arm: The arm's kinematics and gains.
        tool: The floating robot whose tool tree the flange carries.
        base_position: World position of the arm's base (m).
        base_yaw: Turn of the base about world z (rad).
        mount_angles: Hinge angles (x, y, z) of the tool's frame in the flange frame (rad).
        mount_offset: The tool frame's origin in the flange frame (m).
        ik_damping: Damping of the controller's IK step (m, rad).
        ik_max_step: Largest joint change of one IK step (rad).
    """

    arm: ArmSpec = IIWA14
    tool: Embodiment = field(default_factory=FloatingHand)
    base_position: tuple[float, float, float] = (-0.25, 0.0, 0.9)
    base_yaw: float = 0.0
    mount_angles: tuple[float, float, float] = (0.0, -np.pi / 2, 0.0)
    mount_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    ik_damping: float = 0.05
    ik_max_step: float = 0.2
    name: str = ""

    def __post_init__(self) -> None:
        self.root_body = self.tool.root_body
        self.default_action_spec = self.tool.default_action_spec
        self.tcp_site = self.tool.tcp_site
        self.chain = self._chain()

    def _chain(self) -> SerialChain:
        links = self.arm.links
        count = len(links)
        return SerialChain(
            base_position=np.array(self.base_position, dtype=np.float64),
            base_rotation=yaw_rotation(self.base_yaw),
            offsets=np.array([link.offset for link in links], dtype=np.float64),
            rotations=np.repeat(np.eye(3)[None], count, axis=0),
            axes=np.array([link.axis for link in links], dtype=np.float64),
            anchors=np.zeros((count, 3)),
            tip_offset=np.add(self.arm.flange_offset, self.mount_offset),
            tip_rotation=rotation_from_xyz_angles(np.array(self.mount_angles)),
        )

    # ------------------------------------------------------------------ the tool's
    def joint_names(self) -> list[str]:
        return self.tool.joint_names()

    def effector_bodies(self) -> list[str]:
        return self.tool.effector_bodies()

    def effector_sites(self) -> list[str]:
        return self.tool.effector_sites()

    def open_pose(self) -> np.ndarray:
        return self.tool.open_pose()

    def closed_pose(self) -> np.ndarray:
        return self.tool.closed_pose()

    def action_specs(self) -> dict[str, ActionSpec]:
        return self.tool.action_specs()

    # ------------------------------------------------------------------ the arm's
    def arm_joint_names(self) -> list[str]:
        """The arm's joints, base to flange."""
        return self.arm.joint_names()

    def robot_joints(self) -> list[str]:
        return [*self.arm_joint_names(), *self.tool.joint_names()]

    def defaults_xml(self) -> str:
        return (
            f"{self.tool.defaults_xml()}"
            '<default class="arm"><geom contype="2" conaffinity="1" condim="3" '
            'friction="0.8 0.02 0.001"/><joint type="hinge" limited="true"/></default>'
        )

    def body_xml(self) -> str:
        arm, links = self.arm, self.arm.links
        name = arm.name
        height = self.base_position[2]
        xml = (
            f'<body name="{name}_base" pos="{_fmt(self.base_position)}" '
            f'quat="{_quat(yaw_rotation(self.base_yaw))}">'
            f'<geom name="{name}_pedestal" type="cylinder" fromto="0 0 {-height:.4f} 0 0 0" '
            f'size="{arm.base_radius + 0.02}" rgba="0.3 0.3 0.32 1" contype="0" conaffinity="0" '
            'group="1"/>'
            f'<geom name="{name}_base_geom" type="cylinder" fromto="0 0 0 {_fmt(links[0].offset)}" '
            f'size="{arm.base_radius}" rgba="0.25 0.25 0.27 1" class="arm" mass="5"/>'
        )
        joints = arm.joint_names()
        for i, link in enumerate(links):
            end = links[i + 1].offset if i + 1 < len(links) else arm.flange_offset
            xml += (
                f'<body name="{name}_link{i + 1}" pos="{_fmt(link.offset)}" gravcomp="1">'
                f'<joint name="{joints[i]}" axis="{_fmt(link.axis)}" '
                f'range="{link.limits[0]:.6g} {link.limits[1]:.6g}" armature="{link.armature}" '
                f'damping="{link.damping}" class="arm"/>'
                f"{_link_geom(f'{name}_link{i + 1}_geom', end, link, arm.rgba)}"
            )
        mount = np.add(arm.flange_offset, self.mount_offset)
        rotation = rotation_from_xyz_angles(np.array(self.mount_angles))
        xml += (
            f'<body name="{name}_flange" pos="{_fmt(mount)}" quat="{_quat(rotation)}">'
            f"{self.tool.mounted_body_xml()}</body>"
        )
        return xml + "</body>" * (len(links) + 1)

    def actuators_xml(self) -> str:
        arm = "".join(
            f'<position name="act_{joint}" joint="{joint}" kp="{link.kp}" kv="{link.kv}" '
            f'forcelimited="true" forcerange="-{link.torque_limit} {link.torque_limit}"/>'
            for joint, link in zip(self.arm_joint_names(), self.arm.links)
        )
        return arm + self.tool.mounted_actuators_xml()

    # ------------------------------------------------------------------ placing
    def controller(self, worlds) -> ArmController:
        return ArmController(self, worlds)

    def arm_ik(
        self, wrist: np.ndarray, start: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Arm joint positions that put the wrist at ``wrist``, by IK from ``start``.

        Args:
            wrist: Wrist poses, shape: (M, 6).
            start: Joint positions to start from, shape: (M, N) or (N,); default: the home
                pose.

        Returns:
            Joint positions, shape (M, N); remaining pose error, shape (M, 6) (m, rad).
        """
        wrist = np.atleast_2d(np.asarray(wrist, dtype=np.float64))
        lower, upper = self.arm.limits()
        start = np.array(self.arm.home) if start is None else start
        return ik.solve(
            self.chain, wrist[:, :3], rotation_from_xyz_angles(wrist[:, 3:]), start, lower, upper
        )

    def rest_qpos(self, wrist: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """The arm placed by IK (from its home pose) with the wrist at ``wrist``, then the tool's
        joints; a wrist the arm cannot reach is refused with the error it gets to.

        Args:
            wrist: Shape: (M, 6).
            joints: Shape: (M, J), or (J,) for every row.

        Returns:
            Shape: (M, N + J).
        """
        wrist = np.atleast_2d(np.asarray(wrist, dtype=np.float64))
        q, error = self.arm_ik(wrist)
        position_error = np.linalg.norm(error[:, :3], axis=1)
        angle_error = np.linalg.norm(error[:, 3:], axis=1)
        bad = (position_error > REACH_TOLERANCE[0]) | (angle_error > REACH_TOLERANCE[1])
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"arm {self.name!r} (base at {self.base_position}, yaw {self.base_yaw}) cannot "
                f"reach the wrist pose {np.round(wrist[row], 3).tolist()}: it gets within "
                f"{position_error[row]:.3f} m and {angle_error[row]:.3f} rad. Move the base "
                "(ArmEmbodiment.base_position) nearer the task's workspace."
            )
        joints = np.broadcast_to(joints, (len(wrist), self.num_joints))
        return np.concatenate([q, joints], axis=1)


def iiwa_hand() -> ArmEmbodiment:
    """The iiwa 14-like arm carrying the 16-DoF hand, its base behind the kitchen counter."""
    return ArmEmbodiment(IIWA14, FloatingHand(), name="iiwa_hand")


def xarm_gripper() -> ArmEmbodiment:
    """The xArm7-like arm carrying the parallel gripper (pointing down at zero angles)."""
    return ArmEmbodiment(
        XARM7,
        FloatingGripper(),
        base_position=(0.0, 0.0, 0.8),
        mount_angles=(0.0, 0.0, 0.0),
        name="xarm_gripper",
    )


add_embodiment("iiwa_hand", iiwa_hand)
add_embodiment("xarm_gripper", xarm_gripper)
