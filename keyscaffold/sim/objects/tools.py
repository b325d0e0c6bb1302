"""Tools and what they act on: a hammer with a block to strike, hinged tools (pliers, scissors)."""

from __future__ import annotations

from keyscaffold.sim.objects import (
    COUNTER_TOP_Z,
    VISUAL_ONLY,
    WORLD_CONTACT,
    SceneObject,
    free_joint,
    friction,
)


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
        f'<body name="hammer" pos="0.5 0.0 {COUNTER_TOP_Z + head_half}">{free_joint("hammer")}'
        f'<geom name="hammer_handle" type="capsule" fromto="0 {-half} 0 0 {half} 0" '
        f'size="{handle_radius}" material="wood" mass="0.15" condim="4" {friction(1)} '
        f'solref="0.005 1" {WORLD_CONTACT}/>'
        f'<geom name="hammer_grip" type="capsule" fromto="0 {-half} 0 0 {-half * 0.3} 0" '
        f'size="{handle_radius + 0.002}" rgba="0.12 0.12 0.12 1" mass="0.02" condim="4" '
        f"{friction(1.2)} {WORLD_CONTACT}/>"
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
        f'<body name="{name}" pos="0.5 0 {COUNTER_TOP_Z + hz}">{free_joint(name)}'
        f'<geom name="{name}_geom" type="box" size="{hx} {hy} {hz}" material="wood" mass="1.0" '
        f"{WORLD_CONTACT}/>"
        f'<geom name="{name}_nail" type="cylinder" pos="0 0 {hz + 0.01}" size="0.003 0.01" '
        f'rgba="0.6 0.6 0.62 1" {VISUAL_ONLY}/>'
        f'<geom name="{name}_nailhead" type="cylinder" pos="0 0 {hz + 0.021}" size="0.007 0.0015" '
        f'rgba="0.6 0.6 0.62 1" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name=name, body=body, movable=True)


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
        f'<body name="{name}" pos="0.5 0 {COUNTER_TOP_Z + thick}">{free_joint(name)}{link(name, 1.0)}'
        f'<geom name="{name}_pin" type="cylinder" size="0.006 {thick * 1.6}" {metal} mass="0.005" '
        f"{VISUAL_ONLY}/>"
        f'<body name="{name}_arm" pos="0 0 {2 * thick + 0.0005}">'
        f'<joint name="{name}_pivot" type="hinge" axis="0 0 1" range="0 {max_opening}" damping="0.02" '
        f'frictionloss="0.01" armature="0.001"/>{link(name + "_arm", -1.0)}'
        "</body></body>"
    )
    return SceneObject(name=name, body=body, movable=True)


# --- IKER scene assets: shoes, a shoe rack, a shoe box, books and a bookshelf -----------------
