"""Answers made from a scene's truth, written the way a model writes them: for benchmarks and tests.

Not a planner: these answers know the true keypoints and the task's scripted motion, and stand in
for a model where a measurement needs known-good answers, or answers that are wrong in known ways.

- ``keypoint_answer``: the task's true keypoints projected into the request's picture, as the
  keypoint prompt asks for them (``[y, x]`` in 0..1000, or pixels with ``pixel_coords``);
- ``trajectory_answer``: the task's scripted motion for the detected points
  (``PlanningWork.scripted_motion``), relative to the first detected keypoint as the trajectory
  prompt asks, ``N`` waypoints with every point and the hand;
- ``AnswerErrors``: the errors real answers show (SPEC section 11), drawn from the state's seed so
  the same state always gets the same answer: pixels 10-20 px off, the motion 2-5 cm off after the
  first waypoint (one smooth offset, not noise per waypoint, shared by the hand and every point
  while it moves; points that stay put are copied exactly), the hand 2-3 cm too high or too
  low from the grasp on, and the formats models use (fences, prose before the JSON, wrappers, a
  ``waypoints()`` function). ``AnswerErrors.none()`` gives exact answers;
- ``AnswerBook``: every answer of a planning run, made in a throwaway run with the same settings
  and indexed by request, so a local server can serve them to the real run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keyscaffold.geometry import project_points
from keyscaffold.planning.answers import HAND, TRAJECTORY_ENTRY
from keyscaffold.planning.perception import DetectedKeypoint
from keyscaffold.planning.vlm_planner import STAGES, PlanningSettings, PlanningWork
from keyscaffold.tasks.base import OracleWaypoints
from keyscaffold.vlm.cache import request_key
from keyscaffold.vlm.client import ChatRequest, ChatResult

_STREAMS = {"pixels": 1, "waypoints": 2, "grasp": 3, "keypoints format": 4, "trajectory format": 5}
"""Each kind of error draws from its own stream: turning one off leaves the others as they were."""

MOVED_M = 0.005
"""A point this far from where it starts (m) is moving: it takes the motion's error."""
DRIFT_TURN = 0.5
"""How far a path's offset direction turns from its first to its last waypoint: the end direction
is the start direction plus this times a random unit vector (at most 30 degrees)."""

KEYPOINT_STYLES = ("prose_fenced", "bare", "fenced", "prose_inline", "wrapped", "mapping")
TRAJECTORY_STYLES = (
    "bare",
    "fenced",
    "prose_fenced",
    "prose_inline",
    "wrapped",
    "columns",
    "python",
)
REFUSAL = "I cannot help with that."
"""What the book answers to a request it never saw (the planner records it as ``no_json``)."""
EXACT_STYLES = {"keypoints": "prose_fenced", "trajectory": "bare"}
"""The formats of exact answers (the ones tests have always served)."""


