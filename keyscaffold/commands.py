"""What each command-line verb does, as plain functions (the CLI only parses and prints)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import imageio.v2 as imageio
import numpy as np

from keyscaffold.evaluation.evaluate import evaluate
from keyscaffold.evaluation.media import draw_keypoint_overlay, plot_rounds, plot_training_curve
from keyscaffold.planning.fewshot import select_examples
from keyscaffold.planning.oracle import oracle_plans
from keyscaffold.planning.plan import (
    PlanError,
    atomic_write_text,
    find_plan_set,
    load_plan_set,
    save_plan_set,
)
from keyscaffold.planning.replay import replay_plans
from keyscaffold.planning.requests import export_batch, import_batch
from keyscaffold.planning.vlm_planner import (
    PLANNER_SOURCES,
    PlanningSettings,
    PlanningWork,
    run_live,
)
from keyscaffold.rl.config import TrainConfig
from keyscaffold.rl.run_folder import load_run_config, run_plans_dir
from keyscaffold.rl.train import train
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.tasks import make_task
from keyscaffold.util import path_part
from keyscaffold.vlm.client import VLMClient, VLMConfig


def render_task(task_name: str, seed: int, out: Path, size: int = 800) -> Path:
    """Render the task camera at an initial state with keypoints drawn on top."""
    task = make_task(task_name)
    model = task.build_model()
    data = task.state_data(model, task.sample_initial_state(seed))
    renderer = SceneRenderer(model, size, size, quality=True)
    frame = renderer.frame(data, task.camera.name)
    renderer.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(out / "rgb.png", frame.rgb)
    np.save(out / "depth.npy", frame.depth)
    np.save(out / "segmentation.npy", frame.segmentation)
    keypoints = task.keypoint_positions(model, data)
    names = task.keypoint_names()
    draw_keypoint_overlay(
        frame.rgb,
        frame.intrinsics,
        frame.cam_to_world,
        names,
        keypoints,
        path=out / "overlay.png",
        title=task.instruction,
    )
    camera = {
        "task": task.name,
        "seed": seed,
        "width": size,
        "height": size,
        "intrinsics": frame.intrinsics.tolist(),
        "cam_to_world": frame.cam_to_world.tolist(),
        "convention": "OpenCV: x right, y down, z forward; depth in meters along z",
        "keypoints": {n: keypoints[i].tolist() for i, n in enumerate(names)},
    }
    atomic_write_text(out / "camera.json", json.dumps(camera, indent=2))
    return out


PLANNERS = ("oracle", "replay", *PLANNER_SOURCES)


def plan_set_folder(
    out: Path, task: str, split: str, planner: str, waypoints: int, noise: float = 0.0
) -> Path:
    """Where ``keyscaffold plan`` puts a plan set: ``out/<task>/<split>/<planner>[_w<N>]``.

    Oracle plans with wrist-orientation noise go to ``oracle_noise<RAD>`` beside noiseless ones.
    ``<task>`` is the task's name as a path part (``util.path_part``: ``scene:mug`` ->
    ``scene-mug``; built-in names as they are).
    """
    label = planner if waypoints == 20 else f"{planner}_w{waypoints}"
    if planner == "oracle" and noise > 0:
        label += f"_noise{noise:.2f}"
    return Path(out) / path_part(task) / split / label


def make_plans(
    task_name: str,
    num_plans: int,
    split: str,
    seed: int,
    waypoints: int,
    out: Path,
    planner: str = "oracle",
    vlm: VLMConfig | None = None,
    replay_from: Path | None = None,
    settings: dict | None = None,
    show_progress: bool = True,
) -> Path:
    """Make a plan set under ``out/<task>/<split>/<planner>`` and return its folder.

    VLM planners keep their requests, answers and failures in the plan set's ``vlm/`` folder; a
    rerun with the same settings continues it and asks only for what is missing.
    """
    if planner not in PLANNERS:
        raise ValueError(f"unknown planner {planner!r}; use one of {', '.join(PLANNERS)}")
    if num_plans < 1:
        raise ValueError(f"--num-plans must be at least 1, got {num_plans}")
    task = make_task(task_name)
    noise = float((settings or {}).get("orientation_noise", 0.0))
    folder = plan_set_folder(out, task.name, split, planner, waypoints, noise)
    if planner == "oracle":
        plans = oracle_plans(task, split, seed, num_plans, waypoints, noise)
        return save_plan_set(plans, folder)
    if planner == "replay":
        if replay_from is None:
            raise ValueError("--planner replay needs --from DIR, the training plan set to replay")
        source = load_plan_set(replay_from, task.name)
        return save_plan_set(replay_plans(task, source, split, seed, num_plans), folder)
    vlm = vlm or VLMConfig()
    plan_settings = PlanningSettings(
        task=task.name,
        split=split,
        seed=seed,
        num_plans=num_plans,
        planner=planner,
        num_waypoints=waypoints,
        model=vlm.model,
        temperature=vlm.temperature,
        max_tokens=vlm.max_tokens,
        **(settings or {}),
    )
    work = PlanningWork(folder / "vlm", plan_settings)
    summary = run_live(work, VLMClient(vlm), show_progress=show_progress)
    _draw_detections(work)
    if work.write_plan_set(folder) is None:
        raise PlanError(
            f"no plan could be made for any of the {num_plans} states (answer failures: "
            f"{summary['failures_by_kind']}, failed requests: {summary['pending_request_errors']}; "
            f"is {vlm.base_url} reachable and serving {vlm.model!r}?); see {work.folder}/"
            "failures.json and requests.log.jsonl; running the command again asks only for what "
            "is missing"
        )
    return folder


def _draw_detections(work: PlanningWork, limit: int = 3) -> None:
    """``keypoints.png`` in the first few records: detected points and the planned paths."""
    for plan in work.plans()[:limit]:
        record = work.folder / plan.provenance["record"]
        frame = work.load_frame(plan.initial_state.seed)
        draw_keypoint_overlay(
            frame["rgb"],
            frame["intrinsics"],
            frame["cam_to_world"],
            plan.keypoint_names,
            current=plan.waypoints[0],
            planned=plan.waypoints,
            path=record / "keypoints.png",
            title=f"{plan.plan_id}: detected keypoints and planned paths",
        )


def batch_export(
    task_name: str, work_dir: Path, out: Path, settings: PlanningSettings | None = None
) -> dict:
    """Write the next stage's requests of a work folder as an OpenAI Batch input file.

    The first export creates the work folder from ``settings``; later ones continue it.

    Returns:
        ``requests`` written, the ``stages`` they belong to, and the work folder's ``summary``.
    """
    work = _open_work(task_name, Path(work_dir), settings)
    exported = export_batch(work, Path(out))
    summary = work.summary()
    return {**exported, "summary": summary, **_finish_batch(work, summary)}


def batch_import(task_name: str, work_dir: Path, answers: Path) -> dict:
    """Record a Batch output file's answers; writes ``work/plans`` once no state is pending."""
    work = _open_work(task_name, Path(work_dir))
    counts = import_batch(work, Path(answers))
    summary = work.summary()
    return {**counts, "summary": summary, **_finish_batch(work, summary)}


