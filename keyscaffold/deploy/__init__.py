"""Running an exported policy on a robot, without torch or MuJoCo.

``PolicyRuntime`` reads a folder written by ``keyscaffold export`` and, each control step, turns
the robot's joint state, the tracked keypoints and the plan into position targets: a floating
robot's wrist target, or an arm's joint targets by the simulator's own inverse kinematics step,
then the hand's or gripper's. ``serve`` runs runtimes in a process of their own, driven by
messages (``keyscaffold deploy --sim``). This package imports numpy, onnxruntime and json, and
of keyscaffold only numpy-only modules (the policy I/O spec ``rl/policy_io.py``, ``geometry``,
``kinematics``, ``util``); docs/file_formats.md describes the files, docs/deploy.md the use.
"""

from keyscaffold.deploy.kinematics import RobotKinematics
from keyscaffold.deploy.runtime import PlanTargets, PolicyRuntime, RuntimeStep

__all__ = ["PlanTargets", "PolicyRuntime", "RobotKinematics", "RuntimeStep"]
