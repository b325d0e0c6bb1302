"""Running an exported policy on a robot, without torch or MuJoCo.

``PolicyRuntime`` reads a folder written by ``keyscaffold export`` and, each control step, turns
the robot's joint state, the tracked keypoints and the plan into position targets. This package
imports numpy, onnxruntime and json, and of keyscaffold only numpy-only modules (the policy
I/O spec ``rl/policy_io.py``, ``geometry``, ``util``); docs/file_formats.md describes the files.
"""

from keyscaffold.deploy.kinematics import RobotKinematics
from keyscaffold.deploy.runtime import PlanTargets, PolicyRuntime, RuntimeStep

__all__ = ["PlanTargets", "PolicyRuntime", "RobotKinematics", "RuntimeStep"]
