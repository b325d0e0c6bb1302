"""Floating right dexterous hand with Allegro kinematics, built from primitive shapes.

Hand frame (the wrist): fingers extend along +x, the palm faces -z, the thumb sits on the +y side.
Six "dummy" wrist joints (slide x, y, z then hinge x, y, z) place the wrist in the world; sixteen
finger joints follow the Allegro layout. Every joint has a position actuator.
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

FINGERS = ("index", "middle", "ring", "thumb")
FINGER_BASE_Y = {"index": 0.0435, "middle": 0.0, "ring": -0.0435}
# Link lengths (m): base, proximal, medial phalanx, then the tip beyond the distal joint.
FINGER_LINKS = (0.0164, 0.054, 0.0384, 0.0267)
THUMB_LINKS = (0.0177, 0.0514, 0.0423, 0.0330)
FINGER_RANGES = ((-0.47, 0.47), (-0.196, 1.61), (-0.174, 1.709), (-0.227, 1.618))
THUMB_RANGES = ((0.263, 1.396), (-0.105, 1.163), (-0.189, 1.644), (-0.162, 1.719))
LINK_RADIUS = 0.0115
PALM_HALF = (0.0475, 0.056, 0.0125)


@dataclass(frozen=True)
class HandGains:
    """Actuator and joint parameters of the floating hand."""

    wrist_kp: float = 2000.0
    """Wrist position gain (N/m for slides, N m/rad for hinges)."""
    wrist_kv: float = 100.0
    """Wrist velocity gain."""
    wrist_force_limit: float = 1000.0
    """Wrist actuator force limit (N or N m)."""
    finger_kp: float = 10.0
    """Finger position gain (N m/rad)."""
    finger_damping: float = 0.3
    """Finger joint damping (N m s/rad)."""
    finger_force_limit: float = 10.0
    """Finger actuator torque limit (N m)."""
    finger_armature: float = 0.01
    """Reflected rotor inertia of the finger joints; keeps stiff PD control stable at 120 Hz."""
    wrist_armature: float = 0.5
    """Reflected inertia of the dummy wrist joints."""


def finger_joint_names() -> list[str]:
    """The sixteen finger joint names in actuator order (index, middle, ring, thumb; base to tip)."""
    return [f"{finger}_j{i}" for finger in FINGERS for i in range(4)]


def fingertip_site_names() -> list[str]:
    """Fingertip site names, one per finger."""
    return [f"{finger}_tip" for finger in FINGERS]


def fingertip_body_names() -> list[str]:
    """Distal link body names, one per finger; they carry the fingertips."""
    return [f"{finger}_distal" for finger in FINGERS]


def open_finger_pose() -> np.ndarray:
    """Finger joint targets of the open hand, shape: (16,)."""
    pose = np.zeros(16)
    pose[12:16] = (0.35, 0.1, 0.0, 0.0)
    return pose


def closed_finger_pose() -> np.ndarray:
    """Finger joint targets of the fully closed power grasp, shape: (16,)."""
    finger = (0.0, 1.3, 1.2, 0.9)
    thumb = (1.35, 0.9, 0.7, 0.6)
    return np.array(finger * 3 + thumb, dtype=np.float64)


def _finger_xml(finger: str) -> str:
    """Nested bodies of one finger; joints flex about +y so positive angles curl toward -z."""
    links, ranges = FINGER_LINKS, FINGER_RANGES
    axes = ("0 0 1", "0 1 0", "0 1 0", "0 1 0")
    if finger == "thumb":
        links, ranges = THUMB_LINKS, THUMB_RANGES
        axes = ("-1 0 0", "0 0 -1", "0 0 -1", "0 0 -1")
    parts = ("base", "proximal", "medial", "distal")
    dark, light = "0.12 0.12 0.13 1", "0.78 0.78 0.80 1"
    xml, closers = "", ""
    offset = "0 0 0"
    direction = "0 1 0" if finger == "thumb" else "1 0 0"
    for i, part in enumerate(parts):
        body = f"{finger}_{part}"
        length = links[i]
        lo, hi = ranges[i]
        fromto = f"0 0 0 {' '.join(str(length * float(c)) for c in direction.split())}"
        tip_pos = " ".join(str(length * float(c)) for c in direction.split())
        tip_xml = ""
        if part == "distal":
            tip_xml = (
                f'<geom name="{finger}_pad" type="sphere" size="{LINK_RADIUS + 0.001}" '
                f'pos="{tip_pos}" rgba="0.15 0.15 0.15 1" class="fingertip"/>'
                f'<site name="{finger}_tip" pos="{tip_pos}" size="0.006" rgba="1 0 0 0"/>'
            )
        xml += (
            f'<body name="{body}" pos="{offset}">'
            f'<joint name="{finger}_j{i}" axis="{axes[i]}" range="{lo} {hi}" class="finger"/>'
            f'<geom name="{body}_geom" type="capsule" fromto="{fromto}" size="{LINK_RADIUS}" '
            f'rgba="{dark if i % 2 == 0 else light}" class="hand" mass="0.03"/>{tip_xml}'
        )
        closers += "</body>"
        offset = tip_pos
    return xml + closers


def hand_defaults_xml(gains: HandGains) -> str:
    """Default classes used by the hand's joints and geoms."""
    return (
        '<default class="hand"><geom contype="2" conaffinity="1" condim="4" friction="1 0.02 0.001" '
        'solref="0.005 1"/></default>'
        '<default class="fingertip"><geom contype="2" conaffinity="1" condim="6" '
        'friction="2 0.05 0.002" solref="0.005 1" mass="0.01"/></default>'
        f'<default class="finger"><joint type="hinge" damping="{gains.finger_damping}" '
        f'armature="{gains.finger_armature}" limited="true"/></default>'
        f'<default class="wrist"><joint damping="0" armature="{gains.wrist_armature}" '
        'limited="false"/></default>'
    )


