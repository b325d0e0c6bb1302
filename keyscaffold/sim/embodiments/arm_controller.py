"""The controller of an arm that carries a tool: wrist targets to arm joint targets by IK.

Every control step, ``ArmController.controls`` takes one damped-least-squares step
(``kinematics.ik.wrist_step``, the step the deployment runtime takes too) from each world's
current arm configuration toward the wrist target, using the Jacobian the worlds compute at the
tool's mounting frame, clamps the result to the joint limits and hands it to the arm's joint
position actuators (a PD loop under gravity compensation), with the tool's joint targets after
it. The wrist pose is read from the mounting frame's pose in the same convention as the floating
tools' six wrist joints (position, then hinge angles about x, then y, then z), so a plan made
for the floating tool means the same on the arm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from keyscaffold.geometry import xyz_angles_from_rotation
from keyscaffold.kinematics import ik
from keyscaffold.sim.embodiments.controller import WRIST_SIZE, RobotController

if TYPE_CHECKING:
    from keyscaffold.sim.batch import BatchedWorlds
    from keyscaffold.sim.embodiments.arm import ArmEmbodiment


def angle_rates(angles: np.ndarray, angular_velocity: np.ndarray) -> np.ndarray:
    """Rates of the x, y, z hinge angles that turn a frame at ``angular_velocity``.

    The hinges' world axes are x, x turned by the first hinge's y, and z turned by both, so
    angular_velocity = E(angles) @ rates; E is solved with a little damping, which keeps the
    rates finite where the first and last hinge line up (y angle ±pi/2).

    Args:
        angles: Shape: (B, 3) (rad).
        angular_velocity: World axes, shape: (B, 3) (rad/s).

    Returns:
        Shape: (B, 3) (rad/s).
    """
    a, b = angles[:, 0], angles[:, 1]
    zero, one = np.zeros_like(a), np.ones_like(a)
    hinge_y = np.stack([zero, np.cos(a), np.sin(a)], -1)
    hinge_z = np.stack([np.sin(b), -np.sin(a) * np.cos(b), np.cos(a) * np.cos(b)], -1)
    axes = np.stack([np.stack([one, zero, zero], -1), hinge_y, hinge_z], -1)
    square = axes @ np.swapaxes(axes, 1, 2) + 1e-6 * np.eye(3)
    return (np.swapaxes(axes, 1, 2) @ np.linalg.solve(square, angular_velocity[..., None]))[..., 0]


class ArmController(RobotController):
    """Drives an ``ArmEmbodiment`` in every world: the robot's joints are the arm's N joints,
    then the tool's J joints, each with one position actuator."""

    robot: ArmEmbodiment

    def __init__(self, robot: ArmEmbodiment, worlds: BatchedWorlds) -> None:
        super().__init__(robot, worlds)
        self.num_arm_joints = len(robot.arm_joint_names())
        self.lower, self.upper = robot.arm.limits()
        self.arm_dofs = worlds.index.robot_qvel[: self.num_arm_joints]
        self.reference_angles = np.zeros((worlds.num_worlds, 3))
        """Per world, the wrist angles last commanded or placed: a wrist read from the mounting
        frame's rotation takes the angles nearest them (whole turns and the second branch)."""

    # ----------------------------------------------------------------------------- read
    def _mount(self) -> tuple[np.ndarray, np.ndarray]:
        """World position (B, 3) and rotation (B, 3, 3) of the tool's mounting frame."""
        body = self.robot.root_body
        return (
            np.array(self.worlds.body_position(body), dtype=np.float64),
            np.array(self.worlds.body_rotation(body), dtype=np.float64),
        )

    def wrist_pose(self, joint_pos: np.ndarray | None = None) -> np.ndarray:
        """The wrist pose of every world, shape: (num_worlds, 6), read from the worlds or, when
        ``joint_pos`` (num_worlds, robot nq) is given, by forward kinematics of its arm joints."""
        if joint_pos is None:
            position, rotation = self._mount()
        else:
            position, rotation, _, _ = self.robot.chain.forward(joint_pos[:, : self.num_arm_joints])
        angles = xyz_angles_from_rotation(rotation, self.reference_angles)
        return np.concatenate([position, angles], axis=1)

    def wrist_velocity(self) -> np.ndarray:
        """Rate of change of the wrist pose, shape: (num_worlds, 6) (m/s, rad/s)."""
        position, _ = self._mount()
        jacp, jacr = self.worlds.body_jacobian(self.robot.root_body, position)
        rates = self.worlds.robot_joint_state()[1][:, : self.num_arm_joints]
        linear = np.einsum("bij,bj->bi", jacp[:, :, self.arm_dofs], rates)
        angular = np.einsum("bij,bj->bi", jacr[:, :, self.arm_dofs], rates)
        angles = self.wrist_pose()[:, 3:]
        return np.concatenate([linear, angle_rates(angles, angular)], axis=1)

    def joint_positions(self) -> np.ndarray:
        """Positions of the tool's joints, shape: (num_worlds, J)."""
        state = self.worlds.robot_joint_state()[0]
        return np.array(state[:, self.num_arm_joints :], dtype=np.float64)

    def arm_positions(self) -> np.ndarray:
        """Positions of the arm's joints, shape: (num_worlds, N) (rad)."""
        state = self.worlds.robot_joint_state()[0]
        return np.array(state[:, : self.num_arm_joints], dtype=np.float64)

    # ----------------------------------------------------------------------------- write
    def controls(self, wrist: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """Arm joint targets one IK step from the current configuration toward ``wrist``
        (inside the joint limits), then the tool's joint targets.

        Args:
            wrist: Wrist pose targets, shape: (num_worlds, 6).
            joints: Tool joint targets, shape: (num_worlds, J) or (J,) for all worlds.

        Returns:
            Shape: (num_worlds, nu).
        """
        wrist = np.asarray(wrist, dtype=np.float64)
        position, rotation = self._mount()
        jacp, jacr = self.worlds.body_jacobian(self.robot.root_body, position)
        jacobian = np.concatenate([jacp, jacr], axis=1)[:, :, self.arm_dofs]
        arm = ik.wrist_step(
            position,
            rotation,
            jacobian,
            self.arm_positions(),
            wrist,
            self.lower,
            self.upper,
            self.robot.ik_damping,
            self.robot.ik_max_step,
        )
        self.reference_angles = np.array(wrist[:, 3:WRIST_SIZE])
        joints = np.broadcast_to(joints, (len(wrist), self.num_joints))
        return np.concatenate([arm, joints], axis=1)

    def reset(
        self,
        ids: np.ndarray,
        wrist: np.ndarray,
        joints: np.ndarray,
        objects: dict[str, np.ndarray],
        object_joints: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Put worlds ``ids`` at rest with the arm placed by IK so the wrist is at ``wrist``
        (``ArmEmbodiment.rest_qpos``) and the tool's joints at ``joints``.

        Args:
            ids: Shape: (M,).
            wrist: Shape: (M, 6).
            joints: Shape: (M, J) or (J,) for all M worlds.
        """
        wrist = np.asarray(wrist, dtype=np.float64)
        super().reset(ids, wrist, joints, objects, object_joints)
        self.reference_angles[np.asarray(ids)] = wrist[:, 3:WRIST_SIZE]
