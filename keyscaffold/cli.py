"""The ``keyscaffold`` command line: one subcommand per verb, parsed once by tyro."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

import tyro

from keyscaffold.planning import PLAN_ORIENTATION_NOISE
from keyscaffold.vlm.client import VLMConfig

Task = Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="TASK")]


@dataclass(frozen=True)
class Tasks:
    """List the registered tasks with their instructions."""


@dataclass(frozen=True)
class Render:
    """Render a task's scene camera: rgb.png, depth.npy, segmentation.npy, overlay.png, camera.json."""

    task: Task
    seed: int = 0
    """Seed of the initial state."""
    out: Path = Path("renders")
    """Output folder."""
    size: int = 800
    """Image width and height (pixels)."""


@dataclass(frozen=True)
class PlannerFlags:
    """How the VLM planner asks and what it makes of the answers."""

    pixel_coords: bool = False
    """Ask for pixel coordinates instead of 0..1000 normalized ones."""
    orientation_noise: float | None = None
    """Uniform noise on the wrist orientation of planned trajectories (rad); default: pi/8 for
    VLM trajectories (the original method's setting), 0 for oracle plans."""
    snap_radius_px: int = 16
    """Points off every object are moved to the nearest object pixel within this radius."""
    repairs: int = 0
    """Send an unusable answer back with its problem and ask again, up to this many times."""
    prompt_version: Literal["v1", "v2"] = "v2"
    """Prompt templates: v2 sends the trajectory question with the picture (detected points named),
    measured part sizes, the hand's geometry and camera-tied directions; v1 is text only."""

    def noise(self, planner: str) -> float:
        """The orientation noise ``planner``'s plans get."""
        if self.orientation_noise is not None:
            return self.orientation_noise
        return 0.0 if planner in ("oracle", "replay") else PLAN_ORIENTATION_NOISE

    def settings(self, planner: str = "vlm") -> dict:
        return {
            "pixel_coords": self.pixel_coords,
            "orientation_noise": self.noise(planner),
            "snap_radius_px": self.snap_radius_px,
            "repairs": self.repairs,
            "prompt_version": self.prompt_version,
        }


PlannerName = Literal["oracle", "vlm", "vlm-oracle-keypoints", "vlm-scripted-trajectory", "replay"]


@dataclass(frozen=True)
class Plan:
    """Make a plan set: DIR/<task>/<split>/<planner>/*.json plus index.json.

    oracle: scripted from ground truth. vlm: keypoints and trajectories from a VLM (requests,
    answers and failures kept in the plan set's vlm/ folder). vlm-oracle-keypoints: true keypoints,
    VLM trajectories. vlm-scripted-trajectory: VLM keypoints, scripted motion. replay: training
    plans (--from) reused on new states.
    """

    task: Task
    planner: PlannerName = "oracle"
    """Where the plans come from."""
    num_plans: int = 20
    """Number of initial states (one plan each)."""
    split: Literal["train", "test", "val"] = "train"
    """Train, test and val splits draw different initial states."""
    seed: int = 0
    """Seed of the split's initial states."""
    waypoints: int = 20
    """Waypoints per plan (the seed studied 3, 5, 10, 20, 40)."""
    out: Path = Path("plans")
    """Root folder of plan sets."""
    from_: Annotated[Path | None, tyro.conf.arg(name="from")] = None
    """Plan set to replay (--planner replay)."""
    vlm: Annotated[VLMConfig, tyro.conf.OmitArgPrefixes] = VLMConfig()
    planner_flags: Annotated[PlannerFlags, tyro.conf.OmitArgPrefixes] = PlannerFlags()


@dataclass(frozen=True)
class BatchExport:
    """Write the next stage's requests (keypoints, then trajectories) as OpenAI Batch JSONL."""

    task: Task
    work: Path
    """Work folder; remembers the settings and which stage each state is in."""
    out: Path = Path("requests.jsonl")
    num_plans: int = 20
    split: Literal["train", "test"] = "train"
    seed: int = 0
    planner: Literal["vlm", "vlm-oracle-keypoints", "vlm-scripted-trajectory"] = "vlm"
    waypoints: int = 20
    model: str = "gpt-4o"
    """Model named in every request body."""
    temperature: float = 0.0
    max_tokens: int = 2048
    planner_flags: Annotated[PlannerFlags, tyro.conf.OmitArgPrefixes] = PlannerFlags()


