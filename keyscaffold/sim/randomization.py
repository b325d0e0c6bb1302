"""Domain randomization of batched worlds: physics per world, drawn again at every reset.

Each world draws its own factors when it is reset: the mass (and inertia) and the friction of the
task's movable objects, and the PD gains (stiffness) and damping of every robot joint, an arm's
included. The draws are written into the batch's per-world model fields
(``mujoco.batch.Batch.expand``), so one compiled model serves every variant. Noise on
observations, actions and start poses, and the delay of the robot's commands, belong to the env
(``CommandDelay`` is the delay line it uses); their magnitudes live here too so one config names
the whole randomization; ``Randomization.real_robot()`` is the profile for a policy meant for a
real arm. The default ranges are
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
    keypoint_noise: float = 0.0
    """Standard deviation of Gaussian noise on the keypoint positions the policy observes, drawn
    every step (m): a pose tracker's error on a real robot."""
    action_delay: tuple[int, int] = (0, 0)
    """Control steps (low, high) by which the robot's targets lag the policy's action, drawn per
    world at each reset: the latency between a real robot's controller and the policy."""
    robot_drawn_once: bool = False
    """Draw each world's robot gain and damping factors once, at its first reset, and keep them
    (one robot per world for the whole run); off: drawn again at every reset."""

    @classmethod
    def real_robot(cls) -> Randomization:
        """The profile for a policy meant for a real arm: per-world gains and damping (drawn
        once, ±30%), noise on proprioception (0.01 rad, 0.1 rad/s), on the averaged action
        (0.05) and on the tracked keypoints (5 mm), and a delay of one or two control steps."""
        return cls(
            enabled=True,
            robot_gain=(0.7, 1.3),
            robot_damping=(0.7, 1.3),
            robot_drawn_once=True,
            observation_noise=0.01,
            action_noise=0.05,
            keypoint_noise=0.005,
            action_delay=(1, 2),
        )

    @classmethod
    def preset(cls, name: str) -> Randomization:
        """A named profile (``--set env.randomization=real_robot``): ``off`` (the defaults),
        ``default`` (the defaults, enabled) or ``real_robot``."""
        presets = {
            "off": cls,
            "default": lambda: cls(enabled=True),
            "real_robot": cls.real_robot,
        }
        if name not in presets:
            raise ValueError(
                f"unknown randomization preset {name!r}; use one of {', '.join(presets)}"
            )
        return presets[name]()

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
        for name in (
            "start_position",
            "start_yaw",
            "observation_noise",
            "action_noise",
            "keypoint_noise",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"randomization.{name} must be >= 0, got {getattr(self, name)}")
        low, high = self.action_delay
        if not 0 <= low <= high or int(low) != low or int(high) != high:
            raise ValueError(
                "randomization.action_delay must be whole control steps 0 <= low <= high, got "
                f"{self.action_delay}"
            )


class PhysicsRandomizer:
    """Draws and writes per-world physics of a ``BatchedWorlds`` for the worlds being reset.

    The robot is every joint of the scene's robot (``SceneIndex.robot_qvel``: a floating robot's
    wrist and fingers, an arm's joints and its tool's): each joint's position actuator has its
    gain (kp, with the bias that makes it a servo) scaled by a ``robot_gain`` factor, and the
    joint's damping and its actuator's velocity gain (kv) by a ``robot_damping`` factor.
    """

    def __init__(self, worlds: BatchedWorlds, objects: list[str], config: Randomization) -> None:
        config.validate()
        self.worlds, self.config = worlds, config
        model = worlds.model
        ids = worlds.index.body_ids
        unknown = [name for name in objects if name not in ids]
        if unknown:
            raise ValueError(f"cannot randomize unknown bodies {unknown}")
        self.object_bodies = np.array([ids[name] for name in objects], dtype=np.int64)
        self.object_geoms = np.flatnonzero(np.isin(model.geom_bodyid, self.object_bodies))
        self.robot_dofs = np.sort(np.asarray(worlds.index.robot_qvel, dtype=np.int64))
        self.robot_actuators = np.array(
            [
                a
                for a in range(model.nu)
                if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT
                and model.jnt_dofadr[model.actuator_trnid[a, 0]] in self.robot_dofs
                and model.actuator_biastype[a] == mujoco.mjtBias.mjBIAS_AFFINE
            ],
            dtype=np.int64,
        )
        # which damping factor (a column of robot_dofs) each actuator's velocity gain follows
        self.actuator_dof = np.searchsorted(
            self.robot_dofs, model.jnt_dofadr[model.actuator_trnid[self.robot_actuators, 0]]
        )
        self.robot_drawn = np.zeros(worlds.num_worlds, dtype=bool)
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
            "velocity_bias": np.array(model.actuator_biasprm[self.robot_actuators, 2]),
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
            draw = rng.uniform(low, high, size=(ids.size, factors.shape[1]))
            if name.startswith("robot") and self.config.robot_drawn_once:
                draw = np.where(self.robot_drawn[ids, None], factors[ids], draw)
            factors[ids] = draw
        self.robot_drawn[ids] = True
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
        damping = self.factors["robot_damping"][ids]
        self.damping[rows, self.robot_dofs] = self.base["damping"] * damping
        self.bias[rows, self.robot_actuators, 2] = (
            self.base["velocity_bias"] * damping[:, self.actuator_dof]
        )
        # Derived constants (inverse weights, spring rest lengths, ...) follow the new masses.
        self.worlds.batch.set_const(ids)


class CommandDelay:
    """A per-world delay line for the robot's targets: what goes in at a step comes out
    ``delay[i]`` steps later in world i (0: at once).

    A world just reset has no older targets; until it has, it gets its first target of the
    episode (the robot holds still where the episode starts it).
    """

    def __init__(self, num_worlds: int, delay: tuple[int, int]) -> None:
        self.low, self.high = int(delay[0]), int(delay[1])
        self.delay = np.full(num_worlds, self.low, dtype=np.int64)
        self.history: np.ndarray | None = None
        """Targets of the last ``high + 1`` steps, newest first, shape: (high + 1, B, W)."""
        self.fresh = np.ones(num_worlds, dtype=bool)

    def reset(self, ids: np.ndarray, rng: np.random.Generator) -> None:
        """Forget the targets of worlds ``ids`` (shape (M,)) and draw their delays (no draw
        when the range is one value)."""
        self.fresh[ids] = True
        if self.high > self.low:
            self.delay[ids] = rng.integers(self.low, self.high + 1, size=len(ids))

    def __call__(self, targets: np.ndarray) -> np.ndarray:
        """Push this step's targets, shape (B, W), and return each world's delayed ones."""
        if self.history is None:
            self.history = np.repeat(targets[None], self.high + 1, axis=0)
        self.history = np.roll(self.history, 1, axis=0)
        self.history[0] = targets
        self.history[:, self.fresh] = targets[self.fresh]
        self.fresh[:] = False
        return self.history[self.delay, np.arange(len(targets))]
