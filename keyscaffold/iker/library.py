"""A skill library for IKER: one PPO policy per skill, trained on the stage goals of many scenes.

The IKER loop trains a policy for each new skill of a run (``skills.skill_key``: task, object and
mode) on that one stage's goal. A library instead trains each skill once, on the goals its stages
take in many initial states, so that later runs reuse a policy that has seen the skill's whole
range of scenes (``IkerSettings(skills=<library>)``; ``keyscaffold iker --skills DIR``).

Building one (``build_skill_library``):

1. **Stage goals without training.** For every training seed, the IKER loop runs with the task's
   oracle and ideal execution (``execution="ideal"``: each stage's object is put where its targets
   say and the scene settles), so a later stage's goal starts from the scene the earlier stages
   leave, as in a real run. Optionally a perturbation moves an object between stages, so the
   goals also cover displaced scenes.
2. **One policy per skill.** The goals are grouped by skill key and each group trains one policy
   (``skills.train_skill``; start noise per episode as in any keypoint-env training).

Folder::

    library.json              task, skills (goals, seeds, training record), settings, provenance
    scenes/seed_<s>/          the ideal IKER run of each training seed (an IKER run folder)
    scenes_val/seed_<s>/      the same for each validation seed
    <task>__<object>__<mode>/ each skill's training run (train_env); a finished one is reused

A rerun reuses finished scenes and finished skills, so an interrupted build resumes.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from keyscaffold.iker.loop import RESULT_FILE, resume_iker
from keyscaffold.iker.run_settings import IkerSettings
from keyscaffold.iker.skills import library_skill, skill_folder, train_skill
from keyscaffold.planning.oracle import split_seeds
from keyscaffold.provenance import provenance
from keyscaffold.rl.config import TrainConfig, profile_config
from keyscaffold.rl.keypoint_env import KeypointEnvConfig, KeypointGoal
from keyscaffold.rl.metrics import training_record
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import InitialState
from keyscaffold.util import atomic_write_text

LIBRARY_FILE = "library.json"


def stage_goals(run_dir: Path) -> list[tuple[str, KeypointGoal]]:
    """The skill key and goal of every executed stage of an IKER run folder.

    Read from ``stage_<i>/state_start.json`` and ``stage_<i>/targets.json``; stages that did not
    reach execution (a failure, ``done``) have no targets and are left out.
    """
    summary = json.loads((Path(run_dir) / RESULT_FILE).read_text())
    goals = []
    for record in summary["stages"]:
        folder = Path(run_dir) / f"stage_{record['stage']}"
        if record["skill"] is None or not (folder / "targets.json").exists():
            continue
        targets = json.loads((folder / "targets.json").read_text())
        state = InitialState.from_json(json.loads((folder / "state_start.json").read_text()))
        goal = KeypointGoal(
            initial_state=state,
            object=targets["object"],
            keypoints_local=np.array(targets["keypoints_local"]),
            targets=np.array(targets["targets"]),
            mode=targets["mode"],
            grasp_local=tuple(targets["grasp_local"]),
            grasp_angles=targets.get("grasp_angles"),
        )
        goals.append((targets["skill"], goal))
    return goals


def build_skill_library(
    task_name: str,
    out: Path,
    num_states: int = 10,
    minutes: float = 8.0,
    num_val_states: int = 4,
    seed: int = 0,
    perturb: float = 0.0,
    train: TrainConfig | None = None,
    env_config: KeypointEnvConfig | None = None,
    command: str = "",
    show_progress: bool = False,
) -> dict:
    """Train one policy per skill of ``task_name`` on the oracle's stage goals of many scenes.

    Args:
        task_name: An IKER task with a stage oracle (single- or multi-step).
        out: The library folder (see the module docstring); finished parts are reused.
        num_states: Training seeds (the train split of ``seed``, disjoint from test seeds).
        minutes: Training wall time per skill.
        num_val_states: Validation seeds (the val split): their ideal runs' stage goals
            validate each skill during training, and its best policy is kept (``best.pt``).
        seed: Seed of the split and of training.
        perturb: Move one object up to this far (m) between the stages of every other scene
            (seeds at odd positions), so the goals include displaced scenes.
        train: PPO settings (default: the CPU profile); ``minutes`` and ``seed`` are replaced.
        env_config: Keypoint env settings (default ``KeypointEnvConfig()``).
        command: The command line to record.
        show_progress: Progress bars while training.

    Returns:
        The contents of ``library.json``.

    Raises:
        ValueError: A task without a stage oracle, or no scene gave any goal.
    """
    task = make_task(task_name)
    if "iker" not in task.modes:
        raise ValueError(f"task {task.name!r} has no stage oracle to build a skill library from")
    if num_states < 1 or minutes <= 0:
        raise ValueError("num_states must be at least 1 and minutes positive")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train = replace(train or profile_config("cpu"), minutes=minutes, seed=seed)
    env_config = env_config or KeypointEnvConfig()
    started = time.perf_counter()

    def scene_goals(split: str, count: int) -> tuple[list[dict], dict, dict]:
        """Ideal runs of ``count`` seeds of ``split``; their records, goals and seeds by skill."""
        records, by_skill, skill_seeds = [], {}, {}
        for position, scene_seed in enumerate(split_seeds(split, seed, count)):
            folder = (
                out / ("scenes" if split == "train" else f"scenes_{split}") / f"seed_{scene_seed}"
            )
            settings = IkerSettings(
                planner="oracle",
                seed=scene_seed,
                perturb=perturb if position % 2 else 0.0,
                env_config=env_config,
                execution="ideal",
            )
            summary = resume_iker(task.name, folder, settings)
            records.append(
                {
                    "seed": scene_seed,
                    "success": summary["success"],
                    "stage_success": summary["stage_success"],
                    "failure": summary["failure"],
                }
            )
            for key, goal in stage_goals(folder):
                by_skill.setdefault(key, []).append(goal)
                skill_seeds.setdefault(key, []).append(scene_seed)
        return records, by_skill, skill_seeds

    scenes, by_skill, skill_seeds = scene_goals("train", num_states)
    if not by_skill:
        raise ValueError(f"no scene of {task.name} gave a stage goal: {scenes}")
    _, val_by_skill, val_seeds = scene_goals("val", num_val_states)

    skills = {}
    for number, (key, goals) in enumerate(sorted(by_skill.items())):
        run_dir = skill_folder(out, key)
        if library_skill(out, key) is None:
            if run_dir.exists():
                shutil.rmtree(run_dir)  # an interrupted training run starts again
            train_skill(
                task,
                goals,
                run_dir,
                replace(train, seed=seed + number),
                env_config,
                seed=seed + number,
                description={
                    "skill": key,
                    "library": True,
                    "scene_seeds": skill_seeds[key],
                    "validation_seeds": val_seeds.get(key, []),
                },
                show_progress=show_progress,
                validation_goals=val_by_skill.get(key),
            )
        skills[key] = {
            "folder": run_dir.name,
            "goals": len(goals),
            "scene_seeds": skill_seeds[key],
            "validation_seeds": val_seeds.get(key, []),
            "training": training_record(run_dir),
        }
    library = {
        "task": task.name,
        "skills": skills,
        "scenes": scenes,
        "settings": {
            "num_states": num_states,
            "num_val_states": num_val_states,
            "minutes": minutes,
            "seed": seed,
            "perturb": perturb,
            "train": asdict(train),
            "keypoint_env": asdict(env_config),
        },
        "command": command,
        **provenance(),
        "total_s": time.perf_counter() - started,
    }
    atomic_write_text(out / LIBRARY_FILE, json.dumps(library, indent=2))
    return library
