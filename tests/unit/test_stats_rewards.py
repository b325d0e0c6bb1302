from __future__ import annotations

import numpy as np
import pytest

from keyscaffold.evaluation.stats import wilson_interval
from keyscaffold.rl.env import EnvConfig
from keyscaffold.rl.rewards import RewardConfig, contact_reward, reward_terms, tracking_reward
from keyscaffold.sim.embodiments import hand


def test_wilson_known_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 20)[0] == 0.0
    assert wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_wilson_contains_proportion_and_narrows():
    for n in (10, 100, 1000):
        low, high = wilson_interval(n // 2, n)
        assert low < 0.5 < high
    assert (wilson_interval(500, 1000)[1] - wilson_interval(500, 1000)[0]) < (
        wilson_interval(5, 10)[1] - wilson_interval(5, 10)[0]
    )


def test_tracking_reward_is_one_on_plan_and_decays():
    targets = np.zeros((2, 2, 3))
    keypoints = np.zeros((2, 2, 3))
    keypoints[1, :, 0] = 0.05
    reward = tracking_reward(keypoints, targets, 20.0)
    assert reward[0] == pytest.approx(1.0)
    assert reward[1] == pytest.approx(np.exp(-1.0))


def test_contact_reward_is_zero_without_contact_and_saturates():
    forces = np.array([[0.0, 0.0, 0.0, 0.0], [50.0, 50.0, 50.0, 50.0], [0.5, 0, 0, 0]])
    reward = contact_reward(forces)
    assert reward[0] < 1e-100
    assert reward[1] == pytest.approx(np.exp(-0.25), rel=1e-5)
    assert 0 < reward[2] < reward[1]


def test_reward_terms_are_named_and_weighted():
    terms = reward_terms(
        RewardConfig(action=0.5),
        np.zeros((1, 2, 3)),
        np.zeros((1, 2, 3)),
        np.zeros((1, 4)),
        np.ones((1, 7)),
    )
    assert set(terms) == {"tracking", "contact", "action"}
    assert terms["action"][0] == pytest.approx(-3.5)


def test_contact_weight_falls_from_its_start_value():
    config = RewardConfig(contact=1.0, contact_start=4.0, contact_decay=0.25)
    assert config.at_progress(0.0).contact == pytest.approx(4.0)
    assert config.at_progress(0.125).contact == pytest.approx(2.5)
    assert config.at_progress(0.25).contact == pytest.approx(1.0)
    assert config.at_progress(0.9).contact == pytest.approx(1.0)
    assert RewardConfig(contact=0.5).at_progress(0.0).contact == 0.5  # no curriculum


def test_residual_composition():
    config = EnvConfig()
    spec = hand.FloatingHand().action_spec("closure")
    assert spec.num_actions == 7 and spec.names[-1] == "closure"
    plan = np.ones((4, 6))
    action = np.zeros((4, 7))
    action[1, :6] = 1.0
    action[:, 6] = (-1.0, 0.0, 1.0, 2.0)
    wrist, fingers = spec.targets(
        plan, action, config.wrist_position_scale, config.wrist_rotation_scale
    )
    assert wrist.shape == (4, 6) and fingers.shape == (4, 16)
    np.testing.assert_allclose(wrist[0], plan[0])
    np.testing.assert_allclose(wrist[1, :3], 1.0 + config.wrist_position_scale)
    np.testing.assert_allclose(wrist[1, 3:6], 1.0 + config.wrist_rotation_scale)
    np.testing.assert_allclose(fingers[0], hand.open_finger_pose())
    np.testing.assert_allclose(fingers[1], hand.open_finger_pose())
    np.testing.assert_allclose(fingers[2], hand.closed_finger_pose())
    np.testing.assert_allclose(fingers[3], hand.closed_finger_pose())


def test_rotation_limit_clips_only_the_rotation_residual():
    spec = hand.FloatingHand().action_spec("closure")
    action = np.array([[1.0, -1.0, 0.5, 1.0, -1.0, 0.1, 0.0]])
    free, free_fingers = spec.targets(np.zeros((1, 6)), action, 0.1, 1.0)
    limited, fingers = spec.targets(np.zeros((1, 6)), action, 0.1, 1.0, rotation_limit=0.25)
    np.testing.assert_allclose(limited[0, :3], free[0, :3])
    np.testing.assert_allclose(limited[0, 3:6], [0.25, -0.25, 0.1])
    np.testing.assert_allclose(fingers, free_fingers)


def test_per_finger_closure_moves_only_its_finger():
    spec = hand.FloatingHand().action_spec("per_finger")
    assert spec.num_actions == 10
    action = np.zeros((1, 10))
    action[0, 6 + 1] = 1.0  # middle finger only
    fingers = spec.targets(np.zeros((1, 6)), action, 0.1, 1.0)[1][0]
    open_pose, closed = hand.open_finger_pose(), hand.closed_finger_pose()
    np.testing.assert_allclose(fingers[4:8], closed[4:8])
    np.testing.assert_allclose(np.delete(fingers, range(4, 8)), np.delete(open_pose, range(4, 8)))
    with pytest.raises(ValueError, match="takes 10 actions"):
        spec.targets(np.zeros((1, 6)), np.zeros((1, 7)), 0.1, 1.0)
    with pytest.raises(ValueError, match="no action spec 'claw'"):
        hand.FloatingHand().action_spec("claw")
