"""Candidate keypoints of IKER mode: numbered points fixed in a body's frame, and a view's set.

Every candidate is fixed in its body's frame, so its world position can be read again after the
body moves (``candidate_positions``). Numbers start at 0: the number drawn on the image is the
index into the candidate list that the stage code receives (see ``keyscaffold.iker.stage``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import mujoco
import numpy as np

from keyscaffold.geometry import points_in_body_frames
from keyscaffold.sim.surface import body_id

OBJECT = "object"
FIXTURE = "fixture"
KINDS = (OBJECT, FIXTURE)


@dataclass(frozen=True)
class Candidate:
    """One candidate keypoint.

    Attributes:
        number: Its number on the image and index in the candidate list.
        body: Name of the body the point is fixed to.
        kind: ``"object"`` or ``"fixture"``.
        world: World position (m), shape: (3,).
        local: Position in the body's frame (m), shape: (3,).
        pixel: Image position (u, v) in pixels, u along the width, shape: (2,); ``None`` until
            projected.
        depth: Distance along the camera's optical axis (m); ``None`` until projected.
    """

    number: int
    body: str
    kind: str
    world: np.ndarray
    local: np.ndarray
    pixel: np.ndarray | None = None
    depth: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain-data form (lists and numbers)."""
        return {
            "number": self.number,
            "body": self.body,
            "kind": self.kind,
            "world": np.asarray(self.world, float).tolist(),
            "local": np.asarray(self.local, float).tolist(),
            "pixel": None if self.pixel is None else np.asarray(self.pixel, float).tolist(),
            "depth": None if self.depth is None else float(self.depth),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Candidate:
        """Inverse of ``to_json``."""
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"candidate kind must be one of {KINDS}, got {kind!r}")
        return Candidate(
            number=int(data["number"]),
            body=str(data["body"]),
            kind=kind,
            world=np.asarray(data["world"], float).reshape(3),
            local=np.asarray(data["local"], float).reshape(3),
            pixel=None
            if data.get("pixel") is None
            else np.asarray(data["pixel"], float).reshape(2),
            depth=None if data.get("depth") is None else float(data["depth"]),
        )


@dataclass(frozen=True)
class CandidateSet:
    """The numbered candidates of one view and the image that shows them.

    Attributes:
        candidates: Surviving candidates, numbered 0..M-1 in order.
        image: RGB overlay with markers and axis legend, shape: (H, W, 3), uint8; ``None`` when
            loaded from JSON.
        objects: Object body names, in numbering order.
        fixtures: Fixture body names, in numbering order.
        image_shape: (H, W) of the image the pixels refer to.
        min_separation_px: Pruning distance that was used (pixels).
    """

    candidates: tuple[Candidate, ...]
    image: np.ndarray | None
    objects: tuple[str, ...]
    fixtures: tuple[str, ...]
    image_shape: tuple[int, int]
    min_separation_px: float

    def __len__(self) -> int:
        return len(self.candidates)

    def bodies(self) -> list[str]:
        """Body name of each candidate, in number order (what ``parse_stage`` checks against)."""
        return [c.body for c in self.candidates]

    def world_positions(self) -> np.ndarray:
        """World positions when the set was made, shape: (M, 3)."""
        return np.array([c.world for c in self.candidates], dtype=np.float64).reshape(-1, 3)

    def coordinates(self) -> list[list[float]]:
        """World positions as the stage code receives them: one ``[x, y, z]`` per number."""
        return self.world_positions().tolist()

    def pairs(self) -> list[tuple[str, list[float]]]:
        """(body name, world position) per number, the form task oracles read."""
        return [(c.body, np.asarray(c.world, float).tolist()) for c in self.candidates]

    def positions(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
        """World positions of the candidates in ``data`` (after bodies moved), shape: (M, 3)."""
        return candidate_positions(model, data, self.candidates)

    def to_json(self) -> dict[str, Any]:
        """Plain-data record: numbers, bodies, kinds, world, local and pixel positions."""
        return {
            "objects": list(self.objects),
            "fixtures": list(self.fixtures),
            "image_shape": list(self.image_shape),
            "min_separation_px": float(self.min_separation_px),
            "candidates": [c.to_json() for c in self.candidates],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> CandidateSet:
        """Inverse of ``to_json`` (without the image)."""
        candidates = tuple(Candidate.from_json(c) for c in data["candidates"])
        if [c.number for c in candidates] != list(range(len(candidates))):
            raise ValueError("candidate numbers must run 0..M-1 in order")
        height, width = (int(v) for v in data["image_shape"])
        return CandidateSet(
            candidates=candidates,
            image=None,
            objects=tuple(data["objects"]),
            fixtures=tuple(data["fixtures"]),
            image_shape=(height, width),
            min_separation_px=float(data["min_separation_px"]),
        )


def candidate_positions(
    model: mujoco.MjModel, data: mujoco.MjData, candidates: list[Candidate] | tuple[Candidate, ...]
) -> np.ndarray:
    """World positions of candidates in ``data`` (read from the bodies' current poses).

    Args:
        model: Compiled model the candidates were made on.
        data: State with current ``xpos`` / ``xmat`` (after ``mj_forward`` or a step).
        candidates: Candidates in any order.

    Returns:
        Shape: (N, 3), in the candidates' order.
    """
    if not candidates:
        return np.zeros((0, 3))
    ids = [body_id(model, c.body, "candidate") for c in candidates]
    local = np.array([c.local for c in candidates], dtype=np.float64)
    return points_in_body_frames(data.xpos[ids], data.xmat[ids], local)


def update_candidates(
    model: mujoco.MjModel, data: mujoco.MjData, candidates: list[Candidate] | tuple[Candidate, ...]
) -> list[Candidate]:
    """Candidates with world positions read from ``data``; pixels and depths are cleared."""
    world = candidate_positions(model, data, candidates)
    return [replace(c, world=w, pixel=None, depth=None) for c, w in zip(candidates, world)]
