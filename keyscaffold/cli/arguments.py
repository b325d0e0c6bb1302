"""What the ``keyscaffold`` command line accepts: one frozen dataclass per verb, whose field
docstrings are the ``--help`` text, parsed once by tyro (``Command``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

import tyro

from keyscaffold.planning import CHECK_SHIFT_M, PLAN_ORIENTATION_NOISE
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
    check_shift_m: float = CHECK_SHIFT_M
    """The plan check in simulation: a plan whose hand path loses its keypoints when replayed is
    tried with the path shifted by up to this much per axis (m); 0: plans as answered."""

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
            "check_shift_m": self.check_shift_m,
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

    task: Task = ""
    scene: Path | None = None
    """A scene file (docs/file_formats.md): its task, scene:<file stem>, is registered and the
    command runs on it; TASK may then be left out."""
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

    plans: Path
    """Plan set folder (or a root holding exactly one plan set)."""
    task: Task = ""
    scene: Path | None = None
    """A scene file (docs/file_formats.md): its task, scene:<file stem>, is registered and the
    command runs on it; TASK may then be left out."""
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

    policy: Path
    """Run folder of `keyscaffold train` (or a checkpoint file inside it)."""
    plans: Path
    """Test plan set folder."""
    task: Task = ""
    scene: Path | None = None
    """A scene file (docs/file_formats.md): its task, scene:<file stem>, is registered and the
    command runs on it; TASK may then be left out."""
    out: Path = Path("runs/eval")
    trials_per_plan: int = 1
    """Episodes per plan, each with different start noise."""
    seed: int = 0
    checkpoint: Literal["best", "latest", "final"] = "best"
    """Which of the run's checkpoints to evaluate; best falls back to latest in a run trained
    without validation plans."""


@dataclass(frozen=True)
class Export:
    """Export a trained policy for a robot: OUT/policy.onnx (the deterministic actor with its
    observation normalizer), OUT/policy_io.json and OUT/kinematics.json (the robot's body tree
    and grip mapping), which keyscaffold.deploy.PolicyRuntime runs without torch or MuJoCo."""

    run: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RUN")]
    """Run folder of `keyscaffold train` (or a checkpoint file inside it)."""
    format: Literal["onnx"] = "onnx"
    """Network file format."""
    which: Literal["best", "latest", "final"] = "best"
    """Which of the run's checkpoints to export; best falls back to latest in a run trained
    without validation plans."""
    out: Path | None = None
    """Export folder (default: RUN/export)."""


@dataclass(frozen=True)
class Deploy:
    """Run a trained policy's exported runtime in its own process against the simulator as its
    robot (--sim): joint states and keypoints go over as messages, position targets come back.
    Writes OUT/deploy_sim.json: success beside the in-simulator evaluation of the same states,
    and the runtime's per-step latency."""

    run: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RUN")]
    """Run folder of `keyscaffold train`."""
    sim: bool = False
    """Drive the simulator (the one robot deploy drives so far); required."""
    episodes: int = 10
    """Episodes, one per state, run side by side."""
    plans: Path | None = None
    """Plan set whose first EPISODES plans give the states (default: oracle plans of the task's
    test split)."""
    which: Literal["best", "latest", "final"] = "best"
    """Which of the run's checkpoints to export and evaluate."""
    seed: int = 0
    """Seed of the test split's states and of the start noise."""
    observation_noise: float = 0.0
    """Gaussian noise std on the joint positions (m, rad) and keypoints (m) sent to the runtime
    (ten times it on joint velocities)."""
    action_delay: int = 0
    """Control steps between a target's arrival and its application."""
    out: Path | None = None
    """Report folder (default: RUN/deploy_sim)."""


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

    task: Task = ""
    scene: Path | None = None
    """A scene file (docs/file_formats.md): its task, scene:<file stem>, is registered and the
    command runs on it; TASK may then be left out."""
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

    task: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="TASK|INSTRUCTION")] = ""
    """The task; with --scene, the instruction instead of the file's (or the scene's task name,
    or nothing)."""
    scene: Path | None = None
    """A scene file (docs/file_formats.md): its task, scene:<file stem>, is registered and the
    command runs on it; TASK may then be left out."""
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


@dataclass(frozen=True)
class Scene:
    """Scenes from a user's meshes. `scene check FILE`: build the scene file's scene with its
    robot, let it settle, and write OUT/start.png and OUT/settled.png (the file's camera) and
    OUT/contacts.json (objects that start inside each other, objects that moved while settling).
    `scene export TASK`: write a built-in task's scene at a seed's initial state as a scene file,
    OUT/scene.json with one mesh per object in OUT/meshes/."""

    action: Annotated[
        Literal["check", "export"], tyro.conf.Positional, tyro.conf.arg(metavar="check|export")
    ]
    """What to do: check a scene file, or export a task's scene as one."""
    file: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="FILE|TASK")]
    """check: the scene file (JSON, docs/file_formats.md); export: the task's name."""
    out: Path | None = None
    """Output folder (check: scene_check; export: scenes/<task>_seed<seed>, which must not exist)."""
    cache_dir: Path | None = None
    """Mesh cache: decompositions and MuJoCo mesh files (default: $KEYSCAFFOLD_CACHE/meshes or
    ~/.cache/keyscaffold/meshes)."""
    settle_seconds: float = 2.0
    """check: how long the scene settles (s)."""
    move_tolerance: float = 0.005
    """check: an object that moves farther than this while settling is reported (m)."""
    seed: int = 0
    """export: the initial state's seed."""
    size: int = 800
    """export: the camera's image width and height (pixels)."""
    mesh_format: Literal["obj", "glb"] = "obj"
    """export: the mesh files' format."""
    success_tolerance: float | None = None
    """export: written as the file's task.success_tolerance (m), the distance every keypoint
    must end within of its plan's final waypoint in scaffold mode; none by default."""


Command = Union[
    Annotated[Tasks, tyro.conf.subcommand("tasks")],
    Annotated[Render, tyro.conf.subcommand("render")],
    Annotated[Plan, tyro.conf.subcommand("plan")],
    Annotated[Train, tyro.conf.subcommand("train")],
    Annotated[Eval, tyro.conf.subcommand("eval")],
    Annotated[Export, tyro.conf.subcommand("export")],
    Annotated[Deploy, tyro.conf.subcommand("deploy")],
    Annotated[Batch, tyro.conf.subcommand("batch")],
    Annotated[Refine, tyro.conf.subcommand("refine")],
    Annotated[Demo, tyro.conf.subcommand("demo")],
    Annotated[Bench, tyro.conf.subcommand("bench")],
    Annotated[Benchmark, tyro.conf.subcommand("benchmark")],
    Annotated[Iker, tyro.conf.subcommand("iker")],
    Annotated[Skills, tyro.conf.subcommand("skills")],
    Annotated[Scene, tyro.conf.subcommand("scene")],
]
