"""Write docs/requests/: every scaffold task's two requests exactly as sent, and what comes back.

For initial state 0 of each task's training split, the page shows the keypoint request's text and
picture, an answer as a real model writes it (``truth_answers`` with realistic errors: pixels
10-20 px off, the motion 2-5 cm off, the grasp height 2-3 cm off), the points it lifted to, the
trajectory request's text and picture, its answer, and the plan that came out, drawn over the
scene. Pictures are stored as 400x400 JPEGs (the requests carry 800x800 PNGs).

Usage: .venv/bin/python scripts/request_gallery.py [--tasks move_apple ...] [--out docs/requests]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import keyscaffold  # noqa: F401  (sets the headless GL backend)
from keyscaffold.evaluation.media import draw_keypoint_overlay
from keyscaffold.planning.truth_answers import AnswerErrors, keypoint_answer, trajectory_answer
from keyscaffold.planning.vlm_planner import PlanningSettings, PlanningWork
from keyscaffold.tasks import scaffold_task_names

ROOT = Path(__file__).resolve().parents[1]
THUMB = 400


def _save_jpeg(rgb: np.ndarray, path: Path) -> str:
    image = Image.fromarray(rgb).resize((THUMB, THUMB), Image.LANCZOS)
    image.save(path, quality=80)
    return path.name


def _request_parts(body: dict) -> tuple[str, np.ndarray | None]:
    content = body["messages"][0]["content"]
    if isinstance(content, str):
        return content, None
    text = "".join(part["text"] for part in content if part["type"] == "text")
    url = next(part["image_url"]["url"] for part in content if part["type"] == "image_url")
    png = base64.b64decode(url.split(",", 1)[1])
    return text, np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _block(text: str, lang: str = "text") -> str:
    fence = "````" if "```" in text else "```"  # an answer may hold a fenced block itself
    return f"{fence}{lang}\n{text.strip()}\n{fence}\n"


def task_page(task: str, out: Path, errors: AnswerErrors) -> None:
    """Ask, answer and plan state 0 of ``task``; write ``out/<task>.md`` and its pictures."""
    with tempfile.TemporaryDirectory() as tmp:
        work = PlanningWork(Path(tmp), PlanningSettings(task, "train", 0, 1, model="model"))
        seed = work.seeds[0]
        lines = [f"# {task}: the requests as sent, and what comes back\n"]
        for stage, maker in (("keypoints", keypoint_answer), ("trajectory", trajectory_answer)):
            (request,) = work.pending_requests()
            text, picture = _request_parts(request.body)
            answer = maker(work, seed, errors)
            lines += [f"## {stage.capitalize()} request\n", _block(text)]
            if picture is not None:
                name = _save_jpeg(picture, out / f"{task}_{stage}.jpg")
                lines.append(f"![the picture sent with the {stage} request]({name})\n")
            lines += ["What comes back (an answer with the errors real models make):\n"]
            lines.append(_block(answer))
            work.accept(seed, stage, answer)
            if stage == "keypoints":
                lifted = [
                    {k: d[k] for k in ("name", "body", "rule", "on_intended")}
                    for d in work.read(seed, "keypoints.json")
                ]
                lines += ["Lifted to:\n", _block(json.dumps(lifted, indent=1), "json")]
        plan = work.plans()[0]
        frame = work.load_frame(seed)
        overlay = out / f"{task}_plan.png"
        draw_keypoint_overlay(
            frame["rgb"],
            frame["intrinsics"],
            frame["cam_to_world"],
            plan.keypoint_names,
            plan.waypoints[0],
            planned=plan.waypoints,
            path=overlay,
        )
        thumb = _save_jpeg(np.asarray(Image.open(overlay).convert("RGB")), out / f"{task}_plan.jpg")
        overlay.unlink()
        lines += ["## The plan\n", f"![the planned keypoint paths]({thumb})\n"]
        (out / f"{task}.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", nargs="*", default=scaffold_task_names())
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "requests")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    errors = AnswerErrors.named("realistic")
    for task in args.tasks:
        task_page(task, args.out, errors)
        print(f"wrote {args.out / (task + '.md')}")


if __name__ == "__main__":
    main()
