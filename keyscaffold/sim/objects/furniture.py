"""Articulated furniture: a chest of drawers and a fridge with a hinged door."""

from __future__ import annotations

from keyscaffold.sim.objects import (
    COUNTER_TOP_Z,
    VISUAL_ONLY,
    WORLD_CONTACT,
    SceneObject,
    free_joint,
    friction,
)

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
        f'condim="4" {friction(1)} {WORLD_CONTACT}/>'
        + "".join(
            f'<geom name="drawer_post_{s}" type="capsule" fromto="{hx} {s * 0.065} 0 '
            f'{hx + DRAWER_HANDLE_OFFSET} {s * 0.065} 0" size="0.006" rgba="0.75 0.75 0.78 1" '
            f'mass="0.01" {WORLD_CONTACT}/>'
            for s in (-1, 1)
        )
        + "</body>"
    )
    body = (
        f'<body name="chest" pos="0.3 0 {COUNTER_TOP_Z + hz}">{free_joint("chest")}'
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
        f'<body name="fridge" pos="0.0 0.0 {hz}">{free_joint("fridge")}'
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
        f'condim="4" {friction(1)} {WORLD_CONTACT}/>'
        + "".join(
            f'<geom name="door_post_{i}" type="capsule" fromto="{door_t} {y} {handle_z} {door_t + 0.04} {y} '
            f'{handle_z}" size="0.007" rgba="0.55 0.55 0.58 1" mass="0.02" {WORLD_CONTACT}/>'
            for i, y in enumerate((2 * hy - 0.185, 2 * hy - 0.055))
        )
        + "</body></body>"
    )
    return SceneObject(name="fridge", body=body, movable=True)