@dataclass(frozen=True)
class AnswerErrors:
    """The errors answers carry; each is drawn from (``seed``, the state's seed), so reproducible.

    A field set to None turns that error off.
    """

    pixel_error_px: tuple[float, float] | None = (10.0, 20.0)
    """Each keypoint's answered pixel lies this far (px, uniform) from its true projection, in a
    uniformly random direction."""
    waypoint_error_m: tuple[float, float] | None = (0.02, 0.05)
    """Every waypoint after the first (which the request states) lies this far (m) from the
    scripted one, for the hand and every point while it moves: one random offset whose size moves
    linearly between two draws in this range and whose direction turns slowly (``DRIFT_TURN``)."""
    grasp_height_error_m: tuple[float, float] | None = (0.02, 0.03)
    """The hand's height from the grasp waypoint on is shifted by this much (m, uniform), up or
    down with equal chance (``grasp_index``)."""
    varied_format: bool = True
    """Write each answer in one of the formats models use (``KEYPOINT_STYLES``,
    ``TRAJECTORY_STYLES``), drawn per state; otherwise the ``EXACT_STYLES``."""
    seed: int = 0

    @classmethod
    def none(cls) -> AnswerErrors:
        """Exact answers: the true pixels and the scripted motion, in the exact formats."""
        return cls(None, None, None, False)

    @classmethod
    def named(cls, name: str) -> AnswerErrors:
        """``exact`` (``none()``) or ``realistic`` (the defaults, SPEC section 11)."""
        models = {"exact": cls.none(), "realistic": cls()}
        if name not in models:
            raise ValueError(f"unknown answer errors {name!r}; use one of {sorted(models)}")
        return models[name]

    def rng(self, state_seed: int, stream: str) -> np.random.Generator:
        """The generator of one kind of error (``_STREAMS``) for one initial state."""
        return np.random.default_rng([self.seed, state_seed, _STREAMS[stream]])


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def pixel_offsets(errors: AnswerErrors, state_seed: int, count: int) -> np.ndarray:
    """How far each answered pixel lies from its true projection, (du, dv) in px, shape:
    (count, 2); zeros without pixel errors."""
    if errors.pixel_error_px is None:
        return np.zeros((count, 2))
    rng = errors.rng(state_seed, "pixels")
    angle = rng.uniform(0.0, 2 * np.pi, count)
    size = rng.uniform(*errors.pixel_error_px, count)
    return size[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def waypoint_offsets(
    errors: AnswerErrors, state_seed: int, num_waypoints: int, num_paths: int
) -> np.ndarray:
    """The offset of every waypoint of every path (m), shape: (num_waypoints, num_paths, 3).

    Row 0 is zero (the initial positions are stated in the request). From row 1 on, each path's
    offset has a size moving linearly between two draws in ``waypoint_error_m`` and a direction
    turning from a random one by up to 30 degrees: a systematic, slowly varying error, as a model
    that misjudges where a thing is makes, not independent noise per waypoint.
    """
    offsets = np.zeros((num_waypoints, num_paths, 3))
    if errors.waypoint_error_m is None or num_waypoints < 2:
        return offsets
    rng = errors.rng(state_seed, "waypoints")
    start = _unit(rng.normal(size=(num_paths, 3)))
    end = _unit(start + DRIFT_TURN * _unit(rng.normal(size=(num_paths, 3))))
    size = rng.uniform(*errors.waypoint_error_m, (2, num_paths))
    t = np.linspace(0.0, 1.0, num_waypoints - 1)[:, None]
    direction = _unit((1 - t)[..., None] * start + t[..., None] * end)
    offsets[1:] = ((1 - t) * size[0] + t * size[1])[..., None] * direction
    return offsets


def grasp_height_shift(errors: AnswerErrors, state_seed: int) -> float:
    """How much too high (positive) or too low the hand is from the grasp on (m); 0 without."""
    if errors.grasp_height_error_m is None:
        return 0.0
    rng = errors.rng(state_seed, "grasp")
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(*errors.grasp_height_error_m))


def grasp_index(scripted: OracleWaypoints) -> int:
    """The first waypoint at which the hand holds (or, for a task that never closes it, presses:
    the first waypoint at its lowest height), at least 1."""
    if scripted.grasp_waypoint >= 0:
        return max(scripted.grasp_waypoint, 1)
    heights = scripted.wrist[:, 2]
    return max(int(np.argmax(heights <= heights.min() + 1e-3)), 1)


def _style(errors: AnswerErrors, state_seed: int, stage: str) -> str:
    if not errors.varied_format:
        return EXACT_STYLES[stage]
    styles = KEYPOINT_STYLES if stage == "keypoints" else TRAJECTORY_STYLES
    return str(errors.rng(state_seed, f"{stage} format").choice(styles))


