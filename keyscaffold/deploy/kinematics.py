"""Forward kinematics of a robot described by ``kinematics.json``, in numpy alone.

The body tree is walked as MuJoCo walks it: a body's frame is its parent's frame moved by the
body's position and quaternion, then by each of its joints in order (a slide moves the frame
along its axis; a hinge turns it about its axis through the joint's anchor). Joint values are
taken relative to each joint's reference value. Quaternions are (w, x, y, z).
"""

from __future__ import annotations

import numpy as np


def quaternion_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of quaternions (w, x, y, z), shape: (..., 4)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def rotate(quaternion: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``vector`` turned by unit ``quaternion``; shapes (..., 4) and (..., 3) broadcast."""
    w = quaternion[..., :1]
    axis = quaternion[..., 1:]
    twice_cross = 2.0 * np.cross(axis, vector)
    return vector + w * twice_cross + np.cross(axis, twice_cross)


def axis_angle_quaternion(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Quaternions turning by ``angle`` (rad, shape (B,)) about unit ``axis`` (3,): (B, 4)."""
    half = 0.5 * np.asarray(angle, dtype=np.float64)
    return np.concatenate([np.cos(half)[:, None], np.sin(half)[:, None] * axis[None]], axis=1)


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
        self.body_quat = np.array([b["quat"] for b in self.bodies], dtype=np.float64)
        self.axis = np.array([j["axis"] for j in self.joints], dtype=np.float64).reshape(-1, 3)
        self.anchor = np.array([j["pos"] for j in self.joints], dtype=np.float64).reshape(-1, 3)
        self.ref = np.array([j["ref"] for j in self.joints], dtype=np.float64)
        sites = description["effector_sites"]
        self.site_body = np.array([names.index(s["body"]) for s in sites], dtype=np.int64)
        self.site_pos = np.array([s["pos"] for s in sites], dtype=np.float64).reshape(-1, 3)

    def body_frames(self, joint_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World position and orientation of every body.

        Args:
            joint_positions: The robot's joints in ``joints`` order, shape: (B, num_joints).

        Returns:
            Positions, shape: (B, num_bodies, 3); quaternions, shape: (B, num_bodies, 4).
        """
        q = np.asarray(joint_positions, dtype=np.float64) - self.ref
        rows = len(q)
        positions = np.zeros((rows, len(self.bodies), 3))
        quaternions = np.zeros((rows, len(self.bodies), 4))
        for i, body in enumerate(self.bodies):
            parent = self.parent[i]
            if parent is None:
                pos = np.broadcast_to(self.body_pos[i], (rows, 3)).copy()
                quat = np.broadcast_to(self.body_quat[i], (rows, 4)).copy()
            else:
                pos = positions[:, parent] + rotate(quaternions[:, parent], self.body_pos[i])
                quat = quaternion_product(quaternions[:, parent], self.body_quat[i][None])
            for j in body["joints"]:
                if self.joints[j]["type"] == "slide":
                    pos = pos + rotate(quat, self.axis[j]) * q[:, j : j + 1]
                else:
                    anchor = pos + rotate(quat, self.anchor[j])
                    quat = quaternion_product(quat, axis_angle_quaternion(self.axis[j], q[:, j]))
                    pos = anchor - rotate(quat, self.anchor[j])
            quat = quat / np.linalg.norm(quat, axis=1, keepdims=True)
            positions[:, i], quaternions[:, i] = pos, quat
        return positions, quaternions

    def effector_positions(self, joint_positions: np.ndarray) -> np.ndarray:
        """World positions of the effector sites, shape: (B, E, 3)."""
        positions, quaternions = self.body_frames(joint_positions)
        return positions[:, self.site_body] + rotate(
            quaternions[:, self.site_body], self.site_pos[None]
        )
