"""The scaffold VLM planner: keypoints from pixels, then 3D waypoints, one work folder per run.

Two questions per initial state:

1. **keypoints**: the task camera's 800x800 image and the names of the points the task needs; the
   answer's pixels are lifted with depth, intrinsics and extrinsics to world 3D, snapped onto the
   nearest task body under them (segmentation) and attached to that body's frame;
2. **trajectory**: the instruction, the task's steps, the axis convention and the initial point and
   wrist positions relative to the first keypoint; the answer (JSON, or a Python ``waypoints()``
   run in the sandbox) becomes a ``KeypointPlan`` in world frame.

This module holds only what is particular to these two questions: the settings, the prompts, how
answers become keypoints and trajectories, and the plan they make. What every planner shares lives
beside it:

- ``stages.py``: the work folder and its per-state stage machine (``PlanningWork`` is a
  ``StageWork`` with the stages ``keypoints`` -> ``trajectory`` and ``plan.json`` as its result);
- ``perception.py``: the frame (rendered once, kept in the record), lifting and snapping of
  points (``DetectedKeypoint``, ``lift_keypoints``, ``oracle_keypoints``);
- ``requests.py``: the client path, live (``run_live``) or by Batch file, and repair messages.

The live path (``plan --planner vlm``) and the Batch path (``batch export``/``import``) share
every step and give the same plans for the same answers. Layout::

    manifest.json                 settings; a rerun must match them
    records/<seed>/               rgb.png, frame.npz (depth, segmentation, calibration),
                                  keypoints.request.json, keypoints.answer.json, keypoints.json,
                                  trajectory.request.json, trajectory.answer.json,
                                  failure.json (a typed, final failure) or plan.json
    requests.log.jsonl            every request failure (retried on the next run)
    summary.json                  counts of plans, failures by kind, pending states
    plan_check.json               each plan's check in simulation (``plan_check.check_plans``)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from keyscaffold.annotate import draw_named_points
from keyscaffold.geometry import project_points
from keyscaffold.planning import CHECK_SHIFT_M, PLAN_ORIENTATION_NOISE
from keyscaffold.planning.answers import (
    FAILURE_KINDS,
    AnswerError,
    parse_keypoint_answer,
    parse_trajectory_answer,
)
from keyscaffold.planning.fewshot import format_examples, positions
from keyscaffold.planning.oracle import split_seeds
from keyscaffold.planning.perception import (
    DetectedKeypoint,
    LazyRenderer,
    Scene,
    lift_keypoints,
    oracle_keypoints,
)
from keyscaffold.planning.plan import (
    KeypointPlan,
    PlanError,
    orientation_noise,
    save_plan_set,
)
from keyscaffold.planning.plan_check import check_plans
from keyscaffold.planning.prompts import PROMPT_VERSION, load_template
from keyscaffold.planning.request_facts import (
    camera_directions,
    hand_geometry,
    measure_parts,
)
from keyscaffold.planning.requests import ModelParameters, redact_images, repair_message, run_live
from keyscaffold.planning.stages import StageWork
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import InitialState
from keyscaffold.util import atomic_write_text
from keyscaffold.vlm.client import ChatRequest, image_data_url

__all__ = [
    "PLANNER_SOURCES",
    "STAGES",
    "DetectedKeypoint",
    "PlanningSettings",
    "PlanningWork",
    "lift_keypoints",
    "oracle_keypoints",
    "redact_images",
    "repair_message",
    "run_live",
]

STAGES = ("keypoints", "trajectory")
CHECK_FILE = "plan_check.json"
PLANNER_SOURCES = {
    "vlm": ("vlm", "vlm"),
    "vlm-oracle-keypoints": ("oracle", "vlm"),
    "vlm-scripted-trajectory": ("vlm", "scripted"),
}
"""Planner name -> (where keypoints come from, where trajectories come from)."""


@dataclass(frozen=True)
class PlanningSettings(ModelParameters):
    """Everything that decides the requests and plans of a planning run (kept in the manifest)."""

    task: str
    split: str = "train"
    seed: int = 0
    num_plans: int = 20
    planner: str = "vlm"
    """vlm | vlm-oracle-keypoints | vlm-scripted-trajectory."""
    num_waypoints: int = 20
    image_size: int = 800
    pixel_coords: bool = False
    """Ask for pixel coordinates instead of 0..1000 normalized ones."""
    orientation_noise: float = PLAN_ORIENTATION_NOISE
    """Uniform noise on the task's default wrist orientation for VLM trajectories (rad)."""
    snap_radius_px: int = 16
    """A point off every task body is moved to the nearest body pixel within this radius."""
    model: str = ""
    temperature: float = 0.0
    max_tokens: int = 2048
    examples: list[dict] = field(default_factory=list)
    """Few-shot examples for the trajectory prompt (see ``fewshot.py``)."""
    repairs: int = 0
    """Times an unusable answer is sent back with the reason, asking for a corrected one."""
    prompt_version: str = PROMPT_VERSION
    check_shift_m: float = CHECK_SHIFT_M
    """The plan check in simulation (``planning.plan_check``): every plan's hand path is replayed
    before training, and one that loses its keypoints is tried shifted by up to this much per
    axis (m); 0 turns the check off."""

    def __post_init__(self) -> None:
        if self.check_shift_m < 0:
            raise ValueError(
                f"check_shift_m must be >= 0 m (0: no check), got {self.check_shift_m}"
            )
        if self.planner not in PLANNER_SOURCES:
            raise ValueError(
                f"unknown VLM planner {self.planner!r}; use one of {sorted(PLANNER_SOURCES)}"
            )
        if self.num_waypoints < 2:
            raise ValueError(f"--waypoints must be at least 2, got {self.num_waypoints}")
        if self.num_plans < 1:
            raise ValueError(f"--num-plans must be at least 1, got {self.num_plans}")

    @property
    def sources(self) -> tuple[str, str]:
        return PLANNER_SOURCES[self.planner]


