"""Books and a bookshelf."""

from __future__ import annotations

from keyscaffold.sim.objects import (
    COUNTER_TOP_Z,
    VISUAL_ONLY,
    WORLD_CONTACT,
    SceneObject,
    free_joint,
    friction,
)

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
        f'<body name="{name}" pos="0.5 0 {COUNTER_TOP_Z + hz}">{free_joint(name)}'
        f'<geom name="{name}_geom" type="box" size="{hx} {hy} {hz}" {cover} mass="{mass}" '
        f'condim="4" {friction(0.9)} {WORLD_CONTACT}/>'
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
