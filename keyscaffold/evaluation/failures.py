"""Failure breakdown: why each evaluation episode ended the way it did.

Every episode falls in exactly one category, checked in this order:

- ``success``: the task's success rule held at the end;
- ``keypoint_detection_error``: a detected keypoint is not on the part the task means;
- ``incomplete_tracking``: a keypoint strayed past the tracking limit during the episode;
- ``tracked_but_failed``: the plan was followed to the end, yet the task was not done.
"""

from __future__ import annotations

from pathlib import Path

from keyscaffold.evaluation.media import plt, save_figure  # pyplot on the headless Agg backend
from keyscaffold.planning.plan import KeypointPlan

CATEGORIES = ("success", "keypoint_detection_error", "incomplete_tracking", "tracked_but_failed")


def episode_category(episode: dict, plan: KeypointPlan) -> str:
    """The category of one evaluation episode row (``success``, ``tracked_to_end``)."""
    if episode["success"]:
        return "success"
    if not plan.provenance.get("keypoints_on_intended", True):
        return "keypoint_detection_error"
    if not episode["tracked_to_end"]:
        return "incomplete_tracking"
    return "tracked_but_failed"


def failure_breakdown(categories: list[str]) -> dict:
    """Counts and fractions of each category."""
    total = max(len(categories), 1)
    counts = {c: sum(1 for x in categories if x == c) for c in CATEGORIES}
    return {"counts": counts, "fractions": {c: counts[c] / total for c in CATEGORIES}}


def plot_failure_breakdown(breakdown: dict, path: Path, title: str = "") -> Path:
    """Bar chart of the categories' shares."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    labels = [c.replace("_", "\n") for c in CATEGORIES]
    values = [breakdown["fractions"][c] for c in CATEGORIES]
    bars = ax.bar(labels, values, color=["#3a7d44", "#c44e52", "#dd8452", "#8172b3"])
    for bar, c in zip(bars, CATEGORIES):
        ax.annotate(
            str(breakdown["counts"][c]),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of episodes")
    ax.set_title(title or "outcome of evaluation episodes")
    return save_figure(fig, path, dpi=120)
