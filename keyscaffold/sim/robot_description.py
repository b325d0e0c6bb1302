"""A robot as plain data, for code that runs a policy without MuJoCo (``keyscaffold.deploy``).

``robot_description`` reads a compiled scene's robot into one JSON-ready dict (written as
``kinematics.json`` by ``keyscaffold export``):

- its kinematic tree: every body of the robot with its parent, its position and orientation in
  the parent's frame, and the joints it carries (type, axis, anchor, reference value, range);
- its effector sites: the body each rides and its position in that body's frame;
- how the wrist pose and the controls relate to the joint vector (``controller``): a floating
  robot's wrist is its first six joints; an arm's wrist is its tool's mounting frame, placed by
  the arm's joints, and ``arm`` holds what the runtime needs to run the arm controller's inverse
  kinematics (the serial chain with its base pose, the joint limits, the IK damping and step);
- the grip mapping of one action spec: the open and closed joint poses and, per joint, which grip
  action blends it from open to closed (``geometry.blend``), read from the action spec and checked.

Every description is checked against the compiled model before it is returned: the joints in the
tree, one actuator per joint in order, and for an arm the chain's mounting frame against MuJoCo's
at random joint positions.
"""

from __future__ import annotations

import mujoco
import numpy as np

from keyscaffold.sim.embodiments.arm import ArmEmbodiment
from keyscaffold.sim.embodiments.base import WRIST_DOF, WRIST_JOINTS, ActionSpec, Embodiment

KINEMATICS_VERSION = 2
FLOATING_CONTROLLER = "floating"
"""The wrist pose is the first six joint positions; the controls are the wrist target, then one
position target per further joint."""
ARM_CONTROLLER = "arm"
"""The wrist pose is the tool's mounting frame, placed by the first N (arm) joints; the controls
are N arm joint targets, one damped-least-squares step toward the wrist target, then one position
target per tool joint."""
CHAIN_TOLERANCE = 1e-9
"""Largest difference (m, or entry of a rotation matrix) between the arm's serial chain and
MuJoCo's kinematics at the mounting frame that the description accepts."""
JOINT_TYPES = {int(mujoco.mjtJoint.mjJNT_HINGE): "hinge", int(mujoco.mjtJoint.mjJNT_SLIDE): "slide"}
WRIST_AXES = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]] * 2, dtype=np.float64)
HELD_CLOSED = -1
"""``joint_action`` entry of a joint no grip action drives: it holds the closed pose."""


def robot_description(model: mujoco.MjModel, robot: Embodiment, action_spec: str) -> dict:
    """The robot of a compiled scene as plain data (module docstring; docs/file_formats.md).

    Args:
        model: A scene that carries ``robot`` (``Task.build_model``).
        robot: Its embodiment.
        action_spec: The action spec whose grip mapping is described.

    Returns:
        The contents of ``kinematics.json``.
    """
    arm = isinstance(robot, ArmEmbodiment)
    bodies = _robot_bodies(model, _top_body(model, robot.root_body) if arm else robot.root_body)
    joint_ids = [model.joint(name).id for name in robot.robot_joints()]
    if arm:
        _check_chain(model, robot, joint_ids)
    else:
        _check_floating(model, robot, joint_ids)
    _check_joints(model, robot, joint_ids, bodies)
    body_index = {body: i for i, body in enumerate(bodies)}
    description = {
        "version": KINEMATICS_VERSION,
        "embodiment": robot.name,
        "controller": ARM_CONTROLLER if arm else FLOATING_CONTROLLER,
        "joints": [_joint(model, j) for j in joint_ids],
        "bodies": [_body(model, b, body_index, joint_ids) for b in bodies],
        "effector_sites": [_site(model, name) for name in robot.effector_sites()],
        "grip": grip_mapping(robot, robot.action_spec(action_spec)),
    }
    if arm:
        description["arm"] = arm_kinematics(robot)
    else:
        description["wrist_joints"] = list(range(WRIST_DOF))
    return description


def arm_kinematics(robot: ArmEmbodiment) -> dict:
    """What the runtime needs to run an arm's controller: the number of arm joints (the first
    of the joint vector), their limits (rad), the IK step's damping and largest joint change
    (``kinematics.ik.wrist_step``) and the serial chain from the arm's base, at its world pose,
    to the tool's mounting frame (``SerialChain.to_json``)."""
    lower, upper = robot.arm.limits()
    return {
        "num_joints": len(robot.arm_joint_names()),
        "lower": lower.tolist(),
        "upper": upper.tolist(),
        "ik_damping": float(robot.ik_damping),
        "ik_max_step": None if robot.ik_max_step is None else float(robot.ik_max_step),
        "chain": robot.chain.to_json(),
    }


