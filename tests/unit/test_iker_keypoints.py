"""Candidate keypoints of IKER mode: proposal, projection, pruning, overlay, JSON."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest

from keyscaffold.iker.candidates import (
    FIXTURE,
    OBJECT,
    Candidate,
    CandidateSet,
    candidate_positions,
    update_candidates,
)
from keyscaffold.iker.keypoints import candidate_keypoints, propose
from keyscaffold.iker.overlay import draw_candidates
from keyscaffold.iker.projection import project_candidates, prune_candidates
from keyscaffold.sim.extremities import object_keypoints, principal_axes
from keyscaffold.sim.render import SceneRenderer

SIZE = 320
CAMERA_POS = np.array([0.9, 0.0, 1.0])
CAMERA_TARGET = np.array([0.0, 0.0, 0.42])
BLOCK_POS = np.array([0.05, 0.15, 0.45])
BLOCK_HALF = np.array([0.1, 0.04, 0.03])
STICK_YAW = 0.5
WEDGE_POS = np.array([-0.15, -0.05, 0.42])
WEDGE_TIP = np.array([0.15, 0.0, 0.0])


def _xyaxes(pos: np.ndarray, target: np.ndarray) -> str:
    forward = (target - pos) / np.linalg.norm(target - pos)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    return " ".join(f"{v:.6f}" for v in (*right, *np.cross(right, forward)))


SCENE = f"""
<mujoco>
  <compiler angle="radian"/>
  <asset>
    <mesh name="wedge" vertex="0.15 0 0  -0.05 0.03 0  -0.05 -0.03 0  0 0 0.04"/>
  </asset>
  <worldbody>
    <light pos="0 0 3" dir="0 0 -1"/>
    <camera name="cam" pos="{" ".join(map(str, CAMERA_POS))}" fovy="45"
            xyaxes="{_xyaxes(CAMERA_POS, CAMERA_TARGET)}"/>
    <body name="table" pos="0 0 0.4">
      <geom name="table_top" type="box" size="0.4 0.5 0.02" rgba="0.7 0.6 0.5 1"/>
    </body>
    <body name="block" pos="{" ".join(map(str, BLOCK_POS))}">
      <freejoint name="block_free"/>
      <geom type="box" size="{" ".join(map(str, BLOCK_HALF))}" rgba="0.9 0.1 0.1 1"/>
    </body>
    <body name="ball" pos="0.05 -0.2 0.46">
      <freejoint name="ball_free"/>
      <geom type="sphere" size="0.04" rgba="0.1 0.2 0.9 1"/>
    </body>
    <body name="wedge" pos="{" ".join(map(str, WEDGE_POS))}">
      <freejoint name="wedge_free"/>
      <geom type="mesh" mesh="wedge" rgba="0.2 0.8 0.2 1"/>
    </body>
    <body name="stick" pos="-0.25 0.3 0.43">
      <freejoint name="stick_free"/>
      <geom type="box" size="0.08 0.01 0.01" euler="0 0 {STICK_YAW}" rgba="0.9 0.9 0.1 1"/>
    </body>
    <body name="ghost" pos="0 0 2">
      <geom type="sphere" size="0.01" group="3"/>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope="module")
def scene():
    model = mujoco.MjModel.from_xml_string(SCENE)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    renderer = SceneRenderer(model, SIZE, SIZE, quality=False)
    frame = renderer.frame(data, "cam")
    renderer.close()
    return model, data, frame


def _candidate(number: int, kind: str, pixel: tuple[float, float], body: str = "b") -> Candidate:
    return Candidate(number, body, kind, np.zeros(3), np.zeros(3), np.asarray(pixel, float), 1.0)


def test_box_extremities_are_face_middles_along_its_principal_axes(scene):
    model, _, _ = scene
    local = object_keypoints(model, "block")
    hx, hy, hz = BLOCK_HALF
    expected = [(hx, 0, 0), (-hx, 0, 0), (0, hy, 0), (0, -hy, 0), (0, 0, hz), (0, 0, -hz)]
    np.testing.assert_allclose(local, expected, atol=1e-9)
    # Every extremity lies on the box's surface.
    assert np.allclose(np.abs(local / BLOCK_HALF).max(axis=1), 1.0)
    assert object_keypoints(model, "block", num_axes=2).shape == (4, 3)
    with_centre = object_keypoints(model, "block", include_center=True)
    np.testing.assert_allclose(with_centre[-1], 0.0, atol=1e-9)


