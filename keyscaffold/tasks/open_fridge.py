"""open_fridge: swing the fridge door open by its handle."""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import sample_phases, yaw_rotation
from keyscaffold.sim import objects
from keyscaffold.sim.objects import furniture
from keyscaffold.sim.scene import CameraSpec
from keyscaffold.tasks.base import (
    InitialState,
    KeypointSpec,
    OracleWaypoints,
    Task,
    register_task,
    start_wrist,
    upright,
)

FRIDGE_HALF = (0.3, 0.3, 0.75)
DOOR_THICKNESS = 0.03
HANDLE_HEIGHT = 1.15
HINGE_LOCAL = np.array([FRIDGE_HALF[0] + DOOR_THICKNESS, -FRIDGE_HALF[1], 0.0])
"""The hinge line relative to the fridge's centre (m)."""
HANDLE_LOCAL = (DOOR_THICKNESS + 0.04, 2 * FRIDGE_HALF[1] - 0.12, HANDLE_HEIGHT - FRIDGE_HALF[2])
"""The handle's middle in the door's frame (m)."""
# Wrist relative to the handle in the door's frame: fingers point at the door, curled behind the bar.
GRASP_OFFSET = np.array([0.13, 0.0, 0.03])
OPEN_ANGLE = np.pi / 3
FINAL_ANGLE = 1.25


@register_task("open_fridge")
class OpenFridge(Task):
    """Open the fridge door by more than 60 degrees.

    Description:
        A white fridge stands on the kitchen floor with its door toward the hand, hinged on its
        left edge (seen from the camera) with a bar handle near the right edge. The hand hooks its
        fingers behind the handle and pulls the door open along its arc, turning the wrist with
        the door.

    Randomizations:
        Fridge position (x -0.03..0.03 m, y -0.08..0.08 m), door start angle (0..0.05 rad), wrist
        start (±0.05 m in x and y, 0.06..0.12 m above the grasp height).

    Success:
        At the end of the episode the door's hinge angle exceeds pi/3 (60 degrees).
    """

    instruction = "open the fridge door"
    keypoints = (
        KeypointSpec(
            "door handle", "fridge_door", HANDLE_LOCAL, "the middle of the fridge door's bar handle"
        ),
    )
    plan_steps = (
        "Move the open hand in front of the fridge door at the height of its handle, palm down "
        "with the fingers pointing at the door.",
        "Reach over the handle and close the fingers behind it.",
        "Pull the handle outward along a circle around the door's hinge on the far edge, so the "
        "door swings open by about 70 degrees; keep the same distance to the hinge.",
        "Turn the wrist with the door so the fingers keep pointing at it, and hold it open.",
    )
    start_limit = 0.20
    contact_bodies = ("fridge_door",)
    default_wrist_orientation = (0.0, 0.0, np.pi)
    camera = CameraSpec(pos=(2.0, 0.6, 1.85), target=(0.3, 0.0, 0.95))

    def scene_objects(self) -> list[objects.SceneObject]:
        return [furniture.fridge(FRIDGE_HALF, HANDLE_HEIGHT)]

    def sample_initial_state(self, seed: int) -> InitialState:
        rng = np.random.default_rng(seed)
        fridge = (rng.uniform(-0.03, 0.03), rng.uniform(-0.08, 0.08), FRIDGE_HALF[2])
        angle = float(rng.uniform(0.0, 0.05))
        state = InitialState(seed, (0.0,) * 6, {"fridge": upright(fridge)}, {"door_hinge": angle})
        grasp = self._handle(state, angle) + yaw_rotation(-angle) @ GRASP_OFFSET
        wrist = start_wrist(rng, grasp, (0.06, 0.12), orientation=(0.0, 0.0, np.pi - angle))
        return InitialState(
            seed,
            wrist,
            state.objects,
            state.joints,
        )

    @staticmethod
    def _hinge(state: InitialState) -> np.ndarray:
        return np.array(state.objects["fridge"][:3]) + HINGE_LOCAL

    def _handle(self, state: InitialState, angle: float) -> np.ndarray:
        """World position of the handle with the door open by ``angle`` (rad)."""
        return self._hinge(state) + yaw_rotation(-angle) @ np.array(HANDLE_LOCAL)

    def _door_angle(self, state: InitialState, handle: np.ndarray) -> np.ndarray:
        """Door angle that puts the handle at ``handle`` (..., 3), from its bearing to the hinge."""
        rest = np.array(HANDLE_LOCAL)
        offset = np.asarray(handle)[..., :2] - self._hinge(state)[:2]
        return np.arctan2(rest[1], rest[0]) - np.arctan2(offset[..., 1], offset[..., 0])

    def wrist_orientations(self, state, keypoint_waypoints, wrist_waypoints):
        """The wrist turns with the door: yaw follows the planned handle's bearing to the hinge."""
        angle = self._door_angle(state, keypoint_waypoints[:, 0])
        zeros = np.zeros_like(angle)
        return np.stack([zeros, zeros, np.pi - angle], axis=-1)

    def evaluate(self, worlds, state, step):
        angle = worlds.joint_position("door_hinge")
        return {"success": angle > OPEN_ANGLE, "door_angle": angle}

    def oracle_waypoints(self, state: InitialState, num_waypoints: int = 20) -> OracleWaypoints:
        angle0 = state.joints.get("door_hinge", 0.0)
        start = np.array(state.wrist[:3])
        times = [0.0, 0.15, 0.28, 0.40, 0.85, 1.0]
        angles = [angle0, angle0, angle0, angle0, FINAL_ANGLE, FINAL_ANGLE]
        samples = np.linspace(0.0, 1.0, num_waypoints)
        door = np.interp(samples, times, angles)
        handle = np.stack([self._handle(state, a) for a in door])
        grasp = np.stack([self._handle(state, a) + yaw_rotation(-a) @ GRASP_OFFSET for a in door])
        # Before the grasp, the wrist travels from its start to above the first grasp pose.
        approach = sample_phases(
            [0.0, 0.15, 0.28], [start, grasp[0] + [0, 0, 0.06], grasp[0]], num_waypoints
        )
        wrist = np.where((samples < 0.28)[:, None], approach, grasp)
        orientation = np.stack([np.zeros_like(door), np.zeros_like(door), np.pi - door], -1)
        return OracleWaypoints(
            keypoints=handle[:, None],
            wrist=wrist,
            wrist_orientation=orientation,
            grasp_waypoint=int(np.searchsorted(samples, 0.34)),
        )
