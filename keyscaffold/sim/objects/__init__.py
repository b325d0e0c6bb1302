"""Procedural objects and fixtures, written as MJCF fragments (no downloaded assets).

Every object is a ``SceneObject``: optional assets (textures, materials) and one body. Objects that
move carry a free joint named ``<name>_free`` (``free_joint``). World geoms use contact type 1 and
affinity 3 so that they touch each other and the hand (type 2, affinity 1), while the hand never
self-collides.

The objects come by family: ``room`` (materials, floor and walls, counter), ``kitchen``,
``furniture`` (drawers, fridge), ``tools``, ``shoes``, ``books``.
"""

from __future__ import annotations

from dataclasses import dataclass

COUNTER_TOP_Z = 0.9
"""Height of the kitchen counter's top surface (m)."""

WORLD_CONTACT = 'contype="1" conaffinity="3"'
VISUAL_ONLY = 'contype="0" conaffinity="0" group="1"'
SPIN_FRICTION = 0.02
"""Torsional friction of every object's and fixture's surfaces (MuJoCo's second coefficient)."""
ROLL_FRICTION = 0.001
"""Rolling friction of every object's and fixture's surfaces (MuJoCo's third coefficient)."""


def friction(sliding: float) -> str:
    """The MJCF ``friction`` attribute of a surface with sliding friction ``sliding``, with the
    torsional and rolling coefficients every scene object shares."""
    return f'friction="{sliding:g} {SPIN_FRICTION:g} {ROLL_FRICTION:g}"'


@dataclass(frozen=True)
class SceneObject:
    """An MJCF fragment: ``assets`` go in <asset>, ``body`` in <worldbody>."""

    name: str
    body: str
    assets: str = ""
    movable: bool = False


def free_joint(name: str) -> str:
    """The free joint of the movable object ``name``, named ``<name>_free``."""
    return f'<freejoint name="{name}_free"/>'
