"""The ``keyscaffold`` command line: one subcommand per verb, parsed once by tyro.

The verbs' settings are in ``arguments.py``, their handlers in ``scaffold_handlers.py``,
``iker_handlers.py``, ``scene_handlers.py`` and ``deploy_handlers.py``; ``command_line.py``
writes a parsed verb back as the command that repeats it.
"""

from __future__ import annotations

import sys

import tyro

from keyscaffold.cli.arguments import (
    Batch,
    Bench,
    Benchmark,
    Command,
    Demo,
    Deploy,
    Eval,
    Export,
    Iker,
    Plan,
    Refine,
    Render,
    Scene,
    Skills,
    Tasks,
    Train,
)
from keyscaffold.cli.deploy_handlers import run_deploy
from keyscaffold.cli.iker_handlers import run_iker, run_skills
from keyscaffold.cli.scaffold_handlers import (
    run_batch,
    run_bench,
    run_benchmark_protocol,
    run_demo,
    run_eval,
    run_export,
    run_plan,
    run_refine,
    run_render,
    run_tasks,
    run_train,
)
from keyscaffold.cli.scene_handlers import run_scene

HANDLERS = {
    Tasks: run_tasks,
    Render: run_render,
    Plan: run_plan,
    Train: run_train,
    Eval: run_eval,
    Export: run_export,
    Deploy: run_deploy,
    Batch: run_batch,
    Refine: run_refine,
    Demo: run_demo,
    Bench: run_bench,
    Benchmark: run_benchmark_protocol,
    Iker: run_iker,
    Skills: run_skills,
    Scene: run_scene,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; user errors become one-line messages and exit code 2."""
    command = tyro.cli(
        Command, args=argv, prog="keyscaffold", config=(tyro.conf.OmitSubcommandPrefixes,)
    )
    from keyscaffold.planning.plan import PlanError

    try:
        HANDLERS[type(command)](command)
    except (KeyError, FileNotFoundError, FileExistsError, PlanError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"keyscaffold: error: {message}", file=sys.stderr)
        return 2
    return 0
