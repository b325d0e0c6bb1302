"""Shoes and where they go: a shoe with a heel and opening, a shoe rack, a shoe box."""

from __future__ import annotations

import math

from keyscaffold.sim.objects import VISUAL_ONLY, WORLD_CONTACT, SceneObject, free_joint, friction

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
    grip = f'condim="4" {friction(1)} solref="0.005 1"'
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
        f'<body name="{name}" pos="0.6 0 0">{free_joint(name)}'
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
    half_size: tuple[float, float, float] = (0.1, 0.17, 0.06),
    mass: float = 0.4,
    name: str = "shoe_box",
) -> SceneObject:
    """An orange cardboard shoe box with a white-rimmed lid, long side along its y axis.

    The body frame sits at the box's centre. One collision box carries the mass; the lid, its rim
    and a label on the front (+x) face are drawn on top of it. The box is light and slides when
    pushed.

    Args:
        half_size: Half sizes (m) along x (depth), y (length) and z (height).
        mass: Mass (kg).
        name: The body's name (its geoms' names start with it).
    """
    hx, hy, hz = half_size
    lid = 0.014
    body = (
        f'<body name="{name}" pos="0.3 0 0.4">{free_joint(name)}'
        f'<geom name="{name}_geom" type="box" size="{hx} {hy} {hz}" rgba="0.93 0.45 0.10 1" '
        f'mass="{mass}" condim="4" {friction(0.8)} {WORLD_CONTACT}/>'
        f'<geom name="{name}_lid" type="box" pos="0 0 {hz - lid + 0.0015}" '
        f'size="{hx + 0.003} {hy + 0.003} {lid}" rgba="0.96 0.95 0.92 1" mass="0" {VISUAL_ONLY}/>'
        f'<geom name="{name}_lid_top" type="box" pos="0 0 {hz + 0.0016}" '
        f'size="{hx - 0.004} {hy - 0.004} 0.0006" rgba="0.93 0.45 0.10 1" mass="0" {VISUAL_ONLY}/>'
        f'<geom name="{name}_label" type="box" pos="{hx + 0.0008} {hy * 0.45} {-hz * 0.25}" '
        f'size="0.0008 {hy * 0.3} {hz * 0.35}" rgba="0.97 0.97 0.97 1" mass="0" {VISUAL_ONLY}/>'
        "</body>"
    )
    return SceneObject(name=name, body=body, movable=True)
