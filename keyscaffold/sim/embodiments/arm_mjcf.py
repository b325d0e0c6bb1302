"""An arm read from a user's MJCF file, to carry a tool like the built-in arms.

``MjcfArm.load`` compiles the file with MuJoCo and takes the subtree below a base body: the hinge
joints named (base to flange, one per body), their limits, armature and damping, every body's
pose, inertia and primitive geoms. It writes that subtree back as MJCF in radians with every
pose made explicit (so the file's compiler settings, default classes and angle units do not
matter), with gravity compensation on every moving body and the tool nested in the flange body,
and builds the same kinematics as a ``kinematics.chain.SerialChain`` (bodies without joints fold
into the next link's fixed offset and rotation). Mesh geoms are refused: the scene carries no assets
of the arm's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from keyscaffold.kinematics.chain import SerialChain
from keyscaffold.sim.embodiments.arm_spec import mjcf_numbers, mjcf_quat

FLANGE_MARK = "<!--flange-->"
PRIMITIVE_SIZES = {
    int(mujoco.mjtGeom.mjGEOM_SPHERE): 1,
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): 2,
    int(mujoco.mjtGeom.mjGEOM_CYLINDER): 2,
    int(mujoco.mjtGeom.mjGEOM_ELLIPSOID): 3,
    int(mujoco.mjtGeom.mjGEOM_BOX): 3,
}
"""Size entries of the primitive geom types an arm may use."""
GEOM_TYPES = {
    int(mujoco.mjtGeom.mjGEOM_SPHERE): "sphere",
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): "capsule",
    int(mujoco.mjtGeom.mjGEOM_CYLINDER): "cylinder",
    int(mujoco.mjtGeom.mjGEOM_ELLIPSOID): "ellipsoid",
    int(mujoco.mjtGeom.mjGEOM_BOX): "box",
}


def _rotation(quat: np.ndarray) -> np.ndarray:
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, np.asarray(quat, dtype=np.float64))
    return matrix.reshape(3, 3)


@dataclass(frozen=True, eq=False)
class MjcfArm:
    """An arm description (as ``arm.ArmSpec``) taken from a compiled MJCF model.

    Attributes:
        name: Prefix of the generated actuator names' owner (the arm's own names are kept).
        home: Joint positions the placing IK starts from (rad), shape: (N,).
        joints: The arm's hinge joints, base to flange.
        lower: Lower joint limits (rad), shape: (N,).
        upper: Upper joint limits (rad), shape: (N,).
        kp: Position gain of each joint's actuator (N m/rad), shape: (N,).
        kv: Velocity gain of each joint's actuator (N m s/rad), shape: (N,).
        torque_limit: Torque limit of each joint's actuator (N m), shape: (N,).
        subtree_xml: The bodies below the base body (and the base body's own geoms), with
            ``FLANGE_MARK`` where the tool goes.
        kinematics: The chain from the base body's frame to the flange body's frame.
    """

    name: str
    home: tuple[float, ...]
    joints: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    kp: np.ndarray
    kv: np.ndarray
    torque_limit: np.ndarray
    subtree_xml: str
    kinematics: SerialChain

    @classmethod
    def load(
        cls,
        path: str | Path,
        base_body: str,
        joint_names: list[str],
        flange_body: str,
        kp: float | list[float] = 1000.0,
        kv: float | list[float] = 50.0,
        torque_limit: float | list[float] = 200.0,
        home: list[float] | None = None,
    ) -> MjcfArm:
        """Read an arm from an MJCF file.

        Args:
            path: The MJCF file.
            base_body: The body fixed to the world that carries the arm (its frame is the arm's
                base frame; its own pose in the file is replaced by the embodiment's base pose).
            joint_names: The arm's hinge joints, base to flange, one per body on the way.
            flange_body: The body the tool mounts on.
            kp: Position gain per joint, or one for all (N m/rad).
            kv: Velocity gain per joint, or one for all (N m s/rad).
            torque_limit: Actuator torque limit per joint, or one for all (N m).
            home: Start of the placing IK (rad); default: zeros, clamped to the limits.
        """
        model = mujoco.MjModel.from_xml_path(str(path))
        ids = {name: _body_id(model, name, path) for name in (base_body, flange_body)}
        joint_ids = [_hinge_id(model, name, path) for name in joint_names]
        kinematics = _chain(model, ids[base_body], ids[flange_body], joint_ids, path)
        limited = model.jnt_limited[joint_ids].astype(bool)
        lower = np.where(limited, model.jnt_range[joint_ids, 0], -2.0 * np.pi)
        upper = np.where(limited, model.jnt_range[joint_ids, 1], 2.0 * np.pi)
        count = len(joint_ids)
        start = np.clip(np.zeros(count) if home is None else np.asarray(home, float), lower, upper)
        base = ids[base_body]
        inside = "".join(_geom_xml(model, g, path) for g in _geoms(model, base))
        inside += "".join(
            _body_xml(model, child, ids[flange_body], path) for child in _children(model, base)
        )
        return cls(
            name=base_body,
            home=tuple(float(v) for v in start),
            joints=tuple(joint_names),
            lower=lower,
            upper=upper,
            kp=np.broadcast_to(np.asarray(kp, float), (count,)),
            kv=np.broadcast_to(np.asarray(kv, float), (count,)),
            torque_limit=np.broadcast_to(np.asarray(torque_limit, float), (count,)),
            subtree_xml=inside,
            kinematics=kinematics,
        )

    def joint_names(self) -> list[str]:
        """The arm joints, base to flange."""
        return list(self.joints)

    def limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper joint limits, each shape: (N,) (rad)."""
        return self.lower, self.upper

    def chain(self) -> SerialChain:
        """The arm's kinematics with its base at the world origin, ending at the flange."""
        return self.kinematics

    def body_xml(self, base_position, base_rotation: np.ndarray, flange_xml: str) -> str:
        """The arm's bodies under a base body at the given world pose, the tool in the flange."""
        return (
            f'<body name="{self.name}" pos="{mjcf_numbers(base_position)}" '
            f'quat="{mjcf_quat(base_rotation)}">'
            f"{self.subtree_xml.replace(FLANGE_MARK, flange_xml)}</body>"
        )

    def actuators_xml(self) -> str:
        """One position actuator per arm joint, base to flange."""
        return "".join(
            f'<position name="act_{joint}" joint="{joint}" kp="{kp:g}" kv="{kv:g}" '
            f'forcelimited="true" forcerange="-{limit:g} {limit:g}"/>'
            for joint, kp, kv, limit in zip(self.joints, self.kp, self.kv, self.torque_limit)
        )


def _body_id(model: mujoco.MjModel, name: str, path) -> int:
    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    if body < 0:
        raise ValueError(f"{path} has no body {name!r}")
    return body


def _hinge_id(model: mujoco.MjModel, name: str, path) -> int:
    joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if joint < 0:
        raise ValueError(f"{path} has no joint {name!r}")
    if int(model.jnt_type[joint]) != int(mujoco.mjtJoint.mjJNT_HINGE):
        raise ValueError(f"joint {name!r} of {path} is not a hinge; an arm's joints must be")
    return joint


def _children(model: mujoco.MjModel, body: int) -> list[int]:
    return [b for b in range(1, model.nbody) if int(model.body_parentid[b]) == body]


def _geoms(model: mujoco.MjModel, body: int) -> list[int]:
    return [int(g) for g in np.flatnonzero(model.geom_bodyid == body)]


def _chain(
    model: mujoco.MjModel, base: int, flange: int, joint_ids: list[int], path
) -> SerialChain:
    """The kinematics from the base body's frame through the joints to the flange's frame."""
    way = [flange]
    while way[-1] != base:
        if way[-1] == 0:
            raise ValueError(f"body {model.body(flange).name!r} does not hang below the base body")
        way.append(int(model.body_parentid[way[-1]]))
    way = way[-2::-1]  # below the base, base side first
    offsets, rotations, axes, anchors, found = [], [], [], [], []
    position, rotation = np.zeros(3), np.eye(3)  # from the last joint's body to here
    for body in way:
        position = position + rotation @ model.body_pos[body]
        rotation = rotation @ _rotation(model.body_quat[body])
        joints = list(
            range(model.body_jntadr[body], model.body_jntadr[body] + model.body_jntnum[body])
        )
        if not joints:
            continue
        if len(joints) > 1 or joints[0] not in joint_ids:
            names = [model.joint(j).name for j in joints]
            raise ValueError(
                f"body {model.body(body).name!r} of {path} carries joints {names}; an arm needs "
                "one listed hinge per moving body between the base and the flange"
            )
        joint = joints[0]
        offsets.append(position)
        rotations.append(rotation)
        axes.append(model.jnt_axis[joint] / np.linalg.norm(model.jnt_axis[joint]))
        anchors.append(np.array(model.jnt_pos[joint]))
        found.append(joint)
        position, rotation = np.zeros(3), np.eye(3)
    if found != list(joint_ids):
        raise ValueError(
            f"the joints between the base and the flange of {path} are "
            f"{[model.joint(j).name for j in found]}, not the ones given in that order"
        )
    return SerialChain(
        base_position=np.zeros(3),
        base_rotation=np.eye(3),
        offsets=np.array(offsets),
        rotations=np.array(rotations),
        axes=np.array(axes),
        anchors=np.array(anchors),
        tip_offset=position,
        tip_rotation=rotation,
    )


def _geom_xml(model: mujoco.MjModel, geom: int, path) -> str:
    kind = int(model.geom_type[geom])
    if kind not in GEOM_TYPES:
        raise ValueError(
            f"geom {model.geom(geom).name or geom!r} of {path} is not a primitive shape (sphere, "
            "capsule, cylinder, ellipsoid, box); replace meshes with primitives for the arm"
        )
    size = model.geom_size[geom][: PRIMITIVE_SIZES[kind]]
    return (
        f'<geom type="{GEOM_TYPES[kind]}" size="{mjcf_numbers(size)}" '
        f'pos="{mjcf_numbers(model.geom_pos[geom])}" quat="{mjcf_numbers(model.geom_quat[geom])}" '
        f'rgba="{mjcf_numbers(model.geom_rgba[geom])}" '
        'mass="0" class="arm"/>'
    )


def _body_xml(model: mujoco.MjModel, body: int, flange: int, path) -> str:
    """One body of the arm, written out from the compiled model, with its subtree."""
    name = model.body(body).name
    xml = (
        f'<body name="{name}" pos="{mjcf_numbers(model.body_pos[body])}" '
        f'quat="{mjcf_numbers(model.body_quat[body])}" gravcomp="1">'
    )
    if model.body_mass[body] > 0:
        xml += (
            f'<inertial pos="{mjcf_numbers(model.body_ipos[body])}" '
            f'quat="{mjcf_numbers(model.body_iquat[body])}" mass="{model.body_mass[body]:.9g}" '
            f'diaginertia="{mjcf_numbers(model.body_inertia[body])}"/>'
        )
    for joint in range(model.body_jntadr[body], model.body_jntadr[body] + model.body_jntnum[body]):
        dof = int(model.jnt_dofadr[joint])
        limits = (
            f'range="{mjcf_numbers(model.jnt_range[joint])}" limited="true"'
            if model.jnt_limited[joint]
            else 'limited="false"'
        )
        xml += (
            f'<joint name="{model.joint(joint).name}" type="hinge" '
            f'axis="{mjcf_numbers(model.jnt_axis[joint])}" '
            f'pos="{mjcf_numbers(model.jnt_pos[joint])}" {limits} '
            f'armature="{model.dof_armature[dof]:.9g}" damping="{model.dof_damping[dof]:.9g}"/>'
        )
    xml += "".join(_geom_xml(model, g, path) for g in _geoms(model, body))
    xml += "".join(_body_xml(model, child, flange, path) for child in _children(model, body))
    if body == flange:
        xml += FLANGE_MARK
    return xml + "</body>"