def hand_body_xml(floating: bool = True) -> str:
    """The hand's body tree at its parent's origin; the dummy wrist joints' values are the wrist
    pose.

    The wrist pose (x, y, z, rx, ry, rz) is in world coordinates: the slides move along the world
    axes and the hinges turn about x, then y, then z (see ``geometry.rotation_from_xyz_angles``).

    Args:
        floating: With the six wrist joints; without them the tree is a tool to nest in an
            arm's flange body.
    """
    px, py, pz = PALM_HALF
    wrist = wrist_joints_xml("wrist") if floating else ""
    fingers = "".join(
        f'<body name="{f}_mount" pos="{2 * px:.4f} {FINGER_BASE_Y[f]} 0">{_finger_xml(f)}</body>'
        for f in ("index", "middle", "ring")
    )
    thumb = f'<body name="thumb_mount" pos="0.022 {py - 0.012:.4f} {-pz:.4f}">{_finger_xml("thumb")}</body>'
    return (
        '<body name="hand" pos="0 0 0" gravcomp="1">'
        f"{wrist}"
        f'<geom name="palm" type="box" pos="{px} 0 0" size="{px} {py} {pz}" rgba="0.16 0.16 0.18 1" '
        'class="hand" mass="0.4"/>'
        f'<geom name="wrist_link" type="cylinder" fromto="-0.04 0 0 0 0 0" size="0.03" '
        'rgba="0.7 0.7 0.72 1" class="hand" mass="0.1"/>'
        '<site name="palm_center" pos="0.05 0 -0.02" size="0.005" rgba="0 0 0 0"/>'
        f"{fingers}{thumb}</body>"
    )


def hand_actuators_xml(gains: HandGains, floating: bool = True) -> str:
    """Position actuators: six wrist joints (when ``floating``), then sixteen finger joints."""
    wrist = (
        wrist_actuators_xml(gains.wrist_kp, gains.wrist_kv, gains.wrist_force_limit)
        if floating
        else ""
    )
    fingers = "".join(
        f'<position name="act_{j}" joint="{j}" kp="{gains.finger_kp}" forcelimited="true" '
        f'forcerange="-{gains.finger_force_limit} {gains.finger_force_limit}"/>'
        for j in finger_joint_names()
    )
    return wrist + fingers


def finger_closure_targets(closure: np.ndarray) -> np.ndarray:
    """Finger joint targets from one closure scalar per world: <= 0 open, >= 1 fully closed.

    Args:
        closure: Shape: (B,) or (B, 1).

    Returns:
        Shape: (B, 16).
    """
    closure = np.asarray(closure, dtype=np.float64).reshape(len(closure), -1)[:, 0]
    return blend(open_finger_pose(), closed_finger_pose(), closure)


def per_finger_targets(closures: np.ndarray) -> np.ndarray:
    """Finger joint targets from one closure per finger (index, middle, ring, thumb).

    Args:
        closures: Shape: (B, 4).

    Returns:
        Shape: (B, 16); each finger's four joints share its closure.
    """
    per_joint = np.repeat(np.asarray(closures, dtype=np.float64), 4, axis=1)
    return blend(open_finger_pose(), closed_finger_pose(), per_joint)


@register_embodiment("hand")
@dataclass
class FloatingHand(Embodiment):
    """The floating 16-DoF right hand (Allegro kinematics).

    Action specs: ``closure`` (default; one scalar closes the whole hand) and ``per_finger`` (one
    closure per finger, for tools held between fingers such as scissors and pliers).
    """

    gains: HandGains = field(default_factory=HandGains)
    root_body: str = "hand"
    default_action_spec: str = "closure"
    tcp_site: str = "palm_center"

    def joint_names(self) -> list[str]:
        return finger_joint_names()

    def effector_bodies(self) -> list[str]:
        return fingertip_body_names()

    def effector_sites(self) -> list[str]:
        return fingertip_site_names()

    def open_pose(self) -> np.ndarray:
        return open_finger_pose()

    def closed_pose(self) -> np.ndarray:
        return closed_finger_pose()

    def action_specs(self) -> dict[str, ActionSpec]:
        return {
            "closure": ActionSpec("closure", ("closure",), finger_closure_targets),
            "per_finger": ActionSpec(
                "per_finger", tuple(f"closure_{f}" for f in FINGERS), per_finger_targets
            ),
        }

    def defaults_xml(self) -> str:
        return hand_defaults_xml(self.gains)

    def body_xml(self) -> str:
        return hand_body_xml()

    def actuators_xml(self) -> str:
        return hand_actuators_xml(self.gains)

    def mounted_body_xml(self) -> str:
        return hand_body_xml(floating=False)

    def mounted_actuators_xml(self) -> str:
        return hand_actuators_xml(self.gains, floating=False)
