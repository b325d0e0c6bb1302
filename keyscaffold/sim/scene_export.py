"""A compiled scene written out as a scene file: one mesh per object, poses, the table, the camera
and the robot, so that the importer can be checked against a scene whose answers are known.

Each exported object is a top-level body of the scene with everything it carries: the geoms of its
body and of bodies welded to it (no joint between them), as triangle meshes in the object's frame,
merged into one mesh (``object_mesh``). Every geom that is drawn is kept, colliding or not, as a
scan would keep it. Objects with moving parts (a drawer in a chest, a fridge door, the second link
of pliers) cannot be written yet: the format holds rigid objects only, so ``export_scene`` refuses
them by name (``SceneExportError``) instead of writing a scene without the part.

The support fixture (the kitchen counter, ``SUPPORT_BODY``) becomes the file's table; a scene
without one gets ``"table": null`` (its objects stand on the floor). The scene camera becomes the
file's camera with its K and camera-to-world pose in OpenCV axes, the inverse of what
``objects.imported.camera_fixture`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import mujoco
import numpy as np
import trimesh

from keyscaffold.geometry import intrinsics_from_fovy, mujoco_camera_to_world
from keyscaffold.sim.embodiments import make_embodiment
from keyscaffold.sim.scene_file import (
    Camera,
    Contact,
    Keypoint,
    Pose,
    Robot,
    SceneFile,
    SceneObjectEntry,
    Table,
    TaskHints,
)
from keyscaffold.sim.scene_file_reader import read_scene_file
from keyscaffold.sim.scene_file_writer import write_scene_file
from keyscaffold.util import atomic_directory

SUPPORT_BODY = "counter"
"""The fixture that is written as the file's table (``objects.room.counter``)."""
MESH_FORMATS = ("obj", "glb")
HIDDEN_GROUP = 3
"""Geoms in this group or above are not drawn (collision-only shapes), and are not exported."""
SPHERE_SUBDIVISIONS = 2
"""Icosphere subdivisions of spheres and ellipsoids: 320 triangles, every point within 1.8% of
the radius. Coarse on purpose: a ball of a few centimetres resting on a face under MuJoCo's soft
contacts stays put only when the face is wide enough (with 1280 triangles an apple tips off its
face and rolls 4 mm)."""
SECTIONS = 48
"""Segments around a cylinder."""

_GEOM = mujoco.mjtGeom


class SceneExportError(ValueError):
    """A scene that cannot be written as a scene file; the message names what and why."""


@dataclass(frozen=True)
class BodyKeypoint:
    """A keypoint fixed in a body's frame (a task's keypoint, in sim terms).

    Attributes:
        name: The keypoint's name.
        body: The body it is fixed to (an object's body or a part welded to it, or the support).
        position: In the body's frame (m), shape: (3,).
        description: Where the point is, in words.
        lift: ``surface`` or ``middle`` (``scene_file.KEYPOINT_LIFTS``).
    """

    name: str
    body: str
    position: tuple[float, float, float]
    description: str = ""
    lift: str = "surface"


@dataclass(frozen=True)
class ExportSource:
    """What is exported: a compiled scene in its initial state and what the file says about it.

    Attributes:
        model: The compiled scene.
        data: The scene at its initial state (positions computed).
        objects: Names of the top-level bodies to write (fixtures and movable objects, the
            support among them or not), in order.
        camera: Name of the model's camera that becomes the file's camera.
        image_size: Width and height of the file's camera (pixels).
        embodiment: The robot's registered name.
        start_wrist: The robot's wrist pose at the start (x, y, z in m, hinge angles in rad).
        instruction: The task's instruction.
        keypoints: The task's keypoints, in order.
        success_tolerance: Written as the file's ``task.success_tolerance`` (m), which the
            file's task needs in scaffold mode; None: not written.
    """

    model: mujoco.MjModel
    data: mujoco.MjData
    objects: tuple[str, ...]
    camera: str
    image_size: tuple[int, int]
    embodiment: str
    start_wrist: tuple[float, ...]
    instruction: str = ""
    keypoints: tuple[BodyKeypoint, ...] = ()
    success_tolerance: float | None = None


def subtree(model: mujoco.MjModel, root: int) -> list[int]:
    """Ids of ``root`` and every body below it."""
    inside = [root]
    for body in range(root + 1, model.nbody):  # parents come before their children
        if int(model.body_parentid[body]) in inside:
            inside.append(body)
    return inside