def _open_work(task_name: str, work_dir: Path, settings: PlanningSettings | None = None):
    """The planning run in ``work_dir`` (created from ``settings`` when there is none yet)."""
    if (work_dir / "manifest.json").exists() or settings is None:
        work = PlanningWork.open(work_dir)
    else:
        work = PlanningWork(work_dir, settings)
    if work.task.name != make_task(task_name).name:
        raise ValueError(f"work folder {work_dir} plans task {work.task.name!r}, not {task_name!r}")
    return work


def _finish_batch(work: PlanningWork, summary: dict) -> dict:
    """Once no state is pending: the plan set in ``work/plans`` and its pictures."""
    if summary["pending"] or work.write_plan_set(work.folder / "plans") is None:
        return {}
    _draw_detections(work)
    return {"plans": str(work.folder / "plans")}


def train_policy(
    task_name: str,
    plans_dir: Path,
    out: Path,
    config: TrainConfig,
    resume: bool,
    val_plans_dir: Path | None = None,
) -> Path:
    """Train on a plan set (validating on ``val_plans_dir`` when given) and draw the curve."""
    task = make_task(task_name)
    plans = load_plan_set(plans_dir, task.name)
    validation = load_plan_set(val_plans_dir, task.name) if val_plans_dir else None
    final = train(
        task,
        plans,
        Path(out),
        config,
        plans_dir=str(find_plan_set(plans_dir)),
        resume=resume,
        validation_plans=validation,
    )
    plot_training_curve(
        Path(out) / "metrics.csv", Path(out) / "curve.png", title=f"{task.name} training"
    )
    return final


def evaluate_policy(
    task_name: str,
    policy: Path,
    plans_dir: Path,
    out: Path,
    trials_per_plan: int,
    seed: int,
    checkpoint: str = "best",
) -> dict:
    """Evaluate a run's policy (its ``checkpoint``) on a plan set."""
    if trials_per_plan < 1:
        raise ValueError(f"--trials-per-plan must be at least 1, got {trials_per_plan}")
    task = make_task(task_name)
    plans = load_plan_set(plans_dir, task.name)
    return evaluate(
        task, plans, Path(policy), Path(out), trials_per_plan, seed, checkpoint=checkpoint
    )


