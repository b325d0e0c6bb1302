"""Handlers of the scaffold-mode verbs: tasks, render, plan, batch, refine, train, eval, export,
demo, bench and benchmark. Each calls one function of ``keyscaffold.commands`` (or the protocol) and
prints what it made."""

from __future__ import annotations

import json

from keyscaffold.cli.arguments import (
    Batch,
    BatchExport,
    Bench,
    Benchmark,
    Demo,
    Eval,
    Export,
    Plan,
    Refine,
    Render,
    Tasks,
    Train,
)
from keyscaffold.cli.command_line import command_line
from keyscaffold.cli.scene_tasks import with_scene_task


def run_tasks(_: Tasks) -> None:
    """One row per registered task: its robot (an arm's placement left out), actions, instruction."""
    from keyscaffold.tasks import make_task, task_names

    rows = []
    for name in task_names():
        task = make_task(name)
        spec = task.actions()
        robot = task.robot().name.split("@")[0]
        rows.append((name, robot, f"{spec.num_actions:>3d} {spec.name}", task.instruction))
    header = ("task", "embodiment", "actions", "instruction")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])


def run_render(cmd: Render) -> None:
    from keyscaffold.commands import render_task

    out = render_task(cmd.task, cmd.seed, cmd.out, cmd.size)
    print(f"wrote {out}/rgb.png, depth.npy, segmentation.npy, overlay.png, camera.json")


def run_plan(cmd: Plan) -> None:
    from keyscaffold.commands import make_plans

    cmd = with_scene_task(cmd)
    folder = make_plans(
        cmd.task,
        cmd.num_plans,
        cmd.split,
        cmd.seed,
        cmd.waypoints,
        cmd.out,
        planner=cmd.planner,
        vlm=cmd.vlm,
        replay_from=cmd.from_,
        settings=cmd.planner_flags.settings(cmd.planner),
    )
    count = len(json.loads((folder / "index.json").read_text())["plans"])
    print(f"wrote {count} {cmd.planner} plans to {folder}")
    _warn_orientation_noise(cmd.planner, cmd.planner_flags.noise(cmd.planner))
    if (folder / "vlm" / "summary.json").exists():
        summary = json.loads((folder / "vlm" / "summary.json").read_text())
        print(
            f"{summary['failed']} states failed {summary['failures_by_kind']}, "
            f"{summary['pending']} pending; records in {folder / 'vlm'}"
        )


def _warn_orientation_noise(planner: str, noise: float) -> None:
    """Tell when trajectory plans carry more wrist-orientation noise than training can undo."""
    from keyscaffold.rl.config import cpu_profile

    residual = cpu_profile()[1].wrist_rotation_scale
    if planner in ("oracle", "vlm", "vlm-oracle-keypoints") and noise > residual:
        print(
            f"note: the plans' wrist-orientation noise (±{noise:.2f} rad) exceeds the CPU training "
            f"profile's rotation residual (±{residual:.2f} rad): a policy cannot turn the wrist "
            "back that far; widen it with --set env.wrist_rotation_scale=RAD"
        )


def run_batch(cmd: Batch) -> None:
    from keyscaffold.commands import batch_export, batch_import
    from keyscaffold.planning.vlm_planner import PlanningSettings

    action = cmd.action
    if isinstance(action, BatchExport):
        settings = PlanningSettings(
            task=action.task,
            split=action.split,
            seed=action.seed,
            num_plans=action.num_plans,
            planner=action.planner,
            num_waypoints=action.waypoints,
            model=action.model,
            temperature=action.temperature,
            max_tokens=action.max_tokens,
            **action.planner_flags.settings(action.planner),
        )
        result = batch_export(action.task, action.work, action.out, settings)
        _warn_orientation_noise(action.planner, action.planner_flags.noise(action.planner))
        if result["requests"]:
            print(
                f"wrote {result['requests']} {'/'.join(result['stages'])} requests to {action.out}; "
                f"after the batch finishes: keyscaffold batch import {action.task} "
                f"--work {action.work} --answers OUTPUT.jsonl"
            )
        else:
            print(f"nothing left to ask; {result['summary']}")
            if "plans" in result:
                print(f"plan set: {result['plans']}")
        return
    result = batch_import(action.task, action.work, action.answers)
    summary = result["summary"]
    print(
        f"recorded {result['recorded']} answers ({result['ignored']} ignored, "
        f"{result['request_failures']} failed requests); planned {summary['planned']}, "
        f"failed {summary['failed']}, pending {summary['pending']}"
    )
    if "plans" in result:
        print(f"plan set: {result['plans']}")
    elif summary["pending"]:
        print(f"next: keyscaffold batch export {action.task} --work {action.work} --out NEXT.jsonl")


