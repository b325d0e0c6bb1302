"""The IKER loop: look, write a stage's code, train a policy for it, execute, look again.

``run_iker`` solves one initial state of a gripper task stage by stage (SPEC section 6), as its
``run_settings.IkerSettings`` say; ``stage_runner.StageRunner`` does the simulator's part and
``perturb`` moves an object between stages. Each stage:

1. renders the task camera at the current scene state and proposes numbered candidate keypoints
   on the movable objects and the fixtures (``keypoints.propose``);
2. gets the stage's ``get_interaction_data`` code, from the task's oracle or a vision-language
   model, through ``codegen.CodeWork`` (sandbox, contract check, typed failures; the multi-step
   prompt shows every earlier stage's picture, code and outcome);
3. stops when the code says ``done`` (or after the only stage in single-step mode); a stage
   whose code failed (after ``repairs``) is recorded with its typed failure and, in multi-step
   mode, asked again on the same scene with the failure in the history, as is a stage whose
   execution missed (step 5); the run ends after ``stage_retries + 1`` failures in a row or at
   the stage limit (the loop never raises for bad code);
4. otherwise turns the spec into a ``KeypointGoal`` (the chosen candidates' body-frame positions
   and their targets) and trains a PPO policy on it in a ``KeypointEnv`` with randomized starts,
   or reuses the policy of an earlier stage of this run with the same skill
   (``skills.skill_key``: task, object and mode), or the library's policy for that skill (a
   ``skills`` folder that ``keyscaffold.iker.library`` trained on many scenes);
5. executes the policy deterministically in one world from the current state, lets go, settles,
   reads the scene back as the next stage's state and reports the outcome (keypoint success:
   mean distance < 5 cm after the release) to the code work; with ``execution="ideal"`` nothing
   is trained: the object is moved to where its targets put it (``skills.ideal_placement``) and
   the scene settles, which checks a plan and gives a skill library its scenes;
6. optionally perturbs the scene (one movable object moved up to ``perturb`` m in x/y, then
   settled) before the next stage looks at it.

The task's own ``evaluate`` runs after every simulated control step of the run, carried from
stage to stage, so its verdict at the end (``success`` in ``iker.json``) judges the whole run; a
task without a rule of its own (``Task.stage_verdict``, a task from a scene file) succeeds when
every acting stage reached its targets (and a multi-step run said done).

Run folder::

    iker.json                 task, settings, success (task's own), stage_success, stages,
                              failure, skills, command, provenance, timing; written before
                              any picture and again after every stage
    stages.png                the stages' pictures in a strip, each titled with its outcome
    codegen/                  the CodeWork folder (requests, answers, code, specs, outcomes)
    stage_<i>/
        scene.png             the numbered candidates the code was written for
        code.py               the stage's code (when any was extracted)
        state_start.json      InitialState the stage started from
        targets.json          spec, skill key, keypoints in the object frame, grasp point and angles
        policy/               the policy's training run (train_env), or
        policy.json           {"reused_from": "stage_<j>/policy", "skill": ...}
        outcome.json          what executing it did (also kept by the code work)
        state_end.json        InitialState after the release (and the perturbation, if any)
        rollout.mp4           the execution (with ``video=True``)
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from keyscaffold.evaluation.media import plt
from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.iker.code_settings import CodeSettings
from keyscaffold.iker.codegen import CodeWork
from keyscaffold.iker.perturb import perturb_after_stage
from keyscaffold.iker.run_settings import IkerSettings
from keyscaffold.iker.skills import goal_from_spec, skill_key
from keyscaffold.iker.stage import StageSpec
from keyscaffold.iker.stage_code import Oracle, with_target_noise
from keyscaffold.iker.stage_runner import StageRunner, state_json
from keyscaffold.provenance import provenance
from keyscaffold.rl.config import TrainConfig, profile_config
from keyscaffold.rl.keypoint_env import KeypointEnvConfig
from keyscaffold.sim.batch import SimulationDiverged
from keyscaffold.sim.embodiments.gripper import FloatingGripper
from keyscaffold.tasks import make_task
from keyscaffold.tasks.base import InitialState, Task
from keyscaffold.util import atomic_write_text
from keyscaffold.vlm.client import VLMClient, VLMConfig

RESULT_FILE = "iker.json"
EXECUTION_FAILURES = ("missed_targets", "left_workspace", "simulation_diverged")
"""Failure types of an executed stage (beside the code failures of ``stage_code.FAILURE_KINDS``)
and of the loop itself: ``request_failed`` (the model's answer did not arrive)."""


def _stage_title(record: dict) -> str:
    """Two lines under a stage's picture in ``stages.png``."""
    head = f"stage {record['stage']}"
    if record.get("done"):
        return f"{head}: done"
    if record.get("object") is None:
        return f"{head}: failed\n{record.get('failure')}"
    verdict = "success" if record.get("success") else "no success"
    distance = record.get("final_distance")
    distance = "" if distance is None else f", {distance:.3f} m"
    reused = " (reused)" if record.get("reused_policy") else ""
    return f"{head}: {record['mode']} {record['object']}{reused}\n{verdict}{distance}"


def draw_stages(out: Path, summary: dict) -> Path | None:
    """``stages.png``: each stage's picture with its outcome, left to right; None if no stage
    has a picture."""
    pictures = [(r, out / f"stage_{r['stage']}" / "scene.png") for r in summary["stages"]]
    pictures = [(r, path) for r, path in pictures if path.exists()]
    if not pictures:
        return None
    fig, axes = plt.subplots(1, len(pictures), figsize=(3.4 * len(pictures), 3.9), squeeze=False)
    for ax, (record, path) in zip(axes[0], pictures):
        ax.imshow(plt.imread(path))
        ax.set_title(_stage_title(record), fontsize=9)
        ax.axis("off")
    verdict = {True: "task succeeded", False: "task not succeeded", None: "task not judged"}
    fig.suptitle(f"{summary['task']} ({summary['planner']}): {verdict[summary['success']]}")
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.93))
    path = out / "stages.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def resume_iker(task_name: str, out: Path, settings: IkerSettings | None = None) -> dict:
    """The finished IKER run in ``out`` (its ``iker.json`` read back), or ``run_iker(task_name,
    out, settings)``; an interrupted run found there is removed and started again."""
    out = Path(out)
    result = out / RESULT_FILE
    if result.exists():
        summary = json.loads(result.read_text())
        if "total_s" in summary.get("timing", {}) and "error" not in summary:
            return summary
    if out.exists():
        shutil.rmtree(out)
    return run_iker(task_name, out, settings)


