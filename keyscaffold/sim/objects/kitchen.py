"""Small kitchen objects and fixtures: apple, cutting board, bottle, plate, sink, place mat,
sponge."""

from __future__ import annotations

from keyscaffold.sim.objects import (
    COUNTER_TOP_Z,
    VISUAL_ONLY,
    WORLD_CONTACT,
    SceneObject,
    free_joint,
    friction,
)


def apple(radius: float = 0.04, mass: float = 0.2) -> SceneObject:
    """A red apple: a free sphere with a brown stem and a green leaf (visual only, massless: the apple rests where it is put)."""
    body = (
        f'<body name="apple" pos="0.5 0.1 {COUNTER_TOP_Z + radius}">'
        '<freejoint name="apple_free"/>'
        f'<geom name="apple_geom" type="sphere" size="{radius}" material="apple_skin" mass="{mass}" '
        f'condim="4" {friction(1)} solref="0.005 1" {WORLD_CONTACT}/>'
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
        f"{friction(1)} {WORLD_CONTACT}/>"
        f'<geom name="board_hole" type="cylinder" pos="{hx - 0.025} 0 {hz}" size="0.012 0.0005" '
        f'rgba="0.45 0.30 0.15 1" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name="cutting_board", body=body, movable=True)


def bottle(radius: float = 0.032, height: float = 0.15, mass: float = 0.3) -> SceneObject:
    """A green glass bottle standing upright: body, shoulder, neck and a white cap.

    The body frame sits at the bottle's centre of volume, ``height / 2`` above its base.
    """
    half = height / 2
    glass = 'rgba="0.10 0.45 0.20 1"'
    body = (
        f'<body name="bottle" pos="0.5 0.2 {COUNTER_TOP_Z + half}">{free_joint("bottle")}'
        f'<geom name="bottle_body" type="cylinder" size="{radius} {half * 0.75}" '
        f'pos="0 0 {-half * 0.25}" {glass} mass="{mass * 0.8}" condim="4" '
        f'{friction(1)} solref="0.005 1" {WORLD_CONTACT}/>'
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


def plate(radius: float = 0.1, half_height: float = 0.006, mass: float = 0.4) -> SceneObject:
    """A white plate lying on the table: one flat disc to touch, drawn with a grey rim.

    The body frame sits at the disc's centre, ``half_height`` below its top face.
    """
    body = (
        f'<body name="plate" pos="0.5 -0.2 {COUNTER_TOP_Z + half_height}">{free_joint("plate")}'
        f'<geom name="plate_disc" type="cylinder" size="{radius} {half_height}" '
        f'rgba="0.82 0.82 0.84 1" mass="{mass}" condim="4" {friction(1)} '
        f"{WORLD_CONTACT}/>"
        f'<geom name="plate_well" type="cylinder" size="{radius * 0.72} 0.0004" '
        f'pos="0 0 {half_height}" rgba="0.97 0.97 0.96 1" mass="0" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name="plate", body=body, movable=True)


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
        f'<body name="place_mat" pos="0.5 -0.25 {COUNTER_TOP_Z + 0.002}">{free_joint("place_mat")}'
        f'<geom name="mat_geom" type="box" size="{hx} {hy} 0.002" rgba="0.15 0.35 0.85 1" '
        f'mass="0.05" {friction(1.5)} {WORLD_CONTACT}/>'
        "</body>"
    )
    return SceneObject(name="place_mat", body=body, movable=True)


def sponge(half_size: tuple[float, float, float] = (0.05, 0.035, 0.02)) -> SceneObject:
    """A kitchen sponge: a yellow foam block with a green scouring layer on top."""
    hx, hy, hz = half_size
    body = (
        f'<body name="sponge" pos="0.5 0 {COUNTER_TOP_Z + hz}">{free_joint("sponge")}'
        f'<geom name="sponge_foam" type="box" size="{hx} {hy} {hz * 0.7}" pos="0 0 {-hz * 0.3}" '
        f'rgba="0.98 0.82 0.2 1" mass="0.1" condim="4" {friction(0.6)} '
        f'solref="0.004 1" {WORLD_CONTACT}/>'
        f'<geom name="sponge_scour" type="box" size="{hx} {hy} {hz * 0.3}" pos="0 0 {hz * 0.7}" '
        f'rgba="0.15 0.55 0.25 1" mass="0.02" condim="4" {friction(1.5)} '
        f'solref="0.004 1" {WORLD_CONTACT}/>'
        "</body>"
    )
    return SceneObject(name="sponge", body=body, movable=True)