def moving_parts(model: mujoco.MjModel, root: int) -> list[str]:
    """Joints inside the object ``root`` other than its free joint, as ``joint (moves body)``."""
    found = []
    for body in subtree(model, root):
        for joint in range(
            model.body_jntadr[body], model.body_jntadr[body] + model.body_jntnum[body]
        ):
            if body == root and int(model.jnt_type[joint]) == int(mujoco.mjtJoint.mjJNT_FREE):
                continue
            found.append(f"{model.joint(joint).name or joint} (moves {model.body(body).name!r})")
    return found


def is_movable(model: mujoco.MjModel, root: int) -> bool:
    """The body has a free joint."""
    joints = range(model.body_jntadr[root], model.body_jntadr[root] + model.body_jntnum[root])
    return any(int(model.jnt_type[j]) == int(mujoco.mjtJoint.mjJNT_FREE) for j in joints)


def geom_mesh(model: mujoco.MjModel, geom: int) -> trimesh.Trimesh:
    """A triangle mesh of one geom in the geom's own frame (m)."""
    kind, size = int(model.geom_type[geom]), model.geom_size[geom]
    if kind == int(_GEOM.mjGEOM_BOX):
        return trimesh.creation.box(extents=2 * size)
    if kind in (int(_GEOM.mjGEOM_SPHERE), int(_GEOM.mjGEOM_ELLIPSOID)):
        mesh = _ball()
        mesh.apply_scale(size if kind == int(_GEOM.mjGEOM_ELLIPSOID) else size[0])
        return mesh
    if kind == int(_GEOM.mjGEOM_CAPSULE):  # the hull of its two end spheres: closed and convex
        ball = trimesh.creation.icosphere(SPHERE_SUBDIVISIONS, radius=size[0]).vertices
        return trimesh.convex.convex_hull(
            np.concatenate([ball - [0, 0, size[1]], ball + [0, 0, size[1]]])
        )
    if kind == int(_GEOM.mjGEOM_CYLINDER):
        return trimesh.creation.cylinder(radius=size[0], height=2 * size[1], sections=SECTIONS)
    if kind == int(_GEOM.mjGEOM_MESH):
        mesh = int(model.geom_dataid[geom])
        v0, nv = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
        f0, nf = model.mesh_faceadr[mesh], model.mesh_facenum[mesh]
        return trimesh.Trimesh(model.mesh_vert[v0 : v0 + nv], model.mesh_face[f0 : f0 + nf])
    name = model.geom(geom).name or str(geom)
    raise SceneExportError(
        f"geom {name!r} of body {model.body(model.geom_bodyid[geom]).name!r} is a "
        f"{_GEOM(kind).name.removeprefix('mjGEOM_').lower()}, which has no closed mesh"
    )


def _ball() -> trimesh.Trimesh:
    """A unit icosphere turned so that a face lies flat at its bottom: a ball standing upright
    rests on that face as a sphere rests on its lowest point, instead of tipping off a vertex."""
    mesh = trimesh.creation.icosphere(SPHERE_SUBDIVISIONS, radius=1.0)
    lowest = mesh.face_normals[np.argmin(mesh.face_normals[:, 2])]
    mesh.apply_transform(trimesh.geometry.align_vectors(lowest, [0.0, 0.0, -1.0]))
    return mesh


def geom_rgba(model: mujoco.MjModel, geom: int) -> np.ndarray:
    """The colour a geom is drawn with (its material's, when it has one), shape: (4,)."""
    material = int(model.geom_matid[geom])
    return model.mat_rgba[material] if material >= 0 else model.geom_rgba[geom]


def drawn_geoms(model: mujoco.MjModel, root: int) -> list[int]:
    """Geoms of the object ``root`` (its body and the bodies below it) that are drawn."""
    bodies = subtree(model, root)
    return [
        g
        for g in range(model.ngeom)
        if int(model.geom_bodyid[g]) in bodies
        and int(model.geom_group[g]) < HIDDEN_GROUP
        and geom_rgba(model, g)[3] > 0
    ]


def object_mesh(model: mujoco.MjModel, data: mujoco.MjData, root: int) -> trimesh.Trimesh:
    """Every drawn geom of the object ``root``, as one mesh in the body's frame (m)."""
    geoms = drawn_geoms(model, root)
    if not geoms:
        raise SceneExportError(f"object {model.body(root).name!r} has no drawn geoms to export")
    to_body = np.linalg.inv(_frame(data.xpos[root], data.xmat[root]))
    meshes = []
    for geom in geoms:
        mesh = geom_mesh(model, geom)
        mesh.apply_transform(to_body @ _frame(data.geom_xpos[geom], data.geom_xmat[geom]))
        meshes.append(mesh)
    return trimesh.util.concatenate(meshes)


