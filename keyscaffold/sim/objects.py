"""Procedural objects and fixtures, written as MJCF fragments (no downloaded assets).

Every object is a ``SceneObject``: optional assets (textures, materials) and one body. Objects that
move carry a free joint named ``<name>_free``. World geoms use contact type 1 and affinity 3 so
that they touch each other and the hand (type 2, affinity 1), while the hand never self-collides.
"""

from __future__ import annotations

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
    """A red apple: a free sphere with a brown stem and a green leaf (visual only)."""
    body = (
        f'<body name="apple" pos="0.5 0.1 {COUNTER_TOP_Z + radius}">'
        '<freejoint name="apple_free"/>'
        f'<geom name="apple_geom" type="sphere" size="{radius}" material="apple_skin" mass="{mass}" '
        f'condim="4" friction="1 0.02 0.001" solref="0.005 1" {WORLD_CONTACT}/>'
        f'<geom name="apple_stem" type="capsule" fromto="0 0 {radius * 0.85} 0.004 0 {radius * 1.3}" '
        f'size="0.0035" rgba="0.35 0.22 0.10 1" mass="0.001" {VISUAL_ONLY}/>'
        f'<geom name="apple_leaf" type="ellipsoid" pos="0.012 0.006 {radius * 1.2}" '
        f'size="0.014 0.006 0.0015" euler="0.3 -0.4 0.5" rgba="0.20 0.55 0.15 1" mass="0.001" '
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