@dataclass(frozen=True)
class BatchImport:
    """Read a Batch output JSONL into the work folder; writes WORK/plans when planning is done."""

    task: Task
    work: Path
    answers: Path
    """Batch output file (custom_id, response.body.choices[0].message.content or error)."""


@dataclass(frozen=True)
class Batch:
    """Plan in bulk through the OpenAI Batch API file format (export, then import)."""

    action: Union[
        Annotated[BatchExport, tyro.conf.subcommand("export")],
        Annotated[BatchImport, tyro.conf.subcommand("import")],
    ]


@dataclass(frozen=True)
class Refine:
    """Few-shot refinement: best training plans as examples, new plans, train, evaluate; repeat."""

    task: Task
    policy: Path
    """Run folder of the zero-shot policy (trained on VLM plans)."""
    rounds: int = 1
    """Refinement rounds (the seed used up to 3)."""
    out: Path = Path("runs/refine")
    num_plans: int | None = None
    """Training states per round (default: as many as the policy's plan set)."""
    test_plans: int = 20
    trials_per_plan: int = 1
    minutes: float | None = None
    """Training wall time per round (default: the policy's)."""
    seed: int = 0
    waypoints: int = 20
    vlm: Annotated[VLMConfig, tyro.conf.OmitArgPrefixes] = VLMConfig()
    planner_flags: Annotated[PlannerFlags, tyro.conf.OmitArgPrefixes] = PlannerFlags()


@dataclass(frozen=True)
class Train:
    """Train a residual tracking policy with PPO on a plan set."""

    task: Task
    plans: Path
    """Plan set folder (or a root holding exactly one plan set)."""
    out: Path = Path("runs/train")
    """Run folder: config.json, metrics.csv, tensorboard/, checkpoints/, curve.png."""
    num_envs: int | None = None
    """Worlds stepped together (default: the profile's)."""
    max_iterations: int = 100_000
    """Stop after this many PPO iterations."""
    minutes: float = 15.0
    """Stop after this much wall time."""
    seed: int = 0
    profile: Literal["cpu", "gpu"] = "cpu"
    """cpu: settings measured to learn fastest on two cores; gpu: the large-scale PPO values."""
    resume: bool = False
    """Continue the run in --out from its latest checkpoint."""
    val_plans: Path | None = None
    """Held-out validation plan set: validation success is measured during training and the best
    policy kept as checkpoints/best.pt (make one with `plan TASK --split val`)."""
    set_: Annotated[tuple[str, ...], tyro.conf.arg(name="set")] = ()
    """Override training settings, NAME=VALUE each (e.g. --set env.wrist_rotation_scale=0.5
    ppo.rotation_noise_std=0.1); names are the fields of TrainConfig (docs/training.md)."""


@dataclass(frozen=True)
class Eval:
    """Evaluate a trained policy on a plan set; writes eval.json, rollout.mp4 and overlay.png."""

    task: Task
    policy: Path
    """Run folder of `keyscaffold train` (or a checkpoint file inside it)."""
    plans: Path
    """Test plan set folder."""
    out: Path = Path("runs/eval")
    trials_per_plan: int = 1
    """Episodes per plan, each with different start noise."""
    seed: int = 0
    checkpoint: Literal["best", "latest", "final"] = "best"
    """Which of the run's checkpoints to evaluate; best falls back to latest in a run trained
    without validation plans."""


@dataclass(frozen=True)
class Demo:
    """Oracle plans, a time-bounded training run and an evaluation of move_apple, in one folder."""

    out: Path = Path("runs/demo")
    minutes: float = 12.0
    """Training wall time."""
    train_plans: int = 50
    test_plans: int = 20
    trials_per_plan: int = 2
    val_plans: int = 10
    """Validation states that pick the best checkpoint during training (0: keep the last)."""


@dataclass(frozen=True)
class Bench:
    """Measure env throughput against raw MuJoCo stepping, thread scaling and the PPO update share."""

    json: bool = False
    """Print one JSON line instead of a table."""
    task: str = "move_apple"
    """Task whose scene is measured."""
    num_envs: int = 128
    seconds: float = 3.0
    """Measuring time per quantity."""