def _frame(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    frame = np.eye(4)
    frame[:3, :3] = np.asarray(rotation).reshape(3, 3)
    frame[:3, 3] = position
    return frame


def largest_colliding_geom(model: mujoco.MjModel, root: int) -> int:
    """The colliding geom of the object ``root`` with the largest bounding sphere: the one whose
    surface settings (friction, contact softness) stand for the whole object."""
    bodies = subtree(model, root)
    colliding = [
        g
        for g in range(model.ngeom)
        if int(model.geom_bodyid[g]) in bodies
        and (model.geom_contype[g] or model.geom_conaffinity[g])
    ]
    if not colliding:
        raise SceneExportError(f"object {model.body(root).name!r} has no colliding geoms")
    return max(colliding, key=lambda g: model.geom_rbound[g])


def object_friction(model: mujoco.MjModel, root: int) -> float:
    """Sliding friction of the object's largest colliding geom."""
    return float(model.geom_friction[largest_colliding_geom(model, root)][0])


def object_contact(model: mujoco.MjModel, root: int) -> Contact:
    """The object's ``contact``: the ``solref`` of its largest colliding geom."""
    geom = largest_colliding_geom(model, root)
    timeconst, dampratio = (float(v) for v in model.geom_solref[geom])
    if timeconst <= 0 or dampratio <= 0:
        raise SceneExportError(
            f"geom {model.geom(geom).name or geom!r} of {model.body(root).name!r} sets solref "
            f"({timeconst:g}, {dampratio:g}) as stiffness and damping; a scene file holds a time "
            "constant and a damping ratio"
        )
    return Contact(timeconst, dampratio)


def object_rgba(model: mujoco.MjModel, root: int) -> tuple[float, float, float, float]:
    """The colour of the object's drawn geom with the largest surface (one colour per object)."""
    geoms = drawn_geoms(model, root)
    largest = max(geoms, key=lambda g: geom_mesh(model, g).area)
    return tuple(round(float(v), 4) for v in geom_rgba(model, largest))  # type: ignore[return-value]


def support_table(model: mujoco.MjModel, data: mujoco.MjData, name: str) -> Table:
    """The support fixture ``name`` as the file's table (no keypoints): its highest colliding
    box's top."""
    bodies = subtree(model, model.body(name).id)
    boxes = [
        g
        for g in range(model.ngeom)
        if int(model.geom_bodyid[g]) in bodies
        and int(model.geom_type[g]) == int(_GEOM.mjGEOM_BOX)
        and (model.geom_contype[g] or model.geom_conaffinity[g])
    ]
    if not boxes:
        raise SceneExportError(f"the support {name!r} has no colliding box to become the table")
    top = max(boxes, key=lambda g: data.geom_xpos[g][2] + model.geom_size[g][2])
    if not np.allclose(data.geom_xmat[top].reshape(3, 3), np.eye(3), atol=1e-6):
        raise SceneExportError(
            f"the support {name!r}'s top {model.geom(top).name!r} is turned; a scene file's "
            "table is aligned with the world's axes"
        )
    size, center = model.geom_size[top], data.geom_xpos[top]
    return Table(
        size=(float(2 * size[0]), float(2 * size[1])),
        height=float(center[2] + size[2]),
        center=(float(center[0]), float(center[1])),
        friction=float(model.geom_friction[top][0]),
    )


def camera_entry(
    model: mujoco.MjModel, data: mujoco.MjData, name: str, size: tuple[int, int]
) -> Camera:
    """The camera ``name`` as the file's camera: K at ``size`` (width, height) and its
    camera-to-world pose in OpenCV axes."""
    camera = model.camera(name).id
    if int(model.cam_projection[camera]) != int(mujoco.mjtProjection.mjPROJ_PERSPECTIVE):
        raise SceneExportError(f"camera {name!r} is not a perspective camera")
    width, height = size
    k = intrinsics_from_fovy(float(model.cam_fovy[camera]), width, height)
    pose = mujoco_camera_to_world(data.cam_xpos[camera], data.cam_xmat[camera])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, pose[:3, :3].reshape(-1))
    return Camera(
        fx=float(k[0, 0]),
        fy=float(k[1, 1]),
        cx=float(k[0, 2]),
        cy=float(k[1, 2]),
        width=int(width),
        height=int(height),
        pose=Pose(tuple(pose[:3, 3].tolist()), tuple(quat.tolist())),  # type: ignore[arg-type]
    )


