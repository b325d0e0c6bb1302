"""Tolerant parsers for model answers; every unusable answer becomes a typed ``AnswerError``.

Models wrap JSON in code fences, put prose around it, use snake_case for names or answer with a
Python function instead. The parsers accept all of that and reject, with a reason a person (or the
model, when quoted back) can act on, everything that cannot be made into keypoints or waypoints.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

import numpy as np

from keyscaffold.sandbox import SandboxError, extract_code, run_untrusted

FAILURE_KINDS = (
    "no_json",
    "bad_structure",
    "wrong_names",
    "wrong_count",
    "not_finite",
    "outside_image",
    "off_body",
    "outside_workspace",
    "code_error",
)
"""Answer failures; request failures use the client's error types (``rate_limited``, ...)."""

TRAJECTORY_ENTRY = "waypoints"
"""Name of the function a code answer defines; it takes no arguments and returns the list."""
HAND = "hand"

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")


class AnswerError(ValueError):
    """An answer that cannot be used.

    Attributes:
        kind: One of ``FAILURE_KINDS``.
        message: What is wrong, phrased so it can be quoted back to the model.
    """

    def __init__(self, kind: str, message: str) -> None:
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown answer failure kind {kind!r}")
        super().__init__(f"[{kind}] {message}")
        self.kind = kind
        self.message = message


def normalize_name(name: Any) -> str:
    """Case, underscores, hyphens and extra spaces do not matter in point names."""
    return " ".join(str(name).replace("_", " ").replace("-", " ").lower().split())


def _loads(candidate: str) -> Any:
    for text in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    try:  # Python literals: single quotes, True/None
        return ast.literal_eval(candidate)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


MAX_JSON_STARTS = 256
"""Opening brackets tried as the start of an embedded JSON value, in order."""


def extract_json(text: str) -> Any:
    """The first JSON list or object in ``text``: fenced blocks first, then the whole text, then
    any bracketed span; raises ``AnswerError('no_json')`` when there is none."""
    if not isinstance(text, str) or not text.strip():
        raise AnswerError("no_json", "the answer is empty")
    candidates = [body for _, body in _FENCE.findall(text)] + [text]
    for candidate in candidates:
        value = _loads(candidate.strip())
        if isinstance(value, (list, dict)):
            return value
    decoder = json.JSONDecoder()
    for attempt, match in enumerate(re.finditer(r"[\[{]", text)):
        if attempt >= MAX_JSON_STARTS:  # hostile input: each try may parse to the end
            break
        start = match.start()
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            closing = "]" if text[start] == "[" else "}"
            end = text.rfind(closing)
            value = _loads(text[start : end + 1]) if end > start else None
        if isinstance(value, (list, dict)):
            return value
    raise AnswerError("no_json", "no JSON list or object was found in the answer")


