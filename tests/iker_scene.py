"""A small made-up IKER scene for tests: eight numbered candidates on a shoe, a box and a rack, a
tiny overlay image, settings for it, and two answers a competent model would give."""

from __future__ import annotations

import numpy as np

from keyscaffold.iker.candidates import Candidate, CandidateSet
from keyscaffold.iker.code_settings import CodeSettings

BODIES = ["shoe"] * 4 + ["box"] * 2 + ["rack"] * 2
SETTINGS = CodeSettings(
    task="fake",
    instruction="put the shoe on the rack",
    objects=["shoe", "box"],
    workspace_low=[0.0, -0.6, 0.0],
    workspace_high=[1.0, 0.6, 1.0],
    seeds=[0],
    timeout_s=1.0,
    model="test-model",
)


def scene(shift: float = 0.0, shade: int = 0) -> CandidateSet:
    """Eight numbered candidates (shoe 0-3, box 4-5, rack 6-7) and a tiny overlay image."""
    world = np.array(
        [
            [0.50, 0.10, 0.02],
            [0.60, 0.10, 0.02],
            [0.55, 0.14, 0.02],
            [0.55, 0.06, 0.02],
            [0.40, -0.20, 0.10],
            [0.40, -0.30, 0.10],
            [0.30, 0.00, 0.32],
            [0.30, 0.20, 0.32],
        ]
    )
    world[:4, 1] += shift
    candidates = tuple(
        Candidate(
            number=i,
            body=body,
            kind="fixture" if body == "rack" else "object",
            world=world[i],
            local=np.zeros(3),
            pixel=np.array([4.0 + 3 * i, 10.0]),
            depth=1.0,
        )
        for i, body in enumerate(BODIES)
    )
    image = np.full((24, 32, 3), 120 + shade, np.uint8)
    image[:, : 4 + shade % 20] = 30
    return CandidateSet(candidates, image, ("shoe", "box"), ("rack",), (24, 32), 8.0)


def fenced(body: str, words: str = "Here is the code.") -> str:
    return f"{words}\n```python\nimport numpy as np\n\n\ndef get_interaction_data(keypoint_coordinates):\n{body}\n```\n"


GOOD = fenced(
    """    k = np.array(keypoint_coordinates)
    shift = k[6] - k[0] + np.array([0.0, 0.0, 0.05])
    targets = k[[0, 1]] + shift
    return {"object": "shoe", "keypoints": [0, 1], "targets": targets.tolist(),
            "mode": "grasp", "done": False}"""
)
DONE = fenced(
    '    return {"object": "", "keypoints": [], "targets": [], "mode": "push", "done": True}'
)


def tiny_iker_run() -> dict:
    """``IkerSettings`` keywords of the smallest real IKER run: two PPO iterations of 4 worlds
    over 20-step episodes, 320 px pictures, 10 settle steps."""
    from keyscaffold.rl.config import PPOConfig, TrainConfig
    from keyscaffold.rl.keypoint_env import KeypointEnvConfig

    ppo = PPOConfig(
        num_steps_per_env=8, num_learning_epochs=1, num_mini_batches=2, hidden_dims=(32, 32)
    )
    return dict(
        train=TrainConfig(max_iterations=2, ppo=ppo),
        env_config=KeypointEnvConfig(num_envs=4, num_threads=1, episode_steps=20),
        image_size=320,
        settle_steps=10,
    )
