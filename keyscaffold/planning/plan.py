"""KeypointPlan: keypoint and wrist waypoints over time, validated, interpolated, stored as JSON.

A plan set is a folder ``<root>/<task>/<split>/<planner>/`` holding one ``<plan_id>.json`` per plan
and an ``index.json`` that lists them; task names and plan ids become path parts through
``util.path_part`` (``scene:mug`` -> ``scene-mug``), the files keep them as they are. Every write is atomic (temporary file, then rename).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keyscaffold.geometry import interpolate_waypoints
from keyscaffold.tasks.base import InitialState
from keyscaffold.util import atomic_write_text, path_part

SCHEMA_VERSION = 2
"""Version 2 allows one wrist orientation per waypoint and joint positions in initial states;
version 1 files (one orientation for the whole plan, no joints) still load."""
SUPPORTED_VERSIONS = (1, 2)


class PlanError(ValueError):
    """A plan that cannot be used, with the reason in words a user can act on."""


@dataclass(frozen=True)
class KeypointPlan:
    """Waypoints for every task keypoint and the wrist, plus where they came from.

    Attributes:
        plan_id: Unique name within a plan set.
        task: Task name.
        keypoint_names: Shape: (K,).
        keypoint_bodies: Body each keypoint is attached to, shape: (K,).
        keypoint_local: Keypoint positions in their body frames, shape: (K, 3).
        waypoints: Keypoint targets in world frame, shape: (N, K, 3).
        wrist_waypoints: Wrist positions in world frame, shape: (N, 3).
        wrist_orientation: Wrist hinge angles (rad), held along the plan (shape (3,)) or one row
            per waypoint (shape (N, 3)), interpolated like the positions.
        initial_state: The scene state the plan was made for.
        provenance: Planner, model, prompt version, request ids, seed, creation time.
    """

    plan_id: str
    task: str
    keypoint_names: list[str]
    keypoint_bodies: list[str]
    keypoint_local: np.ndarray
    waypoints: np.ndarray
    wrist_waypoints: np.ndarray
    wrist_orientation: np.ndarray
    initial_state: InitialState
    provenance: dict = field(default_factory=dict)

    @property
    def num_waypoints(self) -> int:
        """N."""
        return int(self.waypoints.shape[0])

    def validate(self, workspace_low: np.ndarray, workspace_high: np.ndarray) -> None:
        """Raise ``PlanError`` unless counts agree, values are finite and inside the workspace."""
        k = len(self.keypoint_names)
        if len(self.keypoint_bodies) != k or np.shape(self.keypoint_local) != (k, 3):
            raise PlanError(
                f"plan {self.plan_id}: {k} keypoint names but bodies/local points disagree"
            )
        if self.waypoints.ndim != 3 or self.waypoints.shape[1:] != (k, 3):
            raise PlanError(
                f"plan {self.plan_id}: waypoints must have shape (N, {k}, 3), got {self.waypoints.shape}"
            )
        if self.wrist_waypoints.shape != (self.num_waypoints, 3):
            raise PlanError(
                f"plan {self.plan_id}: wrist waypoints must have shape ({self.num_waypoints}, 3), "
                f"got {self.wrist_waypoints.shape}"
            )
        if self.num_waypoints < 2:
            raise PlanError(f"plan {self.plan_id}: needs at least 2 waypoints")
        if np.shape(self.wrist_orientation) not in ((3,), (self.num_waypoints, 3)):
            raise PlanError(
                f"plan {self.plan_id}: wrist orientation must have shape (3,) or "
                f"({self.num_waypoints}, 3), got {np.shape(self.wrist_orientation)}"
            )
        arrays = (self.waypoints, self.wrist_waypoints, self.wrist_orientation, self.keypoint_local)
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise PlanError(f"plan {self.plan_id}: contains NaN or infinite values")
        low, high = np.asarray(workspace_low), np.asarray(workspace_high)
        named = [
            (f'keypoint "{n}"', self.waypoints[:, k]) for k, n in enumerate(self.keypoint_names)
        ]
        for label, points in [*named, ("wrist", self.wrist_waypoints)]:
            below, above = points < low, points > high
            if below.any() or above.any():
                step, axis = np.argwhere(below | above)[0]
                side, bound = ("below", low) if below[step, axis] else ("above", high)
                raise PlanError(
                    f"plan {self.plan_id}: {label} waypoint {step + 1} "
                    f"{np.round(points[step], 3).tolist()} lies outside the workspace: "
                    f"{'xyz'[axis]} = {points[step, axis]:.3f} m is {side} the bound "
                    f"{bound[axis]:.3f} m (workspace {np.round(low, 3).tolist()}.."
                    f"{np.round(high, 3).tolist()})"
                )

    def interpolate(self, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Dense targets for an episode.

        Returns:
            keypoint targets, shape: (T, K, 3); wrist poses (position + hinge angles), shape: (T, 6).
        """
        keypoints = interpolate_waypoints(self.waypoints, num_steps)
        wrist_pos = interpolate_waypoints(self.wrist_waypoints, num_steps)
        wrist_rot = interpolate_waypoints(self.wrist_orientations(), num_steps)
        return keypoints, np.concatenate([wrist_pos, wrist_rot], 1)

    def wrist_orientations(self) -> np.ndarray:
        """Wrist hinge angles at every waypoint, shape: (N, 3)."""
        orientation = np.asarray(self.wrist_orientation, dtype=np.float64)
        if orientation.ndim == 1:
            return np.repeat(orientation[None], self.num_waypoints, 0)
        return orientation

    def to_json(self) -> dict:
        """Plain-data form, with the schema version."""
        return {
            "schema_version": SCHEMA_VERSION,
            "plan_id": self.plan_id,
            "task": self.task,
            "keypoint_names": list(self.keypoint_names),
            "keypoint_bodies": list(self.keypoint_bodies),
            "keypoint_local": np.asarray(self.keypoint_local).tolist(),
            "waypoints": np.asarray(self.waypoints).tolist(),
            "wrist_waypoints": np.asarray(self.wrist_waypoints).tolist(),
            "wrist_orientation": np.asarray(self.wrist_orientation).tolist(),
            "initial_state": self.initial_state.to_json(),
            "provenance": self.provenance,
        }

    @staticmethod
    def from_json(data: dict) -> KeypointPlan:
        """Inverse of ``to_json``; raises ``PlanError`` on a wrong schema or missing field."""
        version = data.get("schema_version")
        if version not in SUPPORTED_VERSIONS:
            raise PlanError(
                f"plan schema version {version!r} is not supported (expected one of "
                f"{SUPPORTED_VERSIONS})"
            )
        try:
            return KeypointPlan(
                plan_id=str(data["plan_id"]),
                task=str(data["task"]),
                keypoint_names=[str(n) for n in data["keypoint_names"]],
                keypoint_bodies=[str(b) for b in data["keypoint_bodies"]],
                keypoint_local=np.asarray(data["keypoint_local"], dtype=np.float64),
                waypoints=np.asarray(data["waypoints"], dtype=np.float64),
                wrist_waypoints=np.asarray(data["wrist_waypoints"], dtype=np.float64),
                wrist_orientation=np.asarray(data["wrist_orientation"], dtype=np.float64),
                initial_state=InitialState.from_json(data["initial_state"]),
                provenance=dict(data.get("provenance", {})),
            )
        except KeyError as missing:
            raise PlanError(f"plan file lacks the field {missing}") from missing


