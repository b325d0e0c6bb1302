"""How place_bottle_on_plate's episodes end: on the plate, held over it, or tipped, as the plan's
last bottle target moves under or over the bottle's standing height on the plate.

Usage:
    .venv/bin/python benchmarks/place_bottle_ends.py [--press 0.015 -0.005] [--states 40]
        [--run runs/tasks/place_bottle_on_plate/seed_0/train --checkpoint latest]

For each ``--press`` (``place_bottle_on_plate.PRESS``, m under the standing height; -0.005 is
the plan that ended 5 mm over the plate) it replays the oracle plans of ``--states`` test states
open loop with the scripted grasp (``Driver.follow``) and, with ``--run``, runs that training
run's policy deterministically on the same plans (two trials each, as validation does). At the
last step every episode is sorted into success, not lifted, held over the plate (no contact),
tipped (touching, tilted past 25 degrees) or other, with the median gap between the bottle's
base and the plate's top (m). Prints one line per setting; writes nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.rl.checkpoints import load_runner
from keyscaffold.rl.rollout import Validator
from keyscaffold.rl.run_folder import checkpoint_file, load_run_config
from keyscaffold.tasks import make_task, place_bottle_on_plate
from keyscaffold.tasks.move_bottle import BOTTLE_HALF, UPRIGHT_COS
from keyscaffold.tasks.open_loop import Driver

TASK = "place_bottle_on_plate"


class EndRecorder:
    """Wraps the task's ``evaluate`` to keep what it sees at each step: success, lifted, the
    bottle-plate contact force (N), uprightness and the base's gap over the plate's top (m),
    each shape (B,)."""

    def __init__(self, task) -> None:
        self.task, self.evaluate, self.last = task, task.evaluate, {}
        task.evaluate = self

    def __call__(self, worlds, state, step):
        result = self.evaluate(worlds, state, step)
        keypoints = worlds.keypoints()
        upright = worlds.body_rotation("bottle")[:, 2, 2].copy()
        self.last = {
            "success": result["success"].copy(),
            "lifted": state["lifted"].copy(),
            "force": worlds.pair_contact_force("bottle", "plate").copy(),
            "upright": upright,
            "gap": keypoints[:, 0, 2] - BOTTLE_HALF * upright - keypoints[:, 1, 2],
        }
        return result

    def summary(self) -> str:
        """The last step's episodes by how they ended."""
        e = self.last
        success, lifted = e["success"].astype(bool), e["lifted"].astype(bool)
        touching, tipped = (
            e["force"] > place_bottle_on_plate.TOUCH_FORCE,
            e["upright"] < UPRIGHT_COS,
        )
        rest = ~success & lifted
        counts = {
            "success": success.sum(),
            "not lifted": (~success & ~lifted).sum(),
            "held over the plate": (rest & ~touching & ~tipped).sum(),
            "tipped": (rest & tipped).sum(),
            "other": (rest & touching & ~tipped).sum(),
        }
        parts = ", ".join(f"{k} {int(v)}" for k, v in counts.items())
        return f"{success.mean():.3f} of {len(success)} ({parts}); median gap {np.median(e['gap']):+.4f} m"


def policy_ends(task, plans, run: Path, checkpoint: str, recorder: EndRecorder) -> str:
    """The run's policy, deterministic, two trials per plan (validation's settings)."""
    validator = Validator.for_plans(task, plans, load_run_config(run).env, 2, seed=123)
    runner = load_runner(checkpoint_file(run, checkpoint), validator.env)
    validator(runner.get_inference_policy())
    return recorder.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--press", type=float, nargs="+", default=[place_bottle_on_plate.PRESS])
    parser.add_argument("--states", type=int, default=40)
    parser.add_argument("--run", type=Path, default=None, help="a benchmark seed's train folder")
    parser.add_argument("--checkpoint", default="latest", choices=("best", "latest", "final"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.run is not None:
        trained = json.loads((args.run / "config.json").read_text())["task"]
        if trained != TASK:
            raise SystemExit(f"{args.run} trained {trained!r}, not {TASK!r}")
    for press in args.press:
        place_bottle_on_plate.PRESS = press  # read by oracle_waypoints when it is called
        task = make_task(TASK)
        recorder = EndRecorder(task)
        plans = oracle_plans(task, "test", 0, args.states, 20, 0.0)
        drive = Driver(task, [p.initial_state for p in plans], threads=2)
        drive.follow(plans)
        print(f"press {press:+.3f} m, open loop: {recorder.summary()}")
        if args.run is not None:
            ends = policy_ends(task, plans[: args.states // 2], args.run, args.checkpoint, recorder)
            print(f"press {press:+.3f} m, {args.checkpoint} policy of {args.run}: {ends}")


if __name__ == "__main__":
    main()