# ---------------------------------------------------------------------------------- formats
def write_keypoints(points: dict[str, list[float]], style: str) -> str:
    """A keypoint answer: ``points`` maps each name to ``[y, x]``, written in ``style``
    (``KEYPOINT_STYLES``)."""
    entries = json.dumps([{"name": n, "point": p} for n, p in points.items()])
    texts = {
        "prose_fenced": f"Here are the points:\n```json\n{entries}\n```",
        "bare": entries,
        "fenced": f"```json\n{entries}\n```",
        "prose_inline": "I located the points; each is [y, x] on the 0-1000 scale:\n" + entries,
        "wrapped": f'```json\n{{"keypoints": {entries}}}\n```',
        "mapping": f"```\n{json.dumps(points, indent=1)}\n```",
    }
    return texts[style]


def write_waypoints(names: list[str], keypoints: np.ndarray, hand: np.ndarray, style: str) -> str:
    """A trajectory answer in ``style`` (``TRAJECTORY_STYLES``), coordinates rounded to 0.1 mm.

    Args:
        keypoints: Relative keypoint waypoints (m), shape: (N, K, 3).
        hand: Relative hand waypoints (m), shape: (N, 3).
    """
    rows = [
        {
            **{n: np.round(keypoints[i, k], 4).tolist() for k, n in enumerate(names)},
            HAND: np.round(hand[i], 4).tolist(),
        }
        for i in range(len(hand))
    ]
    plan = json.dumps(rows)
    columns = {n: [row[n] for row in rows] for n in [*names, HAND]}
    texts = {
        "bare": plan,
        "fenced": f"```json\n{plan}\n```",
        "prose_fenced": "The hand reaches the object first, then moves it; here is the plan:\n"
        f"```json\n{plan}\n```",
        "prose_inline": "Each waypoint gives [x, y, z] in meters for every point:\n" + plan,
        "wrapped": f'{{"waypoints": {plan}}}',
        "columns": f"```json\n{json.dumps(columns)}\n```",
        "python": f"```python\ndef {TRAJECTORY_ENTRY}():\n    plan = {plan}\n    return plan\n```",
    }
    return texts[style]


# ---------------------------------------------------------------------------------- answers
def keypoint_answer(work: PlanningWork, seed: int, errors: AnswerErrors) -> str:
    """The answer to a state's keypoint request: the task's true keypoints projected into the
    state's frame, moved by ``pixel_offsets``, kept inside the picture."""
    frame = work.load_frame(seed)
    world = work.task.keypoint_positions(work.model, work.scene.data(seed))
    uv, _ = project_points(world, frame["intrinsics"], frame["cam_to_world"])
    height, width = frame["segmentation"].shape
    uv = uv + pixel_offsets(errors, seed, len(uv))
    u, v = np.clip(uv[:, 0], 0, width - 1), np.clip(uv[:, 1], 0, height - 1)
    if work.settings.pixel_coords:
        yx = np.stack([v, u], axis=1)
    else:
        yx = np.stack([v / height, u / width], axis=1) * 1000
    points = {n: np.round(p).astype(int).tolist() for n, p in zip(work.task.keypoint_names(), yx)}
    return write_keypoints(points, _style(errors, seed, "keypoints"))


def detected_keypoints(work: PlanningWork, seed: int) -> list[DetectedKeypoint]:
    """The keypoints a state's trajectory request was made from (lifted from its answer)."""
    return [DetectedKeypoint.from_json(d) for d in work.read(seed, "keypoints.json")]


def trajectory_answer(work: PlanningWork, seed: int, errors: AnswerErrors) -> str:
    """The answer to a state's trajectory request: the scripted motion for the detected points in
    the request's frame (minus the first detected keypoint's world position), with one
    ``waypoint_offsets`` path on the hand and on every point while it moves (a held object goes
    where the misplaced hand takes it; a point that stays put is copied, as models copy it), and
    ``grasp_height_shift`` on the hand from the grasp on."""
    detected = detected_keypoints(work, seed)
    keypoints, hand, _ = work.scripted_motion(seed, detected)
    origin = np.array(detected[0].world)
    keypoints, hand = keypoints - origin, hand - origin
    count = work.settings.num_waypoints
    offsets = waypoint_offsets(errors, seed, count, 1)[:, 0]
    moving = np.linalg.norm(keypoints - keypoints[:1], axis=-1) > MOVED_M  # (N, K)
    keypoints = keypoints + moving[..., None] * offsets[:, None]
    hand = hand + offsets
    grasp = grasp_index(work.task.oracle_waypoints(work.scene.state(seed), count))
    hand[grasp:, 2] += grasp_height_shift(errors, seed)
    names = [d.name for d in detected]
    return write_waypoints(names, keypoints, hand, _style(errors, seed, "trajectory"))