@dataclass(frozen=True)
class Benchmark:
    """The evaluation protocol: train several seeds with one budget, test on the same episodes.

    Writes DIR/benchmark.json (per-seed success with 95% intervals, mean, spread, pooled interval,
    failures, command, commit, machine) and DIR/benchmark.png. Running it again resumes.
    """

    task: Task
    seeds: int = 3
    """Training seeds."""
    minutes: float = 15.0
    """Training wall time per seed."""
    out: Path = Path("runs/benchmark")
    train_plans: int = 50
    val_plans: int = 10
    """Validation states that pick each run's best checkpoint (0: keep the last one)."""
    test_plans: int = 20
    trials_per_plan: int = 2
    orientation_noise: float = PLAN_ORIENTATION_NOISE
    """Wrist-orientation noise of the oracle plans (rad), as VLM plans carry by default."""
    plans_train: Path | None = None
    """Train on this plan set instead of oracle plans."""
    plans_test: Path | None = None
    """Test on this plan set instead of oracle plans."""
    plans_val: Path | None = None
    """Pick the best checkpoint on this plan set instead of oracle plans (--val-plans 0: none)."""
    profile: Literal["cpu", "gpu"] = "cpu"
    num_envs: int | None = None
    set_: Annotated[tuple[str, ...], tyro.conf.arg(name="set")] = ()
    """Override training settings, NAME=VALUE each (e.g. --set env.wrist_rotation_scale=0.5
    ppo.rotation_noise_std=0.1); names are the fields of TrainConfig (docs/training.md)."""


@dataclass(frozen=True)
class Iker:
    """Solve one initial state in IKER mode, stage by stage: numbered keypoints, stage code (task
    oracle or VLM), a PPO policy per skill (reused when a stage repeats one), execution.

    Writes DIR/iker.json (task and per-stage success, code, targets, failures), DIR/stages.png,
    DIR/stage_<i>/ and DIR/codegen/ (requests, answers and code).
    """

    task: Task
    planner: Literal["oracle", "vlm"] = "oracle"
    """oracle: the task's scripted stage code (offline); vlm: a vision-language model writes it."""
    out: Path = Path("runs/iker")
    minutes: float = 10.0
    """Training wall time of each newly trained stage policy."""
    seed: int = 0
    """Seed of the initial state."""
    perturb: float = 0.0
    """After each executed stage, move one object up to this far in x/y (m) before the next."""
    multi_step: bool | None = None
    """Multi-step prompt with history and done (default: tasks with more than one stage)."""
    max_stages: int = 6
    num_envs: int | None = None
    """Worlds stepped together in training (default: the keypoint env's)."""
    max_iterations: int = 100_000
    """Stop each training run after this many PPO iterations."""
    repairs: int = 1
    """Send an unusable answer back with its problem and ask again, up to this many times."""
    stage_retries: int = 2
    """Ask for a failed stage again (code unusable after the repairs, or targets missed) up to
    this many times in a row before the run ends (multi-step runs)."""
    label_keypoints: bool = True
    """List the object under every keypoint number in the request (--no-label-keypoints hides
    it, as IKER's paper did)."""
    prompt_version: Literal["v1", "v2"] = "v2"
    """IKER code prompt: v2 labels the numbers and says which object is which; v1 as before."""
    target_noise: float = 0.0
    """With --planner oracle: every target off by up to this much per axis (m, uniform), as a
    competent model's answer is."""
    video: bool = True
    """Write DIR/stage_<i>/rollout.mp4 of each execution."""
    skills: Path | None = None
    """A skill library (keyscaffold skills): stages whose skill it holds reuse its policy."""
    ideal: bool = False
    """Train nothing: put each stage's object where its targets say and let it settle (checks
    a plan)."""
    vlm: Annotated[VLMConfig, tyro.conf.OmitArgPrefixes] = VLMConfig()


