"""A training run's folder: what is written there when a run starts, and reading it back.

Layout::

    RUN_DIR/config.json            the task, plans, embodiment, action names and TrainConfig
    RUN_DIR/policy_io.json         the policy's inputs and outputs (``rl/policy_io.py``)
    RUN_DIR/checkpoints/{best,latest,final}.pt
    RUN_DIR/metrics.csv            one row per iteration (``rl/metrics.py``)
    RUN_DIR/tensorboard/

Everything a run writes into ``config.json`` is assembled here (``run_config_json``) and written
by ``start_run_folder``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

from keyscaffold.rl.config import TrainConfig
from keyscaffold.rl.env import ScaffoldEnv
from keyscaffold.tasks.base import Task
from keyscaffold.util import atomic_write_text


def run_config_json(task: Task, config: TrainConfig, plans_dir: str, env: ScaffoldEnv) -> dict:
    """The run's configuration as plain data (written to config.json, read by eval)."""
    return {
        "task": task.name,
        "plans": plans_dir,
        "embodiment": env.robot.name,
        "action_spec": env.action_spec.name,
        "action_names": list(env.action_spec.names),
        "train": asdict(config),
    }


def start_run_folder(run_dir: Path, description: dict) -> None:
    """Create a new run's folder and write ``description`` (``run_config_json``) as its
    ``config.json``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps(description, indent=2))


def check_run_folder(run_dir: Path, resume: bool) -> Path:
    """The run's latest checkpoint path; refuses a resume without one, or a new run over one."""
    latest = run_dir / "checkpoints" / "latest.pt"
    if resume and not latest.exists():
        raise FileNotFoundError(
            f"--resume: no checkpoint at {latest}; start the run without --resume"
        )
    if not resume and latest.exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; pass --resume to continue it or pick a new --out"
        )
    return latest


def _from_plain(cls: type, data: dict):
    """Rebuild a (nested) frozen dataclass from ``asdict`` output."""
    kwargs = {}
    for item in fields(cls):
        if item.name not in data:
            continue
        value, default = data[item.name], getattr(cls(), item.name)
        if is_dataclass(default):
            value = _from_plain(type(default), value)
        elif isinstance(default, tuple) or isinstance(value, list):
            value = tuple(value)
        kwargs[item.name] = value
    return cls(**kwargs)


CHECKPOINTS = ("best", "latest", "final")


def checkpoint_file(run: Path, which: str = "latest") -> Path:
    """The checkpoint of a run folder: ``best`` (by validation success; the latest when the run
    kept none), ``latest`` or ``final``; a checkpoint file is returned as it is."""
    run = Path(run)
    if run.is_file():
        return run
    if which not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {which!r}; use one of {', '.join(CHECKPOINTS)}")
    folder = run / "checkpoints"
    if which == "best" and not (folder / "best.pt").exists():
        which = "latest"
    return folder / f"{which}.pt"


def checkpoint_and_config(run: Path) -> tuple[Path, Path]:
    checkpoint = checkpoint_file(run)
    config_path = checkpoint.parent.parent / "config.json"
    if not checkpoint.exists() or not config_path.exists():
        raise FileNotFoundError(
            f"no trained policy at {run}: expected checkpoints/latest.pt and config.json; "
            "train one with `keyscaffold train TASK --plans DIR --out RUN_DIR`"
        )
    return checkpoint, config_path


def load_run_config(run: Path) -> TrainConfig:
    """The training configuration of a run folder (or of a checkpoint inside it)."""
    _, config_path = checkpoint_and_config(run)
    return _from_plain(TrainConfig, json.loads(config_path.read_text())["train"])


def run_plans_dir(run: Path) -> Path:
    """The plan set a run (or a checkpoint inside it) was trained on."""
    _, config_path = checkpoint_and_config(run)
    return Path(json.loads(config_path.read_text())["plans"])
