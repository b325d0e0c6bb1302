"""Exporting a trained policy for a robot (``keyscaffold export``).

An export folder holds everything ``keyscaffold.deploy.PolicyRuntime`` needs and nothing that
needs torch or MuJoCo to read:

- ``policy.onnx``: the deterministic actor, observation normalizer inside, written through
  rsl_rl's own ONNX path (``MLPModel.as_onnx`` and the exporter settings rsl_rl's runner uses,
  with the weights kept inside the one file); input ``obs`` of shape (1, num_observations),
  output ``actions`` of shape (1, num_actions);
- ``policy_io.json``: the run's policy I/O spec;
- ``kinematics.json``: the robot's body tree, effector sites, grip mapping and, for an arm, its
  serial chain, joint limits and IK settings (``sim.robot_description``).

The ONNX file is checked against the torch actor before the export is reported done.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from rsl_rl.models import MLPModel

from keyscaffold.rl.deployed import load_actor
from keyscaffold.rl.policy_io import POLICY_IO_FILE, PolicyIO
from keyscaffold.sim.robot_description import robot_description
from keyscaffold.tasks import Task, make_task
from keyscaffold.util import atomic_write_text

EXPORT_FORMATS = ("onnx",)
POLICY_FILE = "policy.onnx"
KINEMATICS_FILE = "kinematics.json"
ONNX_OPSET = 18
"""The opset rsl_rl's runner exports with."""


def export_policy(
    run: Path, which: str = "best", out: Path | None = None, fmt: str = "onnx"
) -> dict[str, Path]:
    """Write a run's policy as an export folder (module docstring).

    Args:
        run: A run folder of ``keyscaffold train`` (or a checkpoint file inside it).
        which: ``best``, ``latest`` or ``final``.
        out: The export folder; default ``RUN/export``.
        fmt: The network format; only ``onnx``.

    Returns:
        The written files by kind (``policy``, ``policy_io``, ``kinematics``).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    run = Path(run)
    if not run.exists():
        raise FileNotFoundError(
            f"no run folder or checkpoint {run}: train one with `keyscaffold train`"
        )
    run_dir = run.parent.parent if run.is_file() else run
    spec, actor = load_actor(run, which)
    if spec.mode != "plan_residual":
        raise ValueError(
            f"{run} holds a {spec.mode} policy (an IKER skill); export covers plan_residual "
            "(scaffold) policies, whose action post-processing the deployment runtime reproduces"
        )
    return export_actor(actor, spec, make_task(spec.task), out or run_dir / "export")


def export_actor(actor: MLPModel, spec: PolicyIO, task: Task, out: Path) -> dict[str, Path]:
    """Write an actor and its policy I/O spec as an export folder for ``task``'s robot (module
    docstring); an untrained actor (``rl.deployed.build_actor``) serves for timing a runtime.

    Args:
        actor: The actor network.
        spec: Its policy I/O spec (``plan_residual``).
        task: The task the spec names, whose scene carries the robot.
        out: The export folder.

    Returns:
        The written files by kind (``policy``, ``policy_io``, ``kinematics``).
    """
    robot = task.robot()
    if robot.name != spec.embodiment:
        raise ValueError(
            f"task {spec.task!r} now uses embodiment {robot.name!r}; the policy was trained on "
            f"{spec.embodiment!r}"
        )
    kinematics = robot_description(task.build_model(), robot, spec.action_spec)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "policy": out / POLICY_FILE,
        "policy_io": out / POLICY_IO_FILE,
        "kinematics": out / KINEMATICS_FILE,
    }
    write_onnx(actor, files["policy"])
    spec.save(out)
    atomic_write_text(files["kinematics"], json.dumps(kinematics, indent=2))
    return files


def write_onnx(actor: MLPModel, path: Path) -> None:
    """Write the deterministic actor to ``path`` through rsl_rl's ONNX wrapper, atomically, and
    check that onnxruntime computes what torch does.

    Args:
        actor: The actor network (``load_actor``).
        path: The ``.onnx`` file.
    """
    wrapper = actor.as_onnx(verbose=False).to("cpu").eval()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with _quiet_exporter():
            torch.onnx.export(
                wrapper,
                wrapper.get_dummy_inputs(),
                temporary,
                export_params=True,
                opset_version=ONNX_OPSET,
                verbose=False,
                input_names=wrapper.input_names,
                output_names=wrapper.output_names,
                external_data=False,  # one self-contained file; an MLP is far below 2 GB
            )
        _check_onnx(wrapper, Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's progress lines, its notes on missing torchvision operators and its
    deprecation warnings, which say nothing about the exported actor."""
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        exporter_log.setLevel(level)


def _check_onnx(wrapper: torch.nn.Module, path: Path, samples: int = 8) -> None:
    """Refuse an ONNX file whose actions differ from the torch actor's on random observations."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (example,) = wrapper.get_dummy_inputs()
    rng = np.random.default_rng(0)
    for _ in range(samples):
        obs = rng.normal(size=tuple(example.shape)).astype(np.float32)
        with torch.inference_mode():
            expected = wrapper(torch.from_numpy(obs)).numpy()
        got = session.run(None, {name: obs})[0]
        if not np.allclose(got, expected, atol=1e-5):
            raise ValueError(
                f"the exported ONNX actor differs from the torch actor by "
                f"{np.abs(got - expected).max():.2e}; the export is not usable"
            )
