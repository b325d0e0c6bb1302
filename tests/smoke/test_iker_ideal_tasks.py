"""The ideal IKER benchmark (``benchmarks/iker_chain.py --ideal``) on every single-step IKER task:
oracle stage code with its targets off by up to 2 cm per axis, each stage's object put where its
targets say, and the task's own verdict, one seeded run per task (the multi-step shoe rack is
covered in ``test_iker_loop.py``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from keyscaffold.tasks import make_task, task_names

ROOT = Path(__file__).resolve().parents[2]
SINGLE_STEP = [
    name
    for name in task_names()
    if "iker" in make_task(name).modes and make_task(name).num_stages() == 1
]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("iker_chain", ROOT / "benchmarks/iker_chain.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["iker_chain"] = module
    spec.loader.exec_module(module)
    return module


def test_every_single_step_iker_task_runs_with_noisy_targets(script, tmp_path):
    assert {"book_push", "book_reorient", "shoe_place", "shoe_push"} <= set(SINGLE_STEP)
    results = tmp_path / "iker_ideal.json"
    for name in SINGLE_STEP:
        args = ["--task", name, "--ideal", "--target-noise", "0.02", "--runs", "1",
                "--perturb", "0", "--out", str(tmp_path / "runs"), "--results", str(results)]  # fmt: skip
        entry = script.main(args)
        (row,) = entry["runs"]
        assert entry["execution"] == "ideal" and entry["target_noise"] == 0.02
        assert row["stages"] == 1 and row["final_distances"][0] is not None
        assert row["success"] is True, (name, row)
        # The judge's metrics beside its verdict, to tell why a run whose stage landed failed.
        assert row["task_metrics"] and all(
            isinstance(v, float) for v in row["task_metrics"].values()
        )
        run = tmp_path / f"runs/{name}/ideal_noise0.02_perturb0/runs/seed_{row['seed']}"
        assert "target_errors = np.array(" in (run / "stage_0/code.py").read_text()
    entries = json.loads(results.read_text())
    assert [e["task"] for e in entries] == SINGLE_STEP
    with pytest.raises(SystemExit, match="one stage"):
        script.main(["--task", SINGLE_STEP[0], "--ideal", "--perturb", "0.05"])
