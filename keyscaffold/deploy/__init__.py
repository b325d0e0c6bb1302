"""Running an exported policy on a robot, without torch or MuJoCo.

``PolicyRuntime`` reads a folder written by ``keyscaffold export`` and, each control step, turns
the robot's joint state, the tracked keypoints and the plan into position targets. This package
imports numpy, onnxruntime and json only (docs/file_formats.md describes the files).
"""

from keyscaffold.deploy.kinematics import RobotKinematics
from keyscaffold.deploy.runtime import PlanTargets, PolicyRuntime, RuntimeStep

__all__ = ["PlanTargets", "PolicyRuntime", "RobotKinematics", "RuntimeStep"]
