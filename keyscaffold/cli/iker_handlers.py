"""Handlers of the IKER verbs: ``iker`` (one scene, stage by stage) and ``skills`` (a skill
library)."""

from __future__ import annotations

from keyscaffold.cli.arguments import Iker, Skills
from keyscaffold.cli.command_line import command_line
from keyscaffold.cli.scene_tasks import with_scene_task


def run_iker(cmd: Iker) -> None:
    from dataclasses import replace

    from keyscaffold.iker.loop import run_iker as iker_loop
    from keyscaffold.iker.run_settings import IkerSettings
    from keyscaffold.rl.config import profile_config
    from keyscaffold.rl.keypoint_env import KeypointEnvConfig

    env = KeypointEnvConfig()
    env = env if cmd.num_envs is None else replace(env, num_envs=cmd.num_envs)
    command = command_line("iker", cmd, leave_out=() if cmd.planner == "vlm" else ("vlm",))
    cmd = with_scene_task(cmd)
    settings = IkerSettings(
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
    summary = iker_loop(cmd.task, cmd.out, settings)
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
    command = command_line("skills", cmd)
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
