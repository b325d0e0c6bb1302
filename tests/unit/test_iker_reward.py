"""IKER's keypoint reward terms and the object-pose baseline, against hand-computed values."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import keyscaffold.rl.keypoint_rewards as reward_module
from keyscaffold.geometry import (
    kabsch,
    keypoint_turn,
    rotation_angle,
    rotation_between,
    rotation_from_xyz_angles,
    rotation_vector,
)
from keyscaffold.rl.keypoint_rewards import (
    KeypointRewardConfig,
    alignment_reward,
    carry_reward,
    direction_reward,
    iker_reward_terms,
    keypoint_success,
    mean_keypoint_distance,
)
from keyscaffold.rl.object_pose_reward import object_pose_reward_terms, target_object_pose

QUARTER_TURN_Z = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def test_reward_module_is_pure_numpy():
    tree = ast.parse(Path(reward_module.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses", "numpy"}, imported


def _two_keypoints() -> tuple[np.ndarray, np.ndarray]:
    """Two worlds, two keypoints 1 m apart along x; world 0 lies 0.1 m below its targets, world 1
    0.04 m below."""
    keypoints = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]] * 2)
    targets = keypoints.copy()
    targets[0, :, 2] += 0.1
    targets[1, :, 2] += 0.04
    return keypoints, targets


def test_keypoint_terms_by_hand():
    config = KeypointRewardConfig(keypoint_sharpness=10.0)
    keypoints, targets = _two_keypoints()
    tcp = np.zeros((2, 3))
    grasp = np.array([[0.1, 0.0, 0.0], [0.0, 0.0, 0.0]])
    velocity = np.zeros((2, 2, 3))
    velocity[0, :, 2] = 0.1  # toward the targets at half the saturation speed (0.2 m/s)
    velocity[1, 0, 2] = -1.0  # one keypoint away from its target, beyond saturation
    action = np.array([np.ones(6), np.zeros(6)])
    holding = np.array([True, True])
    outside = np.array([False, True])
    terms = iker_reward_terms(
        config, tcp, grasp, keypoints, targets, velocity, action, holding, outside
    )
    assert list(terms) == [
        "distance",
        "carry",
        "keypoints",
        "direction",
        "alignment",
        "success",
        "action",
        "drop",
        "workspace",
    ]
    expected = {
        "distance": [0.5 * np.exp(-1.0), 0.5],
        "carry": [0.5, 0.5],  # straight below the targets: free to come down
        "keypoints": [np.exp(-1.0), np.exp(-0.4)],
        "direction": [0.5 * 0.5, 0.5 * (-1.0 + 0.0) / 2],
        "alignment": [0.3, 0.3],  # the pair points along x, as its targets do
        "success": [0.0, 2.0],
        "action": [-0.01 * 6, 0.0],
        "drop": [-1.0, 0.0],  # 0.1 m from the grasp point while holding: dropped
        "workspace": [0.0, -1.0],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(terms[name], values, atol=1e-12, err_msg=name)


def test_carry_asks_for_clearance_until_over_the_targets():
    targets = np.array([[[0.5, 0.0, 0.3], [0.5, 0.1, 0.3]]] * 4)
    keypoints = targets.copy()
    keypoints[0, :, :] += [-0.4, 0.0, -0.3]  # far and low: the full height demand
    keypoints[1, :, :] += [-0.4, 0.0, 0.1]  # far and high enough
    keypoints[2, :, :] += [-0.04, 0.0, -0.3]  # half the radius away: half the demand
    keypoints[3, :, :] += [0.0, 0.0, -0.3]  # straight below: no demand
    carry = carry_reward(keypoints, targets, clearance=0.06, radius=0.08, sharpness=10.0)
    low = np.exp(-10.0 * 0.36)
    np.testing.assert_allclose(carry, [low, 1.0, 1.0 - 0.5 * (1.0 - low), 1.0], atol=1e-12)
    # only held objects earn it
    args = (np.zeros((4, 3)), np.zeros((4, 3)), keypoints, targets, np.zeros((4, 2, 3)))
    rest = (np.zeros((4, 6)), np.array([True, True, False, False]), np.zeros(4, bool))
    terms = iker_reward_terms(KeypointRewardConfig(), *args, *rest)
    np.testing.assert_allclose(terms["carry"], [0.5 * low, 0.5, 0.0, 0.0], atol=1e-12)
    # the gate: a held object's keypoint term pays only as far as it is high enough
    kernel = np.exp(-3.0 * mean_keypoint_distance(keypoints, targets))
    np.testing.assert_allclose(terms["keypoints"], kernel * [low, 1.0, 1.0, 1.0], atol=1e-12)
    ungated = iker_reward_terms(KeypointRewardConfig(carry_gate=False), *args, *rest)
    np.testing.assert_allclose(ungated["keypoints"], kernel, atol=1e-12)


def test_a_wide_lift_kernel_pays_the_carry_term_while_the_gate_stays_sharp():
    targets = np.array([[[0.5, 0.0, 0.3], [0.5, 0.1, 0.3]]] * 3)
    keypoints = targets.copy()
    keypoints[0] += [-0.4, 0.0, -0.3]  # on the floor, far: shortfall 0.36 m
    keypoints[1] += [-0.4, 0.0, -0.2]  # lifted 10 cm: shortfall 0.26 m
    keypoints[2] += [-0.4, 0.0, 0.1]  # high enough
    args = (np.zeros((3, 3)), np.zeros((3, 3)), keypoints, targets, np.zeros((3, 2, 3)))
    rest = (np.zeros((3, 6)), np.ones(3, bool), np.zeros(3, bool))
    sharp = iker_reward_terms(KeypointRewardConfig(), *args, *rest)
    wide = iker_reward_terms(KeypointRewardConfig(lift_sharpness=3.0), *args, *rest)
    np.testing.assert_allclose(
        wide["carry"], 0.5 * np.exp(-3.0 * np.array([0.36, 0.26, 0.0])), atol=1e-12
    )
    # the first 10 cm of lift pays more than twice as much with the wide kernel
    assert wide["carry"][1] - wide["carry"][0] > 2 * (sharp["carry"][1] - sharp["carry"][0])
    np.testing.assert_allclose(wide["keypoints"], sharp["keypoints"], atol=1e-12)
    same = iker_reward_terms(KeypointRewardConfig(lift_sharpness=10.0), *args, *rest)
    np.testing.assert_allclose(same["carry"], sharp["carry"], atol=1e-12)


def test_gate_direction_scales_a_held_objects_speed_by_its_carry_value():
    targets = np.array([[[0.5, 0.0, 0.3], [0.5, 0.1, 0.3]]] * 2)
    keypoints = targets.copy()
    keypoints[0] += [-0.4, 0.0, -0.3]  # dragged on the floor: carry value exp(-10 * 0.36)
    keypoints[1] += [-0.4, 0.0, 0.1]  # high enough: carry value 1
    velocity = np.zeros((2, 2, 3))
    velocity[..., 0] = 0.2  # toward the targets at the saturating speed
    args = (np.zeros((2, 3)), np.zeros((2, 3)), keypoints, targets, velocity, np.zeros((2, 6)))
    held, loose = np.ones(2, bool), np.zeros(2, bool)
    plain = iker_reward_terms(KeypointRewardConfig(), *args, held, loose)
    gated = iker_reward_terms(KeypointRewardConfig(gate_direction=True), *args, held, loose)
    speed = plain["direction"]
    np.testing.assert_allclose(gated["direction"], speed * [np.exp(-10.0 * 0.36), 1.0], atol=1e-9)
    # an object not held, or the gate switched off, keeps the full direction term
    free = iker_reward_terms(KeypointRewardConfig(gate_direction=True), *args, loose, loose)
    np.testing.assert_allclose(free["direction"], speed, atol=1e-12)
    off = KeypointRewardConfig(gate_direction=True, carry_gate=False)
    np.testing.assert_allclose(iker_reward_terms(off, *args, held, loose)["direction"], speed)


def test_zero_weight_switches_a_term_off_and_weights_scale():
    keypoints, targets = _two_keypoints()
    args = (
        np.zeros((2, 3)),
        np.zeros((2, 3)),
        keypoints,
        targets,
        np.zeros((2, 2, 3)),
        np.ones((2, 6)),
        np.zeros(2, bool),
        np.zeros(2, bool),
    )
    base = iker_reward_terms(KeypointRewardConfig(), *args)
    changed = iker_reward_terms(KeypointRewardConfig(keypoints=3.0, action=0.0), *args)
    np.testing.assert_allclose(changed["keypoints"], 3.0 * base["keypoints"])
    assert (changed["action"] == 0.0).all() and (base["action"] < 0).all()


def test_success_threshold_and_mean_distance():
    keypoints, targets = _two_keypoints()
    np.testing.assert_allclose(mean_keypoint_distance(keypoints, targets), [0.1, 0.04])
    assert keypoint_success(keypoints, targets).tolist() == [False, True]
    assert keypoint_success(keypoints, targets, threshold=0.2).tolist() == [True, True]


def test_direction_reward_by_hand():
    points = np.zeros((1, 2, 3))
    targets = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])  # the second point is on target
    velocity = np.array([[[0.1, 0.3, 0.0], [5.0, 0.0, 0.0]]])
    # 0.1 m/s toward the first target over 0.2 m/s; the point on target contributes 0
    np.testing.assert_allclose(direction_reward(velocity, points, targets, 0.2), [0.25])
    np.testing.assert_allclose(direction_reward(-velocity, points, targets, 0.2), [-0.25])
    np.testing.assert_allclose(direction_reward(velocity * 10, points, targets, 0.2), [0.5])


def test_alignment_reward_by_hand():
    keypoints = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]] * 3)
    targets = np.array(
        [
            [[0.0, 0.0, 0.0], [0.0, 2.0, 0.0]],  # a quarter turn: cos 0
            [[5.0, 5.0, 5.0], [7.0, 5.0, 5.0]],  # a translate: cos 1
            [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]],  # half round: cos -1
        ]
    )
    np.testing.assert_allclose(alignment_reward(keypoints, targets), [0.0, 1.0, -1.0], atol=1e-12)
    # three keypoints: pairs (0,1), (0,2), (1,2) with cosines 1, 0 and 1/2
    three = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    wanted = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    np.testing.assert_allclose(alignment_reward(three, wanted), [(1.0 + 0.0 + 0.5) / 3])
    # one keypoint has no pair
    np.testing.assert_allclose(alignment_reward(three[:, :1], wanted[:, :1]), [0.0])


def test_repeated_slots_with_zero_weight_change_no_term():
    """A goal padded to more slots (its own keypoints repeated, weight 0) scores as the goal."""
    rng = np.random.default_rng(3)
    keypoints, targets = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3))
    velocity = rng.normal(size=(2, 4, 3))
    fill = np.arange(7) % 3  # the first three keypoints in seven slots
    weights = np.broadcast_to((np.arange(7) == fill).astype(float), (2, 7))
    pad = (keypoints[:, fill], targets[:, fill])
    real = (keypoints[:, :3], targets[:, :3])
    np.testing.assert_allclose(mean_keypoint_distance(*pad, weights), mean_keypoint_distance(*real))
    np.testing.assert_allclose(alignment_reward(*pad, weights), alignment_reward(*real))
    np.testing.assert_allclose(
        direction_reward(velocity[:, fill], *pad, 0.2, weights),
        direction_reward(velocity[:, :3], *real, 0.2),
    )
    # without the weights the repeats would count
    assert not np.allclose(mean_keypoint_distance(*pad), mean_keypoint_distance(*real))


def test_kabsch_recovers_a_random_rigid_transform():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(6, 4, 3))
    rotation = rotation_from_xyz_angles(rng.uniform(-3, 3, size=(6, 3)))
    translation = rng.normal(size=(6, 3))
    target = np.einsum("bij,bkj->bki", rotation, source) + translation[:, None]
    fitted, shift = kabsch(source, target)
    np.testing.assert_allclose(fitted, rotation, atol=1e-10)
    np.testing.assert_allclose(shift, translation, atol=1e-10)
    np.testing.assert_allclose(np.linalg.det(fitted), 1.0)


def test_rotation_vector_and_keypoint_turn():
    rng = np.random.default_rng(1)
    axes = rng.normal(size=(8, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.array([0.0, 1e-8, 0.3, 1.0, 2.0, 3.0, np.pi - 1e-5, np.pi])
    vectors = axes * angles[:, None]
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    skew = np.zeros((8, 3, 3))
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -axes[:, 2], axes[:, 1], -axes[:, 0]
    skew -= np.swapaxes(skew, 1, 2)
    outer = axes[:, :, None] * axes[:, None, :]
    matrices = cos * np.eye(3) + sin * skew + (1 - cos) * outer  # Rodrigues
    found = rotation_vector(matrices)
    np.testing.assert_allclose(found[:-1], vectors[:-1], atol=1e-5)
    # a half turn: the axis up to its sign
    np.testing.assert_allclose(np.abs(found[-1]), np.abs(vectors[-1]), atol=1e-6)
    # the turn that takes keypoints onto targets turned a quarter about z
    points = rng.normal(size=(1, 4, 3))
    turned = points @ QUARTER_TURN_Z.T + [0.3, 0.0, 0.1]
    np.testing.assert_allclose(keypoint_turn(points, turned), [[0.0, 0.0, np.pi / 2]], atol=1e-9)
    np.testing.assert_allclose(keypoint_turn(points, points + 1.0), [[0.0, 0.0, 0.0]], atol=1e-9)


def test_kabsch_degenerate_layouts():
    # one keypoint: translation only
    rotation, translation = kabsch(np.array([[[1.0, 2.0, 3.0]]]), np.array([[[1.5, 2.0, 3.0]]]))
    np.testing.assert_allclose(rotation[0], np.eye(3))
    np.testing.assert_allclose(translation[0], [0.5, 0.0, 0.0])
    # two keypoints along x onto two along y (twice as far apart): the least turn, about z
    source = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    target = np.array([[[0.0, 0.0, 0.0], [0.0, 2.0, 0.0]]])
    rotation, translation = kabsch(source, target)
    np.testing.assert_allclose(rotation[0], QUARTER_TURN_Z, atol=1e-12)
    np.testing.assert_allclose(translation[0], [0.0, 0.5, 0.0], atol=1e-12)
    # reversed pair: half round, still a proper rotation
    rotation, _ = kabsch(source, source[:, ::-1])
    np.testing.assert_allclose(rotation[0] @ [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rotation[0]), 1.0)


def test_rotation_helpers():
    a = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    b = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
    turned = rotation_between(a, b)
    np.testing.assert_allclose(np.einsum("bij,bj->bi", turned, a), b, atol=1e-12)
    np.testing.assert_allclose(rotation_angle(turned), [np.pi / 2, np.pi])
    np.testing.assert_allclose(rotation_angle(np.eye(3)), 0.0)


def test_target_object_pose_from_keypoint_targets():
    # object at the origin, unrotated; keypoints on its axes; targets: a quarter turn about z
    # and 0.2 m along x
    keypoints = np.eye(3)[None] * 0.1
    targets = np.einsum("ij,bkj->bki", QUARTER_TURN_Z, keypoints) + [0.2, 0.0, 0.0]
    position, rotation = target_object_pose(np.zeros((1, 3)), np.eye(3)[None], keypoints, targets)
    np.testing.assert_allclose(position[0], [0.2, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(rotation[0], QUARTER_TURN_Z, atol=1e-12)
    # an object rotated already: the fit composes with its rotation
    start = rotation_from_xyz_angles(np.array([0.3, 0.0, 0.0]))
    position, rotation = target_object_pose(
        np.array([[0.0, 0.1, 0.0]]), start[None], keypoints, targets
    )
    np.testing.assert_allclose(position[0], [0.1, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(rotation[0], QUARTER_TURN_Z @ start, atol=1e-12)


def test_object_pose_terms_by_hand():
    config = KeypointRewardConfig()
    keypoints = np.eye(3)[None] * 0.1
    targets = np.einsum("ij,bkj->bki", QUARTER_TURN_Z, keypoints) + [0.2, 0.0, 0.0]
    velocity = np.array([[0.1, 0.0, 0.0]])  # toward the target position, half the saturation
    terms = object_pose_reward_terms(
        config,
        np.zeros((1, 3)),
        np.zeros((1, 3)),
        np.zeros((1, 3)),
        np.eye(3)[None],
        velocity,
        keypoints,
        targets,
        np.zeros((1, 6)),
        np.array([False]),
        np.array([False]),
    )
    assert set(terms) == {
        "distance",
        "carry",
        "position",
        "orientation",
        "direction",
        "success",
        "action",
        "drop",
        "workspace",
    }
    assert terms["position"][0] == pytest.approx(np.exp(-2.0))
    assert terms["orientation"][0] == pytest.approx(0.5 * np.exp(-np.pi))
    assert terms["direction"][0] == pytest.approx(0.25)
    assert terms["distance"][0] == pytest.approx(0.5)
    assert terms["success"][0] == 0.0
    # on the target pose: full position and orientation terms and the bonus
    terms = object_pose_reward_terms(
        config,
        np.zeros((1, 3)),
        np.zeros((1, 3)),
        np.zeros((1, 3)),
        np.eye(3)[None],
        np.zeros((1, 3)),
        keypoints,
        keypoints,
        np.zeros((1, 6)),
        np.array([False]),
        np.array([False]),
    )
    assert terms["position"][0] == pytest.approx(1.0)
    assert terms["orientation"][0] == pytest.approx(0.5)
    assert terms["success"][0] == 2.0


def test_a_push_fits_in_the_plane():
    """``skills.planar_fit``: a turn about z and an x/y shift, whatever lift or tilt the
    targets ask for (a pushed object slides on its support)."""
    from keyscaffold.geometry import yaw_rotation
    from keyscaffold.iker.skills import planar_fit

    rng = np.random.default_rng(3)
    source = rng.uniform(-0.2, 0.2, (4, 3))
    turn = yaw_rotation(0.4)
    planar = source @ turn.T + np.array([0.1, -0.05, 0.0])
    rotation, shift = planar_fit(source, planar)
    np.testing.assert_allclose(rotation, turn, atol=1e-12)
    np.testing.assert_allclose(shift, [0.1, -0.05, 0.0], atol=1e-12)
    tilted = planar @ rotation_from_xyz_angles(np.array([0.3, -0.2, 0.0])).T + [0, 0, 0.04]
    rotation, shift = planar_fit(source, tilted)
    assert rotation[2, 2] == 1.0 and shift[2] == 0.0  # no tilt, no lift
    one = planar_fit(source[:1], source[:1] + [0.02, 0.03, 0.05])
    np.testing.assert_allclose(one[0], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(one[1], [0.02, 0.03, 0.0], atol=1e-12)
