"""hammer: pick the hammer up and swing it three times."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import sample_phases
from keyscaffold.sim import objects
from keyscaffold.sim.objects import room, tools
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    Task,
    register_task,
    start_wrist,
    upright,
)

HEAD_HALF = 0.055
HANDLE_HALF = 0.13
HANDLE_RADIUS = 0.014
REST_HALF = (0.03, 0.035, (HEAD_HALF - HANDLE_RADIUS) / 2)
REST_Y = -0.09
"""Where the wooden rest sits under the handle, along the handle from its middle (m)."""
GRIP_Y = 0.03
"""Where the hand takes the handle, along the handle from its middle (m)."""
GRASP_OFFSET = np.array([-0.07, 0.0, 0.045])
SWING = 0.05
"""How far the head must rise and then fall for one strike (m)."""
STRIKES = 3
WARMUP_STEPS = 20


@register_task("hammer")
class Hammer(Task):
    """Pick up the hammer and make three hammering swings.

    Description:
        A hammer lies on the counter, its head standing on its striking face and its handle
        resting on a small wooden block. The hand grasps the handle, lifts the hammer and swings
        the head up and down three times.

    Randomizations:
        Hammer position (x 0.40..0.60 m, y -0.15..0.05 m) with the block under its handle; wrist
        start (±0.05 m in x and y, 0.08..0.14 m above the grasp height) with ±0.1 rad of hinge noise.

    Success:
        Three strikes while the hammer is held (two or more fingertips touch it): a strike is a
        rise of the head by at least 5 cm followed by a fall of at least 5 cm, counted with
        hysteresis from step 20 on.
    """

    instruction = "hammer three times"
    keypoints = (
        KeypointSpec(
            "handle",
            "hammer",
            (0.0, GRIP_Y, 0.0),
            "the middle of the hammer's wooden handle",
            "middle",
        ),
        KeypointSpec(
            "head", "hammer", (0.0, HANDLE_HALF + 0.02, 0.0), "the hammer's steel head", "middle"
        ),
    )
    plan_steps = (
        "Move the open hand above the middle of the hammer's handle, palm down.",
        "Lower the hand around the handle and close the fingers on it.",
        "Lift the hammer about 10 cm.",
        "Swing the hammer three times: raise the head about 10 cm, then bring it back down, "
        "keeping the handle in the hand; the head and the handle stay 12 cm apart.",
        "Hold the hammer still at the end.",
    )
    start_limit = 0.08
    contact_bodies = ("hammer",)
    hammer_area = ((0.40, 0.60), (-0.15, 0.05))
    """Where the hammer's middle is drawn: x and y ranges (m)."""
    lift = 0.08
    """Height of the held hammer between swings, above where it lay (m)."""
    swing_top = 0.18
    """Height of the top of a swing above where the hammer lay (m)."""
    swings = (0.44, 0.17, 0.06, 0.14)
    """The oracle's swings, as fractions of the episode: when the first starts, how far apart
    they start, and when each reaches its top and its bottom after its start."""

    def scene_objects(self) -> list[objects.SceneObject]:
        rest = tools.wood_block("hammer_rest", REST_HALF)
        return [room.counter(), rest, tools.hammer(2 * HANDLE_HALF, HANDLE_RADIUS, HEAD_HALF)]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        top = objects.COUNTER_TOP_Z
        (x_low, x_high), (y_low, y_high) = self.hammer_area
        hammer = np.array([rng.uniform(x_low, x_high), rng.uniform(y_low, y_high), top + HEAD_HALF])
        rest = hammer + [0.0, REST_Y, 0.0]
        rest[2] = top + REST_HALF[2]
        grasp = hammer + [0.0, GRIP_Y, 0.0] + GRASP_OFFSET
        wrist = start_wrist(rng, grasp, (0.08, 0.14), hinge_noise=0.1)
        return InitialState(
            seed=seed,
            wrist=wrist,
            objects={
                "hammer_rest": upright(rest),
                "hammer": upright(hammer),
            },
        )

    def init_state(self, num_worlds: int) -> dict[str, np.ndarray]:
        return {
            "strikes": np.zeros(num_worlds),
            "rising": np.ones(num_worlds, dtype=bool),
            "extreme": np.zeros(num_worlds),
        }

    def reset_state(self, state, ids, worlds) -> None:
        state["strikes"][ids] = 0
        state["rising"][ids] = True
        state["extreme"][ids] = worlds.keypoints()[ids, 1, 2]

    def evaluate(self, worlds, state, step):
        head = worlds.keypoints()[:, 1, 2]
        held = (worlds.effector_contact_by_object()[:, :, 0] > 0.05).sum(axis=1) >= 2
        counting = held & (step > WARMUP_STEPS)
        rising, extreme = state["rising"], state["extreme"]
        # Rising: track the lowest point until the head is SWING above it; then falling: track the
        # highest point until the head is SWING below it, which completes a strike.
        extreme[:] = np.where(rising, np.minimum(extreme, head), np.maximum(extreme, head))
        turned_up = counting & rising & (head > extreme + SWING)
        turned_down = counting & ~rising & (head < extreme - SWING)
        state["strikes"] += turned_down
        flip = turned_up | turned_down
        rising[:] = np.where(flip, ~rising, rising)
        extreme[:] = np.where(flip | ~counting, head, extreme)
        rising[:] = np.where(counting, rising, True)
        return {
            "success": state["strikes"] >= STRIKES,
            "strikes": state["strikes"].copy(),
            "held": held.astype(np.float64),
        }

    def stated_distances(self) -> list[tuple[str, float]]:
        plan = self.oracle_waypoints(self.sample_initial_state(0), 100).keypoints
        handle_z, head = plan[:, 0, 2], plan[:, 1]
        lift = handle_z[-1] - handle_z[0]
        return [
            ("10 cm", lift),
            ("10 cm", handle_z.max() - handle_z[-1]),
            ("12 cm", float(np.linalg.norm(head[0] - plan[0, 0]))),
        ]

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        """Approach, grasp, lift, then ``STRIKES`` swings paced by ``swings``, then hold."""
        hammer0 = np.array(state.objects["hammer"][:3])
        handle0 = hammer0 + [0.0, GRIP_Y, 0.0]
        head0 = hammer0 + [0.0, HANDLE_HALF + 0.02, 0.0]
        start = np.array(state.wrist[:3])
        grasp = handle0 + GRASP_OFFSET
        lift, up = np.array([0.0, 0.0, self.lift]), np.array([0.0, 0.0, self.swing_top])
        first, period, top, bottom = self.swings
        still = np.zeros(3)
        phases = [(0.00, start, still), (0.12, grasp + [0, 0, 0.06], still), (0.22, grasp, still)]
        phases += [(0.30, grasp, still), (0.38, grasp + lift, lift)]
        for k in range(STRIKES):
            t0 = first + k * period
            phases += [(t0 + top, grasp + up, up), (t0 + bottom, grasp + lift, lift)]
        phases.append((1.0, grasp + lift, lift))
        times = [p[0] for p in phases]
        shift = sample_phases(times, [p[2] for p in phases], num_waypoints)
        return OracleWaypoints(
            keypoints=np.stack([handle0 + shift, head0 + shift], axis=1),
            wrist=sample_phases(times, [p[1] for p in phases], num_waypoints),
            wrist_orientation=np.zeros(3),
            grasp_waypoint=int(np.searchsorted(np.linspace(0, 1, num_waypoints), 0.26)),
        )
