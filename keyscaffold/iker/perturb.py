"""Perturbing a run between stages: one movable object moved as a person would move it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from keyscaffold.iker.stage_runner import StageRunner, state_json
from keyscaffold.tasks.base import InitialState, Task
from keyscaffold.util import atomic_write_text

PERTURB_TRIES = 8
"""Draws of a perturbation before the last one is kept (see ``perturb_after_stage``)."""


def perturb_state(
    task: Task, state: InitialState, distance: float, rng: np.random.Generator
) -> tuple[InitialState, dict]:
    """Move one movable object (drawn by ``rng``) in x and y by ``distance / 2``..``distance`` m
    in a random direction, kept inside the task's workspace.

    Returns:
        The moved state and the record: ``object``, ``offset`` (dx, dy actually applied, m),
        ``before`` and ``after`` (the object's free-joint poses, (7,) each).
    """
    names = task.movable_objects()
    name = names[int(rng.integers(len(names)))]
    angle = rng.uniform(0.0, 2.0 * np.pi)
    length = rng.uniform(0.5, 1.0) * distance
    before = np.array(state.objects[name], dtype=np.float64)
    after = before.copy()
    after[:2] += length * np.array([np.cos(angle), np.sin(angle)])
    after[:2] = np.clip(after[:2], task.workspace_low[:2], task.workspace_high[:2])
    moved = replace(state, objects={**state.objects, name: tuple(float(v) for v in after)})
    record = {
        "object": name,
        "offset": (after[:2] - before[:2]).tolist(),
        "before": before.tolist(),
        "after": after.tolist(),
    }
    return moved, record


PERTURB_SETTLE_TOLERANCE = 0.02
"""How far (m) the settling may carry the displaced object off its height and the other objects
off their places for the draw to count as a displacement (``plausible_displacement``)."""


def plausible_displacement(
    before: InitialState, moved: InitialState, settled: InitialState, name: str
) -> bool:
    """Whether moving ``name`` (``before`` -> ``moved``) and settling made a plain displacement:
    the object came to rest within half the drawn offset of where it was put, at its height
    (within ``PERTURB_SETTLE_TOLERANCE``), and no other object moved further than that. A draw
    that overlaps another body is thrown out of the overlap by the contact solver: the box then
    jumps back across the shelf or falls off it, which no person moving it would do."""
    drawn = np.subtract(moved.objects[name][:2], before.objects[name][:2])
    landed = np.subtract(settled.objects[name][:3], moved.objects[name][:3])
    if np.linalg.norm(landed[:2]) > 0.5 * np.linalg.norm(drawn) + 1e-9:
        return False
    if abs(landed[2]) > PERTURB_SETTLE_TOLERANCE:
        return False
    others = [other for other in before.objects if other != name]
    return all(
        np.linalg.norm(np.subtract(settled.objects[o][:3], before.objects[o][:3]))
        <= PERTURB_SETTLE_TOLERANCE
        for o in others
    )


def perturb_after_stage(
    run: StageRunner, record: dict, index: int, state: InitialState, distance: float, folder: Path
) -> InitialState:
    """Move one object after stage ``index`` and let the scene settle; recorded in ``record``.

    A displacement into another object or the gripper is pushed back, or thrown, while the
    scene settles; such a draw is replaced by a new one (up to ``PERTURB_TRIES`` draws; the
    record keeps how many) until it is a displacement a person could have made
    (``plausible_displacement``).
    """
    rng = np.random.default_rng([run.seed, index])
    for draws in range(1, PERTURB_TRIES + 1):  # noqa: B007 (the count is recorded)
        moved, perturbation = perturb_state(run.task, state, distance, rng)
        settled = run.settle(moved, run.settle_steps)
        name = perturbation["object"]
        if plausible_displacement(state, moved, settled, name):
            break
    perturbation["settled"] = list(settled.objects[name])
    perturbation["draws"] = draws
    record["perturbation"] = perturbation
    atomic_write_text(folder / "perturbation.json", json.dumps(perturbation, indent=2))
    atomic_write_text(folder / "state_end.json", state_json(settled))
    return settled
