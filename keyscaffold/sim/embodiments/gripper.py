"""Floating parallel-jaw gripper (Franka/Robotiq-sized), built from primitive shapes.

Gripper frame (the wrist, i.e. the flange): the fingers hang along -z and the jaws close along y,
so at zero wrist angles the gripper points straight down for a top-down grasp. Six "dummy" wrist
joints (slide x, y, z then hinge x, y, z) place the flange in the world; two prismatic jaw joints
follow, each the distance (m) of its pad's gripping face from the gripper's mid-plane y = 0, from
0 (closed, the pads meet) to ``JAW_TRAVEL`` (open). Every joint has a position actuator.

The tool centre point (site ``gripper_tcp``) lies between the pad centres, ``TCP_OFFSET`` below the
flange.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from keyscaffold.geometry import blend
from keyscaffold.sim.embodiments.base import (
    ActionSpec,
    Embodiment,
    register_embodiment,
    wrist_actuators_xml,
    wrist_joints_xml,
)

SIDES = ("left", "right")
"""Jaw sides: the left jaw opens toward +y, the right toward -y."""
JAW_TRAVEL = 0.0425
"""Stroke of each jaw (m): a maximum opening of 85 mm, as on a Robotiq 2F-85."""
FLANGE = (0.032, 0.012)
"""Radius and length of the mounting flange (m)."""
PALM_HALF = (0.03, 0.085, 0.03)
"""Half sizes of the palm housing (m): 6 cm deep, 17 cm wide, 6 cm tall."""
FINGER_HALF = (0.011, 0.005, 0.0275)
"""Half sizes of a finger (m): 5.5 cm long below the palm."""
PAD_HALF = (0.01, 0.002, 0.02)
"""Half sizes of a rubber pad (m), covering the lower 4 cm of a finger's inner face."""
PALM_BOTTOM = FLANGE[1] + 2 * PALM_HALF[2]
"""Depth of the palm's underside below the flange (m); the jaw bodies sit there."""
PAD_CENTER_DEPTH = 2 * FINGER_HALF[2] - PAD_HALF[2]
"""Depth of the pad centres below the palm's underside (m)."""
FINGERTIP_BELOW_TCP = 2 * FINGER_HALF[2] - PAD_CENTER_DEPTH
"""Depth of the fingertips below the tool centre point (m)."""
TCP_OFFSET = PALM_BOTTOM + PAD_CENTER_DEPTH
"""Depth of the tool centre point below the flange (m)."""


@dataclass(frozen=True)
class GripperGains:
    """Actuator and joint parameters of the floating gripper."""

    wrist_kp: float = 2000.0
    """Wrist position gain (N/m for slides, N m/rad for hinges)."""
    wrist_kv: float = 100.0
    """Wrist velocity gain."""
    wrist_force_limit: float = 1000.0
    """Wrist actuator force limit (N or N m)."""
    wrist_armature: float = 0.5
    """Reflected inertia of the dummy wrist joints."""
    jaw_kp: float = 2000.0
    """Jaw position gain (N/m); with the force limit, a closed target squeezes at the limit."""
    jaw_kv: float = 60.0
    """Jaw velocity gain (N s/m)."""
    jaw_force_limit: float = 40.0
    """Jaw actuator force limit (N): the most each jaw squeezes with."""
    jaw_armature: float = 0.5
    """Reflected inertia of the geared jaw drive (kg); keeps the stiff jaw stable at 120 Hz."""
    jaw_damping: float = 5.0
    """Jaw joint damping (N s/m)."""


def jaw_joint_names() -> list[str]:
    """The two jaw joint names in actuator order (left, right)."""
    return [f"{side}_jaw" for side in SIDES]


def pad_body_names() -> list[str]:
    """Pad body names, one per jaw; they are the effectors."""
    return [f"{side}_pad" for side in SIDES]


def pad_site_names() -> list[str]:
    """Sites at the centre of each pad's gripping face, one per jaw."""
    return [f"{side}_pad_center" for side in SIDES]


def open_jaw_pose() -> np.ndarray:
    """Jaw joint targets of the open gripper, shape: (2,)."""
    return np.full(2, JAW_TRAVEL)


def closed_jaw_pose() -> np.ndarray:
    """Jaw joint targets of the fully closed gripper (the pads meet), shape: (2,)."""
    return np.zeros(2)


def _jaw_xml(side: str) -> str:
    """One jaw at the palm's underside: a finger on a slide along ±y with a pad body inside it.

    The jaw body's origin lies on the pad's gripping face, so the joint value is that face's
    distance from the mid-plane.
    """
    sign = 1.0 if side == "left" else -1.0
    fx, fy, fz = FINGER_HALF
    px, py, pz = PAD_HALF
    finger_y = sign * (2 * py + fy)
    return (
        f'<body name="{side}_finger" pos="0 0 {-PALM_BOTTOM:.4f}" gravcomp="1">'
        f'<joint name="{side}_jaw" axis="0 {sign:g} 0" range="0 {JAW_TRAVEL}" class="jaw"/>'
        f'<geom name="{side}_finger_geom" type="box" pos="0 {finger_y:.4f} {-fz:.4f}" '
        f'size="{fx} {fy} {fz}" rgba="0.78 0.78 0.80 1" class="gripper" mass="0.04"/>'
        f'<body name="{side}_pad" pos="0 0 {-PAD_CENTER_DEPTH:.4f}" gravcomp="1">'
        f'<geom name="{side}_pad_geom" type="box" pos="0 {sign * py:.4f} 0" size="{px} {py} {pz}" '
        'rgba="0.12 0.12 0.13 1" class="gripper_pad"/>'
        f'<site name="{side}_pad_center" size="0.005" rgba="1 0 0 0"/>'
        "</body></body>"
    )


