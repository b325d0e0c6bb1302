"""Reading a scene file object's mesh with trimesh and checking that it can become a rigid body.

OBJ, PLY, STL and GLB are read; a GLB (or an OBJ with several groups) holding several meshes is
merged into one with its node transforms applied. The mesh stays in its file's units; the object's
unit and scale are applied where the scene uses it (the MuJoCo mesh ``scale``). Refusals name the
object and the fix: a missing or unreadable file, a mesh with no faces or no volume, a mesh larger
than ``MAX_SIZE`` or smaller than ``MIN_SIZE`` after unit and scale (usually a wrong unit).
A mesh that is not watertight (a scan with a hole where it stood) is accepted with a warning:
the convex decomposition closes it first (``Decomposition.preprocess``).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

import numpy as np
import trimesh

from keyscaffold.sim.scene_file import SceneFileError, SceneObjectEntry

MAX_SIZE = 5.0
"""Largest extent (m) an object may have after unit and scale; a table-top object is far smaller."""
MIN_SIZE = 0.002
"""Smallest largest-extent (m) an object may have after unit and scale."""
FLAT = 1e-4
"""A mesh whose convex hull is thinner than this fraction of its size has no volume."""


class MeshWarning(UserWarning):
    """A mesh that is used, but not as it is (not watertight)."""


@dataclass(frozen=True)
class LoadedMesh:
    """A checked mesh in its file's units.

    Attributes:
        vertices: Shape: (V, 3), float64.
        faces: Vertex indices of the triangles, shape: (F, 3), int64.
        watertight: Every edge is shared by exactly two faces.
    """

    vertices: np.ndarray
    faces: np.ndarray
    watertight: bool

    def digest(self) -> str:
        """SHA-256 of the geometry: vertices on a grid of a millionth of the mesh's size, and the
        faces. A file saved again (new metadata, another binary layout, rounding in the last
        digits) keeps its digest and its decomposition; a format that stores the vertices in
        another order (trimesh's OBJ against its PLY and GLB) gets its own."""
        extent = float(np.ptp(self.vertices, axis=0).max())
        grid = np.round(self.vertices / (extent * 1e-6)).astype(np.int64)
        return hashlib.sha256(grid.tobytes() + self.faces.astype(np.int64).tobytes()).hexdigest()

    def trimesh(self) -> trimesh.Trimesh:
        return trimesh.Trimesh(self.vertices, self.faces, process=False)


def _read(entry: SceneObjectEntry) -> trimesh.Trimesh:
    where = f"object {entry.name!r}: mesh {entry.mesh}"
    if not entry.mesh.is_file():
        raise SceneFileError(f"{where} does not exist; mesh paths are relative to the scene file")
    try:
        loaded = trimesh.load(entry.mesh, force="mesh")
    # trimesh raises whatever its format parsers raise on a damaged file
    except Exception as error:  # noqa: BLE001
        raise SceneFileError(
            f"{where} cannot be read ({type(error).__name__}: {error}); export it again as "
            "OBJ, PLY, STL or GLB"
        ) from error
    if not isinstance(loaded, trimesh.Trimesh):
        raise SceneFileError(f"{where} holds no triangle mesh (read as {type(loaded).__name__})")
    return loaded


def load_mesh(entry: SceneObjectEntry) -> LoadedMesh:
    """Read and check the mesh of ``entry``; raises ``SceneFileError`` naming the object.

    Warns (``MeshWarning``) when the mesh is not watertight.
    """
    mesh = _read(entry)
    where = f"object {entry.name!r}: mesh {entry.mesh.name}"
    if len(mesh.faces) == 0:
        raise SceneFileError(f"{where} has no faces (a point cloud?); give a triangle mesh")
    size = float(np.ptp(mesh.vertices, axis=0).max()) * entry.metres_per_unit
    if not np.isfinite(mesh.vertices).all():
        raise SceneFileError(f"{where} has NaN or infinite vertices")
    if size > MAX_SIZE:
        raise SceneFileError(
            f"{where} is {size:.3g} m across after unit {entry.unit!r} and scale {entry.scale:g} "
            f"(more than {MAX_SIZE:g} m): is it in another unit? Set the object's unit (m, cm, mm)"
        )
    if size < MIN_SIZE:
        raise SceneFileError(
            f"{where} is {size * 1000:.3g} mm across after unit {entry.unit!r} and scale "
            f"{entry.scale:g} (less than {MIN_SIZE * 1000:g} mm): is it in another unit? Set the "
            "object's unit (m, cm, mm)"
        )
    thickness = _hull_thickness(mesh)
    if thickness < FLAT * size / entry.metres_per_unit:
        raise SceneFileError(
            f"{where} has no volume (all its vertices lie in a plane or on a line); a rigid "
            "object needs a closed surface"
        )
    if not mesh.is_watertight:
        warnings.warn(
            f"object {entry.name!r}: mesh {entry.mesh.name} is not watertight; its holes are "
            "closed by the decomposition's remeshing (decomposition.preprocess 'auto'), and its "
            "mass comes from the convex parts. Fill the holes for an exact shape.",
            MeshWarning,
            stacklevel=2,
        )
    return LoadedMesh(
        np.asarray(mesh.vertices, dtype=np.float64),
        np.asarray(mesh.faces, dtype=np.int64),
        bool(mesh.is_watertight),
    )


def _hull_thickness(mesh: trimesh.Trimesh) -> float:
    """Smallest spread of the vertices along their principal axes (file units)."""
    centered = mesh.vertices - mesh.vertices.mean(axis=0)
    _, _, axes = np.linalg.svd(centered, full_matrices=False)
    if axes.shape[0] < 3:
        return 0.0
    return float(np.ptp(centered @ axes.T, axis=0).min())


@dataclass(frozen=True)
class MassProperties:
    """Mass and inertia of an object in its frame, after unit and scale.

    Attributes:
        mass: kg.
        center: Centre of mass (m), shape: (3,).
        inertia: About the centre of mass, in the object's axes (kg m^2), shape: (3, 3).
    """

    mass: float
    center: np.ndarray
    inertia: np.ndarray

    def mjcf(self) -> str:
        """An MJCF ``<inertial>`` element."""
        i = self.inertia
        full = " ".join(f"{v:.6g}" for v in (i[0, 0], i[1, 1], i[2, 2], i[0, 1], i[0, 2], i[1, 2]))
        pos = " ".join(f"{v:.6g}" for v in self.center)
        return f'<inertial pos="{pos}" mass="{self.mass:.6g}" fullinertia="{full}"/>'


def mass_properties(
    entry: SceneObjectEntry, parts: list[tuple[np.ndarray, np.ndarray]]
) -> MassProperties:
    """Mass properties of the solid made of the convex ``parts`` (file units), uniform density.

    The mass is ``entry.mass``, or ``entry.density`` times the parts' volume (overlaps of parts
    count twice; CoACD's parts barely overlap). A fixed object without either gets 1 kg.
    """
    scale = entry.metres_per_unit
    hulls = [trimesh.Trimesh(v * scale, f).convex_hull for v, f in parts]
    solid = trimesh.util.concatenate(hulls)
    volume = float(sum(h.volume for h in hulls))
    if entry.mass is not None:
        mass = entry.mass
    elif entry.density is not None:
        mass = entry.density * volume
    else:
        mass = 1.0
    solid.density = mass / volume
    return MassProperties(mass, np.array(solid.center_mass), np.array(solid.moment_inertia))
