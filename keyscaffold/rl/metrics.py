"""A run's ``metrics.csv`` (mirrored to TensorBoard) and what it says about the training."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from torch.utils.tensorboard import SummaryWriter

METRICS_HEAD = ("iteration", "minutes", "env_steps", "success")
METRICS_TAIL = ("collect_s", "update_s", "val_success", "attempt")
"""Columns of ``metrics.csv`` every run has; the env's ``metric_logs`` columns sit between."""


class MetricsLog:
    """Appends one CSV row per iteration and mirrors it to TensorBoard."""

    def __init__(self, run_dir: Path, fields: tuple[str, ...]) -> None:
        self.path = run_dir / "metrics.csv"
        new = not self.path.exists()
        if not new:  # a resumed run keeps the columns it started with
            with self.path.open(newline="") as handle:
                fields = tuple(next(csv.reader(handle), fields))
        self.fields = fields
        self.handle = self.path.open("a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=fields, extrasaction="ignore")
        if new:
            self.writer.writeheader()
        self.tb = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def write(self, row: dict, losses: dict) -> None:
        self.writer.writerow({k: row.get(k, "") for k in self.fields})
        self.handle.flush()
        for key, value in row.items():
            if key != "iteration" and value != "":
                self.tb.add_scalar(f"train/{key}", value, row["iteration"])
        for key, value in losses.items():
            self.tb.add_scalar(f"loss/{key}", value, row["iteration"])

    def close(self) -> None:
        self.handle.close()
        self.tb.close()


LEARNED_SUCCESS = 0.8
"""Training success (mean of ``LEARNED_WINDOW`` logged iterations) that ``training_record``
reports the first minute of."""
LEARNED_WINDOW = 10


def training_record(run_dir: Path) -> dict:
    """What a run's ``metrics.csv`` says about its training.

    Returns:
        ``iterations``, ``env_steps``, ``minutes`` (wall time of the last iteration),
        ``validations`` (their count), ``best_val_success`` (None without validation),
        ``minutes_to_best_val`` (the first validation that reached the best score) and
        ``minutes_to_learned`` (the first minute at which training success, averaged over the
        last ``LEARNED_WINDOW`` iterations that logged one, reached ``LEARNED_SUCCESS``; None if
        it never did): how fast a run learned, beside how well; ``restarts`` and
        ``attempt_start_iteration`` (``TrainConfig.restart_without_contact``); ``update_share``
        (the PPO update's share of rollout plus update time over every attempt; None for a
        run that logged no timings).
    """
    with (Path(run_dir) / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    record = {
        "iterations": 0,
        "env_steps": 0,
        "minutes": 0.0,
        "validations": 0,
        "best_val_success": None,
        "minutes_to_best_val": None,
        "minutes_to_learned": None,
        "restarts": 0,
        "attempt_start_iteration": 0,
        "update_share": None,
    }
    if not rows:
        return record
    timed = [(float(r["collect_s"]), float(r["update_s"])) for r in rows if r.get("update_s")]
    if timed:
        update = sum(u for _, u in timed)
        record["update_share"] = update / (sum(c for c, _ in timed) + update)
    attempts = [int(r["attempt"]) if r.get("attempt") else 0 for r in rows]
    record.update(
        restarts=attempts[-1],
        attempt_start_iteration=int(rows[attempts.index(attempts[-1])]["iteration"]),
    )
    rows = [r for r, a in zip(rows, attempts, strict=True) if a == attempts[-1]]
    last = rows[-1]
    record.update(
        iterations=int(last["iteration"]) + 1,
        env_steps=int(float(last["env_steps"])),
        minutes=float(last["minutes"]),
    )
    validated = [
        (float(r["minutes"]), float(r["val_success"])) for r in rows if r.get("val_success")
    ]
    if validated:
        best = max(score for _, score in validated)
        record.update(
            validations=len(validated),
            best_val_success=best,
            minutes_to_best_val=next(m for m, score in validated if score == best),
        )
    window: list[float] = []
    for row in rows:
        if row.get("success"):
            window = [*window[-(LEARNED_WINDOW - 1) :], float(row["success"])]
            if len(window) == LEARNED_WINDOW and np.mean(window) >= LEARNED_SUCCESS:
                record["minutes_to_learned"] = float(row["minutes"])
                break
    return record
