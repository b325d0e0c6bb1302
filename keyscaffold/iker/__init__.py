"""IKER mode: model-written keypoint targets, keypoint rewards, stage-by-stage replanning."""
