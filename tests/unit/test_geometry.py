from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from keyscaffold.geometry import (
    backproject_pixels,
    interpolate_waypoints,
    intrinsics_from_fovy,
    mujoco_camera_to_world,
    points_in_body_frames,
    project_points,
    rotation_from_xyz_angles,
    xyz_angles_from_rotation,
)


def test_interpolation_hits_waypoints_and_is_linear():
    waypoints = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 2.0]])
    dense = interpolate_waypoints(waypoints, 5)
    assert dense.shape == (5, 2)
    np.testing.assert_allclose(dense[0], waypoints[0])
    np.testing.assert_allclose(dense[2], waypoints[1])
    np.testing.assert_allclose(dense[-1], waypoints[-1])
    np.testing.assert_allclose(dense[1], [0.5, 1.0])


def test_interpolation_keeps_trailing_shape():
    waypoints = np.random.default_rng(0).normal(size=(20, 2, 3))
    dense = interpolate_waypoints(waypoints, 300)
    assert dense.shape == (300, 2, 3)
    np.testing.assert_allclose(dense[-1], waypoints[-1])


def test_interpolation_rejects_empty():
    import pytest

    with pytest.raises(ValueError):
        interpolate_waypoints(np.zeros((0, 3)), 10)


def _look_at(pos):
    target = np.array([0.5, 0.0, 0.9])
    forward = (target - pos) / np.linalg.norm(target - pos)
    right = np.cross(forward, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    # MuJoCo camera frame: x right, y up, z backwards
    return mujoco_camera_to_world(pos, np.stack([right, up, -forward], axis=1))


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.2, 0.8),
    st.floats(-0.3, 0.3),
    st.floats(0.85, 1.2),
    st.floats(1.0, 1.6),
    st.floats(-0.5, 0.5),
    st.floats(1.2, 1.8),
)
def test_projection_backprojection_round_trip(px, py, pz, cx, cy, cz):
    K = intrinsics_from_fovy(50.0, 800, 800)
    cam = _look_at(np.array([cx, cy, cz]))
    point = np.array([[px, py, pz]])
    uv, depth = project_points(point, K, cam)
    np.testing.assert_allclose(backproject_pixels(uv, depth, K, cam), point, atol=1e-9)


def test_center_pixel_is_on_optical_axis():
    K = intrinsics_from_fovy(45.0, 640, 480)
    cam = _look_at(np.array([1.5, 0.0, 1.5]))
    uv, depth = project_points(np.array([[0.5, 0.0, 0.9]]), K, cam)
    np.testing.assert_allclose(uv[0], [320, 240], atol=1e-6)
    assert depth[0] > 0


def test_rotation_chain_matches_mujoco_hinges():
    import mujoco

    xml = """<mujoco><worldbody><body name="b"><joint type="hinge" axis="1 0 0"/>
    <joint type="hinge" axis="0 1 0"/><joint type="hinge" axis="0 0 1"/><geom size="0.1"/>
    </body></worldbody></mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    angles = np.array([0.3, -0.7, 1.1])
    data.qpos[:] = angles
    mujoco.mj_forward(model, data)
    np.testing.assert_allclose(
        rotation_from_xyz_angles(angles), data.xmat[1].reshape(3, 3), atol=1e-12
    )


def test_points_in_body_frames():
    pos = np.array([[[1.0, 0.0, 0.0]]])
    mat = rotation_from_xyz_angles(np.array([0.0, 0.0, np.pi / 2]))[None, None].reshape(1, 1, 9)
    out = points_in_body_frames(pos, mat, np.array([[1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(out, [[[1.0, 1.0, 0.0]]], atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-7.0, 7.0), min_size=3, max_size=3),
    st.lists(st.floats(-0.3, 0.3), min_size=3, max_size=3),
)
def test_angles_read_from_a_rotation_are_the_ones_nearest_the_reference(angles, nudge):
    angles = np.array(angles)
    rotation = rotation_from_xyz_angles(angles)
    read = xyz_angles_from_rotation(rotation, near=angles + np.array(nudge))
    np.testing.assert_allclose(rotation_from_xyz_angles(read), rotation, atol=1e-9)
    # the reference is within 0.3 rad per angle, closer than any other branch or whole turn
    if abs(np.cos(angles[1])) > 0.1:
        np.testing.assert_allclose(read, angles, atol=1e-7)


def test_angles_at_gimbal_lock_keep_the_reference_first_angle():
    angles = np.array([0.4, np.pi / 2, -0.2])
    read = xyz_angles_from_rotation(rotation_from_xyz_angles(angles), near=[0.4, 1.5, 0.0])
    np.testing.assert_allclose(read, angles, atol=1e-7)
