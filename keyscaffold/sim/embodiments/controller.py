"""Embodiment controllers: the one seam between a policy's wrist-level commands and a robot's
joints.

Policies, plans and skills speak of a wrist pose (x, y, z, then hinge angles about x, y, z in
world axes; ``geometry.rotation_from_xyz_angles``) and of joint targets for the robot's
effector joints (fingers, jaws). A ``RobotController``, bound to the worlds it drives, turns a
wrist target and joint targets into actuator controls from the worlds' current state, reads the
wrist pose back, and places the robot at reset. The floating robots here own six "dummy" wrist
joints, so these are copies; an arm under the hand solves inverse kinematics in the same three
places. Nothing outside ``sim/embodiments`` knows where a wrist lives in the joint vector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the embodiment is described by base.py; the worlds by sim/batch.py
    from keyscaffold.sim.batch import BatchedWorlds
    from keyscaffold.sim.embodiments.base import Embodiment

WRIST_SIZE = 6
"""Length of a wrist pose: position (m), then hinge angles (rad)."""


class RobotController:
    """Drives one embodiment in every world of a ``BatchedWorlds``.

    This base class is the floating robot's controller: its first six joints are the wrist pose
    and the rest are the effector joints, each with one position actuator in joint order.
    """

    def __init__(self, robot: Embodiment, worlds: BatchedWorlds) -> None:
        self.robot, self.worlds = robot, worlds
        closed = robot.closed_pose()
        span = robot.open_pose() - closed
        moving = np.abs(span) > 1e-12
        self._grip_span = (closed, np.where(moving, span, 1.0), moving)
        """Closed pose, open-minus-closed span (1 where it is 0) and which joints move, (J,) each."""

    @property
    def num_joints(self) -> int:
        """J: the effector joints (fingers, jaws) the grip targets drive."""
        return self.robot.num_joints

    # ----------------------------------------------------------------------------- read
    def wrist_pose(self, joint_pos: np.ndarray | None = None) -> np.ndarray:
        """The wrist pose of every world, shape: (num_worlds, 6).

        Args:
            joint_pos: The robot's joint positions to read it from (for example with sensor
                noise added), shape: (num_worlds, robot nq); default: the worlds' state.
        """
        if joint_pos is None:
            joint_pos = self.worlds.robot_joint_state()[0]
        return np.array(joint_pos[:, :WRIST_SIZE], dtype=np.float64)

    def wrist_velocity(self) -> np.ndarray:
        """Rate of change of the wrist pose, shape: (num_worlds, 6) (m/s, rad/s)."""
        return np.array(self.worlds.robot_joint_state()[1][:, :WRIST_SIZE], dtype=np.float64)

    def joint_positions(self) -> np.ndarray:
        """Positions of the effector joints, shape: (num_worlds, J)."""
        return np.array(self.worlds.robot_joint_state()[0][:, WRIST_SIZE:], dtype=np.float64)

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Tool centre point, shape (num_worlds, 3), and the tool frame's rotation, shape
        (num_worlds, 3, 3), of every world (the embodiment's ``tcp_site``)."""
        return self.worlds.site_pose(self.robot.tcp_site)

    def grip_opening(self) -> np.ndarray:
        """How open each effector joint is: 0 at the closed pose, 1 at the open pose, shape:
        (num_worlds, J); joints whose open and closed targets agree read 0."""
        closed, span, moving = self._grip_span
        return np.where(moving, (self.joint_positions() - closed) / span, 0.0)

    # ----------------------------------------------------------------------------- write
    def controls(self, wrist: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """Actuator controls that move every world's wrist to ``wrist`` and its effector joints
        to ``joints``.

        Args:
            wrist: Wrist pose targets, shape: (num_worlds, 6).
            joints: Effector joint targets, shape: (num_worlds, J) or (J,) for all worlds.

        Returns:
            Shape: (num_worlds, nu).
        """
        joints = np.broadcast_to(joints, (len(wrist), self.num_joints))
        return np.concatenate([wrist, joints], axis=1)

    def reset(
        self,
        ids: np.ndarray,
        wrist: np.ndarray,
        joints: np.ndarray,
        objects: dict[str, np.ndarray],
        object_joints: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Put worlds ``ids`` at rest with the wrist at ``wrist`` and the effector joints at
        ``joints`` (the objects as ``BatchedWorlds.reset_worlds`` takes them).

        Args:
            ids: Shape: (M,).
            wrist: Shape: (M, 6).
            joints: Shape: (M, J) or (J,) for all M worlds.
        """
        robot = self.robot.rest_qpos(np.asarray(wrist, dtype=np.float64), joints)
        self.worlds.reset_worlds(ids, robot, objects, object_joints)
