"""Behaviour tests for keyscaffold.planning.answers: tolerant parsing of model answers.

Keypoint answers are ``[y, x]`` points (normalized to 0..1000 unless ``pixel_coords``) that the
parser turns into ``(u, v)`` pixels; trajectory answers are waypoint lists given as JSON or as a
Python ``waypoints()`` function run in the sandbox. Every unusable answer must raise a typed
``AnswerError`` and nothing else.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyscaffold.planning.answers import (
    FAILURE_KINDS,
    AnswerError,
    extract_json,
    normalize_name,
    parse_keypoint_answer,
    parse_trajectory_answer,
)

WIDTH, HEIGHT = 800, 600
NAMES = ["apple", "cutting board"]
# [y, x] in 0..1000 -> u = x * 800 / 1000, v = y * 600 / 1000.
APPLE_YX, BOARD_YX = [500, 250], [100, 900]
APPLE_UV, BOARD_UV = (200.0, 300.0), (720.0, 60.0)
KEYPOINT_LIST = (
    '[{"name": "apple", "point": [500, 250]}, {"name": "cutting board", "point": [100, 900]}]'
)

APPLE_TRAJ = [[0.0, 0.1, 0.2], [0.5, 0.6, 0.7], [1.0, 1.1, 1.2]]
BOARD_TRAJ = [[-1.0, 2.0, 0.0], [-1.5, 2.5, 0.25], [-2.0, 3.0, 0.5]]
HAND_TRAJ = [[0.3, 0.0, 0.9], [0.4, 0.0, 0.8], [0.5, 0.0, 0.7]]
WAYPOINTS = [
    {"apple": a, "cutting board": b, "hand": h}
    for a, b, h in zip(APPLE_TRAJ, BOARD_TRAJ, HAND_TRAJ)
]


def keypoints(text: str, pixel_coords: bool = False) -> dict[str, tuple[float, float]]:
    return parse_keypoint_answer(text, NAMES, WIDTH, HEIGHT, pixel_coords=pixel_coords)


def trajectory(text: str, num_waypoints: int = 3, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    return parse_trajectory_answer(text, NAMES, num_waypoints, **kwargs)


def assert_expected_pixels(pixels: dict[str, tuple[float, float]]) -> None:
    assert list(pixels) == NAMES
    assert pixels["apple"] == pytest.approx(APPLE_UV, abs=1e-9)
    assert pixels["cutting board"] == pytest.approx(BOARD_UV, abs=1e-9)


def assert_expected_trajectory(result: tuple[np.ndarray, np.ndarray]) -> None:
    kps, hand = result
    assert kps.shape == (3, 2, 3) and hand.shape == (3, 3)
    assert kps.dtype == np.float64 and hand.dtype == np.float64
    np.testing.assert_array_equal(kps[:, 0], APPLE_TRAJ)
    np.testing.assert_array_equal(kps[:, 1], BOARD_TRAJ)
    np.testing.assert_array_equal(hand, HAND_TRAJ)


def raises_kind(kind: str):
    assert kind in FAILURE_KINDS
    return pytest.raises(AnswerError, match=re.escape(f"[{kind}]"))


# --------------------------------------------------------------------------------------------
# AnswerError and names
# --------------------------------------------------------------------------------------------


def test_answer_error_carries_kind_and_message_and_is_a_value_error():
    error = AnswerError("no_json", "nothing here")
    assert isinstance(error, ValueError)
    assert error.kind == "no_json" and error.message == "nothing here"
    assert str(error) == "[no_json] nothing here"


def test_answer_error_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="unknown answer failure kind"):
        AnswerError("rate_limited", "not an answer failure")


@pytest.mark.parametrize(
    "raw",
    ["cutting board", "Cutting_Board", "CUTTING-BOARD", "  cutting   board ", "cutting_-board"],
)
def test_normalize_name_ignores_case_separators_and_extra_spaces(raw):
    assert normalize_name(raw) == "cutting board"


# --------------------------------------------------------------------------------------------
# extract_json
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("Sure!\n```json\n[1, 2]\n```\nDone.", [1, 2]),
        ("```\n{'a': (1, 2), 'b': None}\n```", {"a": (1, 2), "b": None}),
        ("The answer is [1, 2, 3,] as requested.", [1, 2, 3]),
        ('first {"a": [1]} then {"b": 2}', {"a": [1]}),
    ],
)
def test_extract_json_finds_first_list_or_object(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize("text", ["", "   \n\t", "no structure here", "42", '"a string"', None])
def test_extract_json_without_list_or_object_is_no_json(text):
    with raises_kind("no_json"):
        extract_json(text)


@pytest.mark.parametrize("text", ["{[1]: 2}", "{[1]}"])
def test_extract_json_python_literal_with_unhashable_key_never_crashes(text):
    # Not a valid literal as a whole; the first well-formed list inside it is taken.
    assert extract_json(text) == [1]


def test_extract_json_deeply_nested_brackets_is_answer_error():
    with pytest.raises(AnswerError):
        extract_json("[" * 100_000)


# --------------------------------------------------------------------------------------------
# Keypoints: accepted forms
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(KEYPOINT_LIST, id="plain-list"),
        pytest.param(
            f"Here are the points you asked for:\n```json\n{KEYPOINT_LIST}\n```\nHope it helps!",
            id="json-fence-with-prose",
        ),
        pytest.param(f"```\n{KEYPOINT_LIST}\n```", id="bare-fence"),
        pytest.param(
            f"I located both objects. {KEYPOINT_LIST} Let me know if more is needed.",
            id="unfenced-in-prose",
        ),
        pytest.param(json.dumps({"keypoints": json.loads(KEYPOINT_LIST)}), id="keypoints-key"),
        pytest.param(json.dumps({"points": json.loads(KEYPOINT_LIST)}), id="points-key"),
        pytest.param('{"apple": [500, 250], "cutting board": [100, 900]}', id="mapping"),
        pytest.param('{"Apple": [500, 250], "Cutting_Board": [100, 900]}', id="mapping-snake"),
        pytest.param(
            '[{"name": "APPLE", "point": [500, 250]}, {"name": "cutting-board", '
            '"point": [100, 900]}]',
            id="list-other-case",
        ),
        pytest.param(
            '[{"name": "apple", "point": [500, 250],}, {"name": "cutting board", '
            '"point": [100, 900],},]',
            id="trailing-commas",
        ),
        pytest.param(
            "[{'name': 'apple', 'point': [500, 250]}, {'name': 'cutting board', "
            "'point': (100, 900)}]",
            id="python-literal",
        ),
        pytest.param(
            '[{"name": "apple", "point_2d": [500, 250]}, {"name": "cutting board", '
            '"yx": [100, 900]}]',
            id="point-2d-and-yx-keys",
        ),
        pytest.param(
            '{"apple": {"y": 500, "x": 250}, "cutting board": {"X": 900, "Y": 100}}',
            id="point-as-yx-dict",
        ),
        pytest.param('{"apple": ["500", "250.0"], "cutting board": [100, 900]}', id="num-str"),
        pytest.param(
            '{"apple": [500, 250], "cutting board": [100, 900], "knife": [1, 1]}',
            id="extra-name-ignored",
        ),
    ],
)
def test_keypoint_answer_forms_give_the_same_pixels(text):
    assert_expected_pixels(keypoints(text))


def test_keypoint_normalized_conversion_is_exact():
    # u runs along the width (x), v along the height (y).
    pixels = parse_keypoint_answer('[{"name": "apple", "point": [500, 250]}]', ["apple"], 800, 600)
    assert pixels == {"apple": (200.0, 300.0)}


def test_keypoint_result_uses_the_requested_names_and_order():
    pixels = parse_keypoint_answer(
        '{"APPLE": [500, 250], "Cutting_Board": [100, 900]}', ["cutting board", "apple"], 800, 600
    )
    assert list(pixels) == ["cutting board", "apple"]


def test_keypoint_pixel_mode_takes_yx_as_pixels():
    text = '{"apple": [300, 200], "cutting board": [60, 720]}'
    assert_expected_pixels(keypoints(text, pixel_coords=True))


@pytest.mark.parametrize("pixel_coords", [False, True])
def test_keypoint_on_far_image_edge_is_clamped_inside_the_image(pixel_coords):
    edge = [HEIGHT, WIDTH] if pixel_coords else [1000, 1000]
    text = json.dumps({"apple": edge, "cutting board": [0, 0]})
    pixels = keypoints(text, pixel_coords=pixel_coords)
    assert pixels["apple"] == (WIDTH - 0.5, HEIGHT - 0.5)
    assert pixels["cutting board"] == (0.0, 0.0)


# --------------------------------------------------------------------------------------------
# Keypoints: typed failures
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        pytest.param("", "no_json", id="empty"),
        pytest.param("   \n", "no_json", id="whitespace"),
        pytest.param("The apple is on the left of the cutting board.", "no_json", id="prose"),
        pytest.param('["apple", "cutting board"]', "bad_structure", id="list-of-strings"),
        pytest.param('[{"label": "apple", "point": [1, 2]}]', "bad_structure", id="no-name-key"),
        pytest.param("[[500, 250], [100, 900]]", "bad_structure", id="list-of-lists"),
        pytest.param('{"apple": [500, 250]}', "wrong_names", id="missing-name"),
        pytest.param('{"pear": [500, 250], "plate": [1, 1]}', "wrong_names", id="wrong-names"),
        pytest.param('{"keypoints": {"apple": [1, 2]}}', "wrong_names", id="keypoints-dict"),
        pytest.param('{"apple": [NaN, 250], "cutting board": [1, 1]}', "not_finite", id="nan"),
        pytest.param('{"apple": [1, Infinity], "cutting board": [1, 1]}', "not_finite", id="inf"),
        pytest.param('{"apple": [1, -Infinity], "cutting board": [1, 1]}', "not_finite", id="-inf"),
        pytest.param('{"apple": ["nan", 1], "cutting board": [1, 1]}', "not_finite", id="s-nan"),
        pytest.param('{"apple": [1e400, 1], "cutting board": [1, 1]}', "not_finite", id="1e400"),
        pytest.param('{"apple": [-1, 250], "cutting board": [1, 1]}', "outside_image", id="neg"),
        pytest.param(
            '{"apple": [500, -0.5], "cutting board": [1, 1]}', "outside_image", id="neg-x"
        ),
        pytest.param(
            '{"apple": [1000.5, 1], "cutting board": [1, 1]}', "outside_image", id="y>1000"
        ),
        pytest.param('{"apple": [1, 1001], "cutting board": [1, 1]}', "outside_image", id="x>1k"),
        pytest.param(
            '{"apple": [500, 250, 3], "cutting board": [1, 1]}', "bad_structure", id="3-numbers"
        ),
        pytest.param('{"apple": [500], "cutting board": [1, 1]}', "bad_structure", id="1-number"),
        pytest.param(
            '{"apple": "500, 250", "cutting board": [1, 1]}', "bad_structure", id="point-string"
        ),
        pytest.param(
            '{"apple": ["top", 250], "cutting board": [1, 1]}', "bad_structure", id="word-coord"
        ),
        pytest.param('{"apple": null, "cutting board": [1, 1]}', "bad_structure", id="null"),
        pytest.param(
            '[{"name": "apple"}, {"name": "cutting board", "point": [1, 1]}]',
            "bad_structure",
            id="no-point",
        ),
        pytest.param(
            '{"apple": [true, 250], "cutting board": [1, 1]}', "bad_structure", id="bool-y"
        ),
        pytest.param(
            '{"apple": [500, false], "cutting board": [1, 1]}', "bad_structure", id="bool-x"
        ),
        pytest.param(
            '{"apple": [[500], 250], "cutting board": [1, 1]}', "bad_structure", id="nested"
        ),
    ],
)
def test_unusable_keypoint_answer_raises_typed_error(text, kind):
    with raises_kind(kind) as info:
        keypoints(text)
    assert info.value.kind == kind


@pytest.mark.parametrize(
    "yx",
    [[100, WIDTH + 1], [HEIGHT + 0.5, 100], [-1, 100]],
    ids=["x>width", "y>height", "negative"],
)
def test_keypoint_pixel_mode_outside_image_is_rejected(yx):
    text = json.dumps({"apple": yx, "cutting board": [0, 0]})
    with raises_kind("outside_image") as info:
        keypoints(text, pixel_coords=True)
    assert info.value.kind == "outside_image"
    assert f"0..{HEIGHT}" in info.value.message and f"0..{WIDTH}" in info.value.message


def test_keypoint_pixel_mode_accepts_values_above_1000_inside_a_large_image():
    pixels = parse_keypoint_answer(
        '{"apple": [1500, 1900]}', ["apple"], 2000, 1600, pixel_coords=True
    )
    assert pixels == {"apple": (1900.0, 1500.0)}


def test_keypoint_wrong_names_message_lists_the_expected_names():
    with raises_kind("wrong_names") as info:
        keypoints('{"pear": [500, 250], "apple": [1, 1]}')
    message = info.value.message
    assert info.value.kind == "wrong_names"
    assert "cutting board" in message and "apple" in message
    assert "pear" in message  # the unexpected name is quoted back


@pytest.mark.parametrize("parse", ["keypoints", "trajectory"])
def test_huge_integer_coordinate_is_answer_error(parse):
    huge = "1" + "0" * 400
    if parse == "keypoints":
        text = '{"apple": [' + huge + ', 250], "cutting board": [1, 1]}'
        with pytest.raises(AnswerError):
            keypoints(text)
    else:
        text = json.dumps(WAYPOINTS).replace("0.3", huge, 1)
        with pytest.raises(AnswerError):
            trajectory(text)


# --------------------------------------------------------------------------------------------
# Trajectories: accepted forms
# --------------------------------------------------------------------------------------------


def _column_form() -> dict:
    return {"apple": APPLE_TRAJ, "cutting board": BOARD_TRAJ, "hand": HAND_TRAJ}


def _xyz_dicts() -> list:
    def xyz(p):
        return {"x": p[0], "y": p[1], "z": p[2]}

    return [{name: xyz(p) for name, p in w.items()} for w in WAYPOINTS]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(json.dumps(WAYPOINTS), id="list-of-dicts"),
        pytest.param(json.dumps(WAYPOINTS, indent=2), id="indented"),
        pytest.param(f"Plan:\n```json\n{json.dumps(WAYPOINTS)}\n```\nDone.", id="fenced"),
        pytest.param(f"The plan is {json.dumps(WAYPOINTS)} as asked.", id="prose"),
        pytest.param(json.dumps({"waypoints": WAYPOINTS}), id="waypoints-key"),
        pytest.param(json.dumps({"plan": WAYPOINTS}), id="plan-key"),
        pytest.param(json.dumps(_column_form()), id="column-form"),
        pytest.param(json.dumps(_xyz_dicts()), id="xyz-dicts"),
        pytest.param(
            json.dumps(
                [
                    {"Hand": w["hand"], "Cutting_Board": w["cutting board"], "APPLE": w["apple"]}
                    for w in WAYPOINTS
                ]
            ),
            id="other-case-and-key-order",
        ),
        pytest.param(repr(WAYPOINTS), id="python-literal"),
        pytest.param(json.dumps(WAYPOINTS)[:-1] + ",]", id="trailing-comma"),
    ],
)
def test_trajectory_answer_forms_give_the_same_arrays(text):
    assert_expected_trajectory(trajectory(text))


def test_trajectory_keypoints_follow_names_order():
    kps, hand = parse_trajectory_answer(json.dumps(WAYPOINTS), ["cutting board", "apple"], 3)
    np.testing.assert_array_equal(kps[:, 0], BOARD_TRAJ)
    np.testing.assert_array_equal(kps[:, 1], APPLE_TRAJ)
    np.testing.assert_array_equal(hand, HAND_TRAJ)


def test_trajectory_with_no_keypoint_names_returns_only_the_hand():
    text = json.dumps([{"hand": h} for h in HAND_TRAJ])
    kps, hand = parse_trajectory_answer(text, [], 3)
    assert kps.shape == (3, 0, 3)
    np.testing.assert_array_equal(hand, HAND_TRAJ)


# --------------------------------------------------------------------------------------------
# Trajectories: typed failures
# --------------------------------------------------------------------------------------------


def _with(index: int, name: str, value) -> str:
    waypoints = json.loads(json.dumps(WAYPOINTS))
    waypoints[index][name] = value
    return json.dumps(waypoints)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        pytest.param("", "no_json", id="empty"),
        pytest.param("Move the apple onto the board.", "no_json", id="prose"),
        pytest.param(json.dumps(WAYPOINTS[:2]), "wrong_count", id="too-few"),
        pytest.param(json.dumps(WAYPOINTS + WAYPOINTS[:1]), "wrong_count", id="too-many"),
        pytest.param("[]", "wrong_count", id="empty-list"),
        pytest.param(
            json.dumps([{k: v for k, v in w.items() if k != "hand"} for w in WAYPOINTS]),
            "wrong_names",
            id="missing-hand",
        ),
        pytest.param(
            json.dumps([{"apple": w["apple"], "hand": w["hand"]} for w in WAYPOINTS]),
            "wrong_names",
            id="missing-keypoint",
        ),
        pytest.param(
            json.dumps({"apple": APPLE_TRAJ, "hand": HAND_TRAJ}), "wrong_names", id="column-miss"
        ),
        pytest.param(_with(1, "apple", [0.0, float("nan"), 0.0]), "not_finite", id="nan"),
        pytest.param(_with(2, "hand", [float("inf"), 0.0, 0.0]), "not_finite", id="inf"),
        pytest.param(
            json.dumps([WAYPOINTS[0], [1.0, 2.0, 3.0], WAYPOINTS[2]]),
            "bad_structure",
            id="waypoint-not-dict",
        ),
        pytest.param(json.dumps([1, 2, 3]), "bad_structure", id="list-of-numbers"),
        pytest.param(_with(0, "hand", [1.0, 2.0]), "bad_structure", id="two-numbers"),
        pytest.param(_with(0, "hand", "above the board"), "bad_structure", id="string-vector"),
        pytest.param(_with(0, "hand", [True, 0.0, 0.0]), "bad_structure", id="bool-coord"),
        pytest.param(_with(0, "apple", {"x": 1, "y": 2}), "bad_structure", id="xy-dict"),
        pytest.param(
            json.dumps({"apple": APPLE_TRAJ, "cutting board": BOARD_TRAJ, "hand": HAND_TRAJ[:2]}),
            "bad_structure",
            id="column-uneven",
        ),
        pytest.param(
            json.dumps({"apple": APPLE_TRAJ, "cutting board": BOARD_TRAJ, "hand": "up"}),
            "bad_structure",
            id="column-not-list",
        ),
    ],
)
def test_unusable_trajectory_answer_raises_typed_error(text, kind):
    with raises_kind(kind) as info:
        trajectory(text)
    assert info.value.kind == kind


def test_trajectory_wrong_count_message_says_how_many_are_needed():
    with raises_kind("wrong_count") as info:
        parse_trajectory_answer(json.dumps(WAYPOINTS), NAMES, 5)
    assert "exactly 5" in info.value.message
    assert "3 waypoints" in info.value.message


def test_trajectory_missing_hand_message_names_the_hand():
    text = json.dumps([{k: v for k, v in w.items() if k != "hand"} for w in WAYPOINTS])
    with raises_kind("wrong_names") as info:
        trajectory(text)
    assert "hand" in info.value.message
    assert "waypoint 1" in info.value.message


# --------------------------------------------------------------------------------------------
# Trajectories: code answers (each runs the sandbox once, so keep these few)
# --------------------------------------------------------------------------------------------

LINSPACE_CODE = """Here is a function that interpolates the plan.