class PlanningWork(StageWork):
    """A scaffold planning run's folder: what was asked, what came back, and what comes next.

    The stage machine (records, routing, repairs, failures, summary) is ``StageWork``'s; this class
    says what the two stages ask and what their answers become.
    """

    stages = STAGES
    settings_type = PlanningSettings
    result_file = "plan.json"
    answer_errors = (AnswerError,)
    failure_kinds = FAILURE_KINDS
    start_hint = "start one with `keyscaffold batch export TASK --work DIR`"

    settings: PlanningSettings

    def __init__(self, folder: Path, settings: PlanningSettings) -> None:
        super().__init__(folder, settings)
        self.task = make_task(settings.task)
        self.seeds = split_seeds(settings.split, settings.seed, settings.num_plans)
        self.scene = Scene(self.task, settings.image_size)
        self._renderer: LazyRenderer | None = None

    @property
    def model(self) -> mujoco.MjModel:
        return self.scene.model

    def _state(self, seed: int) -> InitialState:
        return self.scene.state(seed)

    # ------------------------------------------------------------------------- stage machine
    @property
    def id_prefix(self) -> str:
        return f"{self.task.name}-{self.settings.split}"

    @property
    def max_repairs(self) -> int:
        return self.settings.repairs

    def summary_header(self) -> dict:
        return {"task": self.task.name, "planner": self.settings.planner}

    def current_stage(self, seed: int) -> str:
        """``trajectory`` once the keypoints are known, else ``keypoints``."""
        return "trajectory" if (self.record_dir(seed) / "keypoints.json").exists() else "keypoints"

    @contextmanager
    def session(self) -> Iterator[None]:
        """One renderer for every frame rendered while collecting requests."""
        with self.scene.renderer() as renderer:
            self._renderer = renderer
            try:
                yield
            finally:
                self._renderer = None

    def next_request(self, seed: int, stage: str) -> ChatRequest | None:
        """The model's question, or None after taking keypoints from the oracle or a trajectory
        from the script (baseline planners)."""
        keypoint_source, trajectory_source = self.settings.sources
        if stage == "keypoints":
            frame = self.load_frame(seed, self._renderer)
            if keypoint_source == "oracle":
                data = self.scene.data(seed)
                self._save_keypoints(seed, oracle_keypoints(self.task, self.model, data, frame))
                return None
            return self.keypoint_request(seed, frame)
        detected = self._load_keypoints(seed)
        if trajectory_source == "scripted":
            self._finish_scripted(seed, detected)
            return None
        return self.trajectory_request(seed, detected)

    def accept(self, seed: int, stage: str, answer: str) -> None:
        if stage == "keypoints":
            self._lift(seed, answer)
        else:
            self._build_vlm_plan(seed, answer)

    # ----------------------------------------------------------------------------------- frames
    def load_frame(self, seed: int, renderer: SceneRenderer | LazyRenderer | None = None) -> dict:
        """The state's camera frame (rendered once, then read from the record)."""
        return self.scene.frame(seed, self.record_dir(seed), renderer)

    # ---------------------------------------------------------------------------------- prompts
    def keypoint_request(self, seed: int, frame: dict) -> ChatRequest:
        size = self.settings.image_size
        if self.settings.pixel_coords:
            rule = (
                f"y is the pixel row (0..{size - 1}) and x the pixel column (0..{size - 1}); "
                "[0, 0] is the top-left corner."
            )
        else:
            rule = (
                "y is the row and x the column, both scaled to 0..1000 across the picture; "
                "[0, 0] is the top-left corner and [1000, 1000] the bottom-right one."
            )
        points = "\n".join(
            f'- "{kp.name}": {kp.description or kp.name}' for kp in self.task.keypoints
        )
        text = load_template("keypoints", self.settings.prompt_version).substitute(
            instruction=self.task.instruction, point_list=points, coordinate_rule=rule
        )
        content = [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": image_data_url(frame["rgb"])}},
        ]
        body = self.settings.request_body([{"role": "user", "content": content}])
        return ChatRequest(self.custom_id(seed, "keypoints"), body)

    def trajectory_request(self, seed: int, detected: list[DetectedKeypoint]) -> ChatRequest:
        """The trajectory question; from prompt version 2 on it also carries the picture with the
        detected points named, the parts' measured sizes, the hand's geometry and the axes'
        directions as the camera sees them (``request_facts``)."""
        state = self._state(seed)
        origin = np.array(detected[0].world)
        initial = positions(
            [kp.name for kp in detected],
            np.array([kp.world for kp in detected]) - origin,
            np.array(state.wrist[:3]) - origin,
        )
        fields = {
            "instruction": self.task.instruction,
            "steps": "\n".join(f"{i}. {s}" for i, s in enumerate(self.task.plan_steps, 1))
            or "1. " + self.task.instruction,
            "origin_name": detected[0].name,
            "initial_positions": "\n".join(f'- "{name}": {pos}' for name, pos in initial.items()),
            "num_waypoints": self.settings.num_waypoints,
            "format_example": ", ".join(f'"{name}": [x, y, z]' for name in initial),
            "examples": format_examples(self.settings.examples),
        }
        template = load_template("trajectory", self.settings.prompt_version)
        if self.settings.prompt_version == "v1":
            content: str | list[dict] = template.substitute(fields)
        else:
            frame = self.load_frame(seed)
            text = template.substitute(fields, **self._scene_facts(seed, detected, frame))
            picture = self._named_points_picture(detected, frame)
            content = [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": image_data_url(picture)}},
            ]
        body = self.settings.request_body([{"role": "user", "content": content}])
        return ChatRequest(self.custom_id(seed, "trajectory"), body)

    def _named_points_picture(self, detected: list[DetectedKeypoint], frame: dict) -> np.ndarray:
        """The request's picture with every detected point drawn where it was lifted to."""
        world = np.array([kp.world for kp in detected])
        uv, _ = project_points(world, frame["intrinsics"], frame["cam_to_world"])
        return draw_named_points(frame["rgb"], [tuple(p) for p in uv], [kp.name for kp in detected])

    def _scene_facts(self, seed: int, detected: list[DetectedKeypoint], frame: dict) -> dict:
        """The version-2 fields: ``directions``, ``sizes`` and ``hand_geometry`` as text."""
        state = self._state(seed)
        origin = np.array(detected[0].world)
        words = camera_directions(frame, origin)
        directions = "; ".join(f"+{axis} points {words[axis]}" for axis in "xyz")
        parts: dict[str, list[str]] = {}  # body -> the names of the points on it
        for kp in detected:
            parts.setdefault(kp.body, []).append(f'"{kp.name}"')
        sizes = measure_parts(frame, [self.model.body(b).id for b in parts], origin)
        size_lines = "\n".join(
            f"- the part under {' and '.join(names)}: about {_cm(size.extent[0])} along x, "
            f"{_cm(size.extent[1])} along y and {_cm(size.extent[2])} along z; top at "
            f"z = {size.top:+.3f}, bottom at z = {size.bottom:+.3f}"
            for names, size in zip(parts.values(), sizes)
        )
        return {
            "directions": directions,
            "sizes": size_lines,
            "hand_geometry": self._hand_text(state, np.array([kp.world for kp in detected])),
        }

    def _hand_text(self, state: InitialState, keypoints: np.ndarray) -> str:
        """The hand's measured geometry in words, at the orientation the plan will hold."""
        wrist = np.array(state.wrist[:3])
        angles = self.task.wrist_orientations(state, keypoints[None], wrist[None])[0]
        posed = InitialState(state.seed, (*state.wrist[:3], *angles), state.objects, state.joints)
        data = self.task.state_data(self.model, posed)
        hand = hand_geometry(self.model, data, self.task.robot(), wrist)
        tips = hand.fingertips.mean(0)

        def vec(v: np.ndarray) -> str:
            return str(np.round(v, 3).tolist())

        return (
            f"Relative to it, at the orientation the hand keeps: the palm's centre is at "
            f"{vec(hand.palm_centre)} and the open fingertips are on average at {vec(tips)} "
            f"(palm down, fingers pointing along {_heading(tips)}); the palm is "
            f"{_cm(hand.palm_thickness)} thick. Closing, the fingers curl down and back toward "
            "the palm, so an object is held between the fingers and the front half of the palm's "
            "underside. To close the fingers around an object whose top is at point P, put the "
            f"hand at P + {vec(hand.grasp_offset)}: the palm's underside then rests on P and P "
            "lies under the palm's front half."
        )

    # ------------------------------------------------------------------------ answers to plans
    def _save_keypoints(self, seed: int, detected: list[DetectedKeypoint]) -> None:
        self.write(seed, "keypoints.json", [d.to_json() for d in detected])

    def _load_keypoints(self, seed: int) -> list[DetectedKeypoint]:
        return [DetectedKeypoint.from_json(d) for d in self.read(seed, "keypoints.json")]

    def _lift(self, seed: int, answer: str) -> None:
        frame = self.load_frame(seed)
        height, width = frame["segmentation"].shape
        pixels = parse_keypoint_answer(
            answer, self.task.keypoint_names(), width, height, self.settings.pixel_coords
        )
        data = self.scene.data(seed)
        detected = lift_keypoints(
            self.task, self.model, data, frame, pixels, self.settings.snap_radius_px
        )
        self._save_keypoints(seed, detected)

    def _orientation(self, seed: int, keypoints: np.ndarray, wrist: np.ndarray) -> np.ndarray:
        """The task's wrist orientation along the planned path, plus the seeded noise.

        Shape (3,) when the task holds one orientation, (N, 3) when it turns the wrist (a door).
        """
        rows = self.task.wrist_orientations(self._state(seed), keypoints, wrist)
        base = rows[0] if np.allclose(rows, rows[0]) else rows
        return base + orientation_noise(seed, self.settings.orientation_noise)

    def _build_vlm_plan(self, seed: int, answer: str) -> None:
        detected = self._load_keypoints(seed)
        relative, hand = parse_trajectory_answer(
            answer, self.task.keypoint_names(), self.settings.num_waypoints
        )
        origin = np.array(detected[0].world)
        keypoints, wrist = relative + origin, hand + origin
        self._save_plan(seed, detected, keypoints, wrist, self._orientation(seed, keypoints, wrist))

    def scripted_motion(
        self, seed: int, detected: list[DetectedKeypoint]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The task's scripted motion for detected keypoints, in world frame.

        Each keypoint path moves with its object, offset by where the point was detected on it.
        The hand follows the scripted grasp of the first keypoint's object when that point is on
        the intended object, and is shifted onto the detected point when it is not.

        Returns:
            keypoints (N, K, 3), wrist positions (N, 3), wrist orientation (3,) or (N, 3).
        """
        state = self._state(seed)
        scripted = self.task.oracle_waypoints(state, self.settings.num_waypoints)
        truth = self.task.keypoint_positions(self.model, self.task.state_data(self.model, state))
        shift = np.array([d.world for d in detected]) - truth
        wrist = scripted.wrist.copy()
        if not detected[0].on_intended:  # the hand goes where the wrong point is
            wrist[1:] += shift[0]
        return scripted.keypoints + shift[None], wrist, scripted.wrist_orientation

    def _finish_scripted(self, seed: int, detected: list[DetectedKeypoint]) -> None:
        """VLM keypoints, scripted trajectory: a plan from ``scripted_motion``.

        Raises:
            AnswerError: The plan is unusable (the stage machine records it as the failure).
        """
        self._save_plan(seed, detected, *self.scripted_motion(seed, detected))

    def _save_plan(
        self,
        seed: int,
        detected: list[DetectedKeypoint],
        keypoints: np.ndarray,
        wrist: np.ndarray,
        orientation: np.ndarray,
    ) -> None:
        record = self.record_dir(seed)
        requests = self.request_keys(seed)
        if not (np.all(np.isfinite(keypoints)) and np.all(np.isfinite(wrist))):
            raise AnswerError("not_finite", "a waypoint has NaN or infinite coordinates")
        s = self.settings
        plan = KeypointPlan(
            plan_id=f"{self.task.name}_{seed:07d}",
            task=self.task.name,
            keypoint_names=[d.name for d in detected],
            keypoint_bodies=[d.body for d in detected],
            keypoint_local=np.array([d.local for d in detected]),
            waypoints=np.asarray(keypoints, dtype=np.float64),
            wrist_waypoints=np.asarray(wrist, dtype=np.float64),
            wrist_orientation=np.asarray(orientation, dtype=np.float64),
            initial_state=self._state(seed),
            provenance={
                "planner": s.planner,
                "keypoints_from": s.sources[0],
                "trajectory_from": s.sources[1],
                "model": s.model,
                "prompt_version": s.prompt_version,
                "seed": seed,
                "orientation_noise": s.orientation_noise if s.sources[1] == "vlm" else 0.0,
                "request_keys": requests,
                "record": str(record.relative_to(self.folder)),
                "keypoints_on_intended": all(d.on_intended for d in detected),
                "keypoints": {d.name: asdict(d) for d in detected},
                "examples": [e.get("plan_id", "") for e in s.examples],
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
        try:
            plan.validate(*self.task.workspace())
        except PlanError as error:
            raise AnswerError("outside_workspace", str(error).split(": ", 1)[-1]) from error
        self.write(seed, self.result_file, plan.to_json())

    # ---------------------------------------------------------------------------------- results
    def plans(self) -> list[KeypointPlan]:
        """The finished plans, in seed order."""
        return [KeypointPlan.from_json(self.read(s, self.result_file)) for s in self.finished()]

    def write_plan_set(self, folder: Path) -> Path | None:
        """Save the finished plans as a plan set, checked in simulation (``check_shift_m``,
        the records in ``plan_check.json``); None when there is none yet."""
        plans = self.plans()
        if not plans:
            return None
        if self.settings.check_shift_m > 0:
            plans, records = check_plans(self.task, plans, self.settings.check_shift_m)
            atomic_write_text(self.folder / CHECK_FILE, json.dumps(records, indent=2) + "\n")
        return save_plan_set(plans, folder)


def _cm(metres: float) -> str:
    return f"{metres * 100:.0f} cm"


def _heading(vector: np.ndarray) -> str:
    """The horizontal axis direction a vector mostly points along, as ``+x`` or ``-y``."""
    axis = int(np.argmax(np.abs(vector[:2])))
    return f"{'+' if vector[axis] >= 0 else '-'}{'xy'[axis]}"