@dataclass(frozen=True)
class Skills:
    """Build an IKER skill library: one policy per skill (object and mode) of a task, trained on
    the oracle's stage goals of many scenes, for `keyscaffold iker --skills DIR`.

    Writes DIR/library.json, DIR/scenes/seed_<s>/ (the scenes' ideal runs) and one training run
    per skill; an interrupted build resumes.
    """

    task: Task
    out: Path = Path("runs/skills")
    states: int = 10
    """Training scenes (seeds of the train split)."""
    minutes: float = 8.0
    """Training wall time per skill."""
    seed: int = 0
    perturb: float = 0.0
    """Move one object up to this far (m) between the stages of every other scene."""
    num_envs: int | None = None
    """Worlds stepped together in training (default: the keypoint env's)."""
    max_iterations: int = 100_000


Command = Union[
    Annotated[Tasks, tyro.conf.subcommand("tasks")],
    Annotated[Render, tyro.conf.subcommand("render")],
    Annotated[Plan, tyro.conf.subcommand("plan")],
    Annotated[Train, tyro.conf.subcommand("train")],
    Annotated[Eval, tyro.conf.subcommand("eval")],
    Annotated[Batch, tyro.conf.subcommand("batch")],
    Annotated[Refine, tyro.conf.subcommand("refine")],
    Annotated[Demo, tyro.conf.subcommand("demo")],
    Annotated[Bench, tyro.conf.subcommand("bench")],
    Annotated[Benchmark, tyro.conf.subcommand("benchmark")],
    Annotated[Iker, tyro.conf.subcommand("iker")],
    Annotated[Skills, tyro.conf.subcommand("skills")],
]


def run_tasks(_: Tasks) -> None:
    from keyscaffold.tasks import make_task, task_names

    print(f"{'task':16s} {'embodiment':10s} {'actions':>7s}  instruction")
    for name in task_names():
        task = make_task(name)
        spec = task.actions()
        print(
            f"{name:16s} {task.robot().name:10s} {spec.num_actions:>3d} {spec.name:<10s} {task.instruction}"
        )


def run_render(cmd: Render) -> None:
    from keyscaffold.commands import render_task

    out = render_task(cmd.task, cmd.seed, cmd.out, cmd.size)
    print(f"wrote {out}/rgb.png, depth.npy, segmentation.npy, overlay.png, camera.json")


