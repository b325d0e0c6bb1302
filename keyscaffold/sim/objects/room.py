"""The room every scene stands in: shared materials, floor and walls, the kitchen counter."""

from __future__ import annotations

from keyscaffold.sim.objects import COUNTER_TOP_Z, VISUAL_ONLY, WORLD_CONTACT, SceneObject


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
