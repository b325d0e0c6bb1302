"""Behaviour tests for keyscaffold.planning.truth_answers: answers made from a scene's truth.

Exact answers must lift to the true keypoints and give the scripted motion; realistic answers must
carry exactly the errors SPEC section 11 names (pixels 10-20 px off, waypoints 2-5 cm off as a
smooth offset per path with the first waypoint exact, the grasp 2-3 cm too high or too low),
reproducibly per seed, in formats the parsers accept.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from keyscaffold.geometry import project_points
from keyscaffold.planning.answers import parse_keypoint_answer, parse_trajectory_answer
from keyscaffold.planning.oracle import split_seeds
from keyscaffold.planning.truth_answers import (
    KEYPOINT_STYLES,
    TRAJECTORY_STYLES,
    AnswerBook,
    AnswerErrors,
    detected_keypoints,
    grasp_index,
    keypoint_answer,
    positions_block,
    request_text,
    trajectory_answer,
    write_keypoints,
    write_waypoints,
)
from keyscaffold.planning.vlm_planner import PlanningSettings
from keyscaffold.tasks import OracleWaypoints, scaffold_task_names

EXACT = AnswerErrors.none()
ONLY_PIXELS = AnswerErrors(waypoint_error_m=None, grasp_height_error_m=None)
ONLY_WAYPOINTS = AnswerErrors(pixel_error_px=None, grasp_height_error_m=None, varied_format=False)
ONLY_GRASP = AnswerErrors(pixel_error_px=None, waypoint_error_m=None, varied_format=False)
ROUNDING_PX = 0.6
"""[y, x] are written as integers on the 0..1000 scale: 0.8 px per step on 800 px, so up to
0.4 px per axis."""
ROUNDING_M = 2e-4
"""Waypoints are written to 0.1 mm; a difference of two of them is off by up to ~0.17 mm."""


@pytest.fixture(scope="module")
def apple(tmp_path_factory):
    """A move_apple planning run answered exactly: three states with frames and keypoints."""
    settings = PlanningSettings("move_apple", "train", 0, 3, model="m")
    return AnswerBook(settings, tmp_path_factory.mktemp("apple") / "book").work


def relative_plan(work, seed: int, errors: AnswerErrors) -> tuple[np.ndarray, np.ndarray]:
    """The parsed trajectory answer: keypoints (N, K, 3) and hand (N, 3), relative (m)."""
    text = trajectory_answer(work, seed, errors)
    return parse_trajectory_answer(text, work.task.keypoint_names(), work.settings.num_waypoints)


@pytest.mark.parametrize("task", scaffold_task_names())
def test_exact_answers_lift_within_2_cm_of_the_truth(task, tmp_path):
    work = AnswerBook(PlanningSettings(task, "train", 0, 1, model="m"), tmp_path / "book").work
    (seed,) = work.seeds
    assert work.stage_of(seed) == "done"
    truth = work.task.keypoint_positions(work.model, work.scene.data(seed))
    detected = detected_keypoints(work, seed)
    assert all(d.on_intended for d in detected)
    assert np.linalg.norm(np.array([d.world for d in detected]) - truth, axis=1).max() < 0.02


def test_exact_answers_give_the_scripted_motion_in_the_old_formats(apple):
    for plan in apple.plans():
        seed = plan.provenance["seed"]
        keypoints, wrist, _ = apple.scripted_motion(seed, detected_keypoints(apple, seed))
        np.testing.assert_allclose(plan.waypoints, keypoints, atol=1e-4)
        np.testing.assert_allclose(plan.wrist_waypoints, wrist, atol=1e-4)
    seed = apple.seeds[0]
    assert keypoint_answer(apple, seed, EXACT).startswith("Here are the points:\n```json\n[")
    assert isinstance(json.loads(trajectory_answer(apple, seed, EXACT)), list)


def test_realistic_keypoint_answers_are_10_to_20_px_off_the_true_projection(apple):
    names = apple.task.keypoint_names()
    distances = []
    for seed in apple.seeds:
        frame = apple.load_frame(seed)
        world = apple.task.keypoint_positions(apple.model, apple.scene.data(seed))
        truth, _ = project_points(world, frame["intrinsics"], frame["cam_to_world"])
        height, width = frame["segmentation"].shape
        for errors in (replace(ONLY_PIXELS, seed=s) for s in range(4)):
            pixels = parse_keypoint_answer(
                keypoint_answer(apple, seed, errors), names, width, height
            )
            answered = np.array([pixels[n] for n in names])
            distances += np.linalg.norm(answered - truth, axis=1).tolist()
    assert 10 - ROUNDING_PX <= min(distances) and max(distances) <= 20 + ROUNDING_PX
    assert max(distances) - min(distances) > 5  # spread over the range, not one fixed distance


def paths(work, seed: int, errors: AnswerErrors) -> np.ndarray:
    """Every path of the parsed trajectory answer, keypoints then the hand: (N, K + 1, 3) (m)."""
    keypoints, hand = relative_plan(work, seed, errors)
    return np.concatenate([keypoints, hand[:, None]], axis=1)


def test_waypoint_errors_are_2_to_5_cm_smooth_exact_at_the_start_and_seeded(apple):
    seed = apple.seeds[0]
    exact = paths(apple, seed, EXACT)
    offsets = paths(apple, seed, ONLY_WAYPOINTS) - exact
    size = np.linalg.norm(offsets, axis=-1)
    hand = size[:, -1]
    assert np.all(size[0] < ROUNDING_M)  # the initial positions, as the request states them
    assert hand[1:].min() >= 0.02 - ROUNDING_M and hand[1:].max() <= 0.05 + ROUNDING_M
    # Smooth: neighbouring waypoints' offsets differ far less than independent 2-5 cm draws would.
    assert np.linalg.norm(np.diff(offsets[1:, -1], axis=0), axis=-1).max() < 0.005
    # The cutting board stays put: copied exactly. The apple, once carried, shares the hand's error.
    assert np.all(size[:, 1] < ROUNDING_M)
    carried = np.linalg.norm(exact[:, 0] - exact[0, 0], axis=-1) > 0.005
    np.testing.assert_allclose(offsets[carried, 0], offsets[carried, -1], atol=2 * ROUNDING_M)
    np.testing.assert_array_equal(paths(apple, seed, ONLY_WAYPOINTS) - exact, offsets)
    other = paths(apple, seed, replace(ONLY_WAYPOINTS, seed=1)) - exact
    assert np.abs(other - offsets).max() > 0.01


def test_waypoint_errors_differ_between_states(apple):
    first, second = (
        paths(apple, seed, ONLY_WAYPOINTS) - paths(apple, seed, EXACT) for seed in apple.seeds[:2]
    )
    assert np.abs(first - second).max() > 0.01


def test_grasp_height_is_2_to_3_cm_off_from_the_grasp_on(apple):
    seed = apple.seeds[0]
    exact_keypoints, exact_hand = relative_plan(apple, seed, EXACT)
    grasp = grasp_index(apple.task.oracle_waypoints(apple.scene.state(seed), 20))
    shifts = []
    for errors in (replace(ONLY_GRASP, seed=s) for s in range(8)):
        keypoints, hand = relative_plan(apple, seed, errors)
        np.testing.assert_allclose(keypoints, exact_keypoints, atol=1e-9)
        np.testing.assert_allclose(hand[:, :2], exact_hand[:, :2], atol=1e-9)
        dz = hand[:, 2] - exact_hand[:, 2]
        assert np.all(np.abs(dz[:grasp]) < ROUNDING_M)
        assert np.ptp(dz[grasp:]) < ROUNDING_M
        shifts.append(float(dz[grasp:].mean()))
    assert all(0.02 - ROUNDING_M <= abs(s) <= 0.03 + ROUNDING_M for s in shifts)
    assert min(shifts) < 0 < max(shifts)  # up or down


def test_grasp_index_of_a_task_that_only_presses_is_where_the_hand_is_lowest():
    wrist = np.array([[0, 0, 0.3], [0, 0, 0.2], [0, 0, 0.1], [0.1, 0, 0.1], [0.2, 0, 0.15]])
    scripted = OracleWaypoints(np.zeros((5, 1, 3)), wrist, np.zeros(3), grasp_waypoint=-1)
    assert grasp_index(scripted) == 2
    assert grasp_index(replace(scripted, grasp_waypoint=3)) == 3
    assert grasp_index(replace(scripted, grasp_waypoint=0)) == 1  # the first waypoint stays exact


@pytest.mark.parametrize("style", KEYPOINT_STYLES)
def test_keypoint_parser_accepts_every_format(style):
    names = ["apple", "cutting board"]
    text = write_keypoints({"apple": [500, 250], "cutting board": [100, 900]}, style)
    pixels = parse_keypoint_answer(text, names, 800, 600)
    assert pixels == {"apple": (200.0, 300.0), "cutting board": (720.0, 60.0)}


@pytest.mark.parametrize("style", TRAJECTORY_STYLES)
def test_trajectory_parser_accepts_every_format(style):
    rng = np.random.default_rng(0)
    names, keypoints, hand = (
        ["apple", "cutting board"],
        rng.normal(size=(6, 2, 3)),
        rng.normal(size=(6, 3)),
    )
    parsed_keypoints, parsed_hand = parse_trajectory_answer(
        write_waypoints(names, keypoints, hand, style), names, 6
    )
    np.testing.assert_allclose(parsed_keypoints, keypoints, atol=5e-5)
    np.testing.assert_allclose(parsed_hand, hand, atol=5e-5)


def test_realistic_answers_vary_their_format_per_state(apple):
    errors = AnswerErrors()
    texts = {
        keypoint_answer(apple, seed, replace(errors, seed=s))[:12]
        for seed in apple.seeds
        for s in range(4)
    }
    assert len(texts) >= 3


def _trajectory_body(text: str, image: bool = False) -> dict:
    content = [{"type": "text", "text": text}]
    if image:
        content.append({"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}})
    return {"model": "m", "messages": [{"role": "user", "content": content if image else text}]}


POSITIONS = "\n".join(
    ['- "apple": [0.0, 0.0, 0.0]', '- "cutting board": [-0.085, -0.256, -0.02]']
    + ['- "hand": [-0.019, 0.011, 0.238]']
)


def test_positions_block_ignores_the_words_around_it_and_few_shot_examples():
    v1 = f'Frame: ...\n\nInitial positions:\n{POSITIONS}\n"hand" is the wrist.\n\nWrite a plan.'
    examples = v1 + '\nExample 1, initial positions: {"apple": [0, 0, 0], "hand": [1, 2, 3]}\n'
    reworded = f"Where things start (meters):\n\n{POSITIONS.replace(', ', ',')}\n\nPalm: ..."
    blocks = {
        positions_block(_trajectory_body(v1)),
        positions_block(_trajectory_body(examples)),
        positions_block(_trajectory_body(reworded, image=True)),
    }
    assert len(blocks) == 1 and "hand: [-0.019,0.011,0.238]" in blocks.pop()
    assert positions_block(_trajectory_body('Locate these points:\n- "apple": the apple')) is None


def test_book_serves_the_same_state_asked_with_examples(tmp_path):
    book = AnswerBook(PlanningSettings("move_apple", "train", 0, 1, model="m"), tmp_path / "book")
    seed = split_seeds("train", 0, 1)[0]
    record = book.work.read(seed, "trajectory.request.json")
    text = request_text(record["body"]) + "\nExample 1, plan: [...]\n"
    asked = {**record["body"], "messages": [{"role": "user", "content": text}]}
    assert book.answer(asked) == book.by_id[record["custom_id"]]
    assert book.answer(_trajectory_body("Something else")) == "I cannot help with that."