def gripper_defaults_xml(gains: GripperGains) -> str:
    """Default classes used by the gripper's joints and geoms."""
    return (
        '<default class="gripper"><geom contype="2" conaffinity="1" condim="4" '
        'friction="1 0.02 0.001" solref="0.005 1"/></default>'
        '<default class="gripper_pad"><geom contype="2" conaffinity="1" condim="6" '
        'friction="2 0.05 0.002" solref="0.005 1" mass="0.01"/></default>'
        f'<default class="jaw"><joint type="slide" damping="{gains.jaw_damping}" '
        f'armature="{gains.jaw_armature}" limited="true"/></default>'
        f'<default class="gripper_wrist"><joint damping="0" armature="{gains.wrist_armature}" '
        'limited="false"/></default>'
    )


def gripper_body_xml(floating: bool = True) -> str:
    """The gripper's body tree at its parent's origin; the dummy wrist joints' values are the
    wrist pose.

    The wrist pose (x, y, z, rx, ry, rz) is in world coordinates, as for the hand: the slides move
    along the world axes and the hinges turn about x, then y, then z.

    Args:
        floating: With the six wrist joints; without them the tree is a tool to nest in an
            arm's flange body.
    """
    wrist = wrist_joints_xml("gripper_wrist") if floating else ""
    radius, length = FLANGE
    hx, hy, hz = PALM_HALF
    return (
        '<body name="gripper" pos="0 0 0" gravcomp="1">'
        f"{wrist}"
        f'<geom name="gripper_flange" type="cylinder" fromto="0 0 0 0 0 {-length}" '
        f'size="{radius}" rgba="0.7 0.7 0.72 1" class="gripper" mass="0.1"/>'
        f'<geom name="gripper_palm" type="box" pos="0 0 {-(length + hz):.4f}" size="{hx} {hy} {hz}" '
        'rgba="0.16 0.16 0.18 1" class="gripper" mass="0.6"/>'
        f'<site name="gripper_tcp" pos="0 0 {-TCP_OFFSET:.4f}" size="0.005" rgba="0 1 0 0"/>'
        f"{''.join(_jaw_xml(side) for side in SIDES)}</body>"
    )


def gripper_actuators_xml(gains: GripperGains, floating: bool = True) -> str:
    """Position actuators: six wrist joints (when ``floating``), then the left and right jaw."""
    wrist = (
        wrist_actuators_xml(gains.wrist_kp, gains.wrist_kv, gains.wrist_force_limit)
        if floating
        else ""
    )
    jaws = "".join(
        f'<position name="act_{j}" joint="{j}" kp="{gains.jaw_kp}" kv="{gains.jaw_kv}" '
        f'forcelimited="true" forcerange="-{gains.jaw_force_limit} {gains.jaw_force_limit}"/>'
        for j in jaw_joint_names()
    )
    return wrist + jaws


def grip_targets(grip: np.ndarray) -> np.ndarray:
    """Jaw targets from one grip scalar per world: <= 0 fully open, >= 1 fully closed.

    Args:
        grip: Shape: (B,) or (B, 1).

    Returns:
        Shape: (B, 2); both jaws share the grip.
    """
    grip = np.asarray(grip, dtype=np.float64).reshape(len(grip), -1)[:, 0]
    return blend(open_jaw_pose(), closed_jaw_pose(), grip)


@register_embodiment("gripper")
@dataclass
class FloatingGripper(Embodiment):
    """The floating parallel-jaw gripper (85 mm stroke, 40 N per jaw).

    Action specs: ``grip`` (default; one scalar opens or closes both jaws) and ``wrist`` (every
    robot's: the six wrist actions only, jaws held closed; IKER's environment drives the jaws by
    its grasp heuristic instead).
    """

    gains: GripperGains = field(default_factory=GripperGains)
    root_body: str = "gripper"
    default_action_spec: str = "grip"
    tcp_site: str = "gripper_tcp"

    def joint_names(self) -> list[str]:
        return jaw_joint_names()

    def effector_bodies(self) -> list[str]:
        return pad_body_names()

    def effector_sites(self) -> list[str]:
        return pad_site_names()

    def open_pose(self) -> np.ndarray:
        return open_jaw_pose()

    def closed_pose(self) -> np.ndarray:
        return closed_jaw_pose()

    def action_specs(self) -> dict[str, ActionSpec]:
        return {
            "grip": ActionSpec("grip", ("grip",), grip_targets),
        }

    def defaults_xml(self) -> str:
        return gripper_defaults_xml(self.gains)

    def body_xml(self) -> str:
        return gripper_body_xml()

    def actuators_xml(self) -> str:
        return gripper_actuators_xml(self.gains)

    def mounted_body_xml(self) -> str:
        return gripper_body_xml(floating=False)

    def mounted_actuators_xml(self) -> str:
        return gripper_actuators_xml(self.gains, floating=False)
