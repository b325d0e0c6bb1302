"""The embodiment interface: what a robot supplies so that scenes, batches and envs carry it.

An embodiment is a robot whose wrist is commanded by a pose and whose effector joints (fingers,
gripper jaws) by joint targets. It supplies its MJCF (defaults, body tree, actuators, contact
sensors), its default pose, its effectors (the points that touch objects: fingertips or pads),
one or more action specs that turn a residual action into a wrist target and joint targets, and a
controller (``controller.RobotController``) that turns those into actuator controls for batched
worlds. The floating robots here carry six "dummy" wrist joints (slide x, y, z, then hinge x, y,
z, in world axes) and one position actuator per joint.

Nothing outside ``sim/embodiments`` knows how many joints, actuators or actions a robot has, nor
where its wrist lives in the joint vector: the scene, the batch stepper, the envs and training
read them from here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from keyscaffold.geometry import wrist_residual
from keyscaffold.registry import Registry
from keyscaffold.sim.embodiments.controller import RobotController

WRIST_JOINTS = ("wrist_x", "wrist_y", "wrist_z", "wrist_rx", "wrist_ry", "wrist_rz")
WRIST_DOF = len(WRIST_JOINTS)
WRIST_Z = WRIST_JOINTS.index("wrist_z")
"""The index of the wrist's vertical slide among ``WRIST_JOINTS`` (and in wrist actions)."""
WRIST_AXES = ("1 0 0", "0 1 0", "0 0 1", "1 0 0", "0 1 0", "0 0 1")


def wrist_joints_xml(joint_class: str) -> str:
    """The six dummy wrist joints of a floating robot's root body: slides along x, y, z, then
    hinges about x, y, z (each about the axis the previous ones moved)."""
    return "".join(
        f'<joint name="{name}" type="{"slide" if i < 3 else "hinge"}" axis="{axis}" '
        f'class="{joint_class}"/>'
        for i, (name, axis) in enumerate(zip(WRIST_JOINTS, WRIST_AXES))
    )


def wrist_actuators_xml(kp: float, kv: float, force_limit: float) -> str:
    """Position actuators of the six wrist joints (gains in N/m and N m/rad, limit in N, N m)."""
    return "".join(
        f'<position name="act_{j}" joint="{j}" kp="{kp}" kv="{kv}" forcelimited="true" '
        f'forcerange="-{force_limit} {force_limit}"/>'
        for j in WRIST_JOINTS
    )


