"""Every registered task, driven through the simulator into its success condition and into a
near miss that must stay a failure (forces on objects or scripted wrist motion, no policy)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from drive import Driver

from keyscaffold.tasks import make_task, task_names
from keyscaffold.tasks.open_drawer import HANDLE_LOCAL

STATES = 3


# Tasks driven by forces alone start with the hand parked out of the way.
PARKED = ("open_fridge", "open_drawer", "close_scissors", "close_pliers")


def _drive(name: str, near_miss: bool) -> dict:
    task = make_task(name)
    states = [task.sample_initial_state(seed) for seed in range(STATES)]
    if name in PARKED:
        states = [replace(s, wrist=(0.9, 0.5, 1.8, 0.0, 0.0, 0.0)) for s in states]
    drive = Driver(task, states)
    start = drive.worlds.keypoints().copy()
    return SCENARIOS[name](task, states, drive, start, near_miss)


def _oracle_open_loop(task, states, drive, start, near_miss):
    """The oracle plan's wrist path with the hand closed at the grasp waypoint (or never)."""
    from keyscaffold.planning.oracle import oracle_plan

    return drive.follow([oracle_plan(task, s.seed) for s in states], close=not near_miss)


def _move_bottle(task, states, drive, start, near_miss):
    bottle0, mat = start[:, 0], start[:, 1]
    goal = mat.copy()
    goal[:, 2] = bottle0[:, 2]
    if near_miss:  # put down in the sink instead of across it
        goal[:, :2] = np.array([0.5, 0.0])
    lift = np.array([0, 0, 0.12])
    drive.pull("bottle", bottle0 + lift, 60, carry=True)
    drive.pull("bottle", goal + lift, 90, carry=True)
    drive.pull("bottle", goal + [0, 0, 0.005], 60, carry=True)
    return drive.pull("bottle", goal, 40, gain=0.0, damping=0.0)


def _open_drawer(task, states, drive, start, near_miss):
    chest_x = drive.worlds.body_rotation("chest")[:, :, 0]
    target = start[:, 0] + chest_x * (0.14 if near_miss else 0.27)
    drive.pull(
        "drawer", target - np.array(HANDLE_LOCAL[0]) * chest_x, 150, gain=300.0, damping=30.0
    )
    return drive.step()


def _open_fridge(task, states, drive, start, near_miss):
    drive.twist(
        "door_hinge", "fridge_door", 0.8 if near_miss else 1.3, 180, 60.0, (0, 0, -1), damping=20.0
    )
    return drive.step()


def _hammer(task, states, drive, start, near_miss):
    """Grasp the handle with the hand, lift, and swing: 10 cm swings succeed, 3 cm ones do not."""
    hammer = np.array([s.objects["hammer"][:3] for s in states])
    from keyscaffold.tasks.hammer import GRASP_OFFSET, GRIP_Y

    grasp = np.concatenate([hammer + [0, GRIP_Y, 0] + GRASP_OFFSET, np.zeros((len(states), 3))], 1)
    up = np.array([0, 0, 1.0, 0, 0, 0])
    for t in range(50):
        drive.step(grasp + up * 0.06 * max(0.0, 1 - t / 30), [[0.0]])
    for t in range(30):
        drive.step(grasp, [[t / 29]])
    for t in range(30):
        drive.step(grasp + up * 0.08 * t / 29, [[1.0]])
    height = 0.03 if near_miss else 0.10
    for _ in range(3):
        for t in range(30):
            drive.step(grasp + up * (0.08 + height * t / 29))
        for t in range(30):
            result = drive.step(grasp + up * (0.08 + height * (1 - t / 29)))
    return result


def _wipe_sponge(task, states, drive, start, near_miss):
    sponge = start[:, 0]
    # pressed onto the counter, or held 3 cm above it (the path then never counts)
    lifted = np.array([0, 0, 0.03]) if near_miss else np.zeros(3)
    press = None
    for offset in (0.10, -0.10, 0.10, 0.0):
        result = drive.pull(
            "sponge",
            sponge + [0, offset, 0] + lifted,
            90,
            gain=60.0,
            damping=5.0,
            carry=near_miss,
            extra=press,
        )
    return result


def _close_tool(task, states, drive, start, near_miss):
    tool = task.tool
    drive.twist(
        f"{tool}_pivot",
        f"{tool}_arm",
        0.3 if near_miss else 0.0,
        150,
        0.3,
        (0, 0, 1),
        damping=0.02,
        reaction=tool,
    )
    return drive.step()


SCENARIOS = {
    "move_apple": _oracle_open_loop,
    "move_bottle": _move_bottle,
    "open_drawer": _open_drawer,
    "open_fridge": _open_fridge,
    "hammer": _hammer,
    "wipe_sponge": _wipe_sponge,
    "close_scissors": _close_tool,
    "close_pliers": _close_tool,
}


def test_every_registered_task_has_a_physics_scenario():
    assert set(task_names()) <= set(SCENARIOS), set(task_names()) - set(SCENARIOS)


@pytest.mark.parametrize("name", task_names())
def test_driven_into_success(name):
    result = _drive(name, near_miss=False)
    assert result["success"].all(), {
        k: np.round(np.asarray(v, float), 3).tolist() for k, v in result.items()
    }


@pytest.mark.parametrize("name", task_names())
def test_near_miss_stays_a_failure(name):
    result = _drive(name, near_miss=True)
    assert not result["success"].any(), {
        k: np.round(np.asarray(v, float), 3).tolist() for k, v in result.items()
    }
