"""Plans: keypoints, trajectories and the planners that make them (oracle, VLM, replay)."""

import math

PLAN_ORIENTATION_NOISE = math.pi / 8
"""Wrist-orientation noise of VLM trajectory plans per hinge (rad), the original method's setting;
benchmarks give oracle plans the same so the two compare."""
