"""IKER skill training at two commits in one run on this machine: iterations each skill gets from
the same minutes, so a slower run can be told apart from a slower machine.

Usage:
    .venv/bin/python benchmarks/skill_speed.py --base 851d278 [--task shoes_on_rack]
        [--minutes 1] [--rounds 1]
        writes benchmarks/results/skill_speed.json

Each round builds the task's skill library (``build_skill_library``: every skill trained for
``--minutes`` on ``--states`` scenes, validation included) at the base commit, checked out into a
temporary git worktree and run with this checkout's virtual environment, and then at head. The
figures are the medians over the rounds: iterations per skill, and the seconds an iteration
spends collecting and updating. A budget in minutes gives a skill fewer iterations on a slower
machine; this says whether the code or the machine changed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from base_commit import alternating_rounds, short_commit

from keyscaffold.provenance import keep_earlier, provenance
from keyscaffold.util import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
BUILD = """
import csv, json, sys
from pathlib import Path
from keyscaffold.iker.library import build_skill_library
task, out, states, val_states, minutes = sys.argv[1], Path(sys.argv[2]), *sys.argv[3:6]
build_skill_library(task, out, num_states=int(states), num_val_states=int(val_states),
                    minutes=float(minutes), seed=0, perturb=0.0, command="skill_speed")
skills = {}
for folder in sorted(p for p in out.iterdir() if (p / "metrics.csv").exists()):
    rows = list(csv.DictReader(open(folder / "metrics.csv")))
    skills[folder.name] = {
        "iterations": len(rows),
        "collect_s_per_iteration": sum(float(r["collect_s"]) for r in rows) / len(rows),
        "update_s_per_iteration": sum(float(r["update_s"]) for r in rows) / len(rows),
    }
print(json.dumps(skills))
"""
FIGURES = ("iterations", "collect_s_per_iteration", "update_s_per_iteration")


def build(source: Path, args: argparse.Namespace) -> dict[str, dict]:
    """Per skill of the library built by the package in ``source``: its iterations and the
    seconds per iteration of collection and update."""
    env = {**os.environ, "PYTHONPATH": str(source), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-c", BUILD, args.task, str(Path(folder) / "library")]
        command += [str(args.states), str(args.val_states), str(args.minutes)]
        out = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"building the library in {source} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def medians(rounds: list[dict[str, dict]]) -> dict[str, dict]:
    """Each skill's figures, median over the rounds."""
    return {
        skill: {k: round(statistics.median(r[skill][k] for r in rounds), 4) for k in FIGURES}
        for skill in rounds[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--task", default="shoes_on_rack")
    parser.add_argument("--minutes", type=float, default=1.0, help="training minutes per skill")
    parser.add_argument("--states", type=int, default=10)
    parser.add_argument("--val-states", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/skill_speed.json")
    args = parser.parse_args()
    runs = alternating_rounds(args.base, args.rounds, lambda source: build(source, args), str)
    base, head = medians(runs["base"]), medians(runs["head"])
    row = {
        "task": args.task,
        "minutes_per_skill": args.minutes,
        "rounds": args.rounds,
        "base_commit": short_commit(args.base),
        "base": base,
        "head": head,
        "head_over_base_iterations": {
            skill: round(head[skill]["iterations"] / base[skill]["iterations"], 3)
            for skill in head
            if skill in base
        },
        "command": " ".join(["python", "benchmarks/skill_speed.py", *sys.argv[1:]]),
        **provenance(),
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else None
    atomic_write_text(args.out, json.dumps(keep_earlier(row, previous), indent=2))
    print(json.dumps(row["head_over_base_iterations"], indent=2))


if __name__ == "__main__":
    main()
