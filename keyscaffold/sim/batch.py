"""N worlds of one scene stepped together on C threads (``mujoco.batch.Batch``).

The batch holds each world's integration state; this wrapper writes initial states and controls,
steps every world by one control step, and reads keypoints, fingertips and contact forces as
``(num_worlds, ...)`` numpy arrays without Python loops over worlds.
"""

from __future__ import annotations

import mujoco
import mujoco.batch
import numpy as np

from keyscaffold.geometry import points_in_body_frames
from keyscaffold.sim.scene import SceneIndex

_STAGE_VEL = int(mujoco.mjtStage.mjSTAGE_VEL)


class SimulationDiverged(RuntimeError):
    """The simulator produced NaN or infinite state."""


class BatchedWorlds:
    """Many copies of one scene with a floating hand, stepped on ``num_threads`` threads."""

    def __init__(
        self,
        model: mujoco.MjModel,
        index: SceneIndex,
        num_worlds: int,
        num_threads: int,
        substeps: int,
        keypoint_bodies: list[str],
        keypoint_local: np.ndarray,
    ) -> None:
        self.model = model
        self.index = index
        self.num_worlds = num_worlds
        self.substeps = substeps
        self.batch = mujoco.batch.Batch(model, nsim=num_worlds, nthread=num_threads)
        self.qpos = self.batch.bind("qpos")
        self.qvel = self.batch.bind("qvel")
        self.ctrl = self.batch.bind("ctrl")
        self._xpos = self.batch.bind("xpos")
        self._xmat = self.batch.bind("xmat")
        self._site_xpos = self.batch.bind("site_xpos")
        self._sensordata = self.batch.bind("sensordata")
        self.keypoint_body_ids = np.array([index.body_ids[b] for b in keypoint_bodies], dtype=int)
        self.keypoint_local = np.asarray(keypoint_local, dtype=np.float64)

    def reset_worlds(
        self,
        ids: np.ndarray,
        wrist: np.ndarray,
        fingers: np.ndarray,
        objects: dict[str, np.ndarray],
    ) -> None:
        """Put worlds ``ids`` at rest in the given state and recompute their positions.

        Args:
            ids: World indices, shape: (M,).
            wrist: Wrist poses, shape: (M, 6).
            fingers: Finger joint positions, shape: (M, 16).
            objects: Free-joint pose per movable object, each of shape (M, 7).
        """
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return
        qpos = np.array(self.model.qpos0)[None].repeat(ids.size, 0)
        qpos[:, self.index.wrist_qpos] = wrist
        qpos[:, self.index.finger_qpos] = fingers
        for name, pose in objects.items():
            qpos[:, self.index.object_qpos[name]] = pose
        self.batch.reset(ids, stage=int(mujoco.mjtStage.mjSTAGE_NONE))
        self.qpos[ids] = qpos
        self.qvel[ids] = 0.0
        self.ctrl[ids] = np.concatenate([wrist, fingers], axis=1)
        self.batch.forward(ids, stage=_STAGE_VEL)

    def step(self, ctrl: np.ndarray) -> None:
        """Apply position targets to every world and advance one control step.

        Args:
            ctrl: Shape: (num_worlds, 22): wrist pose targets then finger joint targets.
        """
        self.ctrl[:] = ctrl
        self.batch.step(nstep=self.substeps, stage=_STAGE_VEL)

    def check_finite(self) -> None:
        """Raise ``SimulationDiverged`` if any world holds a non-finite state."""
        bad = ~np.isfinite(self.qpos).all(axis=1) | ~np.isfinite(self.qvel).all(axis=1)
        if bad.any():
            raise SimulationDiverged(
                f"simulation diverged in worlds {np.flatnonzero(bad)[:8].tolist()}"
            )

    def keypoints(self) -> np.ndarray:
        """World positions of the task keypoints, shape: (num_worlds, K, 3)."""
        ids = self.keypoint_body_ids
        return points_in_body_frames(self._xpos[:, ids], self._xmat[:, ids], self.keypoint_local)

    def points(self, body_ids: np.ndarray, local: np.ndarray) -> np.ndarray:
        """World positions of points fixed in bodies that differ from world to world.

        Args:
            body_ids: Body of each point in each world, shape: (num_worlds, K).
            local: Points in their body frames, shape: (num_worlds, K, 3).

        Returns:
            Shape: (num_worlds, K, 3).
        """
        rows = np.arange(self.num_worlds)[:, None]
        return points_in_body_frames(self._xpos[rows, body_ids], self._xmat[rows, body_ids], local)

    def fingertips(self) -> np.ndarray:
        """Fingertip positions, shape: (num_worlds, 4, 3)."""
        return self._site_xpos[:, self.index.fingertip_sites]

    def fingertip_contact_force(self) -> np.ndarray:
        """Net contact force magnitude of each fingertip with the task objects (N).

        Returns:
            Shape: (num_worlds, 4); forces against several task objects are summed.
        """
        adr = self.index.contact_sensor_adr
        vectors = self._sensordata[:, adr[:, None] + np.arange(3)]
        magnitude = np.linalg.norm(vectors, axis=-1)
        return magnitude.reshape(self.num_worlds, 4, -1).sum(axis=-1)

    def hand_joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions and velocities of the 22 hand joints, each shape: (num_worlds, 22)."""
        qpos = np.concatenate(
            [self.qpos[:, self.index.wrist_qpos], self.qpos[:, self.index.finger_qpos]], 1
        )
        return qpos, self.qvel[:, self.index.hand_qvel]