def _number(value: Any, what: str) -> float:
    numeric = (int, float, str, np.integer, np.floating)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numeric):
        raise AnswerError("bad_structure", f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError as error:
        raise AnswerError("not_finite", f"{what} is too large; coordinates are meters") from error
    except ValueError as error:
        raise AnswerError("bad_structure", f"{what} must be a number, got {value!r}") from error
    if not math.isfinite(number):
        raise AnswerError("not_finite", f"{what} is {value!r}; every coordinate must be finite")
    return number


def _vector(value: Any, size: int, what: str, keys: str) -> list[float]:
    if isinstance(value, np.ndarray):  # a code answer may return numpy rows
        value = value.tolist()
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        if all(k in lowered for k in keys):
            value = [lowered[k] for k in keys]
    if not isinstance(value, (list, tuple)) or len(value) != size:
        raise AnswerError(
            "bad_structure", f"{what} must be a list of {size} numbers [{', '.join(keys)}]"
        )
    return [_number(v, f"{what}[{i}]") for i, v in enumerate(value)]


def _match_names(found: dict[str, Any], wanted: list[str], what: str) -> dict[str, Any]:
    by_norm = {normalize_name(n): v for n, v in found.items()}
    missing = [n for n in wanted if normalize_name(n) not in by_norm]
    if missing:
        extra = [n for n in found if normalize_name(n) not in {normalize_name(w) for w in wanted}]
        hint = f" (it named {extra})" if extra else ""
        raise AnswerError(
            "wrong_names", f"{what} lacks {missing}{hint}; use exactly the names {wanted}"
        )
    return {n: by_norm[normalize_name(n)] for n in wanted}


def parse_keypoint_answer(
    text: str, names: list[str], width: int, height: int, pixel_coords: bool = False
) -> dict[str, tuple[float, float]]:
    """Pixel position (u along the width, v along the height) of every named point.

    Accepts ``[{"name", "point": [y, x]}]`` (also under a ``"keypoints"`` key, or as a mapping
    ``{name: [y, x]}``). Coordinates are normalized to 0..1000 unless ``pixel_coords``.
    """
    data = extract_json(text)
    if isinstance(data, dict) and isinstance(data.get("keypoints", data.get("points")), list):
        data = data.get("keypoints", data.get("points"))
    found: dict[str, Any] = {}
    if isinstance(data, dict):
        found = dict(data)
    elif isinstance(data, list):
        for item in data:
            if not isinstance(item, dict) or "name" not in item:
                raise AnswerError(
                    "bad_structure", 'each entry must be an object {"name": ..., "point": [y, x]}'
                )
            point = item.get("point", item.get("point_2d", item.get("yx")))
            found.setdefault(str(item["name"]), point)
    else:
        raise AnswerError("bad_structure", "the answer must be a JSON list of points")
    scale_y, scale_x = (1.0, 1.0) if pixel_coords else (height / 1000.0, width / 1000.0)
    limit_y, limit_x = (height, width) if pixel_coords else (1000, 1000)
    pixels = {}
    for name, point in _match_names(found, names, "the answer").items():
        y, x = _vector(point, 2, f'point of "{name}"', "yx")
        if not (0 <= y <= limit_y and 0 <= x <= limit_x):
            raise AnswerError(
                "outside_image",
                f'point of "{name}" [{y:g}, {x:g}] lies outside the image; y and x must lie in '
                f"0..{limit_y} and 0..{limit_x}",
            )
        pixels[name] = (min(x * scale_x, width - 0.5), min(y * scale_y, height - 0.5))
    return pixels


def _is_code(text: str) -> bool:
    code = extract_code(text)
    return re.search(rf"^\s*def\s+{TRAJECTORY_ENTRY}\s*\(", code, re.MULTILINE) is not None


def trajectory_data(text: str, timeout_s: float = 5.0) -> Any:
    """The waypoint list of an answer: JSON as written, or what its ``waypoints()`` returns (run
    in the sandbox)."""
    if _is_code(text):
        try:
            return run_untrusted(text, TRAJECTORY_ENTRY, {}, timeout_s=timeout_s)
        except SandboxError as error:
            raise AnswerError("code_error", f"{error.reason}: {error.message}") from error
    return extract_json(text)


def parse_trajectory_answer(
    text: str, names: list[str], num_waypoints: int, timeout_s: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint and hand waypoints, relative to the frame the prompt used.

    Accepts a list of ``num_waypoints`` objects ``{name: [x, y, z], ..., "hand": [x, y, z]}``
    (also under a ``"waypoints"`` key, or as ``{name: [[x, y, z], ...]}``), in JSON or returned by
    a Python ``waypoints()`` function.

    Returns:
        keypoints, shape: (N, K, 3); hand, shape: (N, 3).
    """
    data = trajectory_data(text, timeout_s)
    if isinstance(data, dict) and isinstance(data.get("waypoints", data.get("plan")), list):
        data = data.get("waypoints", data.get("plan"))
    wanted = [*names, HAND]
    if isinstance(data, dict):  # {name: [[x, y, z], ...]}
        columns = {
            n: v.tolist() if isinstance(v, np.ndarray) else v
            for n, v in _match_names(data, wanted, "the answer").items()
        }
        lengths = {len(v) if isinstance(v, (list, tuple)) else -1 for v in columns.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise AnswerError("bad_structure", "every name must map to a list of waypoints")
        data = [{n: columns[n][i] for n in wanted} for i in range(lengths.pop())]
    if isinstance(data, tuple):
        data = list(data)
    if not isinstance(data, list) or not all(isinstance(w, dict) for w in data):
        raise AnswerError(
            "bad_structure",
            'the answer must be a list of waypoints, each {"name": [x, y, z], ..., "hand": [x, y, z]}',
        )
    if len(data) != num_waypoints:
        raise AnswerError(
            "wrong_count", f"the plan has {len(data)} waypoints; exactly {num_waypoints} are needed"
        )
    rows = []
    for i, waypoint in enumerate(data):
        matched = _match_names(waypoint, wanted, f"waypoint {i + 1}")
        rows.append([_vector(matched[n], 3, f'waypoint {i + 1} "{n}"', "xyz") for n in wanted])
    array = np.array(rows, dtype=np.float64)
    return array[:, : len(names)], array[:, len(names)]