@dataclass(frozen=True)
class ActionSpec:
    """How a residual action in [-1, 1] becomes actuator targets.

    The first six actions are residuals on the plan's wrist pose (position, then hinge angles); the
    rest are grip actions that ``grip_targets`` maps to the non-wrist joint targets.

    Attributes:
        name: Name of the spec (``closure``, ``per_finger``, ...).
        grip_names: Names of the grip actions, in order.
        grip_targets: Maps grip actions, shape (B, G), to joint targets, shape (B, J).
    """

    name: str
    grip_names: tuple[str, ...]
    grip_targets: Callable[[np.ndarray], np.ndarray]

    @property
    def names(self) -> tuple[str, ...]:
        """Every action's name: the wrist residuals, then the grip actions."""
        return (*WRIST_JOINTS, *self.grip_names)

    @property
    def num_actions(self) -> int:
        """Length of the action vector."""
        return WRIST_DOF + len(self.grip_names)

    @property
    def rotation_slice(self) -> slice:
        """Where the wrist rotation residuals sit in the action vector."""
        return slice(3, WRIST_DOF)

    @property
    def grip_slice(self) -> slice:
        """Where the grip actions sit in the action vector."""
        return slice(WRIST_DOF, self.num_actions)

    def targets(
        self,
        plan_wrist: np.ndarray,
        action: np.ndarray,
        position_scale: float,
        rotation_scale: float,
        rotation_limit: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Wrist and joint targets of every world: plan wrist plus scaled residual, and the grip
        actions' joint targets (a controller turns them into controls).

        Args:
            plan_wrist: The plan's wrist pose, shape: (B, 6).
            action: Actions in [-1, 1], shape: (B, num_actions).
            position_scale: Wrist position residual at action 1 (m).
            rotation_scale: Wrist rotation residual at action 1 (rad).
            rotation_limit: Largest wrist rotation residual per axis (rad); None: ``rotation_scale``.

        Returns:
            Wrist targets, shape: (B, 6); joint targets, shape: (B, J).
        """
        if action.shape[-1] != self.num_actions:
            raise ValueError(
                f"action spec {self.name!r} takes {self.num_actions} actions "
                f"({', '.join(self.names)}), got {action.shape[-1]}"
            )
        residual = wrist_residual(action, position_scale, rotation_scale, rotation_limit)
        return plan_wrist + residual, self.grip_targets(action[:, self.grip_slice])


class Embodiment(ABC):
    """A robot: a wrist placed by a pose plus effector joints, one position actuator per joint.

    The base class describes a floating robot (six wrist joints on ``root_body``); an arm
    (``arm.ArmEmbodiment``) carries a floating robot's tool tree on its flange instead.
    """

    name: str = ""
    root_body: str = ""
    """The body that carries the wrist joints (the robot's whole tree hangs below it)."""
    default_action_spec: str = ""
    tcp_site: str = ""
    """Site at the tool centre point (between the pads, in the palm): where a grasp closes;
    its frame is the robot's tool frame."""

    @abstractmethod
    def joint_names(self) -> list[str]:
        """The non-wrist joints in actuator order."""

    @abstractmethod
    def effector_bodies(self) -> list[str]:
        """Bodies whose contact with task objects is sensed (fingertips, jaw pads)."""

    @abstractmethod
    def effector_sites(self) -> list[str]:
        """One site per effector, whose position the policy observes."""

    @abstractmethod
    def open_pose(self) -> np.ndarray:
        """Joint targets of the open, resting robot, shape: (J,)."""

    @abstractmethod
    def closed_pose(self) -> np.ndarray:
        """Joint targets of the fully closed grip, shape: (J,)."""

    @abstractmethod
    def action_specs(self) -> dict[str, ActionSpec]:
        """Every action spec of the robot, by name (``wrist``, the six wrist actions with the
        grip held closed, is added for every robot)."""

    @abstractmethod
    def defaults_xml(self) -> str:
        """MJCF ``<default>`` classes the robot's joints and geoms use."""

    @abstractmethod
    def body_xml(self) -> str:
        """The robot's body tree at the world origin, with the six wrist joints on ``root_body``."""

    @abstractmethod
    def actuators_xml(self) -> str:
        """Position actuators, one per joint of ``robot_joints()`` and in that order."""

    def mounted_body_xml(self) -> str:
        """The body tree without the wrist joints, to mount as a tool on an arm's flange (the
        mounting frame is ``root_body``'s frame)."""
        raise NotImplementedError(
            f"embodiment {self.name!r} cannot be mounted on an arm: it defines no mounted_body_xml"
        )

    def mounted_actuators_xml(self) -> str:
        """Position actuators of ``joint_names()`` alone, for the tool mounted on an arm."""
        raise NotImplementedError(
            f"embodiment {self.name!r} cannot be mounted on an arm: it defines no "
            "mounted_actuators_xml"
        )

    def robot_joints(self) -> list[str]:
        """Every joint of the robot in qpos order: for a floating robot the six wrist joints,
        then ``joint_names()``; an arm lists its arm joints, then the tool's."""
        return [*WRIST_JOINTS, *self.joint_names()]

    @property
    def tool_kind(self) -> type[Embodiment]:
        """The class of the tool the robot works with (``FloatingHand``, ``FloatingGripper``):
        a floating robot's own; an arm's is its flange's tool's. Plans, grasps and action specs
        are written for a tool kind, whatever carries it."""
        return type(self)

    @property
    def num_joints(self) -> int:
        """J: the effector joints (fingers, jaws) that grip actions drive."""
        return len(self.joint_names())

    @property
    def num_controls(self) -> int:
        """Length of a control vector: one position actuator per robot joint (6 + J for a
        floating robot)."""
        return len(self.robot_joints())

    def action_spec(self, name: str = "") -> ActionSpec:
        """The action spec ``name`` (the default one when empty); unknown names are refused."""
        specs = {**self.action_specs(), "wrist": ActionSpec("wrist", (), self._closed_targets)}
        name = name or self.default_action_spec
        if name not in specs:
            raise ValueError(
                f"embodiment {self.name!r} has no action spec {name!r}; it has {', '.join(specs)}"
            )
        return specs[name]

    def _closed_targets(self, grip: np.ndarray) -> np.ndarray:
        """Joint targets of the ``wrist`` spec, which has no grip actions: the grip stays
        closed. Shape of ``grip``: (B, 0); returns shape (B, J)."""
        return np.repeat(self.closed_pose()[None], len(grip), axis=0)

    def controller(self, worlds) -> RobotController:
        """The controller that drives this robot in ``worlds`` (a ``BatchedWorlds``)."""
        return RobotController(self, worlds)

    def rest_qpos(self, wrist: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """The robot's joint positions (qpos order) with the wrist at ``wrist`` and the effector
        joints at ``joints``; an arm solves inverse kinematics here.

        Args:
            wrist: Shape: (M, 6).
            joints: Shape: (M, J), or (J,) for every row.

        Returns:
            Shape: (M, robot nq).
        """
        wrist = np.atleast_2d(wrist)
        joints = np.broadcast_to(joints, (len(wrist), self.num_joints))
        return np.concatenate([wrist, joints], axis=1)

    def contact_sensors_xml(self, object_bodies: list[str]) -> str:
        """One net contact force sensor per (effector, task object) pair."""
        return "".join(
            f'<contact name="{effector_sensor_name(effector, obj)}" body1="{effector}" '
            f'body2="{obj}" data="force" reduce="netforce" num="1"/>'
            for effector in self.effector_bodies()
            for obj in object_bodies
        )


def effector_sensor_name(effector: str, body: str) -> str:
    """Name of the contact sensor between an effector and a task body."""
    return f"touch_{effector}_{body}"


_EMBODIMENTS: Registry[Embodiment] = Registry("embodiment")
register_embodiment = _EMBODIMENTS.register
add_embodiment = _EMBODIMENTS.add
"""Register a factory (no arguments) under a name: for embodiments built from data, such as an
arm carrying a tool."""
embodiment_names = _EMBODIMENTS.names


def make_embodiment(name: str | Embodiment) -> Embodiment:
    """A registered embodiment by name (an ``Embodiment`` instance is passed through)."""
    return name if isinstance(name, Embodiment) else _EMBODIMENTS.make(name)
