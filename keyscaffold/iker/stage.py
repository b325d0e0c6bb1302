"""What one IKER stage asks for: the contract between model-written code and the rest.

A stage's code (written by a model, or by a task's offline oracle) defines a function
``get_interaction_data(keypoint_coordinates)``. It receives the numbered candidate keypoints of the current scene as a list
of ``[x, y, z]`` world coordinates (metres; list index = the number drawn on the image) and returns
a dict::

    {
        "object": "shoe",            # name of the movable object to act on
        "keypoints": [3, 5],         # candidate numbers on that object that matter
        "targets": [[x, y, z], ...], # where each of those keypoints should end up (m), same order
        "mode": "grasp",             # "grasp" (carry it) or "push" (move it without grasping)
        "done": False,               # True: the task is finished, nothing more to do
    }

``parse_stage`` checks such a value against the candidates and turns it into a ``StageSpec``;
every way it can be wrong raises ``StageError`` with a ``kind`` that is recorded with the stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

STAGE_ENTRY = "get_interaction_data"
"""Name of the function every stage's code defines."""
MODES = ("grasp", "push")

STAGE_ERROR_KINDS = (
    "wrong_shape",
    "unknown_object",
    "bad_keypoint",
    "keypoint_not_on_object",
    "bad_target",
    "target_out_of_workspace",
)


class StageError(ValueError):
    """A stage result that cannot be used; ``kind`` is one of ``STAGE_ERROR_KINDS``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class StageSpec:
    """One stage's goal, checked against the scene's candidate keypoints.

    Attributes:
        object: Body name of the object acted on.
        keypoints: Candidate numbers (indices into the candidate list), shape: (K,).
        targets: World targets of those keypoints (m), shape: (K, 3).
        mode: ``grasp`` or ``push``.
        done: The code says the task is finished (then ``keypoints`` may be empty).
    """

    object: str
    keypoints: tuple[int, ...]
    targets: np.ndarray
    mode: str
    done: bool

    def to_json(self) -> dict:
        return {
            "object": self.object,
            "keypoints": list(self.keypoints),
            "targets": np.asarray(self.targets, float).tolist(),
            "mode": self.mode,
            "done": self.done,
        }

    @staticmethod
    def from_json(data: dict) -> StageSpec:
        return StageSpec(
            object=str(data["object"]),
            keypoints=tuple(int(i) for i in data["keypoints"]),
            targets=np.asarray(data["targets"], float).reshape(-1, 3),
            mode=str(data["mode"]),
            done=bool(data["done"]),
        )


def parse_stage(
    value: Any,
    candidate_bodies: list[str],
    objects: list[str],
    workspace_low: tuple[float, float, float] | None = None,
    workspace_high: tuple[float, float, float] | None = None,
) -> StageSpec:
    """Check the value a stage function returned and make it a ``StageSpec``.

    Args:
        value: What ``get_interaction_data(keypoint_coordinates)`` returned.
        candidate_bodies: Body name of each candidate keypoint, in candidate order.
        objects: Names of the movable objects the stage may act on.
        workspace_low: Lower corner of the box targets must lie in (m), or None for no check.
        workspace_high: Upper corner of that box (m).

    Raises:
        StageError: With ``kind`` saying what is wrong and a message that says what to fix.
    """
    if not isinstance(value, dict):
        raise StageError(
            "wrong_shape", f"get_interaction_data() must return a dict, got {type(value).__name__}"
        )
    missing = [k for k in ("object", "keypoints", "targets", "mode", "done") if k not in value]
    if missing:
        raise StageError("wrong_shape", f"get_interaction_data() result lacks {', '.join(missing)}")
    done = value["done"]
    if not isinstance(done, (bool, np.bool_)):
        raise StageError("wrong_shape", f"'done' must be True or False, got {done!r}")
    mode = value["mode"]
    if mode not in MODES:
        raise StageError("wrong_shape", f"'mode' must be one of {MODES}, got {mode!r}")
    obj = value["object"]
    if not isinstance(obj, str):
        raise StageError("wrong_shape", f"'object' must be a name, got {obj!r}")
    indices = value["keypoints"]
    if isinstance(indices, np.ndarray):
        indices = indices.tolist()
    if not isinstance(indices, (list, tuple)) or not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in indices
    ):
        raise StageError("wrong_shape", f"'keypoints' must be a list of numbers, got {indices!r}")
    try:
        targets = np.asarray(value["targets"], dtype=float)
    except (TypeError, ValueError) as error:
        raise StageError("wrong_shape", f"'targets' must be a list of [x, y, z]: {error}") from None
    if done and not indices:
        return StageSpec(obj, (), np.zeros((0, 3)), str(mode), True)
    if obj not in objects:
        raise StageError(
            "unknown_object", f"object {obj!r} is not in the scene; choose one of {objects}"
        )
    if not indices:
        raise StageError("wrong_shape", "'keypoints' is empty; name at least one keypoint")
    if targets.shape != (len(indices), 3):
        raise StageError(
            "wrong_shape",
            f"'targets' must have one [x, y, z] per keypoint, shape ({len(indices)}, 3); "
            f"got shape {targets.shape}",
        )
    if not np.isfinite(targets).all():
        raise StageError("bad_target", "'targets' holds NaN or infinite values")
    for i in indices:
        if not 0 <= int(i) < len(candidate_bodies):
            raise StageError(
                "bad_keypoint",
                f"keypoint {i} does not exist; the image shows 0 to {len(candidate_bodies) - 1}",
            )
        if candidate_bodies[int(i)] != obj:
            raise StageError(
                "keypoint_not_on_object",
                f"keypoint {i} lies on {candidate_bodies[int(i)]!r}, not on {obj!r}",
            )
    if workspace_low is not None and workspace_high is not None:
        low, high = np.asarray(workspace_low), np.asarray(workspace_high)
        outside = ~((targets >= low) & (targets <= high)).all(axis=1)
        if outside.any():
            bad = int(np.flatnonzero(outside)[0])
            raise StageError(
                "target_out_of_workspace",
                f"target {targets[bad].round(3).tolist()} lies outside the workspace "
                f"{low.tolist()} to {high.tolist()}",
            )
    return StageSpec(obj, tuple(int(i) for i in indices), targets, str(mode), bool(done))