def run_iker(task_name: str, out: Path, settings: IkerSettings | None = None) -> dict:
    """Solve one initial state of an IKER task stage by stage; writes the run folder ``out``.

    Args:
        task_name: A registered gripper task (the IKER tasks: shoe_place, shoe_push, book_push,
            book_reorient, shoes_on_rack), on the floating gripper or on an arm that carries it
            (``book_push@xarm_gripper``).
        out: The run folder (new, or empty).
        settings: How to solve it (default ``IkerSettings()``: the oracle planner, policies).

    Returns:
        The contents of ``iker.json``.

    Raises:
        ValueError: A task whose robot carries no gripper, or with no stage oracle for the oracle
            planner, a skill library that is not a folder.
        FileExistsError: ``out`` already holds an IKER run.
    """
    s = settings or IkerSettings()
    if s.skills is not None and not Path(s.skills).is_dir():
        raise ValueError(f"skill library {s.skills} is not a folder; build one with iker.library")
    task = make_task(task_name)
    if not issubclass(task.robot().tool_kind, FloatingGripper):
        raise ValueError(
            f"IKER runs on the parallel gripper (floating, or on an arm such as xarm_gripper); "
            f"task {task.name!r} uses {task.robot().name!r}, which carries "
            f"{task.robot().tool_kind.__name__}"
        )
    if s.planner == "oracle" and "iker" not in task.modes:
        raise ValueError(f"task {task.name!r} has no stage oracle; use --planner vlm")
    out = Path(out)
    if (out / RESULT_FILE).exists() or (out / "codegen").exists():
        raise FileExistsError(f"{out} already holds an IKER run; pick a new --out")
    out.mkdir(parents=True, exist_ok=True)
    if s.multi_step is None:
        s = replace(s, multi_step=getattr(task, "num_stages", lambda: 1)() > 1)
    s = replace(s, vlm=s.vlm or VLMConfig())
    train = replace(s.train or profile_config("cpu"), minutes=s.minutes_per_stage)
    env_config = s.env_config or KeypointEnvConfig()
    work = CodeWork(out / "codegen", _code_settings(task, s), oracle=_oracle(task, s))
    client = VLMClient(s.vlm) if s.planner == "vlm" else None
    summary = _summary(task, out, s, train, env_config)
    run = StageRunner(task, out, work, client, s, train, env_config)
    started = time.perf_counter()
    atomic_write_text(out / RESULT_FILE, json.dumps(summary, indent=2))
    try:
        _loop(run, summary, task.sample_initial_state(s.seed), s.perturb)
    except BaseException as error:
        summary["error"] = f"{type(error).__name__}: {error}"
        raise
    finally:
        run.close()
        summary["skills"] = dict(run.skills)
        summary["timing"]["total_s"] = time.perf_counter() - started
        # The numbers land before any picture is drawn: a picture that fails loses no result.
        atomic_write_text(out / RESULT_FILE, json.dumps(summary, indent=2))
    try:
        picture = draw_stages(out, summary)
        summary["stages_png"] = None if picture is None else picture.name
    except Exception as error:  # the strip must never cost the run its results
        warnings.warn(f"stages.png skipped: {error}", stacklevel=2)
    return summary