```python
import numpy as np


def waypoints():
    apple = np.linspace([0.0, 0.1, 0.2], [1.0, 1.1, 1.2], {n})
    board = np.linspace([-1.0, 2.0, 0.0], [-2.0, 3.0, 0.5], {n})
    hand = np.linspace([0.3, 0.0, 0.9], [0.5, 0.0, 0.7], {n})
    return [
        {{"apple": a.tolist(), "cutting board": b.tolist(), "hand": h.tolist()}}
        for a, b, h in zip(apple, board, hand)
    ]
```
"""


def test_code_answer_with_numpy_matches_equivalent_json():
    from_code = trajectory(LINSPACE_CODE.format(n=3))
    expected = np.linspace([0.0, 0.1, 0.2], [1.0, 1.1, 1.2], 3)
    json_waypoints = [
        {"apple": a, "cutting board": b, "hand": h}
        for a, b, h in zip(
            expected.tolist(),
            np.linspace([-1.0, 2.0, 0.0], [-2.0, 3.0, 0.5], 3).tolist(),
            np.linspace([0.3, 0.0, 0.9], [0.5, 0.0, 0.7], 3).tolist(),
        )
    ]
    from_json = trajectory(json.dumps(json_waypoints))
    assert from_code[0].shape == (3, 2, 3) and from_code[1].shape == (3, 3)
    np.testing.assert_array_equal(from_code[0], from_json[0])
    np.testing.assert_array_equal(from_code[1], from_json[1])
    np.testing.assert_array_equal(from_code[0][:, 0], expected)


def test_code_answer_with_wrong_count_is_wrong_count():
    with raises_kind("wrong_count") as info:
        trajectory(LINSPACE_CODE.format(n=4))
    assert "exactly 3" in info.value.message


def test_code_answer_importing_os_is_code_error():
    text = (
        "```python\nimport os\n\n\ndef waypoints():\n"
        "    return [{'apple': [0, 0, 0], 'cutting board': [0, 0, 0], 'hand': [0, 0, 0]}] * 3\n"
        "```"
    )
    with raises_kind("code_error") as info:
        trajectory(text)
    assert "os" in info.value.message


def test_code_answer_with_infinite_loop_is_code_error():
    text = "```python\ndef waypoints():\n    while True:\n        pass\n```"
    with raises_kind("code_error") as info:
        trajectory(text, timeout_s=1.0)
    assert "timeout" in info.value.message


def test_code_answer_returning_numpy_values_is_accepted():
    text = """```python
import numpy as np


def waypoints():
    apple = np.linspace([0.0, 0.1, 0.2], [1.0, 1.1, 1.2], 3)
    return [
        {"apple": a, "cutting board": [np.int64(-1), np.float32(2.0), 0.0], "hand": a + 1}
        for a in apple
    ]
```"""
    kps, hand = trajectory(text)
    np.testing.assert_array_equal(kps[:, 0], APPLE_TRAJ)
    np.testing.assert_array_equal(hand, np.array(APPLE_TRAJ) + 1)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_prose = st.text(
    alphabet=st.characters(blacklist_characters="[]{}`", blacklist_categories=("Cs",)),
    max_size=40,
)
_POOL = ["apple", "cutting board", "knife", "red cup"]


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_extract_json_returns_structure_or_raises_answer_error(text):
    try:
        value = extract_json(text)
    except AnswerError as error:
        assert error.kind == "no_json"
    else:
        assert isinstance(value, (list, dict))


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_keypoint_parser_only_raises_answer_error(text):
    try:
        keypoints(text)
    except AnswerError as error:
        assert error.kind in FAILURE_KINDS


@settings(max_examples=100, deadline=None)
@given(text=st.text().filter(lambda t: "waypoints" not in t))
def test_trajectory_parser_only_raises_answer_error(text):
    try:
        trajectory(text)
    except AnswerError as error:
        assert error.kind in FAILURE_KINDS


@settings(max_examples=50, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=1, max_size=len(_POOL)
    ),
    size=st.tuples(st.integers(1, 4000), st.integers(1, 4000)),
    prefix=_prose,
    suffix=_prose,
    fenced=st.booleans(),
)
def test_valid_keypoints_round_trip_to_pixels(points, size, prefix, suffix, fenced):
    width, height = size
    names = _POOL[: len(points)]
    body = json.dumps([{"name": n, "point": [y, x]} for n, (y, x) in zip(names, points)])
    if fenced:
        body = f"\n```json\n{body}\n```\n"
    pixels = parse_keypoint_answer(prefix + body + suffix, names, width, height)
    assert list(pixels) == names
    for name, (y, x) in zip(names, points):
        u, v = pixels[name]
        assert u == pytest.approx(min(x * width / 1000, width - 0.5), rel=1e-12, abs=1e-9)
        assert v == pytest.approx(min(y * height / 1000, height - 0.5), rel=1e-12, abs=1e-9)
        assert 0 <= u < width and 0 <= v < height


@settings(max_examples=50, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.integers(0, 4000), st.integers(0, 4000)), min_size=1, max_size=len(_POOL)
    ),
)
def test_pixel_keypoints_inside_image_round_trip_unchanged(points):
    width = height = 4001
    names = _POOL[: len(points)]
    text = json.dumps({n: [y, x] for n, (y, x) in zip(names, points)})
    pixels = parse_keypoint_answer(text, names, width, height, pixel_coords=True)
    assert pixels == {n: (float(x), float(y)) for n, (y, x) in zip(names, points)}


_finite = st.floats(allow_nan=False, allow_infinity=False)
_vec = st.lists(_finite, min_size=3, max_size=3)


@settings(max_examples=50, deadline=None)
@given(
    data=st.data(),
    num_waypoints=st.integers(1, 6),
    num_names=st.integers(0, len(_POOL)),
    column_form=st.booleans(),
)
def test_finite_float_waypoints_round_trip_exactly(data, num_waypoints, num_names, column_form):
    names = _POOL[:num_names]
    kps = data.draw(
        st.lists(
            st.lists(_vec, min_size=num_names, max_size=num_names),
            min_size=num_waypoints,
            max_size=num_waypoints,
        )
    )
    hand = data.draw(st.lists(_vec, min_size=num_waypoints, max_size=num_waypoints))
    if column_form:
        answer = {n: [row[k] for row in kps] for k, n in enumerate(names)}
        answer["hand"] = hand
    else:
        answer = [{**dict(zip(names, row)), "hand": h} for row, h in zip(kps, hand)]
    got_kps, got_hand = parse_trajectory_answer(json.dumps(answer), names, num_waypoints)
    assert got_kps.shape == (num_waypoints, num_names, 3)
    assert got_hand.shape == (num_waypoints, 3)
    expected_kps = np.array(kps, dtype=np.float64).reshape(num_waypoints, num_names, 3)
    # Exact, bit for bit (also keeps the sign of -0.0).
    assert got_kps.tobytes() == expected_kps.tobytes()
    assert got_hand.tobytes() == np.array(hand, dtype=np.float64).tobytes()
    assert all(math.isfinite(v) for v in got_hand.ravel())
