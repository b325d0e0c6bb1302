"""Procedural objects and fixtures, written as MJCF fragments (no downloaded assets).

Every object is a ``SceneObject``: optional assets (textures, materials) and one body. Objects that
move carry a free joint named ``<name>_free``. World geoms use contact type 1 and affinity 3 so
that they touch each other and the hand (type 2, affinity 1), while the hand never self-collides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

COUNTER_TOP_Z = 0.9
"""Height of the kitchen counter's top surface (m)."""

WORLD_CONTACT = 'contype="1" conaffinity="3"'
VISUAL_ONLY = 'contype="0" conaffinity="0" group="1"'


@dataclass(frozen=True)
class SceneObject:
    """An MJCF fragment: ``assets`` go in <asset>, ``body`` in <worldbody>."""

    name: str
    body: str
    assets: str = ""
    movable: bool = False


def shared_assets() -> str:
    """Floor, wall, counter and wood materials used by the kitchen scenes."""
    return (
        '<texture name="floor_tex" type="2d" builtin="checker" rgb1="0.55 0.52 0.48" '
        'rgb2="0.45 0.42 0.38" width="512" height="512"/>'
        '<material name="floor" texture="floor_tex" texrepeat="8 8" reflectance="0.05"/>'
        '<texture name="counter_tex" type="2d" builtin="flat" mark="random" random="0.15" '
        'rgb1="0.86 0.86 0.84" markrgb="0.6 0.6 0.62" width="512" height="512"/>'
        '<material name="counter" texture="counter_tex" texrepeat="3 3" reflectance="0.15"/>'
        '<texture name="wood_tex" type="2d" builtin="gradient" rgb1="0.80 0.58 0.34" '
        'rgb2="0.62 0.42 0.22" width="256" height="256"/>'
        '<material name="wood" texture="wood_tex" texrepeat="1 6" reflectance="0.02"/>'
        '<material name="cabinet" rgba="0.42 0.30 0.20 1"/>'
        '<material name="wall" rgba="0.90 0.88 0.80 1"/>'
        '<material name="apple_skin" rgba="0.78 0.05 0.06 1" specular="0.6" shininess="0.7"/>'
    )


def floor_and_walls() -> SceneObject:
    """Floor plane and a back wall, so renders read as a room."""
    body = (
        '<body name="room">'
        f'<geom name="floor" type="plane" size="3 3 0.1" material="floor" {WORLD_CONTACT}/>'
        f'<geom name="back_wall" type="box" pos="-0.6 0 1.3" size="0.02 2 1.3" material="wall" '
        f"{VISUAL_ONLY}/>"
        "</body>"
    )
    return SceneObject(name="room", body=body)