def run_plan(cmd: Plan) -> None:
    from keyscaffold.commands import make_plans

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

    summary = evaluate_policy(
        cmd.task, cmd.policy, cmd.plans, cmd.out, cmd.trials_per_plan, cmd.seed, cmd.checkpoint
    )
    low, high = summary["success_ci95"]
    print(
        f"success rate {summary['success_rate']:.2f} (95% CI {low:.2f}-{high:.2f}) over "
        f"{summary['num_episodes']} episodes; results in {cmd.out}/eval.json"
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


def _command_line(verb: str, cmd) -> str:
    """The full command that repeats ``cmd``, every setting spelled out."""
    parts = ["keyscaffold", verb]
    for name, value in vars(cmd).items():
        if name == "task":
            parts.insert(2, str(value))
        elif name == "set_":
            parts += ["--set", *value] if value else []
        elif value is not None:
            parts += [f"--{name.replace('_', '-')}", str(value)]
    return " ".join(parts)


def run_benchmark_protocol(cmd: Benchmark) -> None:
    from keyscaffold.protocol import Protocol, run_protocol

    settings = {k: v for k, v in vars(cmd).items() if k not in ("out", "set_")}
    settings.update(
        plans_train=str(cmd.plans_train or ""),
        plans_test=str(cmd.plans_test or ""),
        plans_val=str(cmd.plans_val or ""),
        overrides=tuple(cmd.set_),
    )
    protocol = Protocol(**settings)
    summary = run_protocol(protocol, cmd.out, command=_command_line("benchmark", cmd))
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


def run_iker(cmd: Iker) -> None:
    from dataclasses import replace

    from keyscaffold.iker.loop import run_iker as iker_loop
    from keyscaffold.rl.config import profile_config
    from keyscaffold.rl.keypoint_env import KeypointEnvConfig

    env = KeypointEnvConfig()
    env = env if cmd.num_envs is None else replace(env, num_envs=cmd.num_envs)
    command = (
        f"keyscaffold iker {cmd.task} --planner {cmd.planner} --out {cmd.out} --minutes "
        f"{cmd.minutes:g} --seed {cmd.seed} --perturb {cmd.perturb:g} --max-stages "
        f"{cmd.max_stages} --max-iterations {cmd.max_iterations} --repairs {cmd.repairs}"
        f" --stage-retries {cmd.stage_retries} --prompt-version {cmd.prompt_version}"
        + ("" if cmd.label_keypoints else " --no-label-keypoints")
        + (f" --target-noise {cmd.target_noise:g}" if cmd.target_noise else "")
        + ("" if cmd.multi_step is None else f" --multi-step {cmd.multi_step}")
        + ("" if cmd.num_envs is None else f" --num-envs {cmd.num_envs}")
        + ("" if cmd.video else " --no-video")
        + ("" if cmd.skills is None else f" --skills {cmd.skills}")
        + (" --ideal" if cmd.ideal else "")
        + (
            f" --base-url {cmd.vlm.base_url} --model {cmd.vlm.model} "
            f"--api-key-env {cmd.vlm.api_key_env}"
            if cmd.planner == "vlm"
            else ""
        )
    )
    summary = iker_loop(
        cmd.task,
        cmd.out,
        planner=cmd.planner,
        vlm=cmd.vlm,
        minutes_per_stage=cmd.minutes,
        seed=cmd.seed,
        multi_step=cmd.multi_step,
        max_stages=cmd.max_stages,
        perturb=cmd.perturb,
        train=profile_config("cpu", max_iterations=cmd.max_iterations),
        env_config=env,
        repairs=cmd.repairs,
        video=cmd.video,
        command=command,
        show_progress=True,
        execution="ideal" if cmd.ideal else "policy",
        skills=cmd.skills,
        stage_retries=cmd.stage_retries,
        label_keypoints=cmd.label_keypoints,
        prompt_version=cmd.prompt_version,
        target_noise=cmd.target_noise,
    )
    for stage in summary["stages"]:
        if stage["done"]:
            print(f"stage {stage['stage']}: done")
        elif stage["failure"] and stage["object"] is None:
            print(
                f"stage {stage['stage']}: failed ({stage['failure']}: {stage['failure_message']})"
            )
        else:
            reused = ", reused policy" if stage["reused_policy"] else ""
            print(
                f"stage {stage['stage']}: {stage['mode']} {stage['object']}{reused}: "
                f"{'success' if stage['success'] else 'no success'}, keypoints "
                f"{stage['final_distance']:.3f} m from their targets"
            )
    verdict = "succeeded" if summary["success"] else "did not succeed"
    print(f"{summary['task']} {verdict}; {cmd.out}/iker.json, {cmd.out}/stages.png")


def run_skills(cmd: Skills) -> None:
    from dataclasses import replace

    from keyscaffold.iker.library import LIBRARY_FILE, build_skill_library
    from keyscaffold.rl.config import profile_config
    from keyscaffold.rl.keypoint_env import KeypointEnvConfig

    env = KeypointEnvConfig()
    env = env if cmd.num_envs is None else replace(env, num_envs=cmd.num_envs)
    command = (
        f"keyscaffold skills {cmd.task} --out {cmd.out} --states {cmd.states} --minutes "
        f"{cmd.minutes:g} --seed {cmd.seed} --perturb {cmd.perturb:g} --max-iterations "
        f"{cmd.max_iterations}" + ("" if cmd.num_envs is None else f" --num-envs {cmd.num_envs}")
    )
    library = build_skill_library(
        cmd.task,
        cmd.out,
        num_states=cmd.states,
        minutes=cmd.minutes,
        seed=cmd.seed,
        perturb=cmd.perturb,
        train=profile_config("cpu", max_iterations=cmd.max_iterations),
        env_config=env,
        command=command,
        show_progress=True,
    )
    for key, skill in library["skills"].items():
        print(f"{key}: {skill['goals']} goals, {skill['training']['iterations']} iterations")
    print(f"{cmd.out}/{LIBRARY_FILE}")


HANDLERS = {
    Tasks: run_tasks,
    Render: run_render,
    Plan: run_plan,
    Train: run_train,
    Eval: run_eval,
    Batch: run_batch,
    Refine: run_refine,
    Demo: run_demo,
    Bench: run_bench,
    Benchmark: run_benchmark_protocol,
    Iker: run_iker,
    Skills: run_skills,
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


if __name__ == "__main__":
    sys.exit(main())
