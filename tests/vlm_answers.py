"""Answers a competent model would give, made from ground truth, for tests that need good plans.

``AnswerBook`` prepares a throwaway planning run with the same settings, answers each request from
the scene's true keypoints (keypoint stage) and the scripted motion (trajectory stage), and indexes
the answers by request hash, so a fake server can serve them to the real run.
"""

from __future__ import annotations

import json

import numpy as np

from keyscaffold.geometry import project_points
from keyscaffold.planning.vlm_planner import PlanningWork
from keyscaffold.vlm.client import ChatResult


def keypoint_answer(work: PlanningWork, seed: int) -> str:
    frame = work.load_frame(seed)
    data = work.task.state_data(work.model, work.task.sample_initial_state(seed))
    world = work.task.keypoint_positions(work.model, data)
    uv, _ = project_points(world, frame["intrinsics"], frame["cam_to_world"])
    height, width = frame["segmentation"].shape
    points = [
        {"name": name, "point": [round(v / height * 1000), round(u / width * 1000)]}
        for name, (u, v) in zip(work.task.keypoint_names(), uv)
    ]
    return "Here are the points:\n```json\n" + json.dumps(points) + "\n```"


def trajectory_answer(work: PlanningWork, seed: int) -> str:
    # The scripted motion for the detected points, written in the prompt's relative frame.
    detected = work._load_keypoints(seed)
    keypoints, hand, _ = work.scripted_motion(seed, detected)
    origin = np.array(detected[0].world)
    keypoints, hand = keypoints - origin, hand - origin
    names = work.task.keypoint_names()
    plan = [
        {
            **{n: np.round(keypoints[i, k], 4).tolist() for k, n in enumerate(names)},
            "hand": np.round(hand[i], 4).tolist(),
        }
        for i in range(len(hand))
    ]
    return json.dumps(plan)


def positions_block(body: dict) -> str | None:
    """The "Initial positions" lines of a trajectory request (the same with or without examples)."""
    content = body["messages"][0]["content"]
    if not isinstance(content, str) or "Initial positions:" not in content:
        return None
    return content.split("Initial positions:", 1)[1].split("\n\n", 1)[0].split('"hand" is')[0]


class AnswerBook:
    """Good answers for every request of a planning run, by request hash and by custom id.

    ``answer(body)`` serves a fake server: keypoint requests by hash, trajectory requests by their
    initial positions, so prompts that gained few-shot examples are still answered.
    """

    def __init__(self, settings, folder) -> None:
        self.by_key: dict[str, str] = {}
        self.by_id: dict[str, str] = {}
        self.id_by_key: dict[str, str] = {}
        self.by_positions: dict[str, str] = {}
        work = PlanningWork(folder, settings)
        self.seeds = work.seeds
        for _ in range(2):
            requests = work.pending_requests()
            results = []
            for request in requests:
                seed = int(request.custom_id.split("-")[-2])
                stage = request.custom_id.split("-")[-1]
                maker = keypoint_answer if stage == "keypoints" else trajectory_answer
                content = maker(work, seed)
                self.by_key[request.key] = content
                self.by_id[request.custom_id] = content
                self.id_by_key[request.key] = request.custom_id
                if stage == "trajectory":
                    self.by_positions[positions_block(request.body)] = content
                results.append(ChatResult(request.custom_id, content))
            work.record(results)

    def merge(self, other: AnswerBook) -> AnswerBook:
        for name in ("by_key", "by_id", "id_by_key", "by_positions"):
            getattr(self, name).update(getattr(other, name))
        return self

    def answer(self, body: dict) -> str:
        from keyscaffold.vlm.cache import request_key

        key = request_key(body)
        if key in self.by_key:
            return self.by_key[key]
        return self.by_positions.get(positions_block(body), "I cannot help with that.")
