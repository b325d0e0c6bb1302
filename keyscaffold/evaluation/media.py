"""Pictures people would rather see than read: rollout videos, keypoint overlays, curves."""

from __future__ import annotations

import csv
from pathlib import Path

import imageio.v2 as imageio
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keyscaffold.geometry import project_points  # noqa: E402

KEYPOINT_COLORS = ("#ffd400", "#00c8ff", "#ff4fd8", "#7cff4f", "#ff8a00", "#b58cff")


def save_figure(fig, path: Path, dpi: int | None = None) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_video(frames: list[np.ndarray], path: Path, fps: int = 30) -> Path:
    """Write RGB frames as MP4 (H.264), or as GIF when the path ends in .gif."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        imageio.mimsave(path, frames, duration=1.0 / fps, loop=0)
    else:
        imageio.mimsave(path, frames, fps=fps, macro_block_size=1)
    return path


def draw_keypoint_overlay(
    rgb: np.ndarray,
    intrinsics: np.ndarray,
    cam_to_world: np.ndarray,
    names: list[str],
    current: np.ndarray,
    planned: np.ndarray | None = None,
    actual: np.ndarray | None = None,
    path: Path | None = None,
    title: str = "",
) -> Path | None:
    """Draw keypoints (and optionally planned vs actual trajectories) over an image.

    Args:
        rgb: Shape: (H, W, 3).
        names: Keypoint names, K.
        current: Keypoints drawn as labelled markers, shape: (K, 3).
        planned: Planned trajectories, shape: (T, K, 3), dashed.
        actual: Executed trajectories, shape: (T', K, 3), solid.
        path: PNG to write.
    """
    height, width = rgb.shape[:2]
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgb)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    for k, name in enumerate(names):
        color = KEYPOINT_COLORS[k % len(KEYPOINT_COLORS)]
        for traj, style, label in ((planned, "--", "plan"), (actual, "-", "actual")):
            if traj is not None:
                uv, _ = project_points(traj[:, k], intrinsics, cam_to_world)
                ax.plot(uv[:, 0], uv[:, 1], style, color=color, lw=2, label=f"{name} ({label})")
        uv, _ = project_points(current[k : k + 1], intrinsics, cam_to_world)
        ax.scatter(uv[:, 0], uv[:, 1], s=90, color=color, edgecolors="black", zorder=5)
        ax.annotate(
            name,
            uv[0],
            xytext=(8, -8),
            textcoords="offset points",
            color="white",
            fontsize=11,
            weight="bold",
            bbox={"facecolor": "black", "alpha": 0.6, "pad": 2},
        )
    if planned is not None or actual is not None:
        ax.legend(loc="lower left", fontsize=9, framealpha=0.7)
    if title:
        ax.text(
            10, 24, title, color="white", fontsize=12, bbox={"facecolor": "black", "alpha": 0.6}
        )
    if path is None:
        plt.close(fig)
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_training_curve(metrics_csv: Path, path: Path, title: str = "") -> Path:
    """Success (training episodes and, when validated, held-out states) and the main reward term
    (scaffold tracking, or IKER's keypoint term) against training minutes, from metrics.csv."""
    with Path(metrics_csv).open() as handle:
        rows = list(csv.DictReader(handle))
    minutes = np.array([float(r["minutes"]) for r in rows])
    column = next(
        (c for c in ("reward_tracking", "reward_keypoints") if rows and c in rows[0]), None
    )
    success = np.array([float(r["success"]) if r["success"] else np.nan for r in rows])
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if column is not None:
        reward = np.array([float(r[column]) if r[column] else np.nan for r in rows])
        label = column.removeprefix("reward_")
        ax.plot(minutes, reward, color="#1f77b4", alpha=0.8, label=f"{label} reward per step")
    valid = ~np.isnan(success)
    if valid.any():
        window = max(1, int(valid.sum() // 30))
        smooth = np.convolve(success[valid], np.ones(window) / window, mode="same")
        ax.plot(minutes[valid], smooth, color="#d62728", label="training success (episodes ending)")
    val = np.array([float(r["val_success"]) if r.get("val_success") else np.nan for r in rows])
    validated = ~np.isnan(val)
    if validated.any():
        ax.plot(
            minutes[validated],
            val[validated],
            color="#2ca02c",
            marker="o",
            markersize=3,
            label="validation success (held-out states)",
        )
    ax.set_xlabel("training wall time (min)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "training curve")
    return save_figure(fig, path)


def plot_rounds(rows: list[dict], path: Path, title: str = "") -> Path:
    """Success rate per refinement round with 95% intervals."""
    rounds = [r["round"] for r in rows]
    rate = np.array([r["success_rate"] for r in rows])
    low = rate - np.array([r["success_ci95"][0] for r in rows])
    high = np.array([r["success_ci95"][1] for r in rows]) - rate
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=110)
    ax.errorbar(rounds, rate, yerr=[low, high], marker="o", capsize=4, color="#d62728")
    ax.set_xticks(rounds)
    ax.set_xlabel("few-shot round (0 = zero-shot plans)")
    ax.set_ylabel("test success rate")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title or "few-shot refinement")
    return save_figure(fig, path)


def plot_seeds(summary: dict, path: Path) -> Path:
    """Held-out success of each training seed with its 95% interval, and the pooled interval."""
    rows = summary["per_seed"]
    seeds = [r["seed"] for r in rows]
    rate = np.array([r["success_rate"] for r in rows])
    low = rate - np.array([r["success_ci95"][0] for r in rows])
    high = np.array([r["success_ci95"][1] for r in rows]) - rate
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=110)
    ax.bar(seeds, rate, color="#9ecae1", width=0.6)
    ax.errorbar(seeds, rate, yerr=[low, high], fmt="none", capsize=5, color="#08519c")
    if summary.get("pooled_success_rate") is not None:
        pooled_low, pooled_high = summary["pooled_success_ci95"]
        ax.axhspan(pooled_low, pooled_high, color="#d62728", alpha=0.12)
        ax.axhline(
            summary["success_mean"],
            color="#d62728",
            label=f"mean {summary['success_mean']:.2f} (pooled 95% CI "
            f"{pooled_low:.2f}-{pooled_high:.2f}, {summary['pooled_episodes']} episodes)",
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xticks(seeds)
    ax.set_xlabel("training seed")
    ax.set_ylabel("held-out success rate")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(f"{summary['task']}: {summary['minutes']:g} min of training per seed")
    return save_figure(fig, path)