def test_principal_axes_follow_the_geometry_not_the_body_frame(scene):
    model, _, _ = scene
    local = object_keypoints(model, "stick", num_axes=1)
    long_axis = np.array([np.cos(STICK_YAW), np.sin(STICK_YAW), 0.0])
    np.testing.assert_allclose(local, [0.08 * long_axis, -0.08 * long_axis], atol=1e-6)


def test_symmetric_shapes_get_the_body_axes(scene):
    model, _, _ = scene
    poles = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]
    np.testing.assert_allclose(object_keypoints(model, "ball"), 0.04 * np.array(poles), atol=1e-5)
    centre, axes = principal_axes(np.concatenate([np.eye(3), -np.eye(3)]))
    np.testing.assert_allclose(centre, 0.0)
    np.testing.assert_allclose(axes, np.eye(3))


def test_mesh_extremity_is_its_tip_vertex(scene):
    model, data, _ = scene
    candidates = candidate_keypoints(model, data, ["wedge"])
    world = np.array([c.world for c in candidates])
    assert np.linalg.norm(world - (WEDGE_POS + WEDGE_TIP), axis=1).min() < 1e-6


def test_numbering_runs_object_by_object_then_fixtures(scene):
    model, data, _ = scene
    candidates = candidate_keypoints(model, data, ["ball", "block"], ["table"])
    assert [c.number for c in candidates] == list(range(len(candidates)))
    assert [c.body for c in candidates] == ["ball"] * 6 + ["block"] * 6 + ["table"] * 6
    assert [c.kind for c in candidates] == [OBJECT] * 12 + [FIXTURE] * 6
    table = np.array([c.world for c in candidates if c.body == "table"])
    np.testing.assert_allclose(table[:, 2], 0.42, atol=1e-9)  # spread over the top face
    assert np.all(np.abs(table[:, 0]) <= 0.4) and np.all(np.abs(table[:, 1]) <= 0.5)
    assert np.ptp(table[:, 0]) > 0.3 and np.ptp(table[:, 1]) > 0.3
    fewer = candidate_keypoints(model, data, ["block"], ["table"], points_per_fixture=2)
    assert sum(c.kind == FIXTURE for c in fewer) == 2


def test_pruning_keeps_object_over_fixture_and_the_lower_number():
    candidates = [
        _candidate(0, FIXTURE, (100, 100), "rack"),  # overlaps object 1: the fixture goes
        _candidate(1, OBJECT, (104, 100), "shoe"),
        _candidate(2, OBJECT, (300, 300), "shoe"),
        _candidate(3, OBJECT, (305, 302), "box"),  # overlaps object 2: the higher number goes
        _candidate(4, FIXTURE, (500, 500), "rack"),
    ]
    kept = prune_candidates(candidates, min_separation_px=20)
    assert [c.number for c in kept] == [0, 1, 2]
    assert [(c.body, tuple(c.pixel)) for c in kept] == [
        ("shoe", (104, 100)),
        ("shoe", (300, 300)),
        ("rack", (500, 500)),
    ]
    assert len(prune_candidates(candidates, min_separation_px=0)) == 5
    with pytest.raises(ValueError, match="project them first"):
        prune_candidates([Candidate(0, "b", OBJECT, np.zeros(3), np.zeros(3))], 10)


def test_projection_lands_on_the_body_in_the_segmentation(scene):
    model, data, frame = scene
    result = propose(model, data, frame, ["block", "ball"], ["table"])
    assert len(result) > 0
    assert [c.number for c in result.candidates] == list(range(len(result)))
    for candidate in result.candidates:
        col, row = np.floor(candidate.pixel).astype(int)
        window = frame.segmentation[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2]
        assert model.body(candidate.body).id in window, candidate
    block = model.body("block").id
    # The middle of the block's face toward the camera is candidate 0, right on the block.
    front = result.candidates[0]
    assert front.body == "block"
    np.testing.assert_allclose(front.local, [BLOCK_HALF[0], 0, 0], atol=1e-9)
    col, row = np.floor(front.pixel).astype(int)
    assert frame.segmentation[row, col] == block
    # The block's underside is hidden by the block itself, so it is not offered.
    assert not any(c.body == "block" and c.local[2] < -0.02 for c in result.candidates)


def test_occlusion_test_can_be_switched_off(scene):
    model, data, frame = scene
    candidates = candidate_keypoints(model, data, ["block"])
    seen = project_candidates(candidates, frame)
    everything = project_candidates(candidates, frame, occlusion_tolerance=None)
    assert len(seen) < len(everything) == len(candidates)


