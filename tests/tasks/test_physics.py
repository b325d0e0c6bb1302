"""Physics that does what the task says, before any learning."""

from __future__ import annotations

import numpy as np

from keyscaffold.rl.env import finger_targets
from keyscaffold.sim.batch import BatchedWorlds
from keyscaffold.sim.embodiments import hand
from keyscaffold.sim.scene import PhysicsConfig


def _worlds(task, plans, threads=2):
    physics = PhysicsConfig()
    model = task.build_model(physics)
    worlds = BatchedWorlds(
        model,
        task.index(model),
        len(plans),
        threads,
        physics.substeps,
        plans[0].keypoint_bodies,
        plans[0].keypoint_local,
    )
    worlds.reset_worlds(
        np.arange(len(plans)),
        np.array([p.initial_state.wrist for p in plans]),
        np.tile(hand.open_finger_pose(), (len(plans), 1)),
        {n: np.array([p.initial_state.objects[n] for p in plans]) for n in task.movable_objects()},
    )
    return worlds


def _closure_schedule(plans, steps):
    """Close the hand over 20 steps ending at each plan's grasp waypoint."""
    grasp = np.array(
        [p.provenance["grasp_waypoint"] / (p.num_waypoints - 1) * (steps - 1) for p in plans]
    )
    return lambda t: np.clip((t - grasp + 20) / 20, 0.0, 1.0)


def test_open_loop_oracle_plan_with_scripted_grasp_moves_apple_onto_board(move_apple, train_plans):
    steps = move_apple.episode_steps
    worlds = _worlds(move_apple, train_plans)
    start = worlds.keypoints().copy()
    dense = [p.interpolate(steps) for p in train_plans]
    wrist = np.stack([d[1] for d in dense])
    closure = _closure_schedule(train_plans, steps)
    touched = np.zeros(len(train_plans), dtype=bool)
    for t in range(steps):
        worlds.step(np.concatenate([wrist[:, t], finger_targets(closure(t))], axis=1))
        touched |= worlds.fingertip_contact_force().sum(axis=1) > 0.1
    worlds.check_finite()
    end = worlds.keypoints()
    moved = np.linalg.norm(end[:, 0, :2] - start[:, 0, :2], axis=-1)
    assert (moved > 0.15).all(), moved
    assert move_apple.success(end).all()
    assert touched.all()
    assert not move_apple.success(start).any()


def test_without_closing_the_hand_the_apple_stays(move_apple, train_plans):
    steps = move_apple.episode_steps
    worlds = _worlds(move_apple, train_plans[:2])
    start = worlds.keypoints().copy()
    wrist = np.stack([p.interpolate(steps)[1] for p in train_plans[:2]])
    for t in range(steps):
        worlds.step(np.concatenate([wrist[:, t], finger_targets(np.zeros(2))], axis=1))
    assert not move_apple.success(worlds.keypoints()).any()
    # an open hand may push or roll the apple, but never lifts it
    assert (worlds.keypoints()[:, 0, 2] < start[:, 0, 2] + 0.02).all()


def test_scripted_grasp_lifts_apple_10cm_and_holds_2s(move_apple, train_plans):
    plan = train_plans[0]
    worlds = _worlds(move_apple, [plan], threads=1)
    apple = np.array(plan.initial_state.objects["apple"][:3])
    grasp = np.concatenate([apple + [-0.06, 0.0, 0.06], np.zeros(3)])
    ctrl = lambda wrist, c: np.concatenate([wrist, finger_targets(np.array([c]))[0]])[None]  # noqa: E731
    for t in range(60):  # move above and descend onto the apple
        above = grasp + np.array([0, 0, 0.08 * max(0.0, 1 - t / 40)] + [0] * 3)
        worlds.step(ctrl(above, 0.0))
    for t in range(30):
        worlds.step(ctrl(grasp, t / 29))
    for t in range(60):
        worlds.step(ctrl(grasp + np.array([0, 0, 0.10 * t / 59, 0, 0, 0]), 1.0))
    lifted = worlds.keypoints()[0, 0, 2]
    for _ in range(120):  # hold 2 s
        worlds.step(ctrl(grasp + np.array([0, 0, 0.10, 0, 0, 0]), 1.0))
    held = worlds.keypoints()[0, 0, 2]
    assert lifted - apple[2] > 0.09
    assert held - apple[2] > 0.09
    assert (worlds.fingertip_contact_force()[0] > 0).sum() >= 2
