"""Forward kinematics and Jacobians of a serial chain of hinge joints, in numpy, batched.

An arm is a chain of links; link i's frame sits at a fixed offset and rotation in link i-1's
frame (link -1 is the arm's base) and turns about its joint's axis through its own origin (or
through an anchor point). The chain ends in a tip frame fixed in the last link: for an arm, the
mounting frame of its tool. These are the same kinematics MuJoCo compiles from the arm's MJCF,
without MuJoCo, so a runtime outside the simulator can use them and every world is done at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


def axis_rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotations by ``angle`` about a unit ``axis`` (Rodrigues' formula).

    Args:
        axis: Shape: (3,).
        angle: Shape: (B,) (rad).

    Returns:
        Shape: (B, 3, 3).
    """
    x, y, z = axis
    skew = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    angle = np.asarray(angle, dtype=np.float64)[:, None, None]
    return np.eye(3) + np.sin(angle) * skew + (1.0 - np.cos(angle)) * (skew @ skew)


@dataclass(frozen=True)
class SerialChain:
    """A base frame, N hinge joints in a row, and a tip frame fixed in the last link.

    Attributes:
        base_position: World position of the base frame, shape: (3,) (m).
        base_rotation: World rotation of the base frame, shape: (3, 3).
        offsets: Origin of link i in its parent's frame, shape: (N, 3) (m).
        rotations: Fixed rotation of link i in its parent's frame, shape: (N, 3, 3).
        axes: Unit joint axis of link i in its own frame, shape: (N, 3).
        anchors: Point on joint i's axis in link i's frame, shape: (N, 3) (m); zeros for joints
            through the link origin.
        tip_offset: Tip origin in the last link's frame, shape: (3,) (m).
        tip_rotation: Tip rotation in the last link's frame, shape: (3, 3).
    """

    base_position: np.ndarray
    base_rotation: np.ndarray
    offsets: np.ndarray
    rotations: np.ndarray
    axes: np.ndarray
    anchors: np.ndarray
    tip_offset: np.ndarray
    tip_rotation: np.ndarray

    @property
    def num_joints(self) -> int:
        """N."""
        return len(self.axes)

    def to_json(self) -> dict:
        """The chain as plain data (nested lists, one entry per attribute)."""
        return {item.name: np.asarray(getattr(self, item.name)).tolist() for item in fields(self)}

    @classmethod
    def from_json(cls, data: dict) -> SerialChain:
        """A chain from ``to_json`` output; a missing attribute or a wrong shape is refused."""
        missing = [item.name for item in fields(cls) if item.name not in data]
        if missing:
            raise ValueError(f"serial chain data lacks {', '.join(missing)}")
        chain = cls(**{n.name: np.asarray(data[n.name], dtype=np.float64) for n in fields(cls)})
        count = chain.num_joints
        shapes = {
            "base_position": (3,),
            "base_rotation": (3, 3),
            "offsets": (count, 3),
            "rotations": (count, 3, 3),
            "axes": (count, 3),
            "anchors": (count, 3),
            "tip_offset": (3,),
            "tip_rotation": (3, 3),
        }
        wrong = [
            f"{n} {getattr(chain, n).shape}"
            for n, s in shapes.items()
            if getattr(chain, n).shape != s
        ]
        if wrong:
            raise ValueError(
                f"serial chain of {count} joints with wrong shapes: {', '.join(wrong)}"
            )
        return chain

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """World poses along the chain at joint positions ``q``.

        Args:
            q: Shape: (B, N) (rad).

        Returns:
            Tip positions, shape (B, 3); tip rotations, shape (B, 3, 3); a world point on each
            joint axis, shape (B, N, 3); each joint's world axis, shape (B, N, 3).
        """
        q = np.atleast_2d(np.asarray(q, dtype=np.float64))
        batch = len(q)
        position = np.broadcast_to(self.base_position, (batch, 3)).copy()
        rotation = np.broadcast_to(self.base_rotation, (batch, 3, 3)).copy()
        points = np.empty((batch, self.num_joints, 3))
        axes = np.empty((batch, self.num_joints, 3))
        for i in range(self.num_joints):
            position = position + rotation @ self.offsets[i]
            rotation = rotation @ self.rotations[i]
            anchor = rotation @ self.anchors[i]
            points[:, i] = position + anchor
            axes[:, i] = rotation @ self.axes[i]
            turn = axis_rotation(self.axes[i], q[:, i])
            # turning about an axis through the anchor moves the origin unless the anchor is it
            position = position + anchor - np.einsum("bij,bj->bi", rotation, turn @ self.anchors[i])
            rotation = rotation @ turn
        tip_position = position + rotation @ self.tip_offset
        return tip_position, rotation @ self.tip_rotation, points, axes

    def jacobian(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The tip's pose and its geometric Jacobian at ``q``.

        Args:
            q: Shape: (B, N) (rad).

        Returns:
            Tip positions, shape (B, 3); tip rotations, shape (B, 3, 3); the Jacobian mapping
            joint rates to the tip's linear then angular velocity in world axes, shape (B, 6, N).
        """
        tip, rotation, points, axes = self.forward(q)
        linear = np.cross(axes, tip[:, None, :] - points)
        return tip, rotation, np.concatenate([linear, axes], axis=2).transpose(0, 2, 1)
