"""Forward kinematics of a robot described by ``kinematics.json``, in numpy alone.

The body tree is walked as MuJoCo walks it: a body's frame is its parent's frame moved by the
body's position and quaternion (as a rotation matrix), then by each of its joints in order (a slide moves the frame
along its axis; a hinge turns it about its axis through the joint's anchor). Joint values are
taken relative to each joint's reference value. Quaternions are (w, x, y, z).
"""

from __future__ import annotations

import numpy as np

IDENTITY = np.eye(3)


def quaternion_rotation(quaternion: np.ndarray) -> np.ndarray:
    """Rotation matrices of quaternions (w, x, y, z), shape: (..., 4) -> (..., 3, 3); the
    quaternions are normalized first."""
    q = np.asarray(quaternion, dtype=np.float64)
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    return np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    ).reshape(*q.shape[:-1], 3, 3)


class RobotKinematics:
    """Body frames and site positions of a robot from its joint positions.

    Args:
        description: The contents of ``kinematics.json`` (``bodies``, ``joints``,
            ``effector_sites``).
    """

    def __init__(self, description: dict) -> None:
        self.joints = description["joints"]
        self.bodies = description["bodies"]
        self.num_joints = len(self.joints)
        names = [body["name"] for body in self.bodies]
        self.parent = [
            None if b["parent"] is None else names.index(b["parent"]) for b in self.bodies
        ]
        if any(p is not None and p >= i for i, p in enumerate(self.parent)):
            raise ValueError("kinematics: every body must come after its parent")
        for joint in self.joints:
            if joint["type"] not in ("hinge", "slide"):
                raise ValueError(f"kinematics: joint {joint['name']!r} is a {joint['type']}")
        self.body_pos = np.array([b["pos"] for b in self.bodies], dtype=np.float64)
        self.body_rotation = quaternion_rotation([b["quat"] for b in self.bodies])
        self.axis = np.array([j["axis"] for j in self.joints], dtype=np.float64).reshape(-1, 3)
        self.anchor = np.array([j["pos"] for j in self.joints], dtype=np.float64).reshape(-1, 3)
        self.ref = np.array([j["ref"] for j in self.joints], dtype=np.float64)
        # Rodrigues' formula per hinge: turn(angle) = I + sin(angle) K + (1 - cos(angle)) K^2
        self.skew = np.array([_skew(axis) for axis in self.axis]).reshape(-1, 3, 3)
        self.skew_squared = self.skew @ self.skew
        self.body_joints = [
            [(j, self.joints[j]["type"] == "slide") for j in body["joints"]] for body in self.bodies
        ]
        sites = description["effector_sites"]
        self.site_body = np.array([names.index(s["body"]) for s in sites], dtype=np.int64)
        self.site_pos = np.array([s["pos"] for s in sites], dtype=np.float64).reshape(-1, 3)

    def body_frames(self, joint_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World position and rotation of every body.

        Args:
            joint_positions: The robot's joints in ``joints`` order, shape: (B, num_joints).

        Returns:
            Positions, shape: (B, num_bodies, 3); rotation matrices, shape:
            (B, num_bodies, 3, 3).
        """
        q = np.atleast_2d(np.asarray(joint_positions, dtype=np.float64)) - self.ref
        positions = np.empty((len(q), len(self.bodies), 3))
        rotations = np.empty((len(q), len(self.bodies), 3, 3))
        for row in range(len(q)):  # one robot at a time: 3x3 products cost least unbatched
            self._walk(q[row], positions[row], rotations[row])
        return positions, rotations

    def _walk(self, q: np.ndarray, positions: np.ndarray, rotations: np.ndarray) -> None:
        """Fill ``positions`` (num_bodies, 3) and ``rotations`` (num_bodies, 3, 3) of one robot
        at joint values ``q`` (num_joints,) taken from their reference values."""
        sines, cosines = np.sin(q), 1.0 - np.cos(q)
        for i, parent in enumerate(self.parent):
            if parent is None:
                pos, rot = self.body_pos[i], self.body_rotation[i]
            else:
                pos = positions[parent] + rotations[parent] @ self.body_pos[i]
                rot = rotations[parent] @ self.body_rotation[i]
            for j, slide in self.body_joints[i]:
                if slide:
                    pos = pos + (rot @ self.axis[j]) * q[j]
                    continue
                anchor = pos + rot @ self.anchor[j]
                rot = rot @ (IDENTITY + sines[j] * self.skew[j] + cosines[j] * self.skew_squared[j])
                pos = anchor - rot @ self.anchor[j]
            positions[i], rotations[i] = pos, rot

    def effector_positions(self, joint_positions: np.ndarray) -> np.ndarray:
        """World positions of the effector sites, shape: (B, E, 3)."""
        positions, rotations = self.body_frames(joint_positions)
        local = self.site_pos[None, :, :, None]
        return positions[:, self.site_body] + (rotations[:, self.site_body] @ local)[..., 0]


def _skew(axis: np.ndarray) -> np.ndarray:
    """The cross-product matrix of ``axis`` (3,): skew @ v = axis x v."""
    x, y, z = axis
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