def _code_settings(task: Task, s: IkerSettings) -> CodeSettings:
    """The code work's settings for a run (``s.multi_step`` and ``s.vlm`` resolved)."""
    return CodeSettings.for_task(
        task,
        seeds=[s.seed],
        multi_step=s.multi_step,
        max_stages=s.max_stages,
        source=s.planner,
        repairs=s.repairs,
        stage_retries=s.stage_retries,
        label_keypoints=s.label_keypoints,
        prompt_version=s.prompt_version,
        **(
            {"model": s.vlm.model, "temperature": s.vlm.temperature, "max_tokens": s.vlm.max_tokens}
            if s.planner == "vlm"
            else {}
        ),
    )


def _oracle(task: Task, s: IkerSettings) -> Oracle | None:
    """The task's stage oracle (off by ``s.target_noise``), or None for the model planner."""
    oracle = task.oracle_code if s.planner == "oracle" else None
    if oracle is not None and s.target_noise > 0:
        oracle = with_target_noise(oracle, s.target_noise, s.seed)
    return oracle


def _summary(
    task: Task, out: Path, s: IkerSettings, train: TrainConfig, env_config: KeypointEnvConfig
) -> dict[str, Any]:
    """``iker.json`` before the first stage: the task, the settings, nothing done yet."""
    return {
        "task": task.name,
        "instruction": task.instruction,
        "planner": s.planner,
        "seed": s.seed,
        "multi_step": s.multi_step,
        "max_stages": s.max_stages,
        "perturb": s.perturb,
        "execution": s.execution,
        "skill_library": None if s.skills is None else str(s.skills),
        "success": None,
        "stage_success": [],
        "done": False,
        "failure": None,
        "stages": [],
        "skills": {},
        "settings": {
            "minutes_per_stage": s.minutes_per_stage,
            "train": asdict(train),
            "keypoint_env": asdict(env_config),
            "image_size": s.image_size,
            "settle_steps": s.settle_steps,
            "repairs": s.repairs,
            "stage_retries": s.stage_retries,
            "label_keypoints": s.label_keypoints,
            "prompt_version": s.prompt_version,
            "target_noise": s.target_noise,
            **(
                {"vlm": {"base_url": s.vlm.base_url, "model": s.vlm.model}}
                if s.planner == "vlm"
                else {}
            ),
        },
        "command": s.command
        or _call_text(task.name, s.planner, out, s.seed, s.multi_step, s.perturb),
        **provenance(),
        "timing": {},
    }


def _call_text(task: str, planner: str, out: Path, seed: int, multi: bool, perturb: float) -> str:
    return (
        f"run_iker({task!r}, {str(out)!r}, planner={planner!r}, seed={seed}, "
        f"multi_step={multi}, perturb={perturb})"
    )


def _loop(run: StageRunner, summary: dict, state: InitialState, perturb: float) -> None:
    """The stages, until done, a final failure or the stage limit; a failed stage is asked
    again (``CodeWork.fail``, ``record_outcome``); fills ``summary`` in place."""
    work, seed, out = run.work, run.seed, run.out
    timing = summary["timing"]
    for index in range(work.settings.stage_limit + 1):
        if work.waiting_for(seed) in ("done", "failed"):
            break
        folder = out / f"stage_{index}"
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "state_start.json", state_json(state))
        start = time.perf_counter()
        candidates = run.look(state)
        work.observe(seed, index, candidates)
        (folder / "scene.png").write_bytes(
            (work.record_dir(seed) / f"code-{index}.png").read_bytes()
        )
        work.run(run.client, show_progress=run.show_progress)
        timing[f"stage_{index}_code_s"] = time.perf_counter() - start
        code = work.code(seed, index)
        if code is not None:
            atomic_write_text(folder / "code.py", code)
        record: dict[str, Any] = {
            "stage": index,
            "code": code,
            "object": None,
            "mode": None,
            "keypoints": [],
            "targets": None,
            "done": False,
            "success": None,
            "final_distance": None,
            "failure": None,
            "failure_message": None,
            "reused_policy": False,
            "policy": None,
            "skill": None,
            "perturbation": None,
        }
        summary["stages"].append(record)
        spec = work.stage_spec(seed, index)
        if spec is None:
            if _code_failed(work, seed, index, record, summary):
                break
            atomic_write_text(out / RESULT_FILE, json.dumps(summary, indent=2))
            continue  # the same scene, asked again with the failure in the history
        record.update(spec.to_json())
        if spec.done:
            summary["done"] = True
            record["success"] = None
            break
        state = _act(run, summary, record, index, spec, candidates, state, folder)
        if record["failure"] == "simulation_diverged":
            break
        if perturb > 0 and work.waiting_for(seed) == "observe":
            state = perturb_after_stage(run, record, index, state, perturb, folder)
        atomic_write_text(out / RESULT_FILE, json.dumps(summary, indent=2))
        run.write_video(folder)  # pictures after the numbers
    if work.waiting_for(seed) == "failed" and summary["failure"] is None:
        failure = work.failure(seed)  # stage_limit: recorded by the code work after an outcome
        summary["failure"] = {
            "stage": failure.stage,
            "kind": failure.kind,
            "message": failure.message,
        }
    summary["stage_success"] = [
        bool(r["success"]) for r in summary["stages"] if r["object"] and not r["done"]
    ]
    if run.task.stage_verdict:  # no rule of the task's own: its stages reached their targets
        stages = summary["stage_success"]
        finished = summary["done"] or not summary["multi_step"]
        summary["success"] = bool(stages) and all(stages) and finished
        return
    if run.judge.success is None:  # nothing was simulated: judge the scene as it stands
        run.settle(state, 1)
    summary["success"] = run.judge.success


