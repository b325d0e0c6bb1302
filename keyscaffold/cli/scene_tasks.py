"""``--scene FILE`` on plan, train, eval, iker and benchmark: the file's task is registered and the
verb runs on it.

With ``--scene``, TASK may be left out or must be the scene's task name (``scene:<file stem>``);
``iker`` reads any other text in its place as the instruction, which replaces the file's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from keyscaffold.cli.arguments import Iker

Verb = TypeVar("Verb")


def with_scene_task(cmd: Verb) -> Verb:
    """``cmd`` with its ``task`` set to the scene file's task, registered now; ``cmd`` itself
    without ``--scene``. A scaffold verb checks that the file gives keypoints and a tolerance.

    Raises:
        SceneFileError: The file cannot be used (names the field to fix).
        ValueError: No task and no scene file, or a TASK that is not the scene's task.
    """
    from keyscaffold.tasks.from_scene import register_scene_task, scene_task_name

    scene = cmd.scene  # type: ignore[attr-defined]
    given = cmd.task  # type: ignore[attr-defined]
    if scene is None:
        if not given:
            raise ValueError(
                "name a TASK (list them with `keyscaffold tasks`) or give --scene FILE"
            )
        return cmd
    name = scene_task_name(scene)
    iker = isinstance(cmd, Iker)
    if given and given != name and not iker:
        raise ValueError(
            f"TASK {given!r} is not the task of {scene}, which is {name!r}; leave TASK out "
            "with --scene"
        )
    instruction = given if iker and given != name else ""
    task = register_scene_task(scene, instruction)
    if not iker:
        task.require_scaffold()
    return replace(cmd, task=name)  # type: ignore[type-var]
