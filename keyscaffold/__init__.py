"""keyscaffold: language instruction + scene -> trained manipulation policy, no demonstrations."""

from __future__ import annotations

import os

# Headless rendering: MuJoCo picks its GL backend when it is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
