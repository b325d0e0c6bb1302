"""Plans: keypoints, trajectories and the planners that make them (oracle, VLM, replay)."""

import math

PLAN_ORIENTATION_NOISE = math.pi / 8
"""Wrist-orientation noise of VLM trajectory plans per hinge (rad), the original method's setting;
benchmarks give oracle plans the same so the two compare."""

CHECK_SHIFT_M = 0.025
"""The default grid step of the plan check's hand-path shifts (m, ``plan_check``)."""
