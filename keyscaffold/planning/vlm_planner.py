"""The scaffold VLM planner: keypoints from pixels, then 3D waypoints, one work folder per run.

Two questions per initial state:

1. **keypoints**: the task camera's 800x800 image and the names of the points the task needs; the
   answer's pixels are lifted with depth, intrinsics and extrinsics to world 3D, snapped onto the
   nearest task body under them (segmentation) and attached to that body's frame;
2. **trajectory**: the instruction, the task's steps, the axis convention and the initial point and
   wrist positions relative to the first keypoint; the answer (JSON, or a Python ``waypoints()``
   run in the sandbox) becomes a ``KeypointPlan`` in world frame.

``PlanningWork`` keeps everything in a folder and knows, per initial state, which stage comes
next, so the live path (``plan --planner vlm``) and the Batch path (``batch export``/``import``)
share every step and give the same plans for the same answers. Layout::

    manifest.json                 settings; a rerun must match them
    records/<seed>/               rgb.png, frame.npz (depth, segmentation, calibration),
                                  keypoints.request.json, keypoints.answer.json, keypoints.json,
                                  trajectory.request.json, trajectory.answer.json,
                                  failure.json (a typed, final failure) or plan.json
    requests.log.jsonl            every request failure (retried on the next run)
    summary.json                  counts of plans, failures by kind, pending states
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import imageio.v2 as imageio
import mujoco
import numpy as np

from keyscaffold.geometry import backproject_pixels, project_points
from keyscaffold.planning.answers import (
    AnswerError,
    parse_keypoint_answer,
    parse_trajectory_answer,
)
from keyscaffold.planning.fewshot import format_examples, positions
from keyscaffold.planning.oracle import split_seeds
from keyscaffold.planning.plan import (
    KeypointPlan,
    PlanError,
    atomic_write_text,
    orientation_noise,
    save_plan_set,
)
from keyscaffold.planning.prompts import PROMPT_VERSION, load_template
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import InitialState, Task
from keyscaffold.vlm.client import ChatRequest, ChatResult, VLMConfig, image_data_url

STAGES = ("keypoints", "trajectory")
PLANNER_SOURCES = {
    "vlm": ("vlm", "vlm"),
    "vlm-oracle-keypoints": ("oracle", "vlm"),
    "vlm-scripted-trajectory": ("vlm", "scripted"),
}
"""Planner name -> (where keypoints come from, where trajectories come from)."""


@dataclass(frozen=True)
class PlanningSettings:
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
    orientation_noise: float = math.pi / 8
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

    def __post_init__(self) -> None:
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

    def request_body(self, messages: list[dict]) -> dict:
        """A chat request body with these settings' model parameters."""
        config = VLMConfig(
            model=self.model, temperature=self.temperature, max_tokens=self.max_tokens
        )
        return config.request_body(messages)


@dataclass(frozen=True)
class DetectedKeypoint:
    """A keypoint lifted from a pixel and attached to a body."""

    name: str
    pixel: tuple[float, float]
    """(u, v) the answer named, before snapping."""
    body: str
    local: tuple[float, float, float]
    world: tuple[float, float, float]
    on_intended: bool
    """It landed on the body the task means (used by the failure breakdown)."""
    snapped_px: float = 0.0
    """How far it was moved to reach a task body (pixels)."""