def grip_mapping(robot: Embodiment, spec: ActionSpec) -> dict:
    """The grip mapping of an action spec as data: joint targets are
    ``open + clip(amount, 0, 1) * (closed - open)`` with each joint's amount the grip action
    ``joint_action[j]`` (or 1, the closed pose, where it is ``HELD_CLOSED``).

    The table is read from ``spec.grip_targets`` (which action moves which joint) and then
    checked against it on random grip actions; a spec that is no such blend is refused.
    """
    open_pose, closed = robot.open_pose(), robot.closed_pose()
    count = len(spec.grip_names)
    at_rest = spec.grip_targets(np.zeros((1, count)))[0]
    joint_action = np.full(robot.num_joints, HELD_CLOSED, dtype=np.int64)
    for g in reversed(range(count)):
        closing = np.zeros((1, count))
        closing[0, g] = 1.0
        moved = np.abs(spec.grip_targets(closing)[0] - at_rest) > 1e-12
        joint_action[moved] = g
    mapping = {
        "action_spec": spec.name,
        "grip_actions": list(spec.grip_names),
        "open": open_pose.tolist(),
        "closed": closed.tolist(),
        "joint_action": joint_action.tolist(),
    }
    grips = np.random.default_rng(0).uniform(-0.5, 1.5, size=(64, count))
    if not np.allclose(apply_grip_mapping(mapping, grips), spec.grip_targets(grips), atol=1e-9):
        raise ValueError(
            f"{robot.name}'s action spec {spec.name!r} maps grip actions to joint targets in a "
            "way other than blending its open and closed poses joint by joint; the deployment "
            "runtime cannot reproduce it"
        )
    return mapping


def apply_grip_mapping(mapping: dict, grip: np.ndarray) -> np.ndarray:
    """Joint targets of grip actions under a ``grip_mapping`` table.

    Args:
        mapping: A ``grip_mapping`` result.
        grip: Shape: (B, G).

    Returns:
        Shape: (B, J).
    """
    open_pose, closed = np.asarray(mapping["open"]), np.asarray(mapping["closed"])
    source = np.asarray(mapping["joint_action"])
    amount = np.ones((len(grip), len(source)))
    driven = source != HELD_CLOSED
    amount[:, driven] = np.asarray(grip, dtype=np.float64)[:, source[driven]]
    return open_pose + np.clip(amount, 0.0, 1.0) * (closed - open_pose)


def _robot_bodies(model: mujoco.MjModel, root: str) -> list[str]:
    """The robot's bodies, root first and every parent before its children (MuJoCo's order)."""
    root_id = model.body(root).id
    inside = {root_id}
    for body in range(root_id + 1, model.nbody):
        if int(model.body_parentid[body]) in inside:
            inside.add(body)
    return [model.body(b).name for b in sorted(inside)]


def _top_body(model: mujoco.MjModel, name: str) -> str:
    """The ancestor of body ``name`` that hangs from the world body (an arm's base)."""
    body = model.body(name).id
    while int(model.body_parentid[body]) != 0:
        body = int(model.body_parentid[body])
    return model.body(body).name


def _check_floating(model: mujoco.MjModel, robot: Embodiment, joint_ids: list[int]) -> None:
    """Refuse robots whose wrist is not six world-axis joints on the root body."""
    if [model.joint(j).name for j in _body_joints(model, robot.root_body)] != list(WRIST_JOINTS):
        raise ValueError(_not_floating(robot))
    root = model.body(robot.root_body).id
    wrist = joint_ids[:WRIST_DOF]
    types = [JOINT_TYPES.get(int(model.jnt_type[j])) for j in wrist]
    floating = (
        all(int(model.jnt_bodyid[j]) == root for j in wrist)
        and types == ["slide"] * 3 + ["hinge"] * 3
        and np.allclose(model.jnt_axis[wrist], WRIST_AXES)
        and np.allclose(model.body_quat[root], [1, 0, 0, 0])
        and int(model.body_parentid[root]) == 0
    )
    if not floating:
        raise ValueError(_not_floating(robot))