def test_candidates_follow_their_body_when_it_moves(scene):
    model, _, _ = scene
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    candidates = candidate_keypoints(model, data, ["block"])
    np.testing.assert_allclose(
        candidate_positions(model, data, candidates), [c.world for c in candidates]
    )
    new_pos, yaw = np.array([0.1, -0.1, 0.7]), np.pi / 2
    adr = model.joint("block_free").qposadr[0]
    data.qpos[adr : adr + 7] = [*new_pos, np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
    mujoco.mj_forward(model, data)
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    expected = new_pos + np.array([c.local for c in candidates]) @ rotation.T
    np.testing.assert_allclose(candidate_positions(model, data, candidates), expected, atol=1e-9)
    moved = update_candidates(model, data, candidates)
    np.testing.assert_allclose([c.world for c in moved], expected, atol=1e-9)
    assert all(c.pixel is None for c in moved)


def test_overlay_marks_candidates_and_leaves_the_frame_alone(scene):
    model, data, frame = scene
    before = frame.rgb.copy()
    result = propose(model, data, frame, ["block", "ball"], ["table"])
    assert result.image.shape == frame.rgb.shape and result.image.dtype == np.uint8
    np.testing.assert_array_equal(frame.rgb, before)
    changed = np.any(result.image != frame.rgb, axis=2)
    for candidate in result.candidates:
        col, row = np.floor(candidate.pixel).astype(int)
        assert changed[max(row - 4, 0) : row + 5, max(col - 4, 0) : col + 5].mean() > 0.5
    assert changed[:40, :40].any()  # the axis legend in the top-left corner
    plain = draw_candidates(frame, result.candidates, legend=False)
    assert not np.any(plain[:5, :5] != frame.rgb[:5, :5])


def test_json_round_trip(scene):
    model, data, frame = scene
    result = propose(model, data, frame, ["block"], ["table"])
    record = json.loads(json.dumps(result.to_json()))
    assert record["image_shape"] == [SIZE, SIZE]
    first = record["candidates"][0]
    assert set(first) == {"number", "body", "kind", "world", "local", "pixel", "depth"}
    loaded = CandidateSet.from_json(record)
    assert loaded.bodies() == result.bodies()
    np.testing.assert_allclose(loaded.world_positions(), result.world_positions())
    np.testing.assert_allclose(loaded.positions(model, data), result.world_positions())
    assert len(loaded.coordinates()) == len(result)
    assert [body for body, _ in loaded.pairs()] == loaded.bodies()


@pytest.mark.parametrize(
    ("objects", "fixtures", "message"),
    [
        (["nope"], [], "unknown object body 'nope'"),
        (["block"], ["shelf"], "unknown fixture body 'shelf'"),
        (["world"], [], "world body"),
        (["block"], ["block"], "more than once"),
        ("block", [], "list of body names"),
        ([], [], "at least one"),
        (["ghost"], [], "no visible geoms"),
    ],
)
def test_bad_names_are_refused(scene, objects, fixtures, message):
    model, data, _ = scene
    with pytest.raises(ValueError, match=message):
        candidate_keypoints(model, data, objects, fixtures)


def test_bad_settings_are_refused(scene):
    model, data, frame = scene
    with pytest.raises(ValueError, match="num_axes"):
        object_keypoints(model, "block", num_axes=4)
    with pytest.raises(ValueError, match="legend_corner"):
        draw_candidates(frame, [], legend_corner="middle")


def test_registered_task_scene(move_apple):
    model = move_apple.build_model()
    data = move_apple.state_data(model, move_apple.sample_initial_state(0))
    renderer = SceneRenderer(model, SIZE, SIZE, quality=False)
    frame = renderer.frame(data, move_apple.camera.name)
    renderer.close()
    result = propose(model, data, frame, move_apple.movable_objects(), ["counter"])
    bodies = result.bodies()
    assert set(bodies) == {"cutting_board", "apple", "counter"}
    order = {"cutting_board": 0, "apple": 1, "counter": 2}
    assert [order[b] for b in bodies] == sorted(order[b] for b in bodies)
    # The board's small hanging hole tilts its axes a little; its long-axis points still sit
    # near the middles of its end faces rather than jumping to corners.
    ends = object_keypoints(model, "cutting_board", num_axes=1)
    np.testing.assert_allclose(np.abs(ends[:, 0]), 0.13, atol=1e-3)
    assert np.all(np.abs(ends[:, 1:]) < 0.005)
