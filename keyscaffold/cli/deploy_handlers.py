"""The ``keyscaffold deploy`` verb: an exported runtime against the simulator as its robot."""

from __future__ import annotations

import shlex
from pathlib import Path

from keyscaffold.cli.arguments import Deploy


def deploy_command(cmd: Deploy) -> str:
    """The command line that repeats ``cmd`` (recorded in deploy_sim.json)."""
    words = ["keyscaffold", "deploy", "--sim", str(cmd.run), "--episodes", str(cmd.episodes)]
    if cmd.plans is not None:
        words += ["--plans", str(cmd.plans)]
    words += ["--which", cmd.which, "--seed", str(cmd.seed)]
    words += ["--observation-noise", f"{cmd.observation_noise:g}"]
    words += ["--action-delay", str(cmd.action_delay)]
    if cmd.out is not None:
        words += ["--out", str(cmd.out)]
    return shlex.join(words)


def run_deploy(cmd: Deploy) -> None:
    from keyscaffold.evaluation.deploy_sim import REPORT_FILE, deploy_sim

    if not cmd.sim:
        raise ValueError(
            "keyscaffold deploy drives the simulator only: pass --sim (a real robot runs the "
            "export folder with keyscaffold.deploy.PolicyRuntime, docs/deploy.md)"
        )
    out = cmd.out if cmd.out is not None else Path(cmd.run) / "deploy_sim"
    report = deploy_sim(
        cmd.run,
        out,
        cmd.episodes,
        cmd.plans,
        cmd.which,
        cmd.seed,
        cmd.observation_noise,
        cmd.action_delay,
        deploy_command(cmd),
    )
    remote, local = report["separate_process"], report["in_simulator"]
    latency = report["latency_ms"]
    print(
        f"runtime process (pid {report['runtime_process']['pid']}): success "
        f"{remote['success_rate']:.2f} ({remote['success_ci95'][0]:.2f}-"
        f"{remote['success_ci95'][1]:.2f}); in the simulator {local['success_rate']:.2f} "
        f"({local['success_ci95'][0]:.2f}-{local['success_ci95'][1]:.2f}) over "
        f"{report['num_episodes']} episodes; runtime step {latency['median']:.2f} ms median, "
        f"{latency['p95']:.2f} p95, {latency['p99']:.2f} p99; results in {out / REPORT_FILE}"
    )
