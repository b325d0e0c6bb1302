"""Robots that scenes carry; importing this package registers every embodiment."""

from keyscaffold.sim.embodiments import (
    arm,  # noqa: F401  (registers "iiwa_hand", "xarm_gripper")
    gripper,  # noqa: F401  (registers "gripper")
    hand,  # noqa: F401  (registers "hand")
)
from keyscaffold.sim.embodiments.base import (
    WRIST_DOF,
    WRIST_JOINTS,
    ActionSpec,
    Embodiment,
    embodiment_names,
    make_embodiment,
    register_embodiment,
)

__all__ = [
    "WRIST_DOF",
    "WRIST_JOINTS",
    "ActionSpec",
    "Embodiment",
    "embodiment_names",
    "make_embodiment",
    "register_embodiment",
]
