"""Domain randomization of batched worlds: physics per world, drawn again at every reset.

Each world draws its own factors when it is reset: the mass (and inertia) and the friction of the
task's movable objects, and the position gains and joint damping of the robot. The draws are
written into the batch's per-world model fields (``mujoco.batch.Batch.expand``), so one compiled
model serves every variant. Noise on observations, actions and start poses belongs to the env;
its magnitudes live here too so one config names the whole randomization. The default ranges are
those of IKER's domain-randomization table (mass 0.3-2.0, friction 0.3-1.8, position +-0.02 m,
orientation +-0.05 rad, scale 0.8-1.2 for objects from a scene file) plus +-20% on gains and
damping.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from keyscaffold.sim.batch import BatchedWorlds


@dataclass(frozen=True)
class Randomization:
    """What is randomized and by how much (factors are uniform in [low, high])."""

    enabled: bool = False
    """Off by default: randomization costs speed and some success (docs/training.md)."""
    object_mass: tuple[float, float] = (0.3, 2.0)
    """Factor on the mass and inertia of every movable object."""
    object_friction: tuple[float, float] = (0.3, 1.8)
    """Factor on the sliding friction of every geom of every movable object."""
    object_scale: tuple[float, float] = (0.8, 1.2)
    """Factor on the size of objects imported from a scene file. A size is compiled into the
    meshes that every world of a batch shares, so it is drawn per variant of the scene's task
    (``tasks.from_scene.SceneTask.variant(seed)``), not per world."""
    robot_gain: tuple[float, float] = (0.8, 1.2)
    """Factor on the position gain of every robot actuator."""
    robot_damping: tuple[float, float] = (0.8, 1.2)
    """Factor on the damping of every robot joint."""
    start_position: float = 0.02
    """Uniform noise on object and wrist start positions (m); the larger of this and the env's
    own start noise is used."""
    start_yaw: float = 0.05
    """Uniform noise on the start heading of every movable object (rad)."""
    observation_noise: float = 0.005
    """Standard deviation of Gaussian noise on the robot's observed joint positions (m, rad)
    and, times 10, on its observed velocities."""
    action_noise: float = 0.02
    """Standard deviation of Gaussian noise on the averaged action."""

    def validate(self) -> None:
        for name in (
            "object_mass",
            "object_friction",
            "object_scale",
            "robot_gain",
            "robot_damping",
        ):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(
                    f"randomization.{name} must be a range 0 < low <= high, got {(low, high)}"
                )
        for name in ("start_position", "start_yaw", "observation_noise", "action_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"randomization.{name} must be >= 0, got {getattr(self, name)}")


class PhysicsRandomizer:
    """Draws and writes per-world physics of a ``BatchedWorlds`` for the worlds being reset."""

    def __init__(
        self, worlds: BatchedWorlds, objects: list[str], robot_root: str, config: Randomization
    ) -> None:
        config.validate()
        self.worlds, self.config = worlds, config
        model = worlds.model
        ids = worlds.index.body_ids
        unknown = [name for name in objects if name not in ids]
        if unknown:
            raise ValueError(f"cannot randomize unknown bodies {unknown}")
        self.object_bodies = np.array([ids[name] for name in objects], dtype=np.int64)
        self.object_geoms = np.flatnonzero(np.isin(model.geom_bodyid, self.object_bodies))
        robot_bodies = _subtree(model, ids[robot_root])
        self.robot_actuators = np.array(
            [
                a
                for a in range(model.nu)
                if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT
                and model.jnt_bodyid[model.actuator_trnid[a, 0]] in robot_bodies
                and model.actuator_biastype[a] == mujoco.mjtBias.mjBIAS_AFFINE
            ],
            dtype=np.int64,
        )
        self.robot_dofs = np.flatnonzero(np.isin(model.dof_bodyid, robot_bodies))
        batch = worlds.batch
        self.mass = batch.expand("body_mass")
        self.inertia = batch.expand("body_inertia")
        self.friction = batch.expand("geom_friction")
        self.gain = batch.expand("actuator_gainprm")
        self.bias = batch.expand("actuator_biasprm")
        self.damping = batch.expand("dof_damping")
        self.base = {
            "mass": np.array(model.body_mass[self.object_bodies]),
            "inertia": np.array(model.body_inertia[self.object_bodies]),
            "friction": np.array(model.geom_friction[self.object_geoms, 0]),
            "gain": np.array(model.actuator_gainprm[self.robot_actuators, 0]),
            "bias": np.array(model.actuator_biasprm[self.robot_actuators, 1]),
            "damping": np.array(model.dof_damping[self.robot_dofs]),
        }
        self.factors = {
            name: np.ones((worlds.num_worlds, size))
            for name, size in (
                ("object_mass", len(self.object_bodies)),
                ("object_friction", len(self.object_geoms)),
                ("robot_gain", len(self.robot_actuators)),
                ("robot_damping", len(self.robot_dofs)),
            )
        }

    def randomize(self, ids: np.ndarray, rng: np.random.Generator) -> None:
        """Draw new physics for worlds ``ids`` (shape (M,)) and write it into the batch."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return
        for name, factors in self.factors.items():
            low, high = getattr(self.config, name)
            factors[ids] = rng.uniform(low, high, size=(ids.size, factors.shape[1]))
        rows = ids[:, None]
        mass = self.factors["object_mass"][ids]
        self.mass[rows, self.object_bodies] = self.base["mass"] * mass
        self.inertia[rows, self.object_bodies] = self.base["inertia"] * mass[..., None]
        self.friction[rows, self.object_geoms, 0] = (
            self.base["friction"] * self.factors["object_friction"][ids]
        )
        gain = self.factors["robot_gain"][ids]
        self.gain[rows, self.robot_actuators, 0] = self.base["gain"] * gain
        self.bias[rows, self.robot_actuators, 1] = self.base["bias"] * gain
        self.damping[rows, self.robot_dofs] = (
            self.base["damping"] * self.factors["robot_damping"][ids]
        )
        # Derived constants (inverse weights, spring rest lengths, ...) follow the new masses.
        self.worlds.batch.set_const(ids)


def _subtree(model: mujoco.MjModel, root: int) -> np.ndarray:
    """Ids of ``root`` and every body below it."""
    inside = np.zeros(model.nbody, dtype=bool)
    inside[root] = True
    for body in range(root + 1, model.nbody):  # parents precede children
        inside[body] = inside[model.body_parentid[body]]
    return np.flatnonzero(inside)
