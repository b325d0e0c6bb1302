"""The trajectory request as sent: version 2 carries a picture with the detected points named, the
parts' sizes measured from depth and segmentation, the hand's geometry and camera-tied directions;
version 1 stays the text-only request it was."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keyscaffold.planning.perception import Scene, oracle_keypoints
from keyscaffold.planning.prompts import load_template
from keyscaffold.planning.request_facts import (
    camera_directions,
    hand_geometry,
    measure_parts,
)
from keyscaffold.planning.vlm_planner import PlanningSettings, PlanningWork
from keyscaffold.sim.embodiments.hand import PALM_HALF
from keyscaffold.tasks import make_task


def _trajectory_request(tmp_path: Path, task: str, version: str):
    work = PlanningWork(
        tmp_path, PlanningSettings(task, "train", 0, 1, model="m", prompt_version=version)
    )
    seed = work.seeds[0]
    work.pending_requests()
    frame, data = work.load_frame(seed), work.scene.data(seed)
    work._save_keypoints(seed, oracle_keypoints(work.task, work.model, data, frame))
    return work, work.trajectory_request(seed, work._load_keypoints(seed))


def test_v2_request_carries_the_named_points_picture_sizes_hand_and_directions(tmp_path):
    work, request = _trajectory_request(tmp_path, "move_apple", "v2")
    text, image = request.body["messages"][0]["content"]
    text = text["text"]
    png = base64.b64decode(image["image_url"]["url"].split(",", 1)[1])
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    frame = work.load_frame(work.seeds[0])
    assert picture.shape == frame["rgb"].shape
    assert np.mean(np.any(picture != frame["rgb"], axis=-1)) > 0.001  # points and names drawn
    assert '"apple"' in text and '"cutting board"' in text
    assert 'the part under "apple": about' in text and 'the part under "cutting board"' in text
    assert "+x points toward the camera" in text and "+y points right in the picture" in text
    assert "the palm is 2 cm thick" in text and "put the hand at P + [" in text
    assert "x axis points forward" not in text


def test_v1_request_is_the_v1_text_alone(tmp_path):
    _, request = _trajectory_request(tmp_path, "move_apple", "v1")
    content = request.body["messages"][0]["content"]
    assert isinstance(content, str)
    head = load_template("trajectory", "v1").template.split("$instruction")[0]
    assert content.startswith(head) and "the x axis points forward" in content


def test_measured_sizes_match_the_objects(tmp_path):
    task = make_task("move_apple")
    scene = Scene(task, 800)
    frame = scene.frame(0, tmp_path)
    apple, board = (scene.model.body(n).id for n in ("apple", "cutting_board"))
    origin = task.keypoint_positions(scene.model, scene.data(0))[0]
    apple_size, board_size = measure_parts(frame, [apple, board], origin)
    assert 0.065 <= apple_size.extent[1] <= 0.085  # an 8 cm apple, seen across
    assert 0.03 <= apple_size.top <= 0.06  # its top (and stem), 4-5 cm above its middle
    assert max(board_size.extent[:2]) >= 0.2 and board_size.extent[2] < 0.04


@pytest.mark.parametrize("yaw, ahead", [(0.0, 1.0), (np.pi, -1.0)])
def test_hand_geometry_follows_the_wrist_yaw(yaw, ahead):
    task = make_task("move_apple")
    model = task.build_model()
    state = task.sample_initial_state(0)
    wrist = np.array(state.wrist[:3])
    posed = type(state)(state.seed, (*wrist, 0.0, 0.0, yaw), state.objects, state.joints)
    hand = hand_geometry(model, task.state_data(model, posed), task.robot(), wrist)
    assert hand.palm_thickness == pytest.approx(2 * PALM_HALF[2], abs=1e-6)
    assert ahead * hand.fingertips[:, 0].mean() > 0.1  # the fingers reach ahead of the wrist
    assert hand.grasp_offset[2] == pytest.approx(PALM_HALF[2] - hand.palm_centre[2], abs=1e-6)


def test_directions_follow_the_camera(tmp_path):
    task = make_task("move_apple")
    scene = Scene(task, 800)
    frame = scene.frame(0, tmp_path)
    words = camera_directions(frame, np.array([0.5, 0.0, 0.9]))
    assert words["x"].startswith("toward the camera") and "down" in words["x"]
    assert words["y"] == "right in the picture"
    assert words["z"] == "up in the picture"