def _code_failed(work: CodeWork, seed: int, index: int, record: dict, summary: dict) -> bool:
    """Record a stage that got no usable code in its ``record``; True when the run ends there
    (a final, typed failure, or an answer that never arrived: ``request_failed``), False when
    the stage is asked again (``CodeWork.attempt_failure``)."""
    again, final = work.attempt_failure(seed, index), work.failure(seed)
    if again is not None:
        kind, message = again["kind"], again["message"]
    elif final is not None:
        kind, message = final.kind, final.message
    else:  # the request itself failed; its answer never came
        kind = "request_failed"
        message = "the model's answer did not arrive; see codegen/requests.log.jsonl"
    record.update(success=False, failure=kind, failure_message=message)
    if again is None:
        summary["failure"] = {"stage": index, "kind": kind, "message": message}
    return again is None


def _act(
    run: StageRunner,
    summary: dict,
    record: dict,
    index: int,
    spec: StageSpec,
    candidates: CandidateSet,
    state: InitialState,
    folder: Path,
) -> InitialState:
    """Train (or reuse) and execute an accepted stage; returns the state it leaves."""
    task, timing = run.task, summary["timing"]
    goal = goal_from_spec(task, state, spec, candidates)
    key = skill_key(task.name, spec)
    targets = {
        **spec.to_json(),
        "skill": key,
        "keypoints_local": goal.keypoints_local.tolist(),
        "grasp_local": list(goal.grasp_local),
        "grasp_angles": None if goal.grasp_angles is None else list(goal.grasp_angles),
    }
    atomic_write_text(folder / "targets.json", json.dumps(targets, indent=2))
    try:
        if run.execution == "ideal":
            policy_dir, reused, train_s = None, False, 0.0
            start = time.perf_counter()
            values, state = run.place(goal)
        else:
            policy_dir, reused, train_s = run.policy_for(index, key, goal, folder)
            start = time.perf_counter()
            values, state = run.execute(goal, policy_dir, folder)
        timing[f"stage_{index}_train_s"] = train_s
        timing[f"stage_{index}_execute_s"] = time.perf_counter() - start
    except SimulationDiverged as error:
        outcome = {"success": False, "final_distance": None, "failure": "simulation_diverged"}
        run.work.record_outcome(run.seed, index, {**outcome, "message": str(error)})
        record.update(success=False, failure="simulation_diverged", failure_message=str(error))
        summary["failure"] = {"stage": index, "kind": "simulation_diverged", "message": str(error)}
        return state
    failure = None
    if values["outside"]:
        failure = "left_workspace"
    elif not values["final_success"]:
        failure = "missed_targets"
    outcome = {
        "success": bool(values["final_success"]),
        "final_distance": float(values["final_distance"]),
        "failure": failure,
        "episode_success": bool(values["episode_success"]),
        "episode_distance": float(values["episode_distance"]),
        "reused_policy": reused,
        "policy": policy_dir,
        "task_success": values.get("task_success"),
        "task_metrics": values.get("task_metrics", {}),
    }
    run.work.record_outcome(run.seed, index, outcome)
    atomic_write_text(folder / "outcome.json", json.dumps(outcome, indent=2))
    atomic_write_text(folder / "state_end.json", state_json(state))
    record.update(
        success=outcome["success"],
        final_distance=outcome["final_distance"],
        episode_success=outcome["episode_success"],
        episode_distance=outcome["episode_distance"],
        failure=failure,
        reused_policy=reused,
        policy=policy_dir,
        skill=key,
        task_metrics=outcome["task_metrics"],
    )
    return state