def refine(
    task_name: str,
    policy: Path,
    rounds: int,
    out: Path,
    vlm: VLMConfig,
    num_plans: int | None = None,
    test_plans: int = 20,
    trials_per_plan: int = 1,
    minutes: float | None = None,
    seed: int = 0,
    waypoints: int = 20,
    settings: dict | None = None,
    num_examples: int = 3,
) -> list[dict]:
    """Few-shot refinement: examples from the best training plans, new plans, a new policy.

    Round 0 evaluates ``policy`` on zero-shot test plans. Round r rolls the previous policy out on
    its training plans, keeps the ``num_examples`` most successful as prompt examples, plans the
    train and test states again with them, trains a new policy (the base run's settings, ``minutes``
    of wall time) and evaluates it. A round whose ``eval/eval.json`` exists is not run again.
    Writes ``refine.json``, ``refine.md`` and ``refine.png`` to ``out``.
    """
    if rounds < 1:
        raise ValueError(f"--rounds must be at least 1, got {rounds}")
    task, out = make_task(task_name), Path(out)
    config = load_run_config(Path(policy))
    if minutes is not None:
        config = replace(config, minutes=minutes)
    train_plans = load_plan_set(run_plans_dir(Path(policy)), task.name)
    num_plans = num_plans or len(train_plans)
    current, examples, rows = Path(policy), [], []
    for r in range(rounds + 1):
        round_dir = out / f"round_{r}"
        if r > 0:
            scores = evaluate(
                task,
                train_plans,
                current,
                round_dir / "train_rollouts",
                trials_per_plan,
                seed,
                media=False,
            )
            success, returns = _per_plan(scores["episodes"])
            examples = select_examples(train_plans, success, returns, num_examples)
        extra = {**(settings or {}), "examples": examples}

        counts = {"test": test_plans, **({"train": num_plans} if r > 0 else {})}
        dirs = {
            split: make_plans(
                task.name,
                n,
                split,
                seed,
                waypoints,
                round_dir / "plans",
                "vlm",
                vlm,
                settings=extra,
            )
            for split, n in counts.items()
        }
        test_dir = dirs["test"]
        if r > 0:
            train_dir = dirs["train"]
            run = round_dir / "train"
            if not (run / "checkpoints" / "final.pt").exists():
                resume = (run / "checkpoints" / "latest.pt").exists()
                train_policy(task.name, train_dir, run, config, resume=resume)
            current, train_plans = run, load_plan_set(train_dir, task.name)
        summary = evaluate_policy(
            task.name, current, test_dir, round_dir / "eval", trials_per_plan, seed
        )
        rows.append(
            {
                "round": r,
                "examples": [e["plan_id"] for e in examples],
                "policy": str(current),
                "test_plans": len(load_plan_set(test_dir, task.name)),
                "success_rate": summary["success_rate"],
                "success_ci95": summary["success_ci95"],
                "failure_breakdown": summary["failure_breakdown"]["counts"],
            }
        )
        atomic_write_text(out / "refine.json", json.dumps(rows, indent=2))
    table = ["| round | examples | test plans | success | 95% CI |", "|---|---|---|---|---|"]
    for row in rows:
        low, high = row["success_ci95"]
        table.append(
            f"| {row['round']} | {len(row['examples'])} | {row['test_plans']} | "
            f"{row['success_rate']:.2f} | {low:.2f}-{high:.2f} |"
        )
    atomic_write_text(out / "refine.md", "\n".join(table) + "\n")
    plot_rounds(rows, out / "refine.png", title=f"{task.name}: few-shot refinement")
    return rows


def _per_plan(episodes: list[dict]) -> tuple[dict[str, float], dict[str, float]]:
    success: dict[str, list[float]] = {}
    returns: dict[str, list[float]] = {}
    for episode in episodes:
        success.setdefault(episode["plan_id"], []).append(float(episode["success"]))
        returns.setdefault(episode["plan_id"], []).append(episode["return"])
    mean = lambda d: {k: float(np.mean(v)) for k, v in d.items()}  # noqa: E731
    return mean(success), mean(returns)


def demo(
    out: Path,
    minutes: float,
    train_plans: int,
    test_plans: int,
    trials_per_plan: int,
    val_plans: int = 10,
) -> dict:
    """Plan, train within ``minutes`` and evaluate move_apple; everything lands under ``out``.

    Training validates on ``val_plans`` held-out states and the evaluation takes the best policy.
    """
    out = Path(out)
    train_dir = make_plans("move_apple", train_plans, "train", 0, 20, out / "plans")
    val_dir = (
        make_plans("move_apple", val_plans, "val", 0, 20, out / "plans") if val_plans else None
    )
    test_dir = make_plans("move_apple", test_plans, "test", 0, 20, out / "plans")
    config = TrainConfig(minutes=minutes)
    resume = (out / "train" / "checkpoints" / "latest.pt").exists()
    if not (out / "train" / "checkpoints" / "final.pt").exists():
        train_policy("move_apple", train_dir, out / "train", config, resume, val_dir)
    summary = evaluate_policy(
        "move_apple", out / "train", test_dir, out / "eval", trials_per_plan, 0
    )
    plot_training_curve(
        out / "train" / "metrics.csv", out / "eval" / "curve.png", title="move_apple training"
    )
    return summary
