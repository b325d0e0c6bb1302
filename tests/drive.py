"""Drive task scenes through the simulator without a policy: scripted wrist motion and forces."""

from __future__ import annotations

import numpy as np

from keyscaffold.sim.scene import CONTROL_DT, PhysicsConfig
from keyscaffold.tasks.base import InitialState, Task, TaskMonitor


class Driver:
    """Batched worlds of one task in given initial states, with the task's monitor running."""

    def __init__(self, task: Task, states: list[InitialState], threads: int = 1) -> None:
        physics = PhysicsConfig()
        self.task = task
        self.robot = task.robot()
        self.spec = task.actions()
        self.worlds = task.make_worlds(
            task.build_model(physics), len(states), threads, physics.substeps
        )
        joint_names = sorted({n for s in states for n in s.joints})
        self.worlds.reset_worlds(
            np.arange(len(states)),
            np.array([s.wrist for s in states]),
            np.tile(self.robot.open_pose(), (len(states), 1)),
            {n: np.array([s.objects[n] for s in states]) for n in task.movable_objects()},
            {n: np.array([s.joints.get(n, 0.0) for s in states]) for n in joint_names},
        )
        self.monitor = TaskMonitor(task, self.worlds)
        self.wrist = np.array([s.wrist for s in states], dtype=np.float64)
        self.grip = np.zeros((len(states), self.spec.num_actions - 6))

    def step(self, wrist=None, grip=None, forces: dict[str, np.ndarray] | None = None) -> dict:
        """One control step: wrist pose targets (B, 6), grip actions (B, G), body forces (B, 3)."""
        if wrist is not None:
            self.wrist = np.broadcast_to(np.asarray(wrist, float), self.wrist.shape).copy()
        if grip is not None:
            self.grip = np.broadcast_to(np.asarray(grip, float), self.grip.shape).copy()
        self.worlds.xfrc_applied[:] = 0.0
        for body, force in (forces or {}).items():
            bid = self.worlds.index.body_ids[body]
            self.worlds.xfrc_applied[:, bid, :3] = force
        action = np.concatenate([np.zeros_like(self.wrist), self.grip], axis=1)
        ctrl = self.spec.controls(self.wrist, action, 0.0, 0.0)
        self.worlds.step(ctrl)
        self.worlds.check_finite()
        return self.monitor.update()

    def pull(
        self, body: str, target: np.ndarray, gain: float, steps: int, damping: float = 0.0, **kwargs
    ) -> dict:
        """Pull ``body`` toward ``target`` (B, 3) with a damped spring force for ``steps``."""
        result, last = {}, self.worlds.body_position(body).copy()
        for _ in range(steps):
            position = self.worlds.body_position(body).copy()
            force = gain * (target - position) - damping * (position - last) / CONTROL_DT
            last = position
            result = self.step(forces={body: force}, **kwargs)
        return result