def _check_chain(model: mujoco.MjModel, robot: ArmEmbodiment, joint_ids: list[int]) -> None:
    """Refuse an arm whose serial chain puts the tool's mounting frame elsewhere than MuJoCo
    does, at the home pose and at random joint positions inside the limits."""
    count = len(robot.arm_joint_names())
    lower, upper = robot.arm.limits()
    rng = np.random.default_rng(0)
    q = np.vstack([np.clip(robot.arm.home, lower, upper), rng.uniform(lower, upper, (4, count))])
    addresses = model.jnt_qposadr[joint_ids[:count]]
    data = mujoco.MjData(model)
    mount = model.body(robot.root_body).id
    position, rotation, _, _ = robot.chain.forward(q)
    for row in range(len(q)):
        data.qpos[addresses] = q[row]
        mujoco.mj_kinematics(model, data)
        gap = max(
            np.abs(position[row] - data.xpos[mount]).max(),
            np.abs(rotation[row] - data.xmat[mount].reshape(3, 3)).max(),
        )
        if gap > CHAIN_TOLERANCE:
            raise ValueError(
                f"arm {robot.name!r}: its serial chain puts the tool's mounting frame "
                f"{gap:.2e} away from where the compiled scene puts it at joint positions "
                f"{np.round(q[row], 3).tolist()}; the deployment runtime's inverse kinematics "
                "would not match the simulator's"
            )


def _check_joints(
    model: mujoco.MjModel, robot: Embodiment, joint_ids: list[int], bodies: list[str]
) -> None:
    """Refuse robots whose body tree holds joints outside the joint vector, or joints other than
    hinges and slides, or whose joints are not each driven by one position actuator in order."""
    in_tree = {j for b in bodies for j in _body_joints(model, b)}
    if in_tree != set(joint_ids) or any(int(model.jnt_type[j]) not in JOINT_TYPES for j in in_tree):
        raise ValueError(
            f"embodiment {robot.name!r}'s body tree has joints outside its joint vector or "
            "joints other than hinges and slides; the deployment runtime cannot follow it"
        )
    robot_actuators = [
        a for a in range(model.nu) if int(model.actuator_trnid[a, 0]) in set(joint_ids)
    ]
    driven = [int(model.actuator_trnid[a, 0]) for a in robot_actuators]
    if driven != list(joint_ids) or robot_actuators != list(range(len(joint_ids))):
        raise ValueError(
            f"embodiment {robot.name!r} does not drive each joint with one actuator in joint "
            "order; the deployment runtime's controls would not match the simulator's"
        )


def _not_floating(robot: Embodiment) -> str:
    return (
        f"embodiment {robot.name!r} is not a floating robot (six world-axis wrist joints on its "
        f"root body {robot.root_body!r}) and not an arm (an ArmEmbodiment carrying a tool); "
        "the deployment runtime drives only these two kinds"
    )


def _body_joints(model: mujoco.MjModel, name: str) -> list[int]:
    """Ids of the joints a body carries, in order."""
    body = model.body(name)
    return list(range(int(body.jntadr[0]), int(body.jntadr[0]) + int(body.jntnum[0])))


def _joint(model: mujoco.MjModel, joint: int) -> dict:
    limited = bool(model.jnt_limited[joint])
    return {
        "name": model.joint(joint).name,
        "type": JOINT_TYPES[int(model.jnt_type[joint])],
        "axis": model.jnt_axis[joint].tolist(),
        "pos": model.jnt_pos[joint].tolist(),
        "ref": float(model.qpos0[model.jnt_qposadr[joint]]),
        "range": model.jnt_range[joint].tolist() if limited else None,
    }


def _body(model: mujoco.MjModel, name: str, index: dict[str, int], joint_ids: list[int]) -> dict:
    body = model.body(name)
    parent = model.body(int(model.body_parentid[body.id])).name
    return {
        "name": name,
        "parent": parent if parent in index else None,
        "pos": model.body_pos[body.id].tolist(),
        "quat": model.body_quat[body.id].tolist(),
        "joints": [joint_ids.index(j) for j in _body_joints(model, name)],
    }


def _site(model: mujoco.MjModel, name: str) -> dict:
    site = model.site(name)
    return {
        "name": name,
        "body": model.body(int(model.site_bodyid[site.id])).name,
        "pos": model.site_pos[site.id].tolist(),
    }