def orientation_noise(initial_seed: int, noise: float) -> np.ndarray:
    """The seeded wrist-orientation noise of the plan for one initial state, shape: (3,).

    Uniform in [-noise, noise] per hinge; every planner draws it the same way from the state's
    seed, so oracle and VLM plans for one state carry the same noise and compare directly.
    """
    if noise < 0:
        raise ValueError(f"orientation noise must be >= 0 rad, got {noise}")
    return np.random.default_rng([initial_seed, 8]).uniform(-noise, noise, 3)


def plan_orientation_offset(plan: KeypointPlan) -> np.ndarray:
    """The wrist-orientation noise a plan carries (rad), shape: (3,).

    Planners record the magnitude they drew with (``provenance["orientation_noise"]``) and the
    initial state's seed; the offset is redrawn from them. Plans without a record carry none.
    """
    noise = float(plan.provenance.get("orientation_noise", 0.0) or 0.0)
    if noise <= 0:
        return np.zeros(3)
    return orientation_noise(int(plan.provenance.get("seed", plan.initial_state.seed)), noise)


def save_plan_set(plans: list[KeypointPlan], folder: Path) -> Path:
    """Write plans and ``index.json`` to ``folder``; returns the folder. Each plan goes to
    ``<plan_id>.json``, the id made a valid file name (``util.path_part``)."""
    folder = Path(folder)
    names = [f"{path_part(plan.plan_id)}.json" for plan in plans]
    for plan, name in zip(plans, names):
        atomic_write_text(folder / name, json.dumps(plan.to_json()))
    index = {
        "schema_version": SCHEMA_VERSION,
        "task": plans[0].task if plans else None,
        "plans": names,
    }
    atomic_write_text(folder / "index.json", json.dumps(index, indent=2))
    return folder


def find_plan_set(path: Path) -> Path:
    """The folder holding ``index.json`` at or below ``path`` (a plan-set root may be given)."""
    path = Path(path)
    if (path / "index.json").is_file():
        return path
    found = sorted(path.rglob("index.json")) if path.is_dir() else []
    if len(found) == 1:
        return found[0].parent
    if not found:
        raise FileNotFoundError(
            f"no plan set at {path}: expected an index.json there or below it; make one with "
            "`keyscaffold plan TASK --out DIR`"
        )
    raise PlanError(
        f"{path} holds {len(found)} plan sets; pass one of: "
        + ", ".join(str(p.parent) for p in found[:5])
    )


def load_plan_set(path: Path, task: str | None = None) -> list[KeypointPlan]:
    """Load every plan listed in a plan set's index; checks the task name when given. Plans are
    in wrist-pose space, so a task's plans serve it on every embodiment: those of ``move_apple``
    load for ``move_apple@iiwa_hand`` and back."""
    folder = find_plan_set(path)
    index = json.loads((folder / "index.json").read_text())
    plans = [
        KeypointPlan.from_json(json.loads((folder / name).read_text())) for name in index["plans"]
    ]
    if not plans:
        raise PlanError(f"plan set {folder} is empty")
    same = task is None or {plan.task.split("@")[0] for plan in plans} == {task.split("@")[0]}
    if not same:
        other = next(p.task for p in plans if p.task.split("@")[0] != task.split("@")[0])
        raise PlanError(f"plan set {folder} holds plans for task {other!r}, not {task!r}")
    return plans
