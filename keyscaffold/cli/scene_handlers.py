"""Handlers of the scene verbs: ``scene check`` (a scene file's scene, settled and pictured)."""

from __future__ import annotations

import warnings

from keyscaffold.cli.arguments import Scene


def run_scene(cmd: Scene) -> None:
    """``scene check``: the only action so far."""
    from keyscaffold.sim.scene_check import check_scene_file
    from keyscaffold.sim.scene_file_reader import read_scene_file

    scene = read_scene_file(cmd.file)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = check_scene_file(
            scene, cmd.out, cmd.cache_dir, cmd.settle_seconds, cmd.move_tolerance
        )
    for warning in caught:
        print(f"warning: {warning.message}")
    for name, row in report["objects"].items():
        source = "cached" if row["decomposition_from_cache"] else "new"
        print(
            f"{name}: {row['parts']} convex parts ({source}), moved {row['moved_m'] * 1000:.1f} mm "
            f"and turned {row['turned_rad']:.3f} rad while settling"
        )
    problems = [
        f"{row['bodies'][0]} and {row['bodies'][1]} start {row['depth_m'] * 1000:.1f} mm inside "
        "each other"
        for row in report["start_penetrations"]
    ]
    problems += [
        f"{name} moved more than {cmd.move_tolerance * 1000:g} mm" for name in report["moved"]
    ]
    files = f"{cmd.out}/contacts.json, {cmd.out}/start.png, {cmd.out}/settled.png"
    if problems:
        raise ValueError(
            f"scene check found {len(problems)} problem(s): {'; '.join(problems)} ({files})"
        )
    print(f"scene settles; {files}")