def counter(
    center_xy: tuple[float, float] = (0.5, 0.0), half_xy: tuple[float, float] = (0.4, 0.7)
) -> SceneObject:
    """A kitchen counter: cabinet body with a stone top at ``COUNTER_TOP_Z``."""
    cx, cy = center_xy
    hx, hy = half_xy
    top_half = 0.02
    cabinet_half = (COUNTER_TOP_Z - 2 * top_half) / 2
    body = (
        f'<body name="counter" pos="{cx} {cy} 0">'
        f'<geom name="counter_top" type="box" pos="0 0 {COUNTER_TOP_Z - top_half}" '
        f'size="{hx} {hy} {top_half}" material="counter" {WORLD_CONTACT}/>'
        f'<geom name="counter_cabinet" type="box" pos="0 0 {cabinet_half}" '
        f'size="{hx - 0.02} {hy - 0.02} {cabinet_half}" material="cabinet" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name="counter", body=body)


def apple(radius: float = 0.04, mass: float = 0.2) -> SceneObject:
    """A red apple: a free sphere with a brown stem and a green leaf (visual only, massless: the apple rests where it is put)."""
    body = (
        f'<body name="apple" pos="0.5 0.1 {COUNTER_TOP_Z + radius}">'
        '<freejoint name="apple_free"/>'
        f'<geom name="apple_geom" type="sphere" size="{radius}" material="apple_skin" mass="{mass}" '
        f'condim="4" friction="1 0.02 0.001" solref="0.005 1" {WORLD_CONTACT}/>'
        f'<geom name="apple_stem" type="capsule" fromto="0 0 {radius * 0.85} 0.004 0 {radius * 1.3}" '
        f'size="0.0035" rgba="0.35 0.22 0.10 1" mass="0" {VISUAL_ONLY}/>'
        f'<geom name="apple_leaf" type="ellipsoid" pos="0.012 0.006 {radius * 1.2}" '
        f'size="0.014 0.006 0.0015" euler="0.3 -0.4 0.5" rgba="0.20 0.55 0.15 1" mass="0" '
        f"{VISUAL_ONLY}/>"
        "</body>"
    )
    return SceneObject(name="apple", body=body, movable=True)


def cutting_board(half_size: tuple[float, float, float] = (0.13, 0.09, 0.01)) -> SceneObject:
    """A wooden cutting board lying on the counter, with a hanging hole at one end."""
    hx, hy, hz = half_size
    body = (
        f'<body name="cutting_board" pos="0.5 -0.2 {COUNTER_TOP_Z + hz}">'
        '<freejoint name="cutting_board_free"/>'
        f'<geom name="board_geom" type="box" size="{hx} {hy} {hz}" material="wood" mass="0.8" '
        f'friction="1 0.02 0.001" {WORLD_CONTACT}/>'
        f'<geom name="board_hole" type="cylinder" pos="{hx - 0.025} 0 {hz}" size="0.012 0.0005" '
        f'rgba="0.45 0.30 0.15 1" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name="cutting_board", body=body, movable=True)


def _free(name: str) -> str:
    return f'<freejoint name="{name}_free"/>'


def bottle(radius: float = 0.032, height: float = 0.15, mass: float = 0.3) -> SceneObject:
    """A green glass bottle standing upright: body, shoulder, neck and a white cap.

    The body frame sits at the bottle's centre of volume, ``height / 2`` above its base.
    """
    half = height / 2
    glass = 'rgba="0.10 0.45 0.20 1"'
    body = (
        f'<body name="bottle" pos="0.5 0.2 {COUNTER_TOP_Z + half}">{_free("bottle")}'
        f'<geom name="bottle_body" type="cylinder" size="{radius} {half * 0.75}" '
        f'pos="0 0 {-half * 0.25}" {glass} mass="{mass * 0.8}" condim="4" '
        f'friction="1 0.02 0.001" solref="0.005 1" {WORLD_CONTACT}/>'
        f'<geom name="bottle_shoulder" type="cylinder" size="{radius * 0.75} {half * 0.125}" '
        f'pos="0 0 {half * 0.625}" {glass} mass="{mass * 0.1}" condim="4" {WORLD_CONTACT}/>'
        f'<geom name="bottle_neck" type="cylinder" size="{radius * 0.45} {half * 0.2}" '
        f'pos="0 0 {half * 0.95}" {glass} mass="{mass * 0.08}" condim="4" {WORLD_CONTACT}/>'
        f'<geom name="bottle_cap" type="cylinder" size="{radius * 0.5} 0.008" '
        f'pos="0 0 {half * 1.15 + 0.008}" rgba="0.95 0.95 0.95 1" mass="0.005" {VISUAL_ONLY}/>'
        f'<geom name="bottle_label" type="cylinder" size="{radius + 0.0008} {half * 0.3}" '
        f'pos="0 0 {-half * 0.2}" rgba="0.95 0.85 0.55 1" mass="0.001" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name="bottle", body=body, movable=True)


def sink(center_xy: tuple[float, float], half_xy: tuple[float, float] = (0.2, 0.09)) -> SceneObject:
    """A steel sink basin set into the counter: a dark basin floor, a rim and a tap at the back."""
    cx, cy = center_xy
    hx, hy = half_xy
    z = COUNTER_TOP_Z
    steel = 'rgba="0.72 0.74 0.76 1"'
    rim = 0.012
    walls = "".join(
        f'<geom name="sink_rim_{i}" type="box" pos="{x} {y} {z + 0.01}" size="{sx} {sy} 0.01" '
        f"{steel} {WORLD_CONTACT}/>"
        for i, (x, y, sx, sy) in enumerate(
            [
                (0, hy + rim, hx + 2 * rim, rim),
                (0, -hy - rim, hx + 2 * rim, rim),
                (hx + rim, 0, rim, hy),
                (-hx - rim, 0, rim, hy),
            ]
        )
    )
    body = (
        f'<body name="sink" pos="{cx} {cy} 0">'
        f'<geom name="sink_basin" type="box" pos="0 0 {z + 0.0015}" size="{hx} {hy} 0.001" '
        f'rgba="0.30 0.32 0.35 1" {VISUAL_ONLY}/>{walls}'
        f'<geom name="sink_drain" type="cylinder" pos="0 0 {z + 0.003}" size="0.02 0.001" '
        f'rgba="0.1 0.1 0.1 1" {VISUAL_ONLY}/>'
        f'<geom name="sink_tap" type="capsule" fromto="{-hx - 0.05} 0 {z} {-hx - 0.05} 0 {z + 0.2}" '
        f'size="0.012" {steel} {VISUAL_ONLY}/>'
        f'<geom name="sink_spout" type="capsule" fromto="{-hx - 0.05} 0 {z + 0.2} {-hx + 0.05} 0 '
        f'{z + 0.2}" size="0.01" {steel} {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name="sink", body=body)


def place_mat(half_size: tuple[float, float] = (0.06, 0.06)) -> SceneObject:
    """A thin blue mat that marks where something should be put down."""
    hx, hy = half_size
    body = (
        f'<body name="place_mat" pos="0.5 -0.25 {COUNTER_TOP_Z + 0.002}">{_free("place_mat")}'
        f'<geom name="mat_geom" type="box" size="{hx} {hy} 0.002" rgba="0.15 0.35 0.85 1" '
        f'mass="0.05" friction="1.5 0.02 0.001" {WORLD_CONTACT}/>'
        "</body>"
    )
    return SceneObject(name="place_mat", body=body, movable=True)


DRAWER_HANDLE_OFFSET = 0.055
"""How far a drawer's bar handle stands off its front (m)."""


def chest_of_drawers(
    half_size: tuple[float, float, float] = (0.15, 0.2, 0.16), travel: float = 0.3
) -> SceneObject:
    """A wooden chest of three drawers standing on the counter, fronts facing +x.

    The top drawer slides on ``drawer_slide`` (0 closed, ``travel`` fully out) with damping and
    friction; its bar handle is the body ``drawer``'s point ``drawer_handle_local()``. The lower
    drawers are fixed fronts. The chest is heavy and carries a free joint so states can place it.
    """
    hx, hy, hz = half_size
    wall = 0.01
    drawer_h = (2 * hz - 4 * wall) / 3
    top_center_z = hz - wall - drawer_h / 2
    fronts = "".join(
        f'<geom name="front_{i}" type="box" pos="{hx - 0.005} 0 {hz - wall - drawer_h * (i + 0.5) - wall * i}" '
        f'size="0.005 {hy - wall} {drawer_h / 2 - 0.002}" material="wood" {WORLD_CONTACT}/>'
        f'<geom name="knob_{i}" type="sphere" pos="{hx + 0.01} 0 '
        f'{hz - wall - drawer_h * (i + 0.5) - wall * i}" size="0.012" rgba="0.2 0.2 0.2 1" {VISUAL_ONLY}/>'
        for i in (1, 2)
    )
    shell = (
        f'<geom name="chest_top" type="box" pos="0 0 {hz - wall / 2}" size="{hx} {hy} {wall / 2}" '
        f'material="cabinet" mass="4" {WORLD_CONTACT}/>'
        f'<geom name="chest_bottom" type="box" pos="0 0 {-hz + wall / 2}" size="{hx} {hy} {wall / 2}" '
        f'material="cabinet" mass="8" {WORLD_CONTACT}/>'
        f'<geom name="chest_back" type="box" pos="{-hx + wall / 2} 0 0" size="{wall / 2} {hy} {hz}" '
        f'material="cabinet" mass="3" {WORLD_CONTACT}/>'
        f'<geom name="chest_left" type="box" pos="0 {hy - wall / 2} 0" size="{hx} {wall / 2} {hz}" '
        f'material="cabinet" mass="3" {WORLD_CONTACT}/>'
        f'<geom name="chest_right" type="box" pos="0 {-hy + wall / 2} 0" size="{hx} {wall / 2} {hz}" '
        f'material="cabinet" mass="3" {WORLD_CONTACT}/>'
        f'<geom name="chest_shelf" type="box" pos="0 0 {top_center_z - drawer_h / 2 - wall / 2}" '
        f'size="{hx - wall} {hy - wall} {wall / 2}" material="cabinet" mass="1" {WORLD_CONTACT}/>'
    )
    dh, dw = drawer_h / 2 - 0.004, hy - wall - 0.004
    depth = hx - 0.02
    drawer = (
        f'<body name="drawer" pos="0 0 {top_center_z}">'
        f'<joint name="drawer_slide" type="slide" axis="1 0 0" range="0 {travel}" damping="3" '
        f'frictionloss="1" armature="0.1"/>'
        f'<geom name="drawer_front" type="box" pos="{hx - 0.006} 0 0" size="0.006 {hy - wall} {drawer_h / 2 - 0.002}" '
        f'material="wood" mass="0.5" {WORLD_CONTACT}/>'
        f'<geom name="drawer_floor" type="box" pos="0 0 {-dh + 0.004}" size="{depth} {dw} 0.004" '
        f'material="wood" mass="0.3" {WORLD_CONTACT}/>'
        f'<geom name="drawer_back" type="box" pos="{-depth} 0 0" size="0.004 {dw} {dh}" '
        f'material="wood" mass="0.1" {WORLD_CONTACT}/>'
        f'<geom name="drawer_handle" type="capsule" fromto="{hx + DRAWER_HANDLE_OFFSET} -0.07 0 '
        f'{hx + DRAWER_HANDLE_OFFSET} 0.07 0" size="0.009" rgba="0.75 0.75 0.78 1" mass="0.05" '
        f'condim="4" friction="1 0.02 0.001" {WORLD_CONTACT}/>'
        + "".join(
            f'<geom name="drawer_post_{s}" type="capsule" fromto="{hx} {s * 0.065} 0 '
            f'{hx + DRAWER_HANDLE_OFFSET} {s * 0.065} 0" size="0.006" rgba="0.75 0.75 0.78 1" '
            f'mass="0.01" {WORLD_CONTACT}/>'
            for s in (-1, 1)
        )
        + "</body>"
    )
    body = (
        f'<body name="chest" pos="0.3 0 {COUNTER_TOP_Z + hz}">{_free("chest")}'
        f"{shell}{fronts}{drawer}</body>"
    )
    return SceneObject(name="chest", body=body, movable=True)


def fridge(
    half_size: tuple[float, float, float] = (0.3, 0.3, 0.75), handle_height: float = 1.15
) -> SceneObject:
    """A white fridge standing on the floor, door facing +x, hinged on its -y edge.

    The door turns on ``door_hinge`` (0 closed, positive opening toward +x); its horizontal bar
    handle near the free edge runs along the door at ``handle_height``. The door's frame sits on
    the hinge line; the fridge carries a free joint so that states can place it.
    """
    hx, hy, hz = half_size
    white = 'rgba="0.93 0.93 0.92 1"'
    door_t = 0.03
    handle_z = handle_height - hz
    body = (
        f'<body name="fridge" pos="0.0 0.0 {hz}">{_free("fridge")}'
        f'<geom name="fridge_cabinet" type="box" size="{hx} {hy} {hz}" {white} mass="60" '
        f"{WORLD_CONTACT}/>"
        f'<geom name="fridge_inside" type="box" pos="{hx - 0.005} 0 0.1" size="0.004 {hy - 0.03} {hz - 0.2}" '
        f'rgba="0.85 0.9 0.95 1" {VISUAL_ONLY}/>'
        f'<body name="fridge_door" pos="{hx + door_t} {-hy} 0">'
        f'<joint name="door_hinge" type="hinge" axis="0 0 -1" range="0 2.0" damping="2" '
        f'frictionloss="0.5" armature="0.2"/>'
        f'<geom name="door_panel" type="box" pos="0 {hy} 0.01" size="{door_t} {hy} {hz - 0.01}" {white} '
        f'mass="6" {WORLD_CONTACT}/>'
        f'<geom name="door_seal" type="box" pos="{-door_t} {hy} 0" size="0.002 {hy - 0.01} {hz - 0.01}" '
        f'rgba="0.6 0.6 0.6 1" {VISUAL_ONLY}/>'
        f'<geom name="door_handle" type="capsule" fromto="{door_t + 0.04} {2 * hy - 0.19} {handle_z} '
        f'{door_t + 0.04} {2 * hy - 0.05} {handle_z}" size="0.01" rgba="0.55 0.55 0.58 1" mass="0.1" '
        f'condim="4" friction="1 0.02 0.001" {WORLD_CONTACT}/>'
        + "".join(
            f'<geom name="door_post_{i}" type="capsule" fromto="{door_t} {y} {handle_z} {door_t + 0.04} {y} '
            f'{handle_z}" size="0.007" rgba="0.55 0.55 0.58 1" mass="0.02" {WORLD_CONTACT}/>'
            for i, y in enumerate((2 * hy - 0.185, 2 * hy - 0.055))
        )
        + "</body></body>"
    )
    return SceneObject(name="fridge", body=body, movable=True)


def hammer(
    handle_length: float = 0.26, handle_radius: float = 0.014, head_half: float = 0.055
) -> SceneObject:
    """A hammer: a wooden handle along the body's y axis, a steel head at its +y end.

    The body frame sits at the handle's middle. The head stands across the handle with its striking
    face down (-z) and its claw up, ``head_half`` either side of the handle's axis.
    """
    steel = 'rgba="0.45 0.46 0.5 1"'
    half = handle_length / 2
    body = (
        f'<body name="hammer" pos="0.5 0.0 {COUNTER_TOP_Z + head_half}">{_free("hammer")}'
        f'<geom name="hammer_handle" type="capsule" fromto="0 {-half} 0 0 {half} 0" '
        f'size="{handle_radius}" material="wood" mass="0.15" condim="4" friction="1 0.02 0.001" '
        f'solref="0.005 1" {WORLD_CONTACT}/>'
        f'<geom name="hammer_grip" type="capsule" fromto="0 {-half} 0 0 {-half * 0.3} 0" '
        f'size="{handle_radius + 0.002}" rgba="0.12 0.12 0.12 1" mass="0.02" condim="4" '
        f'friction="1.2 0.02 0.001" {WORLD_CONTACT}/>'
        f'<geom name="hammer_head" type="box" pos="0 {half + 0.02} 0.005" '
        f'size="0.018 0.02 {head_half - 0.005}" {steel} mass="0.35" {WORLD_CONTACT}/>'
        f'<geom name="hammer_face" type="cylinder" pos="0 {half + 0.02} {-head_half + 0.006}" '
        f'size="0.022 0.006" {steel} mass="0.05" {WORLD_CONTACT}/>'
        f'<geom name="hammer_claw" type="box" pos="0 {half + 0.02} {head_half + 0.01}" '
        f'euler="0.5 0 0" size="0.012 0.008 0.02" {steel} mass="0.02" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name="hammer", body=body, movable=True)


def wood_block(name: str, half_size: tuple[float, float, float]) -> SceneObject:
    """A plain wooden block (a rest for a tool, a piece of work to nail)."""
    hx, hy, hz = half_size
    body = (
        f'<body name="{name}" pos="0.5 0 {COUNTER_TOP_Z + hz}">{_free(name)}'
        f'<geom name="{name}_geom" type="box" size="{hx} {hy} {hz}" material="wood" mass="1.0" '
        f"{WORLD_CONTACT}/>"
        f'<geom name="{name}_nail" type="cylinder" pos="0 0 {hz + 0.01}" size="0.003 0.01" '
        f'rgba="0.6 0.6 0.62 1" {VISUAL_ONLY}/>'
        f'<geom name="{name}_nailhead" type="cylinder" pos="0 0 {hz + 0.021}" size="0.007 0.0015" '
        f'rgba="0.6 0.6 0.62 1" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name=name, body=body, movable=True)


def sponge(half_size: tuple[float, float, float] = (0.05, 0.035, 0.02)) -> SceneObject:
    """A kitchen sponge: a yellow foam block with a green scouring layer on top."""
    hx, hy, hz = half_size
    body = (
        f'<body name="sponge" pos="0.5 0 {COUNTER_TOP_Z + hz}">{_free("sponge")}'
        f'<geom name="sponge_foam" type="box" size="{hx} {hy} {hz * 0.7}" pos="0 0 {-hz * 0.3}" '
        f'rgba="0.98 0.82 0.2 1" mass="0.1" condim="4" friction="0.6 0.02 0.001" '
        f'solref="0.004 1" {WORLD_CONTACT}/>'
        f'<geom name="sponge_scour" type="box" size="{hx} {hy} {hz * 0.3}" pos="0 0 {hz * 0.7}" '
        f'rgba="0.15 0.55 0.25 1" mass="0.02" condim="4" friction="1.5 0.02 0.001" '
        f'solref="0.004 1" {WORLD_CONTACT}/>'
        "</body>"
    )
    return SceneObject(name="sponge", body=body, movable=True)


def hinged_tool(
    name: str,
    handle_length: float,
    blade_length: float,
    max_opening: float,
    handle_rgba: str,
    loops: bool,
) -> SceneObject:
    """Two crossed links on a vertical pin, lying flat: scissors (loops) or pliers (grips).

    The first link is the body ``name`` (its handle toward -x from the pin, blade toward +x); the
    second, ``<name>_arm``, turns on ``<name>_pivot`` about +z, from 0 (closed) to
    ``max_opening`` (rad). Handles are the keypoints: ``<name>`` handle end and ``<name>_arm``
    handle end, at ``(-handle_length, 0, 0)`` in each link's frame.
    """
    metal = 'rgba="0.78 0.79 0.82 1"'
    thick = 0.006

    def link(tag: str, side: float) -> str:
        grip = (
            f'<geom name="{tag}_loop" type="cylinder" pos="{-handle_length} {side * 0.012} 0" '
            f'size="0.02 {thick}" rgba="{handle_rgba}" mass="0.01" {WORLD_CONTACT}/>'
            if loops
            else f'<geom name="{tag}_grip" type="capsule" fromto="{-handle_length} {side * 0.01} 0 '
            f'{-handle_length * 0.35} {side * 0.004} 0" size="0.011" rgba="{handle_rgba}" '
            f'mass="0.02" {WORLD_CONTACT}/>'
        )
        return (
            f'<geom name="{tag}_shank" type="box" fromto="{-handle_length} {side * 0.006} 0 0 0 0" '
            f'size="0.005 {thick}" {metal} mass="0.02" {WORLD_CONTACT}/>'
            f'<geom name="{tag}_blade" type="box" pos="{blade_length / 2} {-side * 0.003} 0" '
            f'size="{blade_length / 2} 0.006 {thick * 0.6}" {metal} mass="0.015" {WORLD_CONTACT}/>'
            f"{grip}"
        )

    body = (
        f'<body name="{name}" pos="0.5 0 {COUNTER_TOP_Z + thick}">{_free(name)}{link(name, 1.0)}'
        f'<geom name="{name}_pin" type="cylinder" size="0.006 {thick * 1.6}" {metal} mass="0.005" '
        f"{VISUAL_ONLY}/>"
        f'<body name="{name}_arm" pos="0 0 {2 * thick + 0.0005}">'
        f'<joint name="{name}_pivot" type="hinge" axis="0 0 1" range="0 {max_opening}" damping="0.02" '
        f'frictionloss="0.01" armature="0.001"/>{link(name + "_arm", -1.0)}'
        "</body></body>"
    )
    return SceneObject(name=name, body=body, movable=True)


# --- IKER scene assets: shoes, a shoe rack, a shoe box, books and a bookshelf -----------------

SHOE_HALF_LENGTH = 0.13
"""Half the length of a shoe at scale 1, heel to toe (m)."""
SHOE_HALF_WIDTH = 0.048
"""Half the width of a shoe's sole at the ball of the foot, scale 1 (m)."""
SHOE_SOLE = 0.025
"""Thickness of a shoe's sole at scale 1 (m); the inside of the shoe starts this high."""
SHOE_HEEL_X = -0.126
"""Centre of a shoe's heel counter (the back wall a gripper pinches) along the shoe, scale 1 (m)."""
SHOE_HEEL_TOP = 0.095
"""Height of the top of a shoe's heel counter above the sole's underside, scale 1 (m)."""


def shoe(
    name: str,
    side: str = "left",
    upper_rgba: tuple[float, float, float, float] = (0.78, 0.10, 0.12, 1.0),
    scale: float = 1.0,
    mass: float = 0.42,
) -> SceneObject:
    """A sneaker built from primitives: rubber sole, toe cap, laced instep, quarters and heel.

    The body frame sits at the centre of the sole's underside: +x points from the heel to the toe,
    +z up, so a shoe standing on a surface at height ``h`` has its frame at ``h``. At scale 1 the
    shoe is about 0.26 m long, 0.10 m wide and 0.10 m tall. The opening behind the instep leaves
    room for a gripper jaw, so the heel counter (``SHOE_HEEL_X``, a 4 cm wide wall up to
    ``SHOE_HEEL_TOP``) can be pinched from above with the jaws closing along the shoe.

    Args:
        name: Body name; the free joint is ``<name>_free``.
        side: ``left`` or ``right``: the toe cap leans toward the big-toe side and a white stripe
            marks the outer side, mirrored between the two.
        upper_rgba: Colour of the upper.
        scale: Uniform size factor (IKER randomizes 0.8..1.2).
        mass: Total mass (kg), most of it in the sole, so the shoe stands steadily.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    # The big toe is on the wearer's inner side: -y of a left shoe, +y of a right shoe.
    inner = -1.0 if side == "left" else 1.0
    s = scale

    def v(*values: float) -> str:
        return " ".join(f"{x * s:.4f}" for x in values)

    upper = f'rgba="{" ".join(f"{c:g}" for c in upper_rgba)}"'
    rubber = 'rgba="0.95 0.95 0.92 1"'
    trim = 'rgba="0.12 0.12 0.14 1"'
    grip = 'condim="4" friction="1 0.02 0.001" solref="0.005 1"'
    sole_mass, upper_mass = 0.6 * mass, 0.4 * mass
    half_sole = SHOE_SOLE / 2
    wall_top = SHOE_HEEL_TOP
    heel_half_z = (wall_top - SHOE_SOLE) / 2
    quarter_half_z = (0.079 - SHOE_SOLE) / 2
    corner_angle = math.atan2(0.041 - 0.02, -0.10 - (-0.124))
    corners = "".join(
        f'<geom name="{name}_heel_corner_{i}" type="box" pos="{v(-0.112, sign * 0.0305, SHOE_SOLE + heel_half_z)}" '
        f'euler="0 0 {sign * corner_angle:.4f}" size="{v(0.016, 0.003, heel_half_z)}" {upper} '
        f'mass="{upper_mass * 0.06:.4f}" {grip} {WORLD_CONTACT}/>'
        for i, sign in enumerate((1.0, -1.0))
    )
    quarters = "".join(
        f'<geom name="{name}_quarter_{i}" type="box" pos="{v(-0.065, sign * 0.041, SHOE_SOLE + quarter_half_z)}" '
        f'size="{v(0.035, 0.003, quarter_half_z)}" {upper} mass="{upper_mass * 0.1:.4f}" {grip} '
        f"{WORLD_CONTACT}/>"
        for i, sign in enumerate((1.0, -1.0))
    )
    laces = "".join(
        f'<geom name="{name}_lace_{i}" type="capsule" fromto="{v(x, -0.03, z, x, 0.03, z)}" '
        f'size="{0.0025 * s:.4f}" {rubber} mass="0" {VISUAL_ONLY}/>'
        for i, (x, z) in enumerate(((0.02, 0.0705), (-0.005, 0.0755), (-0.03, 0.0805)))
    )
    stripe_y = -inner * (0.041 + 0.0035)
    body = (
        f'<body name="{name}" pos="0.6 0 0">{_free(name)}'
        # sole: a box between a round toe and a slightly narrower round heel
        f'<geom name="{name}_sole" type="box" pos="{v(-0.002, 0, half_sole)}" '
        f'size="{v(0.084, 0.044, half_sole)}" {rubber} mass="{sole_mass * 0.6:.4f}" {grip} '
        f"{WORLD_CONTACT}/>"
        f'<geom name="{name}_sole_toe" type="cylinder" pos="{v(0.082, 0, half_sole)}" '
        f'size="{v(SHOE_HALF_WIDTH, half_sole)}" {rubber} mass="{sole_mass * 0.22:.4f}" {grip} '
        f"{WORLD_CONTACT}/>"
        f'<geom name="{name}_sole_heel" type="cylinder" pos="{v(-0.088, 0, half_sole)}" '
        f'size="{v(0.042, half_sole)}" {rubber} mass="{sole_mass * 0.18:.4f}" {grip} '
        f"{WORLD_CONTACT}/>"
        # toe cap, leaning toward the big toe; it clears the ground by 2 mm
        f'<geom name="{name}_toe_cap" type="ellipsoid" pos="{v(0.055, inner * 0.004, 0.036)}" '
        f'size="{v(0.072, 0.043, 0.034)}" {upper} mass="{upper_mass * 0.3:.4f}" {grip} '
        f"{WORLD_CONTACT}/>"
        # laced instep, sloping up toward the opening
        f'<geom name="{name}_instep" type="box" pos="{v(-0.005, 0, 0.066)}" euler="0 0.2 0" '
        f'size="{v(0.045, 0.041, 0.012)}" {upper} mass="{upper_mass * 0.18:.4f}" {grip} '
        f"{WORLD_CONTACT}/>{laces}"
        f'<geom name="{name}_tongue" type="box" pos="{v(-0.052, 0, 0.086)}" euler="0 -0.35 0" '
        f'size="{v(0.004, 0.028, 0.014)}" {trim} mass="0" {VISUAL_ONLY}/>'
        # quarters (the sides around the opening), the rounded heel and its counter
        f"{quarters}{corners}"
        f'<geom name="{name}_heel" type="box" pos="{v(SHOE_HEEL_X, 0, SHOE_SOLE + heel_half_z)}" '
        f'size="{v(0.004, 0.02, heel_half_z)}" {upper} mass="{upper_mass * 0.1:.4f}" {grip} '
        f"{WORLD_CONTACT}/>"
        f'<geom name="{name}_heel_tab" type="box" pos="{v(SHOE_HEEL_X - 0.0045, 0, wall_top - 0.012)}" '
        f'size="{v(0.001, 0.012, 0.016)}" {trim} mass="0" {VISUAL_ONLY}/>'
        f'<geom name="{name}_stripe" type="box" pos="{v(-0.06, stripe_y, 0.05)}" euler="{0.35 * inner:.3f} 0 0" '
        f'size="{v(0.03, 0.0006, 0.006)}" {rubber} mass="0" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name=name, body=body, movable=True)


def shoe_rack(
    center_xy: tuple[float, float] = (0.3, 0.0),
    inner_half_width: float = 0.33,
    half_depth: float = 0.16,
    levels: tuple[float, float] = (0.08, 0.32),
) -> SceneObject:
    """A two-level wooden shoe rack standing on the floor, its shelves running along y.

    Two solid shelves (top surfaces at ``levels``, m above the floor) span the dark side panels,
    which rise 5 cm above the upper shelf and stop things sliding off its ends; a rail runs along
    the back of the upper shelf. The rack is a fixture (no free joint) named ``shoe_rack``; its
    frame sits on the floor at the middle of its footprint.

    Args:
        center_xy: Position of the rack's frame (m).
        inner_half_width: Half the free length of a shelf between the side panels (m).
        half_depth: Half the depth of the shelves (m).
        levels: Heights of the lower and upper shelves' top surfaces (m).
    """
    cx, cy = center_xy
    board = 0.01
    panel = 0.012
    panel_half_z = (levels[1] + 0.05) / 2
    shelves = "".join(
        f'<geom name="shoe_rack_shelf_{i}" type="box" pos="0 0 {top - board}" '
        f'size="{half_depth} {inner_half_width} {board}" material="wood" {WORLD_CONTACT}/>'
        for i, top in enumerate(levels)
    )
    panels = "".join(
        f'<geom name="shoe_rack_side_{i}" type="box" pos="0 {sign * (inner_half_width + panel)} '
        f'{panel_half_z}" size="{half_depth + 0.01} {panel} {panel_half_z}" '
        f'rgba="0.18 0.17 0.17 1" {WORLD_CONTACT}/>'
        for i, sign in enumerate((1.0, -1.0))
    )
    rail_z = levels[1] + 0.03
    body = (
        f'<body name="shoe_rack" pos="{cx} {cy} 0">{shelves}{panels}'
        f'<geom name="shoe_rack_rail" type="capsule" fromto="{-half_depth + 0.01} {-inner_half_width} '
        f'{rail_z} {-half_depth + 0.01} {inner_half_width} {rail_z}" size="0.008" '
        f'rgba="0.18 0.17 0.17 1" {WORLD_CONTACT}/>'
        "</body>"
    )
    return SceneObject(name="shoe_rack", body=body)


def shoe_box(
    half_size: tuple[float, float, float] = (0.1, 0.17, 0.06), mass: float = 0.4
) -> SceneObject:
    """An orange cardboard shoe box with a white-rimmed lid, long side along its y axis.

    The body frame sits at the box's centre. One collision box carries the mass; the lid, its rim
    and a label on the front (+x) face are drawn on top of it. The box is light and slides when
    pushed.

    Args:
        half_size: Half sizes (m) along x (depth), y (length) and z (height).
        mass: Mass (kg).
    """
    hx, hy, hz = half_size
    lid = 0.014
    body = (
        f'<body name="shoe_box" pos="0.3 0 0.4">{_free("shoe_box")}'
        f'<geom name="shoe_box_geom" type="box" size="{hx} {hy} {hz}" rgba="0.93 0.45 0.10 1" '
        f'mass="{mass}" condim="4" friction="0.8 0.02 0.001" {WORLD_CONTACT}/>'
        f'<geom name="shoe_box_lid" type="box" pos="0 0 {hz - lid + 0.0015}" '
        f'size="{hx + 0.003} {hy + 0.003} {lid}" rgba="0.96 0.95 0.92 1" mass="0" {VISUAL_ONLY}/>'
        f'<geom name="shoe_box_lid_top" type="box" pos="0 0 {hz + 0.0016}" '
        f'size="{hx - 0.004} {hy - 0.004} 0.0006" rgba="0.93 0.45 0.10 1" mass="0" {VISUAL_ONLY}/>'
        f'<geom name="shoe_box_label" type="box" pos="{hx + 0.0008} {hy * 0.45} {-hz * 0.25}" '
        f'size="0.0008 {hy * 0.3} {hz * 0.35}" rgba="0.97 0.97 0.97 1" mass="0" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name="shoe_box", body=body, movable=True)


BOOK_HALF = (0.12, 0.085, 0.015)
"""Half sizes of a book (m): along its height (x, top at +x), across its cover (y, spine at -y)
and through its thickness (z)."""


def book(
    name: str = "book",
    half_size: tuple[float, float, float] = BOOK_HALF,
    cover_rgba: tuple[float, float, float, float] = (0.10, 0.22, 0.58, 1.0),
    mass: float = 0.45,
) -> SceneObject:
    """A hardback book: coloured covers and spine, cream page edges, a gold title band.

    The body frame sits at the book's centre: x runs from the bottom edge to the top edge, y from
    the spine (-y) to the fore edge (+y), z through the thickness (front cover at +z). One
    collision box carries the mass; the page edges and title bands are drawn on its faces.

    Args:
        name: Body name; the free joint is ``<name>_free``.
        half_size: Half sizes (m), see ``BOOK_HALF``.
        cover_rgba: Colour of the covers and spine.
        mass: Mass (kg).
    """
    hx, hy, hz = half_size
    cover = f'rgba="{" ".join(f"{c:g}" for c in cover_rgba)}"'
    paper = 'rgba="0.96 0.93 0.82 1"'
    gold = 'rgba="0.92 0.76 0.22 1"'
    pages = hz - 0.0025
    body = (
        f'<body name="{name}" pos="0.5 0 {COUNTER_TOP_Z + hz}">{_free(name)}'
        f'<geom name="{name}_geom" type="box" size="{hx} {hy} {hz}" {cover} mass="{mass}" '
        f'condim="4" friction="0.9 0.02 0.001" {WORLD_CONTACT}/>'
        + "".join(
            f'<geom name="{name}_pages_{i}" type="box" pos="{sign * (hx + 0.0005)} 0.002 0" '
            f'size="0.0006 {hy - 0.004} {pages}" {paper} mass="0" {VISUAL_ONLY}/>'
            for i, sign in enumerate((1.0, -1.0))
        )
        + f'<geom name="{name}_pages_fore" type="box" pos="0 {hy + 0.0005} 0" '
        f'size="{hx - 0.003} 0.0006 {pages}" {paper} mass="0" {VISUAL_ONLY}/>'
        f'<geom name="{name}_title" type="box" pos="{hx * 0.4} 0.006 {hz + 0.0005}" '
        f'size="{hx * 0.22} {hy * 0.7} 0.0006" {gold} mass="0" {VISUAL_ONLY}/>'
        f'<geom name="{name}_spine_title" type="box" pos="{hx * 0.4} {-hy - 0.0005} 0" '
        f'size="{hx * 0.3} 0.0006 {hz * 0.55}" {gold} mass="0" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name=name, body=body, movable=True)


BOOKSHELF_INNER = (0.1, 0.25, 0.3)
"""Half depth (x), half width (y) and full height (z) of a bookshelf's compartment (m)."""


def bookshelf(
    center_xy: tuple[float, float] = (0.28, 0.0),
    base_z: float = COUNTER_TOP_Z,
    inner: tuple[float, float, float] = BOOKSHELF_INNER,
    slot: tuple[float, float] = (0.08, 0.08),
) -> SceneObject:
    """A wooden bookshelf open toward +x, its compartment filled with standing books but for a gap.

    The shelf stands on a surface at ``base_z``; its frame sits there, under the middle of the
    compartment. Panels are ``0.015`` m thick, so the compartment floor lies at
    ``base_z + 0.015``. Standing books (part of the fixture) fill the compartment from both ends
    toward the free slot. The shelf is a fixture (no free joint) named ``bookshelf``.

    Args:
        center_xy: Position of the shelf's frame (m).
        base_z: Height of the surface it stands on (m).
        inner: See ``BOOKSHELF_INNER``.
        slot: Centre (y, in the shelf frame) and width (m) of the free gap between the books.
    """
    cx, cy = center_xy
    hx, hy, height = inner
    t = 0.0075
    floor = 2 * t
    wood = f'material="wood" {WORLD_CONTACT}'
    dark = f'rgba="0.36 0.22 0.12 1" {WORLD_CONTACT}'
    shell = (
        f'<geom name="bookshelf_bottom" type="box" pos="0 0 {t}" size="{hx + t} {hy + 2 * t} {t}" {wood}/>'
        f'<geom name="bookshelf_top" type="box" pos="0 0 {floor + height + t}" '
        f'size="{hx + t} {hy + 2 * t} {t}" {wood}/>'
        f'<geom name="bookshelf_back" type="box" pos="{-hx - t} 0 {floor + height / 2}" '
        f'size="{t} {hy + 2 * t} {height / 2 + floor}" {dark}/>'
        + "".join(
            f'<geom name="bookshelf_side_{i}" type="box" pos="0 {sign * (hy + t)} {floor + height / 2}" '
            f'size="{hx + t} {t} {height / 2}" {wood}/>'
            for i, sign in enumerate((1.0, -1.0))
        )
    )
    colours = (
        "0.55 0.12 0.12",
        "0.15 0.42 0.25",
        "0.85 0.70 0.25",
        "0.20 0.25 0.45",
        "0.45 0.30 0.55",
        "0.80 0.40 0.20",
        "0.25 0.50 0.55",
        "0.60 0.55 0.50",
    )
    slot_y, slot_width = slot
    books, i = [], 0
    for start, stop, direction in (
        (-hy, slot_y - slot_width / 2, 1.0),
        (hy, slot_y + slot_width / 2, -1.0),
    ):
        y = start
        while direction * (stop - y) >= (thick := 0.024 + 0.006 * (i % 3)):
            tall = 0.2 + 0.02 * ((i * 5) % 4)
            deep = 0.075 - 0.005 * (i % 2)
            books.append(
                f'<geom name="bookshelf_book_{i}" type="box" pos="{hx - deep - 0.005:.4f} '
                f'{y + direction * (thick / 2 + 0.001):.4f} {floor + tall / 2:.4f}" '
                f'size="{deep} {thick / 2 - 0.001:.4f} {tall / 2}" rgba="{colours[i % len(colours)]} 1" '
                f"{WORLD_CONTACT}/>"
            )
            y += direction * thick
            i += 1
    body = f'<body name="bookshelf" pos="{cx} {cy} {base_z}">{shell}{"".join(books)}</body>'
    return SceneObject(name="bookshelf", body=body)