def lift_keypoints(
    task: Task,
    model: mujoco.MjModel,
    data: mujoco.MjData,
    frame: dict,
    pixels: dict[str, tuple[float, float]],
    snap_radius_px: int,
) -> list[DetectedKeypoint]:
    """World points under the answered pixels, attached to the task body under (or nearest to) them.

    Args:
        frame: ``depth`` (H, W), ``segmentation`` (H, W) body ids, ``intrinsics``, ``cam_to_world``.
        pixels: (u, v) per keypoint name.

    Raises:
        AnswerError: ``off_body`` when no task body lies within ``snap_radius_px`` of a point.
    """
    seg, depth = frame["segmentation"], frame["depth"]
    height, width = seg.shape
    attachable = np.array([model.body(b).id for b in task.attachable_bodies()])
    on_task_body = np.isin(seg, attachable) & (depth > 0)
    detected = []
    for spec in task.keypoints:
        u, v = pixels[spec.name]
        col, row = min(int(u), width - 1), min(int(v), height - 1)
        snapped = 0.0
        if not on_task_body[row, col]:
            r = snap_radius_px
            r0, r1, c0, c1 = (
                max(row - r, 0),
                min(row + r + 1, height),
                max(col - r, 0),
                min(col + r + 1, width),
            )
            rows, cols = np.nonzero(on_task_body[r0:r1, c0:c1])
            dist = np.hypot(rows + r0 - row, cols + c0 - col)
            if dist.size == 0 or dist.min() > r:
                raise AnswerError(
                    "off_body",
                    f'point "{spec.name}" at pixel ({u:.0f}, {v:.0f}) is not on any object of the '
                    f"scene ({', '.join(task.attachable_bodies())}); point at the object itself",
                )
            best = int(np.argmin(dist))
            row, col, snapped = int(rows[best] + r0), int(cols[best] + c0), float(dist[best])
        body_id = int(seg[row, col])
        world = backproject_pixels(
            np.array([[col + 0.5, row + 0.5]]),
            np.array([depth[row, col]]),
            frame["intrinsics"],
            frame["cam_to_world"],
        )[0]
        rot = data.xmat[body_id].reshape(3, 3)
        local = rot.T @ (world - data.xpos[body_id])
        body = model.body(body_id).name
        detected.append(
            DetectedKeypoint(
                name=spec.name,
                pixel=(float(u), float(v)),
                body=body,
                local=tuple(float(x) for x in local),
                world=tuple(float(x) for x in world),
                on_intended=body == spec.body,
                snapped_px=snapped,
            )
        )
    return detected


def oracle_keypoints(
    task: Task, model: mujoco.MjModel, data: mujoco.MjData, frame: dict
) -> list[DetectedKeypoint]:
    """The task's own keypoints, as if perfectly detected (the oracle-keypoint baseline)."""
    world = task.keypoint_positions(model, data)
    uv, _ = project_points(world, frame["intrinsics"], frame["cam_to_world"])
    return [
        DetectedKeypoint(
            spec.name,
            tuple(float(x) for x in uv[i]),
            spec.body,
            tuple(spec.local_pos),
            tuple(float(x) for x in world[i]),
            True,
        )
        for i, spec in enumerate(task.keypoints)
    ]


def redact_images(body: dict) -> dict:
    """A copy of a request body with image data URLs replaced by their size and hash (for records)."""

    def walk(value):
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and value.startswith("data:image/"):
            digest = hashlib.sha256(value.encode()).hexdigest()[:16]
            return f"<image data URL: {len(value)} characters, sha256 {digest}; see rgb.png>"
        return value

    return walk(body)


