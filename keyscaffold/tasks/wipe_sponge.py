"""wipe_sponge: wipe the counter with the sponge."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import sample_phases, yaw_quaternion
from keyscaffold.sim import objects
from keyscaffold.sim.objects import kitchen, room
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    Task,
    register_task,
    start_wrist,
)

SPONGE_HALF = (0.05, 0.035, 0.02)
# Wrist relative to the sponge's centre: the palm lies flat on the sponge and presses it a little.
PRESS_OFFSET = np.array([-0.05, 0.0, SPONGE_HALF[2] + 0.0125 - 0.006])
WIPE_PATH = 0.30
STROKE = 0.12


@register_task("wipe_sponge")
class WipeSponge(Task):
    """Wipe the counter with the sponge.

    Description:
        A kitchen sponge lies on the counter. The hand presses down on it with the palm and slides
        it back and forth across the counter.

    Randomizations:
        Sponge position (x 0.40..0.60 m, y -0.10..0.10 m) and yaw (±0.4 rad); wrist start (±0.05 m
        in x and y, 0.08..0.14 m above the pressing height) with ±0.1 rad of hinge noise.

    Success:
        The sponge's path length in the counter plane, counted only while it touches the counter
        (contact sensor, or resting within 4 mm of the top), reaches 0.30 m.
    """

    instruction = "wipe the counter with the sponge"
    keypoints = (
        KeypointSpec(
            "sponge", "sponge", (0.0, 0.0, 0.0), "the middle of the yellow sponge", "middle"
        ),
    )
    plan_steps = (
        "Move the open hand above the sponge, palm down.",
        "Lower the palm onto the sponge and press it gently against the counter.",
        "Slide the sponge sideways about 12 cm to one side, then 24 cm back to the other side, "
        "and again, keeping it pressed on the counter.",
        "Stop with the sponge back near where it started.",
    )
    start_limit = 0.08
    contact_bodies = ("sponge",)
    contact_pairs = (("sponge", "counter"),)

    def scene_objects(self) -> list[objects.SceneObject]:
        return [room.counter(), kitchen.sponge(SPONGE_HALF)]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        sponge = np.array(
            [
                rng.uniform(0.40, 0.60),
                rng.uniform(-0.10, 0.10),
                objects.COUNTER_TOP_Z + SPONGE_HALF[2],
            ]
        )
        press = sponge + PRESS_OFFSET
        wrist = start_wrist(rng, press, (0.08, 0.14), hinge_noise=0.1)
        return InitialState(
            seed=seed,
            wrist=wrist,
            objects={
                "sponge": (*(float(v) for v in sponge), *yaw_quaternion(rng.uniform(-0.4, 0.4)))
            },
        )

    def init_state(self, num_worlds: int) -> dict[str, np.ndarray]:
        return {"path": np.zeros(num_worlds), "last_xy": np.zeros((num_worlds, 2))}

    def reset_state(self, state, ids, worlds) -> None:
        state["path"][ids] = 0.0
        state["last_xy"][ids] = worlds.keypoints()[ids, 0, :2]

    def evaluate(self, worlds, state, step):
        sponge = worlds.keypoints()[:, 0]
        xy = sponge[:, :2]
        # On the counter: touching it (contact sensor), or lying flat on it within 4 mm (sliding
        # contact can flicker between physics steps).
        resting = sponge[:, 2] < objects.COUNTER_TOP_Z + SPONGE_HALF[2] + 0.004
        on_counter = (worlds.pair_contact_force("sponge", "counter") > 0.0) | resting
        state["path"] += np.where(on_counter, np.linalg.norm(xy - state["last_xy"], axis=-1), 0.0)
        state["last_xy"][:] = xy
        return {
            "success": state["path"] >= WIPE_PATH,
            "wipe_path": state["path"].copy(),
            "on_counter": on_counter.astype(np.float64),
        }

    def stated_distances(self) -> list[tuple[str, float]]:
        plan = self.oracle_waypoints(self.sample_initial_state(0), 100).keypoints
        y = plan[:, 0, 1]
        return [("12 cm", y.max() - y[0]), ("24 cm", y.max() - y.min())]

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        sponge0 = np.array(state.objects["sponge"][:3])
        start = np.array(state.wrist[:3])
        press = sponge0 + PRESS_OFFSET
        side = np.array([0.0, STROKE, 0.0])
        phases = [
            (0.00, start, sponge0),
            (0.15, press + [0, 0, 0.05], sponge0),
            (0.25, press, sponge0),
            (0.38, press + side, sponge0 + side),
            (0.56, press - side, sponge0 - side),
            (0.74, press + side, sponge0 + side),
            (0.90, press, sponge0),
            (1.00, press, sponge0),
        ]
        times = [p[0] for p in phases]
        return OracleWaypoints(
            keypoints=sample_phases(times, [p[2] for p in phases], num_waypoints)[:, None],
            wrist=sample_phases(times, [p[1] for p in phases], num_waypoints),
            wrist_orientation=np.zeros(3),
            grasp_waypoint=-1,
        )
