"""The IKER code prompt: its template sections and the text and pictures of a stage's request.

The template (``planning/prompts/iker_code_<version>.txt``) is split into ``@@ name @@`` sections
(``load_sections``). ``CodePrompt`` fills them for one stage: the instruction, keypoint numbers,
conventions and rules, in multi-step mode every earlier stage's picture, code and outcome, and the
current picture; v2 lists under each picture which object every keypoint number lies on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from string import Template

import numpy as np

from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.iker.code_records import CodeRecords
from keyscaffold.iker.code_settings import PROMPT_VERSION, CodeSettings
from keyscaffold.iker.stage_code import stage_index

CODE_PROMPT = "iker_code"
"""Name of the prompt template file, without version and suffix."""
_SECTION_RE = re.compile(r"^@@ (\w+) @@[ \t]*$", re.MULTILINE)


def load_sections(version: str = PROMPT_VERSION) -> dict[str, Template]:
    """The sections of the IKER code prompt (``@@ name @@`` lines start each one).

    Raises:
        FileNotFoundError: No template of that version.
    """
    name = f"{CODE_PROMPT}_{version}.txt"
    path = resources.files("keyscaffold.planning.prompts").joinpath(name)
    if not path.is_file():
        raise FileNotFoundError(f"no prompt template {name} in keyscaffold/planning/prompts")
    text = path.read_text(encoding="utf-8")
    marks = list(_SECTION_RE.finditer(text))
    return {
        mark.group(1): Template(text[mark.end() + 1 : end].rstrip("\n"))
        for mark, end in zip(marks, [m.start() for m in marks[1:]] + [len(text)])
    }


def _metres(value: float) -> str:
    return f"{float(value):.2f}"


def _number_range(count: int) -> str:
    if count == 0:
        return "none is visible in this picture"
    if count == 1:
        return "there is one, numbered 0"
    return f"they are numbered 0 to {count - 1}"


def number_runs(numbers: Sequence[int]) -> str:
    """Keypoint numbers in short form: ``[0, 1, 2, 3, 5]`` -> ``0-3, 5``."""
    runs: list[list[int]] = []
    for number in sorted(int(n) for n in numbers):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def picture_place(pixels: np.ndarray, image_shape: Sequence[int]) -> str:
    """Where points lie in a picture, in words: the third of its height and of its width their
    mean falls in (``bottom left``, ``middle right``, ``centre``...).

    Args:
        pixels: Image positions (u along the width, v down the height), shape: (K, 2), K >= 1.
        image_shape: (H, W) of the picture (pixels).
    """
    u, v = np.asarray(pixels, dtype=np.float64).reshape(-1, 2).mean(axis=0)
    height, width = image_shape
    row = ("top", "middle", "bottom")[int(np.clip(3 * v / height, 0, 2))]
    column = ("left", "centre", "right")[int(np.clip(3 * u / width, 0, 2))]
    return "centre" if (row, column) == ("middle", "centre") else f"{row} {column}"


def describe_outcome(outcome: dict | None, failure: dict | None = None) -> str:
    """One line on how a stage went, for the history in the prompt.

    Args:
        outcome: ``{"success": bool, "final_distance": float | None, "failure": str | None}``
            as kept by ``record_outcome``; None when nothing was recorded.
        failure: ``{"kind", "message"}`` of a stage whose code could not be used (it was asked
            again); then nothing was executed and ``outcome`` is None.
    """
    if failure is not None:
        return (
            f"its code could not be used ({failure['kind']}: {failure['message']}), so nothing "
            "moved."
        )
    if outcome is None:
        return "not known."
    words = ["it succeeded" if outcome.get("success") else "it did not succeed"]
    distance = outcome.get("final_distance")
    if distance is not None:
        words.append(
            f"at the end the chosen keypoints were {float(distance):.3f} m from their targets "
            "on average"
        )
    if outcome.get("failure"):
        words.append(f"failure: {outcome['failure']}")
    return "; ".join(words) + "."


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


def _image(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


class CodePrompt:
    """The request text of one code run's stages, from its settings and its records."""

    def __init__(self, settings: CodeSettings) -> None:
        self.settings = settings
        self._sections = load_sections(settings.prompt_version)

    def content(self, work: CodeRecords, seed: int, stage: str) -> list[dict]:
        """The message parts of a stage's request: instructions, history (multi-step) and the
        current picture (each picture after its heading and, in v2, its keypoint labels)."""
        s, sections = self.settings, self._sections
        index = stage_index(stage)
        parts = [_text(self._intro(work.candidates(seed, stage)))]
        if s.multi_step and index > 0:
            parts.append(_text(sections["history_intro"].substitute()))
            for earlier in range(index):
                number = earlier + 1
                heading = sections["history_stage"].substitute(number=number)
                parts += self._picture(work, seed, earlier, heading)
                outcome = describe_outcome(
                    work.outcome(seed, earlier), work.attempt_failure(seed, earlier)
                )
                code = (work.code(seed, earlier) or "").strip("\n")
                parts.append(
                    _text(
                        sections["history_code"].substitute(
                            number=number, code=code, outcome=outcome
                        )
                    )
                )
        if not s.multi_step:
            heading = sections["current_single"].substitute()
        elif index > 0 and work.stage_failed(seed, index - 1) and "current_again" in sections:
            heading = sections["current_again"].substitute(number=index + 1, previous=index)
        else:
            heading = sections["current_multi"].substitute(number=index + 1)
        return parts + self._picture(work, seed, stage, heading)

    def labels(self, candidates: CandidateSet) -> str | None:
        """The keypoint numbers of a picture by the body they lie on, each movable object with
        where it is in the picture (``picture_place``); None where the template has no labels
        (v1) or ``label_keypoints`` is off.

        Args:
            candidates: The picture's candidates (projected: every ``pixel`` set).
        """
        sections = self._sections
        if not self.settings.label_keypoints or "labels" not in sections:
            return None
        bodies = candidates.bodies()
        rows = []
        for name in (*candidates.objects, *candidates.fixtures):
            numbers = [i for i, body in enumerate(bodies) if body == name]
            words = self._words(name)
            if name in candidates.fixtures:
                if numbers:
                    row = sections["label_fixture"].substitute(
                        numbers=number_runs(numbers), name=name, words=words
                    )
                    rows.append(row)
            elif numbers:
                pixels = np.array([candidates.candidates[i].pixel for i in numbers], float)
                place = picture_place(pixels, candidates.image_shape)
                rows.append(
                    sections["label_object"].substitute(
                        numbers=number_runs(numbers), name=name, words=words, place=place
                    )
                )
            else:
                rows.append(sections["label_unseen"].substitute(name=name, words=words))
        return sections["labels"].substitute(rows="\n".join(rows))

    def _words(self, name: str) -> str:
        """`` (<words>)`` for a body the settings describe, else empty."""
        words = self.settings.object_words.get(name)
        return f" ({words})" if words else ""

    def _intro(self, candidates: CandidateSet) -> str:
        """The request's opening text: task, keypoints, conventions, function form, rules."""
        s, sections = self.settings, self._sections
        workspace = ""
        if s.workspace_low is not None and s.workspace_high is not None:
            workspace = sections["workspace"].substitute(
                {
                    f"{axis}_{end}": _metres(corner[k])
                    for k, axis in enumerate("xyz")
                    for end, corner in (("low", s.workspace_low), ("high", s.workspace_high))
                }
            )
        conventions = sections["conventions"].substitute(
            objects=", ".join(f'"{name}"' for name in s.objects) or "none",
            described_objects=", ".join(f'"{n}"{self._words(n)}' for n in s.objects) or "none",
            workspace=workspace,
        )
        note = "numbers_labelled" if s.label_keypoints else "numbers_hidden"
        return sections["multi" if s.multi_step else "single"].substitute(
            instruction=s.instruction,
            number_range=_number_range(len(candidates)),
            numbers_note=sections[note].substitute() if note in sections else "",
            conventions=conventions,
            rules=sections["rules"].substitute(),
        )

    def _picture(self, work: CodeRecords, seed: int, stage: int | str, heading: str) -> list[dict]:
        """A stage's picture as message parts: its heading, its labels (if any), the image."""
        labels = self.labels(work.candidates(seed, stage))
        texts = [heading] if labels is None else [heading, labels]
        return [*(_text(t) for t in texts), _image(work.image_url(seed, stage))]