class PlanningWork:
    """A planning run's folder: what was asked, what came back, and what comes next."""

    def __init__(self, folder: Path, settings: PlanningSettings) -> None:
        self.folder = Path(folder)
        self.settings = settings
        manifest = self.folder / "manifest.json"
        plain = asdict(settings)
        if manifest.exists():
            stored = json.loads(manifest.read_text())
            if stored != plain:
                changed = sorted(k for k in plain if stored.get(k) != plain[k])
                raise ValueError(
                    f"work folder {self.folder} was made with other settings ({', '.join(changed)} "
                    "differ); use a new folder, or the same settings to continue it"
                )
        else:
            atomic_write_text(manifest, json.dumps(plain, indent=2))
        self.task = make_task(settings.task)
        self.seeds = split_seeds(settings.split, settings.seed, settings.num_plans)
        self._model: mujoco.MjModel | None = None

    @staticmethod
    def open(folder: Path) -> PlanningWork:
        """Continue the run kept in ``folder``."""
        manifest = Path(folder) / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(
                f"{folder} is not a planning work folder (no manifest.json); start one with "
                "`keyscaffold batch export TASK --work DIR`"
            )
        return PlanningWork(folder, PlanningSettings(**json.loads(manifest.read_text())))

    # ----------------------------------------------------------------------------- state on disk
    def record_dir(self, seed: int) -> Path:
        return self.folder / "records" / f"{seed:07d}"

    def stage_of(self, seed: int) -> str:
        """``keypoints``, ``trajectory``, ``done`` or ``failed``."""
        record = self.record_dir(seed)
        if (record / "failure.json").exists():
            return "failed"
        if (record / "plan.json").exists():
            return "done"
        if (record / "keypoints.json").exists():
            return "trajectory"
        return "keypoints"

    @property
    def model(self) -> mujoco.MjModel:
        if self._model is None:
            self._model = self.task.build_model()
        return self._model

    def _state(self, seed: int) -> InitialState:
        return self.task.sample_initial_state(seed)

    def _custom_id(self, seed: int, stage: str) -> str:
        return f"{self.task.name}-{self.settings.split}-{seed}-{stage}"

    def _route(self, custom_id: str) -> tuple[int, str] | None:
        prefix = f"{self.task.name}-{self.settings.split}-"
        if not custom_id.startswith(prefix):
            return None
        seed_text, _, stage = custom_id[len(prefix) :].rpartition("-")
        if stage not in STAGES or not seed_text.isdigit() or int(seed_text) not in self.seeds:
            return None
        return int(seed_text), stage

    def _write(self, seed: int, name: str, payload) -> None:
        atomic_write_text(self.record_dir(seed) / name, json.dumps(payload, indent=2))

    def _fail(self, seed: int, stage: str, kind: str, message: str) -> None:
        self._write(seed, "failure.json", {"stage": stage, "kind": kind, "message": message})

    # ----------------------------------------------------------------------------------- frames
    def load_frame(self, seed: int, renderer: SceneRenderer | None = None) -> dict:
        """The state's camera frame (rendered once, then read from the record)."""
        path = self.record_dir(seed) / "frame.npz"
        if path.exists():
            with np.load(path) as stored:
                frame = {k: stored[k] for k in stored.files}
            frame["rgb"] = imageio.imread(path.parent / "rgb.png")
            return frame
        data = self.task.state_data(self.model, self._state(seed))
        own = renderer is None
        size = self.settings.image_size
        renderer = renderer or SceneRenderer(self.model, size, size, quality=True)
        shot = renderer.frame(data, self.task.camera.name)
        if own:
            renderer.close()
        frame = {
            "depth": shot.depth,
            "segmentation": shot.segmentation.astype(np.int16),
            "intrinsics": shot.intrinsics,
            "cam_to_world": shot.cam_to_world,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        imageio.imwrite(path.parent / "rgb.png", shot.rgb)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **frame)
        tmp.replace(path)
        return {**frame, "rgb": shot.rgb}

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
        return ChatRequest(self._custom_id(seed, "keypoints"), body)

    def trajectory_request(self, seed: int, detected: list[DetectedKeypoint]) -> ChatRequest:
        state = self._state(seed)
        origin = np.array(detected[0].world)
        initial = positions(
            [kp.name for kp in detected],
            np.array([kp.world for kp in detected]) - origin,
            np.array(state.wrist[:3]) - origin,
        )
        lines = "\n".join(f'- "{name}": {pos}' for name, pos in initial.items())
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(self.task.plan_steps, 1))
        fmt = ", ".join(f'"{name}": [x, y, z]' for name in initial)
        text = load_template("trajectory", self.settings.prompt_version).substitute(
            instruction=self.task.instruction,
            steps=steps or "1. " + self.task.instruction,
            origin_name=detected[0].name,
            initial_positions=lines,
            num_waypoints=self.settings.num_waypoints,
            format_example=fmt,
            examples=format_examples(self.settings.examples),
        )
        body = self.settings.request_body([{"role": "user", "content": text}])
        return ChatRequest(self._custom_id(seed, "trajectory"), body)

    # ----------------------------------------------------------------------------------- stages
    def pending_requests(self) -> list[ChatRequest]:
        """The next request of every unfinished state (doing the stages that need no model)."""
        keypoint_source, trajectory_source = self.settings.sources
        requests, renderer = [], None
        try:
            for seed in self.seeds:
                stage = self.stage_of(seed)
                if stage == "keypoints":
                    if renderer is None and not (self.record_dir(seed) / "frame.npz").exists():
                        size = self.settings.image_size
                        renderer = SceneRenderer(self.model, size, size, quality=True)
                    frame = self.load_frame(seed, renderer)
                    if keypoint_source == "oracle":
                        data = self.task.state_data(self.model, self._state(seed))
                        self._save_keypoints(
                            seed, oracle_keypoints(self.task, self.model, data, frame)
                        )
                        stage = "trajectory"
                    else:
                        requests.append(self._request(seed, "keypoints", frame))
                if stage == "trajectory":
                    detected = self._load_keypoints(seed)
                    if trajectory_source == "scripted":
                        self._finish_scripted(seed, detected)
                    else:
                        requests.append(self._request(seed, "trajectory", detected))
        finally:
            if renderer is not None:
                renderer.close()
        return requests

    def _repairs(self, seed: int, stage: str) -> list[dict]:
        path = self.record_dir(seed) / f"{stage}.repairs.json"
        return json.loads(path.read_text()) if path.exists() else []

    def _request(self, seed: int, stage: str, payload) -> ChatRequest:
        if stage == "keypoints":
            request = self.keypoint_request(seed, payload)
        else:
            request = self.trajectory_request(seed, payload)
        repairs = self._repairs(seed, stage)
        if repairs:  # continue the conversation: each unusable answer, then why it was unusable
            messages = list(request.body["messages"])
            for repair in repairs:
                messages.append({"role": "assistant", "content": repair["answer"]})
                messages.append({"role": "user", "content": repair_message(repair["message"])})
            request = ChatRequest(request.custom_id, {**request.body, "messages": messages})
        self._write(
            seed,
            f"{stage}.request.json",
            {
                "custom_id": request.custom_id,
                "key": request.key,
                "body": redact_images(request.body),
            },
        )
        return request

    def record(self, results: list[ChatResult]) -> dict:
        """Store answers and act on them; returns counts (recorded, ignored, request failures)."""
        counts = {"recorded": 0, "ignored": 0, "request_failures": 0}
        for result in results:
            route = self._route(result.custom_id)
            if route is None or self.stage_of(route[0]) != route[1]:
                counts["ignored"] += 1
                continue
            seed, stage = route
            self._write(seed, f"{stage}.answer.json", result.to_json())
            counts["recorded"] += 1
            if not result.ok:
                counts["request_failures"] += 1
                log = self.folder / "requests.log.jsonl"
                with log.open("a") as handle:
                    handle.write(
                        json.dumps({"time": time.time(), "stage": stage, **result.to_json()}) + "\n"
                    )
                continue
            try:
                if stage == "keypoints":
                    self._lift(seed, result.content)
                else:
                    self._build_vlm_plan(seed, result.content)
            except AnswerError as error:
                repairs = self._repairs(seed, stage)
                if len(repairs) < self.settings.repairs:
                    repairs.append(
                        {"answer": result.content, "kind": error.kind, "message": error.message}
                    )
                    self._write(seed, f"{stage}.repairs.json", repairs)
                else:
                    self._fail(seed, stage, error.kind, error.message)
        return counts

    def _save_keypoints(self, seed: int, detected: list[DetectedKeypoint]) -> None:
        self._write(seed, "keypoints.json", [asdict(d) for d in detected])

    def _load_keypoints(self, seed: int) -> list[DetectedKeypoint]:
        items = json.loads((self.record_dir(seed) / "keypoints.json").read_text())
        return [
            DetectedKeypoint(
                **{
                    **d,
                    "pixel": tuple(d["pixel"]),
                    "local": tuple(d["local"]),
                    "world": tuple(d["world"]),
                }
            )
            for d in items
        ]

    def _lift(self, seed: int, answer: str) -> None:
        frame = self.load_frame(seed)
        height, width = frame["segmentation"].shape
        pixels = parse_keypoint_answer(
            answer, self.task.keypoint_names(), width, height, self.settings.pixel_coords
        )
        data = self.task.state_data(self.model, self._state(seed))
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
        """VLM keypoints, scripted trajectory: a plan from ``scripted_motion``."""
        try:
            self._save_plan(seed, detected, *self.scripted_motion(seed, detected))
        except AnswerError as error:
            self._fail(seed, "trajectory", error.kind, error.message)

    def _save_plan(
        self,
        seed: int,
        detected: list[DetectedKeypoint],
        keypoints: np.ndarray,
        wrist: np.ndarray,
        orientation: np.ndarray,
    ) -> None:
        record = self.record_dir(seed)
        requests = {
            stage: json.loads((record / f"{stage}.request.json").read_text())["key"]
            for stage in STAGES
            if (record / f"{stage}.request.json").exists()
        }
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
                "request_keys": requests,
                "record": str(record.relative_to(self.folder)),
                "keypoints_on_intended": all(d.on_intended for d in detected),
                "keypoints": {d.name: asdict(d) for d in detected},
                "examples": [e.get("plan_id", "") for e in s.examples],
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
        try:
            plan.validate(np.array(self.task.workspace_low), np.array(self.task.workspace_high))
        except PlanError as error:
            raise AnswerError("outside_workspace", str(error).split(": ", 1)[-1]) from error
        self._write(seed, "plan.json", plan.to_json())

    # ---------------------------------------------------------------------------------- results
    def summary(self) -> dict:
        """Counts by stage and failure kind; also written to ``summary.json`` and ``failures.json``."""
        stages = {seed: self.stage_of(seed) for seed in self.seeds}
        failures = []
        for seed, stage in stages.items():
            if stage == "failed":
                failure = json.loads((self.record_dir(seed) / "failure.json").read_text())
                failures.append({"seed": seed, **failure})
        kinds: dict[str, int] = {}
        for failure in failures:
            kinds[failure["kind"]] = kinds.get(failure["kind"], 0) + 1
        summary = {
            "task": self.task.name,
            "planner": self.settings.planner,
            "num_states": len(self.seeds),
            "planned": sum(s == "done" for s in stages.values()),
            "failed": len(failures),
            "pending": sum(s in STAGES for s in stages.values()),
            "failures_by_kind": kinds,
            "pending_request_errors": self._pending_errors(stages),
        }
        atomic_write_text(self.folder / "summary.json", json.dumps(summary, indent=2))
        atomic_write_text(self.folder / "failures.json", json.dumps(failures, indent=2))
        return summary

    def _pending_errors(self, stages: dict[int, str]) -> dict[str, int]:
        """Error type of the last failed request of each pending state."""
        errors: dict[str, int] = {}
        for seed, stage in stages.items():
            answer = self.record_dir(seed) / f"{stage}.answer.json"
            if stage in STAGES and answer.exists():
                kind = json.loads(answer.read_text()).get("error_type")
                if kind:
                    errors[kind] = errors.get(kind, 0) + 1
        return errors

    def plans(self) -> list[KeypointPlan]:
        """The finished plans, in seed order."""
        return [
            KeypointPlan.from_json(json.loads((self.record_dir(s) / "plan.json").read_text()))
            for s in self.seeds
            if self.stage_of(s) == "done"
        ]

    def write_plan_set(self, folder: Path) -> Path | None:
        """Save the finished plans as a plan set; None when there is none yet."""
        plans = self.plans()
        return save_plan_set(plans, folder) if plans else None


def repair_message(reason: str) -> str:
    """The follow-up that quotes an unusable answer's problem back to the model."""
    return (
        f"That answer could not be used: {reason}. Please answer the same question again, "
        "in exactly the format asked for."
    )


def run_live(
    work: PlanningWork, client, show_progress: bool = True, passes: int | None = None
) -> dict:
    """Ask the model for every pending stage (at most ``passes`` rounds, by default two per
    allowed repair plus two); returns the summary.

    States whose request failed (429s past the retries, 5xx, timeouts) stay pending, so running
    again asks only for what is missing.
    """
    for _ in range(passes or 2 * (1 + work.settings.repairs)):
        requests = work.pending_requests()
        if not requests:
            break
        work.record(client.complete_many(requests, show_progress=show_progress))
    work.pending_requests()  # finish stages that need no model
    return work.summary()
