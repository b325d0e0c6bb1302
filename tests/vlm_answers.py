"""Answers a model would give, made from ground truth, for tests that need plans from the VLM path.

The answers and the book that serves them live in the package
(``keyscaffold.planning.truth_answers``), so benchmarks use them without importing from tests.
``AnswerBook(settings, folder)`` gives exact answers (the true keypoints' pixels, the scripted
motion); ``AnswerBook(settings, folder, AnswerErrors())`` gives them with the errors real answers
show (pixels 10-20 px off, waypoints 2-5 cm off, the grasp 2-3 cm too high or too low, varied
formats).
"""

from __future__ import annotations

from keyscaffold.planning.truth_answers import (
    AnswerBook,
    AnswerErrors,
    keypoint_answer,
    positions_block,
    trajectory_answer,
)

__all__ = ["AnswerBook", "AnswerErrors", "keypoint_answer", "positions_block", "trajectory_answer"]
