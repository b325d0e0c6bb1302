"""open_drawer: pull the top drawer of the chest open."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import quaternion_yaw, sample_phases, yaw_quaternion, yaw_rotation
from keyscaffold.sim import objects
from keyscaffold.sim.objects import furniture, room
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    Task,
    register_task,
    start_wrist,
)

CHEST_HALF = (0.15, 0.2, 0.16)
TRAVEL = 0.3
_DRAWER_H = (2 * CHEST_HALF[2] - 0.04) / 3
DRAWER_Z = CHEST_HALF[2] - 0.01 - _DRAWER_H / 2
"""Height of the top drawer's frame above the chest's centre (m)."""
HANDLE_LOCAL = (CHEST_HALF[0] + furniture.DRAWER_HANDLE_OFFSET, 0.0, 0.0)
# Wrist relative to the handle, in the chest frame: fingers point back at the chest (yaw pi) and
# curl down behind the bar.
GRASP_OFFSET = np.array([0.13, 0.0, 0.03])
OPEN_DISTANCE = 0.20


@register_task("open_drawer")
class OpenDrawer(Task):
    """Open the top drawer of the chest of drawers.

    Description:
        A wooden chest of three drawers stands on the counter with its fronts toward the hand. The
        hand reaches over the top drawer's bar handle, hooks its fingers behind it and pulls the
        drawer out.

    Randomizations:
        Chest position (x 0.26..0.32 m, y -0.10..0.10 m) and yaw (±0.1 rad), the top drawer's
        start opening (0..0.02 m), wrist start (±0.05 m in x and y, 0.08..0.14 m above the grasp
        height).

    Success:
        At the end of the episode the top drawer is open by more than 0.20 m (its slide joint).
    """

    instruction = "open the top drawer"
    keypoints = (
        KeypointSpec(
            "drawer handle", "drawer", HANDLE_LOCAL, "the metal bar handle of the top drawer"
        ),
    )
    plan_steps = (
        "Move the open hand in front of the top drawer, above its handle, palm down with the "
        "fingers pointing at the chest.",
        "Lower the hand so that the fingers reach over the handle, then close them behind it.",
        "Pull the handle straight away from the chest by about 25 cm; the drawer slides out.",
        "Hold the drawer open.",
    )
    start_limit = 0.15
    contact_bodies = ("drawer",)
    default_wrist_orientation = (0.0, 0.0, np.pi)

    def scene_objects(self) -> list[objects.SceneObject]:
        return [room.counter(), furniture.chest_of_drawers(CHEST_HALF, TRAVEL)]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        yaw = rng.uniform(-0.1, 0.1)
        chest = (
            rng.uniform(0.26, 0.32),
            rng.uniform(-0.1, 0.1),
            objects.COUNTER_TOP_Z + CHEST_HALF[2],
        )
        opening = rng.uniform(0.0, 0.02)
        state = InitialState(
            seed=seed,
            wrist=(0.0,) * 6,
            objects={"chest": (*(float(v) for v in chest), *yaw_quaternion(yaw))},
            joints={"drawer_slide": float(opening)},
        )
        grasp = self._handle(state, opening) + self._rotate(state, GRASP_OFFSET)
        orientation = np.array(self.default_wrist_orientation) + [0.0, 0.0, yaw]
        wrist = start_wrist(rng, grasp, (0.08, 0.14), orientation=orientation)
        return InitialState(seed, wrist, state.objects, state.joints)

    @staticmethod
    def _rotate(state: InitialState, vector: np.ndarray) -> np.ndarray:
        return yaw_rotation(quaternion_yaw(state.objects["chest"][3:])) @ vector

    def _handle(self, state: InitialState, opening: float) -> np.ndarray:
        """World position of the handle with the drawer out by ``opening``."""
        local = np.array(HANDLE_LOCAL) + [opening, 0.0, DRAWER_Z]
        return np.array(state.objects["chest"][:3]) + self._rotate(state, local)

    def evaluate(self, worlds, state, step):
        opening = worlds.joint_position("drawer_slide")
        return {"success": opening > OPEN_DISTANCE, "drawer_opening": opening}

    def stated_distances(self) -> list[tuple[str, float]]:
        plan = self.oracle_waypoints(self.sample_initial_state(0), 100).keypoints
        return [("25 cm", float(np.linalg.norm(plan[-1, 0] - plan[0, 0])))]

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        start_open = state.joints.get("drawer_slide", 0.0)
        closed = self._handle(state, start_open)
        pulled = self._handle(state, 0.27)
        offset = self._rotate(state, GRASP_OFFSET)
        start = np.array(state.wrist[:3])
        phases = [
            (0.00, start, closed),
            (0.15, closed + offset + [0, 0, 0.06], closed),
            (0.28, closed + offset, closed),
            (0.40, closed + offset, closed),
            (0.85, pulled + offset, pulled),
            (1.00, pulled + offset, pulled),
        ]
        times = [p[0] for p in phases]
        return OracleWaypoints(
            keypoints=sample_phases(times, [p[2] for p in phases], num_waypoints)[:, None],
            wrist=sample_phases(times, [p[1] for p in phases], num_waypoints),
            wrist_orientation=np.array(state.wrist[3:]) * [0, 0, 1],
            grasp_waypoint=int(np.searchsorted(np.linspace(0, 1, num_waypoints), 0.34)),
        )
