"""Contract tests over every registered task (no list to keep in sync)."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache

import mujoco
import numpy as np
import pytest
import torch

from keyscaffold.planning.oracle import oracle_plan, oracle_plans
from keyscaffold.planning.plan import KeypointPlan
from keyscaffold.rl.env import EnvConfig, ScaffoldEnv
from keyscaffold.sim.render import SceneRenderer
from keyscaffold.tasks import make_task, task_names
from keyscaffold.tasks.base import InitialState, Task

TASKS = task_names()


@cache
def _task(name: str) -> Task:
    """One instance of each task for this module's tests, so that its workspace (derived from 20
    states, ``Task.workspace``) is derived once."""
    return make_task(name)


@pytest.fixture(scope="module", params=TASKS)
def env_factory(request):
    task = _task(request.param)
    plans = oracle_plans(task, "train", 0, 3)

    def make(seed=0, num_envs=4, **config):
        return ScaffoldEnv(
            task, plans, EnvConfig(num_envs=num_envs, num_threads=1, **config), seed=seed
        )

    return task, make


def test_registry_knows_tasks():
    assert "move_apple" in TASKS
    with pytest.raises(KeyError, match="Did you mean 'move_apple'"):
        make_task("move_aple")


@pytest.mark.parametrize("name", TASKS)
def test_task_declares_everything(name):
    task = _task(name)
    assert task.instruction and task.keypoints and task.start_limit > 0 and task.plan_steps
    assert all(kp.description for kp in task.keypoints)
    doc = task.__class__.__doc__
    for part in ("Description:", "Randomizations:", "Success:"):
        assert part in doc
    # The contact reward needs a sensed body the hand is meant to touch: one the keypoints lie on.
    keypoint_bodies = {kp.body for kp in task.keypoints}
    assert task.contact_bodies and set(task.contact_bodies) <= keypoint_bodies
    state = task.sample_initial_state(7)
    assert state == task.sample_initial_state(7)
    assert state != task.sample_initial_state(8)


@pytest.mark.parametrize("name", TASKS)
def test_oracle_plan_validates_and_round_trips(name):
    task = _task(name)
    index = task.index(task.build_model())
    for seed in range(5):
        plan = oracle_plan(task, seed)  # validates against the task's workspace
        again = KeypointPlan.from_json(json.loads(json.dumps(plan.to_json())))
        assert again.initial_state == plan.initial_state
        np.testing.assert_array_equal(again.wrist_orientations(), plan.wrist_orientations())
        task.validate_state(index, plan.initial_state)


@pytest.mark.parametrize("name", TASKS)
def test_objects_left_alone_stay_where_they_start(name):
    """A resting object does not roll, slide or tip by itself (a top-heavy apple once rolled 11 cm)."""
    task = _task(name)
    model = task.build_model()
    data = task.state_data(model, task.sample_initial_state(0))
    joints = model.actuator_trnid[:, 0]
    data.ctrl[:] = data.qpos[model.jnt_qposadr[joints]]  # the robot holds its start pose
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, b) for b in task.movable_objects()]
    mujoco.mj_forward(model, data)
    start = data.xpos[ids].copy()
    for _ in range(int(3.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    drift = np.linalg.norm(data.xpos[ids] - start, axis=-1)
    assert drift.max() < 0.005, dict(zip(task.movable_objects(), drift))


def test_seeded_reset_is_deterministic(env_factory):
    task, make = env_factory
    a, b = make(seed=3), make(seed=3)
    torch.testing.assert_close(a.get_observations()["policy"], b.get_observations()["policy"])
    n = a.num_actions
    actions = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (4, n)).astype(np.float32))
    for _ in range(5):
        oa, ra, _, _ = a.step(actions)
        ob, rb, _, _ = b.step(actions)
    torch.testing.assert_close(oa["policy"], ob["policy"])
    torch.testing.assert_close(ra, rb)
    c = make(seed=4)
    assert not torch.equal(
        c.get_observations()["policy"], make(seed=3).get_observations()["policy"]
    )


def test_action_count_comes_from_the_task_action_spec(env_factory):
    task, make = env_factory
    env = make()
    assert env.num_actions == task.actions().num_actions == len(task.actions().names)
    with pytest.raises(ValueError, match="NaN"):
        env.step(torch.full((4, env.num_actions), float("nan")))
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.zeros(4, env.num_actions - 1))


def test_success_is_false_at_reset(env_factory):
    task, make = env_factory
    env = make()
    state = {k: v.copy() for k, v in env.monitor.state.items()}
    result = task.evaluate(env.worlds, state, np.zeros(env.num_envs, dtype=np.int64))
    assert result["success"].shape == (4,) and not result["success"].any()
    for name, value in result.items():
        assert np.shape(value) == (4,), name
    _, _, _, extras = env.step(torch.zeros(4, env.num_actions))
    assert not env.monitor.result["success"].any()


def test_observation_and_step_shapes(env_factory):
    _, make = env_factory
    env = make()
    obs = env.get_observations()
    assert obs["policy"].shape[0] == 4 and obs["policy"].dtype == torch.float32
    obs, reward, done, extras = env.step(torch.zeros(4, env.num_actions))
    assert reward.shape == (4,) and done.shape == (4,) and extras["time_outs"].shape == (4,)
    assert {"/reward/tracking", "/reward/contact", "/reward/action"} <= set(extras["log"])
    assert torch.isfinite(obs["policy"]).all()


def test_episode_times_out_at_episode_length_and_logs_task_metrics(env_factory):
    task, make = env_factory
    env = make(num_envs=2, terminate=False)
    for t in range(task.episode_steps):
        _, _, done, extras = env.step(torch.zeros(2, env.num_actions))
        if t < task.episode_steps - 1:
            assert not done.any()
    assert done.all() and extras["time_outs"].all()
    assert "/episode/success" in extras["log"]
    assert (env.episode_length_buf == 0).all() and (env.monitor.step == 0).all()


def test_tracking_limit_curriculum(env_factory):
    task, make = env_factory
    env = make()
    env.set_training_progress(0.0)
    assert env.tracking_limit == pytest.approx(task.start_limit)
    env.set_training_progress(1.0)
    assert env.tracking_limit == pytest.approx(task.start_limit / 2)
    wide = make(initial_limit_scale=2.0)
    wide.set_training_progress(0.0)
    assert wide.tracking_limit == pytest.approx(2 * task.start_limit)
    wide.set_training_progress(0.5)
    assert wide.tracking_limit == pytest.approx(1.25 * task.start_limit)
    # evaluation judges tracking at the task's own start limit
    assert wide.config.for_evaluation(4).initial_limit_scale == 1.0


@pytest.mark.parametrize("name", ["move_apple", "close_scissors"])  # one closure, per finger
def test_full_range_grip_spans_the_action_range(name):
    """With ``grip_full_range`` the grip starts open, -1 keeps it open, 0 half closes it and 1
    closes it; by default everything up to 0 is open. (The hand starts above the objects, so
    the fingers close in free air.)"""
    task = _task(name)
    plans = oracle_plans(task, "train", 0, 2)

    def grip_after(action: float, **config) -> tuple[np.ndarray, np.ndarray]:
        env = ScaffoldEnv(task, plans, EnvConfig(num_envs=4, num_threads=1, **config))
        rest = env.action_avg[:, env.action_spec.grip_slice].copy()
        actions = torch.zeros(4, env.num_actions)
        actions[:, env.action_spec.grip_slice] = action
        for _ in range(25):
            env.step(actions)
        return rest, env.controller.joint_positions()

    rest, open_default = grip_after(0.0)
    assert (rest == 0).all()
    rest, open_full = grip_after(-1.0, grip_full_range=True)
    assert (rest == -1).all()
    _, half = grip_after(0.0, grip_full_range=True)
    _, closed = grip_after(1.0, grip_full_range=True)
    span = np.linalg.norm(closed - open_default, axis=1)
    assert (span > 0).all()
    assert (np.linalg.norm(open_full - open_default, axis=1) < 0.1 * span).all()
    share = np.linalg.norm(half - open_default, axis=1) / span
    assert ((share > 0.25) & (share < 0.85)).all()


def test_grip_actions_can_have_their_own_slower_filter():
    task = _task("close_scissors")
    plans = oracle_plans(task, "train", 0, 2)
    env = ScaffoldEnv(
        task, plans, EnvConfig(num_envs=2, num_threads=1, action_ema=0.9, grip_action_ema=0.1)
    )
    grip = env.action_spec.grip_slice
    for step in range(1, 4):
        env.step(torch.ones(2, env.num_actions))
        assert np.allclose(env.action_avg[:, : grip.start], 1 - 0.1**step)
        assert np.allclose(env.action_avg[:, grip], 1 - 0.9**step)
    # by default the grip shares the wrist's filter
    same = ScaffoldEnv(task, plans, EnvConfig(num_envs=2, num_threads=1, action_ema=0.9))
    same.step(torch.ones(2, same.num_actions))
    assert np.allclose(same.action_avg, 0.9)


def test_rotation_limit_widens_with_the_orientation_noise(env_factory):
    _, make = env_factory
    env = make(orientation_curriculum=0.5, rotation_limit_start=0.25, wrist_rotation_scale=1.0)
    assert env.rotation_limit == pytest.approx(0.25)
    env.set_training_progress(0.25)
    assert env.noise_scale == pytest.approx(0.5) and env.rotation_limit == pytest.approx(0.625)
    env.set_training_progress(0.5)
    assert env.rotation_limit == pytest.approx(1.0)
    _, _, _, extras = env.step(torch.ones(4, env.num_actions))
    assert extras["log"]["/curriculum/rotation_limit"] == pytest.approx(1.0)
    assert extras["log"]["/curriculum/contact_weight"] == pytest.approx(env.config.rewards.contact)
    full = make(rotation_limit_start=0.25, wrist_rotation_scale=1.0)  # full noise from the start
    assert full.rotation_limit == pytest.approx(1.0)


@pytest.mark.parametrize("name", TASKS)
def test_render_shows_every_keypoint_body(name):
    task = _task(name)
    model = task.build_model()
    data = task.state_data(model, task.sample_initial_state(0))
    renderer = SceneRenderer(model, 320, 320, quality=False)
    frame = renderer.frame(data, task.camera.name)
    renderer.close()
    visible = set(np.unique(frame.segmentation).tolist())
    for kp in task.keypoints:
        assert model.body(kp.body).id in visible, f"{kp.body} of {name} is not in view"
    assert frame.rgb.std() > 10  # not a blank image


@pytest.mark.parametrize("name", TASKS)
def test_plan_for_another_task_is_refused(name):
    task = _task(name)
    other = _task(next(t for t in TASKS if t != name)) if len(TASKS) > 1 else None
    plan = oracle_plan(task, 0)
    with pytest.raises(ValueError, match="made for task"):
        ScaffoldEnv(task, [replace(plan, task="not_" + name)], EnvConfig(num_envs=1, num_threads=1))
    with pytest.raises(ValueError, match="keypoints"):
        wrong = replace(plan, keypoint_names=[*plan.keypoint_names, "extra"])
        ScaffoldEnv(task, [wrong], EnvConfig(num_envs=1, num_threads=1))
    if other is not None:
        with pytest.raises(ValueError, match="made for task"):
            ScaffoldEnv(other, [plan], EnvConfig(num_envs=1, num_threads=1))


def test_state_with_joint_out_of_range_is_refused():
    articulated = [n for n in TASKS if _task(n).sample_initial_state(0).joints]
    if not articulated:
        pytest.skip("no articulated task registered")
    task = _task(articulated[0])
    plan = oracle_plan(task, 0)
    joint = next(iter(plan.initial_state.joints))
    bad = InitialState(
        plan.initial_state.seed,
        plan.initial_state.wrist,
        plan.initial_state.objects,
        {joint: 50.0},
    )
    with pytest.raises(ValueError, match=f"joint '{joint}' = 50.0000 lies outside"):
        ScaffoldEnv(task, [replace(plan, initial_state=bad)], EnvConfig(num_envs=1, num_threads=1))
    unknown = replace(plan.initial_state, joints={"no_such_joint": 0.0})
    with pytest.raises(ValueError, match="does not have"):
        ScaffoldEnv(
            task, [replace(plan, initial_state=unknown)], EnvConfig(num_envs=1, num_threads=1)
        )