def keypoints_by_owner(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    keypoints: tuple[BodyKeypoint, ...],
    owners: tuple[str, ...],
    table: Table | None,
) -> dict[str, list[Keypoint]]:
    """Each keypoint in the frame of the exported object it sits on (or of the table).

    Returns:
        Object name (or ``table``) -> its keypoints, in order.
    """
    found: dict[str, list[Keypoint]] = {}
    for point in keypoints:
        body = model.body(point.body).id
        root = int(model.body_rootid[body])
        world = data.xpos[body] + data.xmat[body].reshape(3, 3) @ np.asarray(point.position)
        owner = model.body(root).name
        if table is not None and owner == SUPPORT_BODY:
            local, owner = world - np.array([*table.center, 0.0]), "table"
        elif owner in owners:
            local = data.xmat[root].reshape(3, 3).T @ (world - data.xpos[root])
        else:
            raise SceneExportError(
                f"keypoint {point.name!r} lies on body {point.body!r}, which is not exported"
            )
        position = tuple(float(v) for v in local)
        entry = Keypoint(point.name, position, point.description, point.lift)  # type: ignore[arg-type]
        found.setdefault(owner, []).append(entry)
    return found


def _refuse_articulated(model: mujoco.MjModel, names: tuple[str, ...]) -> None:
    """Raise ``SceneExportError`` naming every object with moving parts."""
    articulated = {n: moving_parts(model, model.body(n).id) for n in names}
    articulated = {n: parts for n, parts in articulated.items() if parts}
    if articulated:
        listed = "; ".join(f"{n!r}: joint {', '.join(p)}" for n, p in articulated.items())
        raise SceneExportError(
            f"objects with moving parts cannot be exported yet ({listed}): a scene file holds "
            "rigid objects only, and writing the fixed part alone would make another scene"
        )


def scene_data(
    source: ExportSource, mesh_format: str = "obj"
) -> tuple[SceneFile, dict[str, bytes]]:
    """The scene file's content and its mesh files.

    Returns:
        The scene (its ``path`` ``scene.json``, mesh paths relative to it), and the mesh
        files' bytes by path relative to it.
    """
    model, data = source.model, source.data
    if mesh_format not in MESH_FORMATS:
        raise SceneExportError(f"mesh format {mesh_format!r}: use one of {MESH_FORMATS}")
    tolerance = source.success_tolerance
    if tolerance is not None and not tolerance > 0:
        raise SceneExportError(f"the success tolerance must be positive (m), got {tolerance}")
    names = tuple(n for n in source.objects if n != SUPPORT_BODY)
    _refuse_articulated(model, names)
    try:
        make_embodiment(source.embodiment)
    except KeyError as error:
        raise SceneExportError(
            f"a scene file names its robot by a registered embodiment: {error.args[0]}"
        ) from error
    table = support_table(model, data, SUPPORT_BODY) if SUPPORT_BODY in source.objects else None
    keypoints = keypoints_by_owner(model, data, source.keypoints, names, table)
    if table is not None:
        table = replace(table, keypoints=tuple(keypoints.get("table", ())))
    objects, meshes = [], {}
    for name in names:
        root = model.body(name).id
        path = f"meshes/{name}.{mesh_format}"
        meshes[path] = object_mesh(model, data, root).export(file_type=mesh_format)
        objects.append(
            SceneObjectEntry(
                name=name,
                mesh=Path(path),
                pose=Pose(
                    tuple(data.xpos[root].tolist()),  # type: ignore[arg-type]
                    tuple(data.xquat[root].tolist()),  # type: ignore[arg-type]
                ),
                mass=float(model.body_subtreemass[root]),
                friction=object_friction(model, root),
                contact=object_contact(model, root),
                movable=is_movable(model, root),
                rgba=object_rgba(model, root),
                keypoints=tuple(keypoints.get(name, ())),
            )
        )
    scene = SceneFile(
        path=Path("scene.json"),
        objects=tuple(objects),
        camera=camera_entry(model, data, source.camera, source.image_size),
        table=table,
        robot=Robot(source.embodiment, tuple(float(v) for v in source.start_wrist)),  # type: ignore[arg-type]
        task=TaskHints(
            source.instruction,
            None if tolerance is None else float(tolerance),
            tuple(p.name for p in source.keypoints),
        ),
    )
    return scene, meshes


def export_scene(source: ExportSource, out: Path, mesh_format: str = "obj") -> Path:
    """Write ``OUT/scene.json`` and ``OUT/meshes/<object>.<format>``; the folder appears complete
    or not at all, and only after its scene file has been read back.

    Returns:
        The scene file's path.
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or give another output folder")
    scene, meshes = scene_data(source, mesh_format)
    with atomic_directory(out) as folder:
        for path, content in meshes.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(content if isinstance(content, bytes) else content.encode())
        write_scene_file(scene, folder / "scene.json")
        folder.chmod(0o755)  # a temporary folder is private; the export is not
        read_scene_file(folder / "scene.json")  # the meshes too, as a user's import reads them
    return out / "scene.json"
