"""What an IKER code work folder holds, read back: stages asked, their goals, code and outcomes.

``CodeRecords`` is the read side of ``codegen.CodeWork``: where a run stands (``waiting_for``),
each stage's candidates, picture, code, accepted goal and outcome, and the run's history.
"""

from __future__ import annotations

import base64

from keyscaffold.iker.candidates import CandidateSet
from keyscaffold.iker.code_settings import CodeSettings
from keyscaffold.iker.stage import StageSpec
from keyscaffold.iker.stage_code import stage_index, stage_name
from keyscaffold.planning.stages import DONE, FAILED, StageWork

FAILED_SUFFIX = ".failed.json"
"""``code-<i>.failed.json``: a stage whose code failed finally and was asked again as ``i + 1``."""
RESULT_FILE = "result.json"


class CodeRecords(StageWork):
    """Read access to a code work folder (one state per seed); ``codegen.CodeWork`` writes it."""

    result_file = RESULT_FILE

    settings: CodeSettings
    seeds: list[int]

    def attempt_failure(self, seed: int, stage: int | str) -> dict | None:
        """``{"stage", "kind", "message"}`` of a stage whose code failed and that was asked
        again (not the run's final failure), or None."""
        return self.read(seed, f"{stage_name(stage)}{FAILED_SUFFIX}", None)

    # ---------------------------------------------------------------------------- reading
    def waiting_for(self, seed: int) -> str:
        """What the run needs next: ``observe`` (the current stage's picture), ``execute`` (the
        previous stage's outcome), ``answer`` (the model's code: ``run`` or a Batch round),
        ``done`` or ``failed``."""
        stage = self.stage_of(seed)
        if stage in (DONE, FAILED):
            return stage
        index = stage_index(stage)
        if index > 0 and not self._settled(seed, index - 1):
            return "execute"
        if index < self.settings.stage_limit and not self._has(seed, f"{stage}.candidates.json"):
            return "observe"
        return "answer"

    def num_stages(self, seed: int) -> int:
        """Stages asked and answered so far, counted from ``code-0``: accepted, or failed and
        asked again."""
        count = 0
        while self._has(seed, f"code-{count}.stage.json") or self._has(
            seed, f"code-{count}{FAILED_SUFFIX}"
        ):
            count += 1
        return count

    def stage_spec(self, seed: int, stage: int | str) -> StageSpec | None:
        """The accepted goal of a stage, or None."""
        data = self.read(seed, f"{stage_name(stage)}.stage.json", None)
        return None if data is None else StageSpec.from_json(data["spec"])

    def candidates(self, seed: int, stage: int | str) -> CandidateSet:
        """The candidates of a stage's picture (without the image)."""
        return CandidateSet.from_json(self.read(seed, f"{stage_name(stage)}.candidates.json"))

    def outcome(self, seed: int, stage: int | str) -> dict | None:
        """What executing a stage did, or None."""
        return self.read(seed, f"{stage_name(stage)}.outcome.json", None)

    def code(self, seed: int, stage: int | str) -> str | None:
        """The code extracted from a stage's last answer, or None."""
        path = self.record_dir(seed) / f"{stage_name(stage)}.py"
        return path.read_text() if path.exists() else None

    def image_url(self, seed: int, stage: int | str) -> str:
        """The stage's picture as a PNG data URL (exactly the bytes on disk)."""
        png = (self.record_dir(seed) / f"{stage_name(stage)}.png").read_bytes()
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

    def history(self, seed: int, before: int | None = None) -> list[dict]:
        """The stages before ``before`` (default: all asked so far): ``stage``, ``spec`` (None
        for a stage whose code failed), ``code``, ``outcome`` (None when not recorded) and
        ``failure`` (``attempt_failure``) each."""
        count = self.num_stages(seed) if before is None else before
        history = []
        for i in range(count):
            spec = self.stage_spec(seed, i)
            history.append(
                {
                    "stage": f"code-{i}",
                    "spec": None if spec is None else spec.to_json(),
                    "code": self.code(seed, i),
                    "outcome": self.outcome(seed, i),
                    "failure": self.attempt_failure(seed, i),
                }
            )
        return history

    def result(self, seed: int) -> dict | None:
        """The finished run's record (``result.json``), or None while it is not finished."""
        return self.read(seed, self.result_file, None)

    def _has(self, seed: int, name: str) -> bool:
        return (self.record_dir(seed) / name).exists()

    def _settled(self, seed: int, index: int) -> bool:
        """Stage ``index`` needs nothing more: its outcome is in, or its code failed and the
        stage is asked again."""
        return self._has(seed, f"code-{index}.outcome.json") or self._has(
            seed, f"code-{index}{FAILED_SUFFIX}"
        )

    def stage_failed(self, seed: int, index: int) -> bool:
        """Stage ``index``'s code failed (and was asked again), or its execution did not
        succeed."""
        outcome = self.outcome(seed, index)
        return self._has(seed, f"code-{index}{FAILED_SUFFIX}") or (
            outcome is not None and not outcome["success"]
        )

    def _failures_in_a_row(self, seed: int, index: int) -> int:
        """Failed stages ending with ``index`` (counted as failed) since the last that worked."""
        count = 1
        while index - count >= 0 and self.stage_failed(seed, index - count):
            count += 1
        return count

    def _check_seed(self, seed: int) -> None:
        if seed not in self.seeds:
            raise ValueError(f"run {seed} is not in this work folder (seeds {self.seeds})")
