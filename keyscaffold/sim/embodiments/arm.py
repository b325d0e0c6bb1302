"""Arms that carry a tool: a serial chain of hinge joints with the hand or the gripper on its
flange, built from primitive shapes.

The arm is an ``ArmDescription``: an ``arm_spec.ArmSpec`` built in code (per link: offset from
its parent at zero joint angles, joint axis, limits, capsule radius, mass, joint armature and
damping, PD gains) or an ``arm_mjcf.MjcfArm`` read from a user's MJCF file. An
``ArmEmbodiment`` mounts a floating robot's tool tree (``Embodiment.mounted_body_xml``) on the
flange of an arm whose base stands at a given world pose. Policies and plans still speak of the
tool's wrist pose: ``arm_controller.ArmController`` turns wrist targets into arm joint targets by
damped-least-squares inverse kinematics, and ``rest_qpos`` places the arm by the same IK. The
arm's effectors, grip poses, action specs and tool centre point are the tool's.

Two arms are registered: ``iiwa_hand`` (a 7-DoF KUKA LBR iiwa 14-like arm with the 16-DoF hand)
and ``xarm_gripper`` (a 7-DoF UFACTORY xArm7-like arm with the parallel gripper).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from keyscaffold.geometry import rotation_from_xyz_angles, yaw_rotation
from keyscaffold.kinematics import ik
from keyscaffold.kinematics.chain import SerialChain
from keyscaffold.sim.embodiments.arm_controller import ArmController
from keyscaffold.sim.embodiments.arm_mjcf import MjcfArm
from keyscaffold.sim.embodiments.arm_spec import IIWA14, XARM7, mjcf_numbers, mjcf_quat
from keyscaffold.sim.embodiments.base import ActionSpec, Embodiment, add_embodiment
from keyscaffold.sim.embodiments.gripper import FloatingGripper
from keyscaffold.sim.embodiments.hand import FloatingHand

REACH_TOLERANCE = (0.005, 0.02)
"""Largest position (m) and angle (rad) error of a placed arm before ``rest_qpos`` refuses."""
IK_RESTARTS = 8
"""Joint configurations beside the home pose that the placing IK starts from (``ik_starts``)."""
IK_SEED = 0
"""Seed of the drawn starting configurations: the placing IK is the same in every process."""


class ArmDescription(Protocol):
    """What an ``ArmEmbodiment`` needs of an arm: ``ArmSpec`` (built in code) and
    ``arm_mjcf.MjcfArm`` (read from a file) supply it."""

    name: str
    home: tuple[float, ...]

    def joint_names(self) -> list[str]: ...

    def limits(self) -> tuple[np.ndarray, np.ndarray]: ...

    def chain(self) -> SerialChain: ...

    def body_xml(self, base_position, base_rotation: np.ndarray, flange_xml: str) -> str: ...

    def actuators_xml(self) -> str: ...


@dataclass
class ArmEmbodiment(Embodiment):
    """An arm with a tool (the hand or the gripper) on its flange.

    The wrist pose is the pose of the tool's mounting frame (its ``root_body``), in the floating
    tool's convention, so plans and policies mean the same thing on the arm.

    Attributes:
        arm: The arm's kinematics, MJCF and gains (an ``ArmSpec`` or an ``MjcfArm``).
        tool: The floating robot whose tool tree the flange carries.
        base_position: World position of the arm's base (m).
        base_yaw: Turn of the base about world z (rad).
        mount_angles: Hinge angles (x, y, z) of the tool's frame in the flange frame (rad).
        mount_offset: The tool frame's origin in the flange frame (m).
        ik_damping: Damping of the controller's IK step (m, rad).
        ik_max_step: Largest joint change of one IK step (rad).
    """

    arm: ArmDescription = IIWA14
    tool: Embodiment = field(default_factory=FloatingHand)
    base_position: tuple[float, float, float] = (-0.25, 0.0, 0.9)
    base_yaw: float = 0.0
    mount_angles: tuple[float, float, float] = (0.0, -np.pi / 2, 0.0)
    mount_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    ik_damping: float = 0.05
    ik_max_step: float = 0.2
    name: str = ""

    @classmethod
    def from_mjcf(
        cls,
        path: str | Path,
        base_body: str,
        joint_names: list[str],
        flange_body: str,
        tool: Embodiment,
        **fields,
    ) -> ArmEmbodiment:
        """An arm read from an MJCF file (``arm_mjcf.MjcfArm.load`` with its default gains)
        carrying ``tool`` on ``flange_body``; ``fields`` set the other attributes (base pose,
        mount, name). For other gains or a home pose, pass ``MjcfArm.load(...)`` as ``arm``."""
        return cls(MjcfArm.load(path, base_body, joint_names, flange_body), tool, **fields)

    def __post_init__(self) -> None:
        self.root_body = self.tool.root_body
        self.default_action_spec = self.tool.default_action_spec
        self.tcp_site = self.tool.tcp_site
        self.chain = self._chain()

    def _chain(self) -> SerialChain:
        """The arm's chain placed at the base pose, ending at the tool's mounting frame."""
        chain = self.arm.chain()
        flange = chain.tip_rotation
        return replace(
            chain,
            base_position=np.array(self.base_position, dtype=np.float64),
            base_rotation=yaw_rotation(self.base_yaw),
            tip_offset=chain.tip_offset + flange @ np.asarray(self.mount_offset, dtype=np.float64),
            tip_rotation=flange @ rotation_from_xyz_angles(np.array(self.mount_angles)),
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

    @property
    def tool_kind(self) -> type[Embodiment]:
        """The kind of the tool on the flange (``FloatingGripper`` on ``xarm_gripper``)."""
        return self.tool.tool_kind

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
        rotation = rotation_from_xyz_angles(np.array(self.mount_angles))
        mount = (
            f'<body name="{self.arm.name}_mount" pos="{mjcf_numbers(self.mount_offset)}" '
            f'quat="{mjcf_quat(rotation)}">{self.tool.mounted_body_xml()}</body>'
        )
        return self.arm.body_xml(self.base_position, yaw_rotation(self.base_yaw), mount)

    def actuators_xml(self) -> str:
        return self.arm.actuators_xml() + self.tool.mounted_actuators_xml()

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
                pose, then for a pose it leaves out of ``REACH_TOLERANCE`` each of the other
                ``ik_starts`` in turn (the first solution within tolerance kept, else the
                nearest).

        Returns:
            Joint positions, shape (M, N); remaining pose error, shape (M, 6) (m, rad).
        """
        wrist = np.atleast_2d(np.asarray(wrist, dtype=np.float64))
        lower, upper = self.arm.limits()
        target = wrist[:, :3], rotation_from_xyz_angles(wrist[:, 3:])
        if start is not None:
            return ik.solve(self.chain, *target, start, lower, upper)
        starts = self.ik_starts()
        return ik.solve_from_starts(self.chain, *target, starts, lower, upper, REACH_TOLERANCE)

    def ik_starts(self) -> np.ndarray:
        """Where the placing IK starts, in turn (``ik.solve_from_starts``): the home pose, then
        ``IK_RESTARTS`` configurations drawn uniformly (seed ``IK_SEED``) within the middle 90%
        of the joint limits (within ±pi for a joint that turns further), nearest home first.

        Returns:
            Shape: (1 + IK_RESTARTS, N) (rad).
        """
        lower, upper = self.arm.limits()
        low, high = np.maximum(lower, -np.pi), np.minimum(upper, np.pi)
        middle, half = (low + high) / 2, 0.45 * (high - low)
        rng = np.random.default_rng(IK_SEED)
        drawn = rng.uniform(middle - half, middle + half, (IK_RESTARTS, len(lower)))
        home = np.array(self.arm.home, dtype=np.float64)
        drawn = drawn[np.argsort(np.linalg.norm(drawn - home, axis=1), kind="stable")]
        return np.concatenate([home[None], drawn])

    def rest_qpos(self, wrist: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """The arm placed by IK (``arm_ik`` from its home pose, then from its other ``ik_starts``)
        with the wrist at ``wrist``, then the tool's joints; a wrist the arm cannot reach from
        any of them is refused with the error it gets to.

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
