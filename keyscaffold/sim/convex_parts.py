"""Collision geometry of an imported mesh: its CoACD convex decomposition, and the MuJoCo mesh
files of the parts and of the original (visual) mesh, cached on disk.

A cache entry is one folder ``<cache>/<key>/`` named by the SHA-256 of the mesh's geometry
(``LoadedMesh.digest``), the decomposition settings and the CoACD version:

```
<key>/visual.stl          the original mesh (file units), drawn but never touched
<key>/part_000.stl ...    the convex parts (file units), the only geometry that collides
<key>/parts.json          digest, settings, CoACD version, part count, seconds the decomposition took
```

The folder is filled beside its final place and renamed into it (``util.atomic_directory``), so an
entry is complete or absent: an interrupted or failed import leaves nothing to reuse by mistake.
The parts stay in the mesh's file units, so an object's unit, scale or pose can change without a
new decomposition (CoACD's concavity threshold is relative to the mesh's size).

A mesh made of several closed pieces (a model whose parts were saved as separate, overlapping
shells, like a handle pushed into a mug's wall) is decomposed piece by piece: a convex piece is a
part as it is, a concave one goes to CoACD on its own. CoACD given such overlapping shells as one
mesh either remeshes them coarsely or, without preprocessing, can crash. A mesh with an open piece
(a scan with holes) goes to CoACD whole, whose preprocessing closes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import trimesh

from keyscaffold.sim.mesh_import import LoadedMesh
from keyscaffold.sim.scene_file import Decomposition
from keyscaffold.util import atomic_directory

ALGORITHM = 2
"""Version of how a mesh becomes parts (2: closed pieces one by one); part of the cache key."""


def default_cache_dir() -> Path:
    """``$KEYSCAFFOLD_CACHE/meshes``, else ``$XDG_CACHE_HOME/keyscaffold/meshes``, else
    ``~/.cache/keyscaffold/meshes``."""
    if os.environ.get("KEYSCAFFOLD_CACHE"):
        return Path(os.environ["KEYSCAFFOLD_CACHE"]) / "meshes"
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "keyscaffold" / "meshes"


@dataclass(frozen=True)
class MeshAssets:
    """The MuJoCo mesh files of one imported mesh (file units).

    Attributes:
        visual: The original mesh.
        parts: The convex parts, at least one.
        from_cache: The entry existed; no decomposition ran.
    """

    visual: Path
    parts: tuple[Path, ...]
    from_cache: bool

    def part_arrays(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(vertices (V, 3), faces (F, 3)) of every part."""
        meshes = [trimesh.load(path, force="mesh") for path in self.parts]
        return [(np.asarray(m.vertices), np.asarray(m.faces)) for m in meshes]


def cache_key(mesh: LoadedMesh, settings: Decomposition) -> str:
    """The folder name of a mesh's decomposition under ``settings``."""
    text = json.dumps(
        {
            "mesh": mesh.digest(),
            "settings": settings.cache_key(),
            "coacd": version("coacd"),
            "algorithm": ALGORITHM,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def decompose(mesh: LoadedMesh, settings: Decomposition) -> list[tuple[np.ndarray, np.ndarray]]:
    """Convex parts of ``mesh``, each (vertices (V, 3), faces (F, 3)) in its units: per closed
    piece (a convex piece as it is, a concave one by CoACD) when every piece is closed, else
    CoACD's parts of the whole mesh."""
    pieces = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).split(only_watertight=False)
    if not all(piece.is_watertight for piece in pieces):
        return _coacd(mesh.vertices, mesh.faces, settings)
    parts = []
    for piece in pieces:
        vertices, faces = np.asarray(piece.vertices), np.asarray(piece.faces, dtype=np.int64)
        parts += [(vertices, faces)] if piece.is_convex else _coacd(vertices, faces, settings)
    return parts


def _coacd(
    vertices: np.ndarray, faces: np.ndarray, settings: Decomposition
) -> list[tuple[np.ndarray, np.ndarray]]:
    """CoACD's convex parts of one mesh (vertices (V, 3), faces (F, 3))."""
    import coacd

    coacd.set_log_level("error")
    parts = coacd.run_coacd(
        coacd.Mesh(vertices, faces),
        threshold=settings.threshold,
        max_convex_hull=settings.max_convex_hulls,
        preprocess_mode=settings.preprocess,
        preprocess_resolution=settings.preprocess_resolution,
        resolution=settings.resolution,
        mcts_iterations=settings.mcts_iterations,
        mcts_nodes=settings.mcts_nodes,
        mcts_max_depth=settings.mcts_max_depth,
        seed=settings.seed,
    )
    return [(np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)) for v, f in parts]


def _entry(folder: Path) -> MeshAssets | None:
    manifest = folder / "parts.json"
    if not manifest.is_file():
        return None
    count = json.loads(manifest.read_text())["parts"]
    parts = tuple(folder / f"part_{i:03d}.stl" for i in range(count))
    return MeshAssets(folder / "visual.stl", parts, from_cache=True)


def mesh_assets(
    name: str, mesh: LoadedMesh, settings: Decomposition, cache_dir: Path
) -> MeshAssets:
    """The cached MuJoCo mesh files of ``mesh``, decomposing it first when they are missing.

    Args:
        name: The object's name, for messages.
        mesh: The checked mesh.
        settings: How to decompose it.
        cache_dir: Root of the cache (``default_cache_dir()``).
    """
    folder = Path(cache_dir) / cache_key(mesh, settings)
    found = _entry(folder)
    if found is not None:
        return found
    start = time.perf_counter()
    parts = [part for part in decompose(mesh, settings) if len(part[1])]
    seconds = time.perf_counter() - start
    if not parts:
        raise ValueError(f"object {name!r}: the convex decomposition returned no parts")
    with atomic_directory(folder) as tmp:
        _write_stl(tmp / "visual.stl", mesh.vertices, mesh.faces)
        for i, (vertices, faces) in enumerate(parts):
            _write_stl(tmp / f"part_{i:03d}.stl", vertices, faces)
        record = {
            "mesh": mesh.digest(),
            "settings": settings.cache_key(),
            "coacd": version("coacd"),
            "parts": len(parts),
            "seconds": round(seconds, 3),
        }
        (tmp / "parts.json").write_text(json.dumps(record, indent=2))
    written = tuple(folder / f"part_{i:03d}.stl" for i in range(len(parts)))
    return MeshAssets(folder / "visual.stl", written, from_cache=False)


def _write_stl(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    path.write_bytes(trimesh.Trimesh(vertices, faces, process=False).export(file_type="stl"))