ANSWER_MAKERS = {"keypoints": keypoint_answer, "trajectory": trajectory_answer}


# ---------------------------------------------------------------------------- answer book
_POSITION_LINE = re.compile(r'^\s*[-*]\s*"([^"]+)"\s*:\s*\[([^\]]*)\]')


def request_text(body: dict) -> str:
    """The text of a request's first user message (its text parts, when it also has images)."""
    message = next((m for m in body.get("messages", []) if m.get("role") == "user"), {})
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")


def positions_block(body: dict) -> str | None:
    """The initial positions a trajectory request states, one ``name: [x,y,z]`` line each, or
    None for a request that states none.

    They are the first run of consecutive lines ``- "name": [x, y, z]`` that names ``hand``, so
    neither the words around them nor few-shot examples later in the prompt change them.
    """
    run: list[tuple[str, str]] = []
    for line in [*request_text(body).splitlines(), ""]:
        match = _POSITION_LINE.match(line)
        if match:
            run.append((match[1], "".join(match[2].split())))
        elif any(name == HAND for name, _ in run):
            return "\n".join(f"{name}: [{vector}]" for name, vector in run)
        else:
            run = []
    return None


class AnswerBook:
    """Every answer of a planning run, by request hash, custom id and initial positions.

    A throwaway run with the same settings in ``folder`` is answered from the truth (with
    ``errors``) stage by stage until nothing is pending; the real run with the same settings asks
    the same questions, so ``answer(body)`` can serve it from a local server. Trajectory requests
    are also found by their initial positions, so prompts that gained few-shot examples are still
    answered.

    Args:
        settings: The real run's planning settings.
        folder: An empty folder for the throwaway run (``work`` keeps it open).
        errors: The errors the answers carry (default: exact answers).
    """

    def __init__(
        self, settings: PlanningSettings, folder: Path, errors: AnswerErrors | None = None
    ) -> None:
        self.errors = errors or AnswerErrors.none()
        self.by_key: dict[str, str] = {}
        self.by_id: dict[str, str] = {}
        self.id_by_key: dict[str, str] = {}
        self.by_positions: dict[str, str] = {}
        self.work = PlanningWork(folder, settings)
        self.seeds = self.work.seeds
        for _ in range(len(STAGES) * (settings.repairs + 1)):
            requests = self.work.pending_requests()
            if not requests:
                break
            self.work.record([ChatResult(r.custom_id, self._add(r)) for r in requests])

    def _add(self, request: ChatRequest) -> str:
        seed, stage = self.work.route(request.custom_id)
        content = ANSWER_MAKERS[stage](self.work, seed, self.errors)
        self.by_key[request.key] = content
        self.by_id[request.custom_id] = content
        self.id_by_key[request.key] = request.custom_id
        block = positions_block(request.body) if stage == "trajectory" else None
        if block is not None:
            self.by_positions[block] = content
        return content

    def merge(self, other: AnswerBook) -> AnswerBook:
        """This book with ``other``'s answers added (another split or planner)."""
        for name in ("by_key", "by_id", "id_by_key", "by_positions"):
            getattr(self, name).update(getattr(other, name))
        return self

    def answer(self, body: dict) -> str:
        """The answer to a request body, or a refusal for a request this book never saw."""
        key = request_key(body)
        if key in self.by_key:
            return self.by_key[key]
        return self.by_positions.get(positions_block(body) or "", REFUSAL)
