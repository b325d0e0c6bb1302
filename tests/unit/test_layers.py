"""The package's layers hold: no import runs upward, no code above ``sim`` touches the MuJoCo batch,
no wrist joint index outside the embodiments, no capability probed, files of one concern."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "keyscaffold"

BASE = {
    "util",
    "geometry",
    "kinematics",
    "registry",
    "provenance",
    "sandbox",
    "_sandbox_child",
    "annotate",
}
"""Layer 0: small shared modules every layer may import (``kinematics``: numpy robot kinematics
and IK, shared by the arm controller and the deployment runtime)."""
PLANNING_IKER = {
    "keypoints",
    "candidates",
    "projection",
    "fixture_points",
    "overlay",
    "codegen",
    "code_prompt",
    "code_records",
    "code_settings",
    "stage_code",
    "stage",
}
"""IKER modules that plan (candidate keypoints, stage code from a model); the rest of ``iker``
runs training and execution (loop, stage runner, skills, library, evaluation): application."""


def layer_of(module: str) -> str:
    """The layer of a module path relative to the package (``sim.batch``, ``iker.loop``)."""
    parts = module.split(".")
    top = parts[0]
    if module in ("", "__init__") or top in BASE:
        return "base"
    if top in ("sim", "vlm", "tasks", "planning", "rl", "deploy"):
        return top
    if top == "iker":
        name = parts[1] if len(parts) > 1 else "stage"
        return "planning" if name in PLANNING_IKER else "application"
    return "application"  # cli, commands, protocol, benchmark, evaluation, gym, ...


ALLOWED = {
    "base": {"base"},
    "sim": {"base", "sim"},
    "vlm": {"base", "vlm"},
    "tasks": {"base", "sim", "tasks"},
    "planning": {"base", "sim", "vlm", "tasks", "planning"},
    "rl": {"base", "sim", "tasks", "rl"},
    "application": {"base", "sim", "vlm", "tasks", "planning", "rl", "application", "deploy"},
    "deploy": {"base", "deploy"},
}
"""Which layers each layer may import. ``rl`` also reads the plan data (``planning.plan``).
``deploy`` runs on a robot's computer: besides the numpy-only base modules it reads only the
policy I/O spec (``rl.policy_io``, numpy and json), so the spec's mechanism has one copy."""
MAY_READ = {"rl": {"planning.plan"}, "deploy": {"rl.policy_io"}}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def _imports(module: str, path: Path) -> set[str]:
    """Package modules ``module`` imports, relative to the package."""
    names = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
                names.add(name)
            elif node.module and node.module.startswith("keyscaffold"):
                names.add(node.module[len("keyscaffold") + 1 :])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("keyscaffold"):
                    names.add(alias.name[len("keyscaffold") + 1 :])
    return names


def test_no_import_runs_upward():
    upward = []
    for module, path in _modules():
        layer = layer_of(module)
        for target in _imports(module, path):
            if target in MAY_READ.get(layer, ()):
                continue
            if layer_of(target) not in ALLOWED[layer]:
                upward.append(f"{module} ({layer}) imports {target} ({layer_of(target)})")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def test_the_layer_map_sees_the_package():
    assert layer_of("sim.batch") == "sim" and layer_of("iker.loop") == "application"
    assert layer_of("iker.codegen") == "planning" and layer_of("cli") == "application"
    assert layer_of("deploy.runtime") == "deploy"
    assert _imports("rl.env", PACKAGE / "rl" / "env.py") >= {"planning.plan", "rl.batched_env"}


def _lines(pattern: str, outside: str) -> list[str]:
    hits = []
    for module, path in _modules():
        if module.startswith(outside):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line):
                hits.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    return hits


@pytest.mark.parametrize(
    "pattern, outside, what",
    [
        (r"\[:, :6\]|\[:, 6:\]", "sim.embodiments", "wrist joint slices"),
        (r"\.batch\.", "sim", "reads of the MuJoCo batch object"),
        (r"hasattr\(task", "\0", "probes of a task's capabilities"),
    ],
)
def test_no_seam_is_bypassed(pattern, outside, what):
    hits = _lines(pattern, outside)
    assert not hits, f"{what} outside {outside}:\n" + "\n".join(hits)


def test_files_stay_of_one_concern():
    long = [
        f"{path.relative_to(PACKAGE)}: {count} lines"
        for _, path in _modules()
        if (count := len(path.read_text().splitlines())) > 500
    ]
    assert not long, "files over 500 lines:\n" + "\n".join(long)
