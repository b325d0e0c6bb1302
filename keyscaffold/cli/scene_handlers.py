"""Handlers of the scene verbs: ``scene check`` (a scene file's scene, settled and pictured) and
``scene export`` (a built-in task's scene written as a scene file)."""

from __future__ import annotations

import warnings
from pathlib import Path

from keyscaffold.cli.arguments import Scene
from keyscaffold.util import path_part


def run_scene(cmd: Scene) -> None:
    """``scene check FILE`` or ``scene export TASK``."""
    if cmd.action == "export":
        export_task_scene(cmd)
    else:
        check_scene(cmd)


def export_task_scene(cmd: Scene) -> None:
    """``scene export``: the task's scene at the initial state of ``--seed`` as a scene file."""
    from keyscaffold.sim.scene_export import (
        BodyKeypoint,
        ExportSource,
        SceneExportError,
        export_scene,
    )
    from keyscaffold.tasks import make_task

    task = make_task(cmd.file)
    state = task.sample_initial_state(cmd.seed)
    model = task.build_model()
    source = ExportSource(
        model=model,
        data=task.state_data(model, state),
        objects=tuple(obj.name for obj in task.scene_objects()),
        camera=task.camera.name,
        image_size=(cmd.size, cmd.size),
        embodiment=task.robot().name,
        start_wrist=tuple(state.wrist),
        instruction=task.instruction,
        keypoints=tuple(
            BodyKeypoint(k.name, k.body, k.local_pos, k.description, k.lift) for k in task.keypoints
        ),
        success_tolerance=cmd.success_tolerance,
    )
    out = cmd.out or Path("scenes") / f"{path_part(task.name)}_seed{cmd.seed}"
    try:
        path = export_scene(source, out, cmd.mesh_format)
    except SceneExportError as error:
        raise SceneExportError(f"scene export {task.name}: {error}") from error
    print(f"{path}: {task.name} at seed {cmd.seed}, objects {', '.join(source.objects)}")


def check_scene(cmd: Scene) -> None:
    """``scene check``: build the file's scene, let it settle, report contacts and movement."""
    from keyscaffold.sim.scene_check import check_scene_file
    from keyscaffold.sim.scene_file_reader import read_scene_file

    scene = read_scene_file(Path(cmd.file))
    out = cmd.out or Path("scene_check")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = check_scene_file(scene, out, cmd.cache_dir, cmd.settle_seconds, cmd.move_tolerance)
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
    files = f"{out}/contacts.json, {out}/start.png, {out}/settled.png"
    if problems:
        raise ValueError(
            f"scene check found {len(problems)} problem(s): {'; '.join(problems)} ({files})"
        )
    print(f"scene settles; {files}")
