"""Run task scenes without a policy: plans followed open loop, scripted wrist motion and forces.

``Driver`` steps batched worlds of one task with the task's monitor running. ``follow`` replays
plans' wrist paths with a scripted grip, which measures what a plan achieves before any learning
(``benchmarks/open_loop_noise.py``, ``benchmarks/finger_roles.py``) and checks a model's plan
before training (``planning.plan_check``); ``pull`` and ``twist`` move
bodies and hinges with damped forces, which checks a task's physics and success conditions.
"""

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
        self.controller = task.put_in_states(self.worlds, states)
        self.monitor = TaskMonitor(task, self.worlds)
        self.wrist = np.array([s.wrist for s in states], dtype=np.float64)
        self.grip = np.zeros((len(states), self.spec.num_actions - 6))

    def step(self, wrist=None, grip=None, forces: dict[str, np.ndarray] | None = None) -> dict:
        """One control step: wrist pose targets (B, 6), grip actions (B, G), body forces (B, 3)."""
        if wrist is not None:
            self.wrist = np.broadcast_to(np.asarray(wrist, float), self.wrist.shape).copy()
        if grip is not None:
            self.grip = np.broadcast_to(np.asarray(grip, float), self.grip.shape).copy()
        self.worlds.apply_forces(forces or {})
        action = np.concatenate([np.zeros_like(self.wrist), self.grip], axis=1)
        self.worlds.step(self.controller.controls(*self.spec.targets(self.wrist, action, 0.0, 0.0)))
        self.worlds.check_finite()
        return self.monitor.update()

    def follow(
        self, plans, close: bool = True, on_step=None, close_after: int = 0, grip=None,
        tracked=None,
    ) -> dict:  # fmt: skip
        """Replay plans' wrist paths open loop, closing the grip over the 20 steps that end at
        each plan's grasp waypoint (or never, with ``close=False``; or, with ``close_after``,
        over that many steps that start there); ``grip(t, closure)`` may turn the scripted
        closure (B, G) into other grip actions (clipped to [0, 1]); ``on_step()`` runs after
        every step; ``tracked()`` gives the keypoints the plans track, (B, K, 3) (default: the
        task's own). Returns the last evaluation plus ``stray``: each world's largest keypoint
        distance to its plan's targets over the episode (m), the quantity the env's tracking
        limit bounds."""
        steps = self.task.episode_steps
        dense = [p.interpolate(steps) for p in plans]
        targets, wrist = np.stack([k for k, _ in dense]), np.stack([w for _, w in dense])
        grasp = np.array(
            [p.provenance["grasp_waypoint"] / (p.num_waypoints - 1) * (steps - 1) for p in plans]
        )
        start, ramp = (grasp, close_after) if close_after else (grasp - 20, 20)
        result, stray = {}, np.zeros(len(plans))
        for t in range(steps):
            closure = np.clip((t - start) / ramp, 0.0, 1.0)[:, None] if close else 0.0
            actions = np.broadcast_to(closure, self.grip.shape)
            if grip is not None:
                actions = np.clip(grip(t, actions.copy()), 0.0, 1.0)
            result = self.step(wrist[:, t], actions)
            # the env's targets after step t: its plan row t + 1, the last one held at the end
            target = targets[:, min(t + 1, steps - 1)]
            points = self.worlds.keypoints() if tracked is None else tracked()
            distance = np.linalg.norm(points - target, axis=-1)
            stray = np.maximum(stray, distance.max(axis=-1))
            if on_step is not None:
                on_step()
        return {**result, "stray": stray}

    def pull(
        self,
        body: str,
        target: np.ndarray,
        steps: int,
        gain: float = 40.0,
        damping: float = 6.0,
        carry: bool = False,
        extra: np.ndarray | None = None,
        **kwargs,
    ) -> dict:
        """Pull ``body`` toward ``target`` (B, 3) with a damped spring at its centre of mass.

        ``carry`` adds a force that cancels the body's weight (a hand holding it); ``extra`` is a
        constant force added on top (pressing down, say).
        """
        weight = self.worlds.model.body_subtreemass[self.worlds.index.body_ids[body]] * 9.81
        result, last = {}, self.worlds.body_position(body).copy()
        for _ in range(steps):
            position = self.worlds.body_position(body).copy()
            force = gain * (target - position) - damping * (position - last) / CONTROL_DT
            force[:, 2] += weight if carry else 0.0
            force += 0.0 if extra is None else extra
            last = position
            result = self.step(forces={body: force}, **kwargs)
        return result

    def twist(
        self,
        joint: str,
        body: str,
        target: float,
        steps: int,
        gain: float,
        axis,
        damping=0.0,
        reaction: str | None = None,
    ) -> dict:
        """Turn a hinge toward ``target`` (rad) with a damped torque on ``body`` about ``axis``;
        ``reaction`` gets the opposite torque (a squeeze between two links)."""
        result = {}
        for _ in range(steps):
            error = target - self.worlds.joint_position(joint)
            effort = gain * error - damping * self.worlds.joint_velocity(joint)
            torque = effort[:, None] * np.asarray(axis, dtype=np.float64)
            wrench = np.concatenate([np.zeros_like(torque), torque], axis=1)
            forces = {body: wrench, **({reaction: -wrench} if reaction else {})}
            result = self.step(forces=forces)
        return result
