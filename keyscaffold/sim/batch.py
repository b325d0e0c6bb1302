"""N worlds of one scene stepped together on C threads (``mujoco.batch.Batch``).

``BatchedWorlds`` is the worlds interface: the only code that touches the MuJoCo batch object.
It resets worlds to given states, steps every world by one control step (with hooks that see
the controls, for recording), snapshots and restores one world's full physics state, hands out
one world as an ``MjData`` to render, computes per-world Jacobians of a body point, and reads
keypoints, effector positions, named joints, object poses and contact forces as
``(num_worlds, ...)`` numpy arrays without Python loops over worlds. A second physics backend
(for example on a GPU) implements the same methods. How the robot's joints map to a wrist pose
is the embodiment's business (``sim/embodiments``), not this class's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import mujoco
import mujoco.batch
import numpy as np

from keyscaffold.geometry import points_in_body_frames
from keyscaffold.sim.scene import SceneIndex

_STAGE_VEL = int(mujoco.mjtStage.mjSTAGE_VEL)
PERSISTENT = True
"""One MjData per world: a step then resumes from the velocity stage the last one computed at
the new state, instead of computing it a second time (7-10% of a control step, measured)."""


class SimulationDiverged(RuntimeError):
    """The simulator produced NaN or infinite state."""


class BatchedWorlds:
    """Many copies of one scene with a robot, stepped on ``num_threads`` threads."""

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
        self.batch = mujoco.batch.Batch(
            model, nsim=num_worlds, nthread=num_threads, persistent=PERSISTENT
        )
        self.qpos = self.batch.bind("qpos")
        self.qvel = self.batch.bind("qvel")
        self.ctrl = self.batch.bind("ctrl")
        self._xpos = self.batch.bind("xpos")
        self._xmat = self.batch.bind("xmat")
        self._site_xpos = self.batch.bind("site_xpos")
        self._site_xmat = self.batch.bind("site_xmat")
        self._sensordata = self.batch.bind("sensordata")
        self.xfrc_applied = self.batch.bind("xfrc_applied")
        self.keypoint_body_ids = np.array([index.body_ids[b] for b in keypoint_bodies], dtype=int)
        self.keypoint_local = np.asarray(keypoint_local, dtype=np.float64)
        self.version = 0
        """Counts state changes (steps and resets); values derived from the state are cached
        against it, so the env, the reward and the task's evaluation share one computation."""
        self._keypoint_cache: tuple[int, np.ndarray] | None = None
        self._site_ids: dict[str, int] = {}
        self.step_hooks: list[Callable[[np.ndarray], None]] = []
        """Called with the controls of every step before the physics runs (recording)."""

    def reset_worlds(
        self,
        ids: np.ndarray,
        robot: np.ndarray,
        objects: dict[str, np.ndarray],
        joints: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Put worlds ``ids`` at rest in the given state and recompute their positions.

        The robot's position actuators start at its joint positions (it holds still).

        Args:
            ids: World indices, shape: (M,).
            robot: The robot's joint positions in its qpos order, shape: (M, robot nq); an
                embodiment's controller composes them (``RobotController.reset``).
            objects: Free-joint pose per movable object, each of shape (M, 7).
            joints: Position of named object joints (hinges, slides), each of shape (M,); joints
                not given start at 0.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return
        qpos = np.array(self.model.qpos0)[None].repeat(ids.size, 0)
        qpos[:, self.index.robot_qpos] = robot
        for name, pose in objects.items():
            qpos[:, self.index.object_qpos[name]] = pose
        for name, value in (joints or {}).items():
            qpos[:, self.index.joint_qpos[name]] = value
        self.batch.reset(ids, stage=int(mujoco.mjtStage.mjSTAGE_NONE))
        self.qpos[ids] = qpos
        self.qvel[ids] = 0.0
        self.ctrl[ids] = robot
        self.xfrc_applied[ids] = 0.0
        self.batch.forward(ids, stage=_STAGE_VEL)
        self.version += 1

    def step(self, ctrl: np.ndarray) -> None:
        """Apply actuator targets to every world and advance one control step.

        Args:
            ctrl: Shape: (num_worlds, nu), in actuator order (an embodiment's controller makes
                them, ``RobotController.controls``).
        """
        for hook in self.step_hooks:
            hook(ctrl)
        self.ctrl[:] = ctrl
        self.batch.step(nstep=self.substeps, stage=_STAGE_VEL)
        self.version += 1

    def apply_forces(self, forces: dict[str, np.ndarray]) -> None:
        """Hold external forces on bodies until the next call (the others' are cleared).

        Args:
            forces: Per body name, a force (N), shape: (num_worlds, 3) or (3,), or a force and
                torque (N, N m), shape: (num_worlds, 6), in world axes at the body's centre of
                mass.
        """
        self.xfrc_applied[:] = 0.0
        for body, force in forces.items():
            force = np.asarray(force, dtype=np.float64)
            self.xfrc_applied[:, self.index.body_ids[body], : force.shape[-1]] = force

    @contextmanager
    def recording(self) -> Iterator[list[np.ndarray]]:
        """Within the block, the controls of every step are appended (copied) to the list it
        yields, shape of each: (num_worlds, nu)."""
        applied: list[np.ndarray] = []
        hook = lambda ctrl: applied.append(np.array(ctrl))  # noqa: E731
        self.step_hooks.append(hook)
        try:
            yield applied
        finally:
            self.step_hooks.remove(hook)

    def controls(self) -> np.ndarray:
        """The actuator targets every world holds now, shape: (num_worlds, nu) (a copy)."""
        return np.array(self.ctrl)

    def snapshot(self, worlds: np.ndarray | None = None) -> np.ndarray:
        """Full physics state (``mjSTATE_FULLPHYSICS``) of worlds (default: all), shape: (W, S)."""
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        ids = np.arange(self.num_worlds) if worlds is None else np.asarray(worlds).reshape(-1)
        data = mujoco.MjData(self.model)
        state = np.empty((ids.size, mujoco.mj_stateSize(self.model, spec)))
        for row, world in enumerate(ids):
            self.batch.get_data(int(world), data)
            mujoco.mj_getState(self.model, data, state[row], spec)
        return state

    def restore(self, world: int, state: np.ndarray) -> None:
        """Put world ``world`` back in a state ``snapshot`` took (time, positions, velocities,
        actuator states, controls and applied forces) and recompute its positions."""
        data = mujoco.MjData(self.model)
        mujoco.mj_setState(self.model, data, state, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        ids = np.array([int(world)])
        self.batch.reset(ids, stage=int(mujoco.mjtStage.mjSTAGE_NONE))
        self.qpos[world], self.qvel[world] = data.qpos, data.qvel
        self.ctrl[world], self.xfrc_applied[world] = data.ctrl, data.xfrc_applied
        self.batch.bind("time")[world] = data.time
        if self.model.na:
            self.batch.bind("act")[world] = data.act
        self.batch.forward(ids, stage=_STAGE_VEL)
        self.version += 1

    def body_jacobian(
        self, body: str, point: np.ndarray, worlds: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Translational and rotational Jacobians of a world point fixed to a body, per world.

        Args:
            body: Body name.
            point: World positions of the point, shape: (W, 3) for the W worlds.
            worlds: The W worlds (default: every world).

        Returns:
            jacp, jacr, each of shape (W, 3, nv).
        """
        ids = np.arange(self.num_worlds) if worlds is None else np.asarray(worlds)
        return self.batch.jac(self.index.body_ids[body], np.asarray(point, float), ids)

    def world_data(self, world: int, data: mujoco.MjData | None = None) -> mujoco.MjData:
        """World ``world``'s state copied into an ``MjData`` (``data``, or a new one) with its
        positions recomputed, ready to render or inspect; the batch is not changed."""
        data = mujoco.MjData(self.model) if data is None else data
        self.batch.get_data(int(world), data)
        mujoco.mj_forward(self.model, data)
        return data

    def check_finite(self) -> None:
        """Raise ``SimulationDiverged`` if any world holds a non-finite state."""
        bad = ~np.isfinite(self.qpos).all(axis=1) | ~np.isfinite(self.qvel).all(axis=1)
        if bad.any():
            raise SimulationDiverged(
                f"simulation diverged in worlds {np.flatnonzero(bad)[:8].tolist()}"
            )

    def keypoints(self) -> np.ndarray:
        """World positions of the task keypoints, shape: (num_worlds, K, 3), read-only.

        Computed once per state change and shared by every reader of that state.
        """
        if self._keypoint_cache is None or self._keypoint_cache[0] != self.version:
            ids = self.keypoint_body_ids
            points = points_in_body_frames(
                self._xpos[:, ids], self._xmat[:, ids], self.keypoint_local
            )
            points.flags.writeable = False
            self._keypoint_cache = (self.version, points)
        return self._keypoint_cache[1]

    def points(
        self, body_ids: np.ndarray, local: np.ndarray, worlds: np.ndarray | None = None
    ) -> np.ndarray:
        """World positions of points fixed in bodies that differ from world to world.

        Args:
            body_ids: Body of each point in each world, shape: (W, K).
            local: Points in their body frames, shape: (W, K, 3).
            worlds: The W worlds (default: every world).

        Returns:
            Shape: (W, K, 3).
        """
        rows = self._rows(worlds)
        return points_in_body_frames(self._xpos[rows, body_ids], self._xmat[rows, body_ids], local)

    def body_origins(self, body_ids: np.ndarray, worlds: np.ndarray | None = None) -> np.ndarray:
        """World positions of the frames of bodies that differ from world to world.

        Args:
            body_ids: Shape: (W, K).
            worlds: The W worlds (default: every world).

        Returns:
            Shape: (W, K, 3).
        """
        return self._xpos[self._rows(worlds), body_ids]

    def _rows(self, worlds: np.ndarray | None) -> np.ndarray:
        return (np.arange(self.num_worlds) if worlds is None else np.asarray(worlds))[:, None]

    def effector_positions(self) -> np.ndarray:
        """Positions of the robot's effector sites, shape: (num_worlds, E, 3)."""
        return self._site_xpos[:, self.index.effector_sites]

    def effector_contact_force(self) -> np.ndarray:
        """Net contact force magnitude of each effector with the task objects (N).

        Returns:
            Shape: (num_worlds, E); forces against several task objects are summed.
        """
        return self.effector_contact_by_object().sum(axis=-1)

    def effector_contact_by_object(self) -> np.ndarray:
        """Contact force magnitude of each effector with each task object (N).

        Returns:
            Shape: (num_worlds, E, C), objects in the task's ``contact_bodies`` order.
        """
        num_effectors = len(self.index.effector_sites)
        return self._force(self.index.effector_contact_adr).reshape(
            self.num_worlds, num_effectors, -1
        )

    def pair_contact_force(self, a: str, b: str) -> np.ndarray:
        """Net contact force magnitude between two named bodies (a pair the task declared).

        Returns:
            Shape: (num_worlds,).
        """
        key = (a, b) if (a, b) in self.index.pair_contact_adr else (b, a)
        if key not in self.index.pair_contact_adr:
            raise KeyError(
                f"no contact sensor between {a!r} and {b!r}; declare the pair in the task's "
                f"contact_pairs (it has {sorted(self.index.pair_contact_adr)})"
            )
        return self._force(np.array([self.index.pair_contact_adr[key]]))[:, 0]

    def _force(self, adr: np.ndarray) -> np.ndarray:
        vectors = self._sensordata[:, np.asarray(adr, dtype=int)[:, None] + np.arange(3)]
        return np.linalg.norm(vectors, axis=-1)

    def joint_position(self, name: str) -> np.ndarray:
        """Position of a named object joint (m or rad), shape: (num_worlds,)."""
        return self.qpos[:, self._joint(name, self.index.joint_qpos)]

    def joint_velocity(self, name: str) -> np.ndarray:
        """Velocity of a named object joint, shape: (num_worlds,)."""
        return self.qvel[:, self._joint(name, self.index.joint_qvel)]

    def _joint(self, name: str, table: dict[str, int]) -> int:
        if name not in table:
            raise KeyError(f"no object joint {name!r} in the scene; it has {sorted(table)}")
        return table[name]

    def site_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World position, shape (num_worlds, 3), and rotation, shape (num_worlds, 3, 3), of a
        named site (copies)."""
        site = self._site_ids.get(name)
        if site is None:
            site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, name)
            if site < 0:
                raise KeyError(f"no site {name!r} in the scene")
            self._site_ids[name] = site
        rotation = self._site_xmat[:, site].reshape(self.num_worlds, 3, 3)
        return np.array(self._site_xpos[:, site]), np.array(rotation)

    def body_position(self, name: str) -> np.ndarray:
        """World position of a body's frame, shape: (num_worlds, 3)."""
        return self._xpos[:, self.index.body_ids[name]]

    def body_rotation(self, name: str) -> np.ndarray:
        """World rotation matrix of a body, shape: (num_worlds, 3, 3)."""
        return self._xmat[:, self.index.body_ids[name]].reshape(self.num_worlds, 3, 3)

    def free_pose(self, name: str) -> np.ndarray:
        """Free-joint pose (position, unit quaternion w x y z) of a movable object, shape:
        (num_worlds, 7) (a copy)."""
        pose = np.array(self.qpos[:, self.index.object_qpos[name]], dtype=np.float64)
        pose[:, 3:] /= np.linalg.norm(pose[:, 3:], axis=1, keepdims=True)
        return pose

    def robot_joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities of every robot joint in qpos order, each shape:
        (num_worlds, robot nq); the embodiment's controller says what they mean."""
        return self.qpos[:, self.index.robot_qpos], self.qvel[:, self.index.robot_qvel]