def run_refine(cmd: Refine) -> None:
    from keyscaffold.commands import refine

    rows = refine(
        cmd.task,
        cmd.policy,
        cmd.rounds,
        cmd.out,
        cmd.vlm,
        num_plans=cmd.num_plans,
        test_plans=cmd.test_plans,
        trials_per_plan=cmd.trials_per_plan,
        minutes=cmd.minutes,
        seed=cmd.seed,
        waypoints=cmd.waypoints,
        settings=cmd.planner_flags.settings(),
    )
    for row in rows:
        print(f"round {row['round']}: success {row['success_rate']:.2f}")
    print(f"table: {cmd.out / 'refine.md'}, plot: {cmd.out / 'refine.png'}")


def run_train(cmd: Train) -> None:
    from keyscaffold.commands import train_policy
    from keyscaffold.rl.config import profile_config
    from keyscaffold.tasks import make_task

    cmd = with_scene_task(cmd)
    config = profile_config(
        cmd.profile,
        cmd.num_envs,
        task=make_task(cmd.task),
        max_iterations=cmd.max_iterations,
        minutes=cmd.minutes,
        seed=cmd.seed,
        overrides=cmd.set_,
    )
    final = train_policy(cmd.task, cmd.plans, cmd.out, config, cmd.resume, cmd.val_plans)
    print(f"trained policy: {final}\ncurve: {cmd.out / 'curve.png'}")


def run_eval(cmd: Eval) -> None:
    from keyscaffold.commands import evaluate_policy

    cmd = with_scene_task(cmd)
    summary = evaluate_policy(
        cmd.task, cmd.policy, cmd.plans, cmd.out, cmd.trials_per_plan, cmd.seed, cmd.checkpoint
    )
    low, high = summary["success_ci95"]
    print(
        f"success rate {summary['success_rate']:.2f} (95% CI {low:.2f}-{high:.2f}) over "
        f"{summary['num_episodes']} episodes; results in {cmd.out}/eval.json"
    )


def run_export(cmd: Export) -> None:
    from keyscaffold.rl.export import export_policy

    files = export_policy(cmd.run, cmd.which, cmd.out, cmd.format)
    folder = files["policy"].parent
    print(
        f"wrote {folder}/{', '.join(path.name for path in files.values())}; run it with "
        "keyscaffold.deploy.PolicyRuntime"
    )


def run_demo(cmd: Demo) -> None:
    from keyscaffold.commands import demo

    summary = demo(
        cmd.out, cmd.minutes, cmd.train_plans, cmd.test_plans, cmd.trials_per_plan, cmd.val_plans
    )
    print(
        f"demo done: success rate {summary['success_rate']:.2f} on {summary['num_episodes']} "
        f"held-out episodes. Results: {cmd.out}/eval (eval.json, rollout.mp4, overlay.png), "
        f"curve: {cmd.out}/train/curve.png"
    )


def run_benchmark_protocol(cmd: Benchmark) -> None:
    from keyscaffold.protocol import Protocol, run_protocol

    command = command_line("benchmark", cmd)
    cmd = with_scene_task(cmd)
    settings = {k: v for k, v in vars(cmd).items() if k not in ("out", "set_", "scene")}
    settings.update(
        plans_train=str(cmd.plans_train or ""),
        plans_test=str(cmd.plans_test or ""),
        plans_val=str(cmd.plans_val or ""),
        overrides=tuple(cmd.set_),
    )
    protocol = Protocol(**settings)
    summary = run_protocol(protocol, cmd.out, command=command)
    low, high = summary["pooled_success_ci95"]
    print(
        f"{summary['task']}: success {summary['success_mean']:.2f} ± {summary['success_std']:.2f} "
        f"over {len(summary['seeds'])} seeds (pooled 95% CI {low:.2f}-{high:.2f}, "
        f"{summary['pooled_episodes']} episodes); {cmd.out}/benchmark.json, benchmark.png"
    )


def run_bench(cmd: Bench) -> None:
    from keyscaffold.benchmark import run_benchmark

    result = run_benchmark(task=cmd.task, num_envs=cmd.num_envs, seconds=cmd.seconds)
    if cmd.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")
