"""move_apple physics that does what the task says, before any learning."""

from __future__ import annotations

import numpy as np

from keyscaffold.tasks.open_loop import Driver


def test_open_loop_oracle_plan_with_scripted_grasp_moves_apple_onto_board(move_apple, train_plans):
    drive = Driver(move_apple, [p.initial_state for p in train_plans], threads=2)
    start = drive.worlds.keypoints().copy()
    touched = np.zeros(len(train_plans), dtype=bool)

    def touch():
        touched[:] |= drive.worlds.effector_contact_force().sum(axis=1) > 0.1

    result = drive.follow(train_plans, on_step=touch)
    end = drive.worlds.keypoints()
    moved = np.linalg.norm(end[:, 0, :2] - start[:, 0, :2], axis=-1)
    assert (moved > 0.15).all(), moved
    assert result["success"].all()
    assert touched.all()


def test_without_closing_the_hand_the_apple_stays(move_apple, train_plans):
    drive = Driver(move_apple, [p.initial_state for p in train_plans[:2]])
    start = drive.worlds.keypoints().copy()
    result = drive.follow(train_plans[:2], close=False)
    assert not result["success"].any()
    # an open hand may push or roll the apple, but never lifts it
    assert (drive.worlds.keypoints()[:, 0, 2] < start[:, 0, 2] + 0.02).all()


def test_scripted_grasp_lifts_apple_10cm_and_holds_2s(move_apple, train_plans):
    plan = train_plans[0]
    drive = Driver(move_apple, [plan.initial_state])
    apple = np.array(plan.initial_state.objects["apple"][:3])
    grasp = np.concatenate([apple + [-0.06, 0.0, 0.06], np.zeros(3)])
    for t in range(60):  # move above and descend onto the apple
        drive.step(grasp + np.array([0, 0, 0.08 * max(0.0, 1 - t / 40)] + [0] * 3), [[0.0]])
    for t in range(30):
        drive.step(grasp, [[t / 29]])
    for t in range(60):
        drive.step(grasp + np.array([0, 0, 0.10 * t / 59, 0, 0, 0]), [[1.0]])
    lifted = drive.worlds.keypoints()[0, 0, 2]
    for _ in range(120):  # hold 2 s
        drive.step(grasp + np.array([0, 0, 0.10, 0, 0, 0]))
    held = drive.worlds.keypoints()[0, 0, 2]
    assert lifted - apple[2] > 0.09
    assert held - apple[2] > 0.09
    # held in the closed hand: at least one fingertip presses on it (the others wrap the palm side)
    assert (drive.worlds.effector_contact_force()[0] > 0).sum() >= 1
