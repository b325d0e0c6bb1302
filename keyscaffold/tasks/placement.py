"""Tasks on other embodiments, and where an arm stands for a task: a base from which it reaches
every wrist pose the task's oracle plans ask for, with room to spare for the policy's residual.

``on_embodiment`` (``make_task("move_apple@iiwa_hand")``) runs a task on another registered
embodiment that carries the same tool; ``Task.robot`` then places the arm with ``place_arm``.

The poses are the start wrist and every oracle waypoint of ``PLACEMENT_STATES`` seeded initial
states (``reach_poses``); the oracle plans of the IKER tasks are their stage targets as
waypoints, so every task places its arm the same way. The base stands at the arm's registered
height (else at the top of the work surface under the poses, ``base_heights``) behind the poses,
facing them along x: at -x facing +x (yaw 0), or at +x facing -x (yaw pi, for a hand that
approaches from +x, like open_drawer's). Along that line, through the middle of the poses' y
range, the search (``find_placement``) keeps the bases whose column stays clear of the scene's
fixtures and from which the arm reaches every pose moved by a margin along each world axis (the
largest of ``MARGINS`` that some base leaves); it takes the arm's own side (its registered
yaw's) when a base there serves, else the other, and the middle of the longest run of such
bases. It screens candidate bases with a sample of the
poses and a quick IK, then checks the chosen base with every pose by the same IK that places the
arm at reset (``ArmEmbodiment.rest_qpos``); both start from the arm's home pose and, where it
gets stuck, from its other ``ik_starts``. A task no base serves gets a ``PlacementError``
naming the poses out of reach and how far off they stay. The registered tasks' placements are
kept in ``TABLE``, so building them costs no search.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import mujoco
import numpy as np

from keyscaffold.geometry import rotation_from_xyz_angles, yaw_rotation
from keyscaffold.kinematics import ik
from keyscaffold.sim.embodiments import Embodiment, embodiment_names, make_embodiment
from keyscaffold.sim.embodiments.arm import REACH_TOLERANCE, ArmEmbodiment
from keyscaffold.sim.scene import PhysicsConfig, build_model, index_scene, subtree_bodies

PLACEMENT_STATES = 20
"""Seeded initial states whose oracle wrist poses a placed arm must reach."""
PLACEMENT_MARGIN = 0.05
"""Each pose moved this far (m) along each world axis should stay reachable: the CPU profile's
wrist position residual is ±5 cm."""
MARGINS = (PLACEMENT_MARGIN, 0.03, 0.01)
"""Margins tried in turn (m): where no base leaves the full margin (open_drawer's low handle,
reached with the hand turned toward the arm), one that leaves less."""
SCAN_STEP = 0.05
"""Spacing of the candidate bases along the line in the coarse scan (m)."""
FINE_STEP = 0.01
"""Spacing of the candidate bases in the fine scan (m)."""
SCREEN_POSES = 24
"""Poses the screening IK tries at each candidate base (spread over all of them)."""
BASE_CLEARANCE = 0.05
"""Room between the base column and a fixture's bounding box (m)."""
BELOW_BASE = 0.1
"""A fixture whose top stays this far (m) under the base cannot touch the arm."""


class PlacementError(ValueError):
    """No base of the arm reaches every pose of the task."""


@dataclass(frozen=True)
class Placement:
    """An arm base: position (m) and turn about z (rad)."""

    x: float
    y: float
    z: float
    yaw: float
    margin: float = 0.0
    """How far (m) every pose may move along each world axis and stay reachable."""


def oracle_wrist_poses(task, state, num_waypoints: int = 20) -> np.ndarray:
    """The start wrist and every wrist waypoint of the task's oracle plan for ``state``, shape:
    (num_waypoints + 1, 6) (m, rad)."""
    plan = task.oracle_waypoints(state, num_waypoints)
    orientation = np.broadcast_to(plan.wrist_orientation, plan.wrist.shape)
    poses = np.concatenate([plan.wrist, orientation], axis=1)
    return np.concatenate([np.asarray(state.wrist, dtype=np.float64)[None], poses])


def reach_poses(task, states: int = PLACEMENT_STATES) -> tuple[np.ndarray, list[str]]:
    """Every pose an arm placed for ``task`` must reach: ``oracle_wrist_poses`` of the seeded
    states 0..states-1, shape (N, 6) (m, rad), with a label per pose naming its seed and
    waypoint."""
    poses, labels = [], []
    for seed in range(states):
        found = oracle_wrist_poses(task, task.sample_initial_state(seed))
        poses.append(found)
        labels += [f"seed {seed} start"] + [
            f"seed {seed} waypoint {i}" for i in range(1, len(found))
        ]
    return np.concatenate(poses), labels


def margin_shifts(margin: float = PLACEMENT_MARGIN) -> np.ndarray:
    """The pose itself and the pose moved ``margin`` along ±x, ±y, ±z, shape: (7, 3) (m)."""
    return np.concatenate([np.zeros((1, 3)), margin * np.eye(3), -margin * np.eye(3)])


def at_placement(arm: ArmEmbodiment, placement: Placement) -> ArmEmbodiment:
    """``arm`` with its base at ``placement``, named after its registered name and the base
    pose (``iiwa_hand@x=-0.25,y=0.00,z=0.90,yaw=0.00``), so a run's records tell the
    placement."""
    root = arm.name.split("@")[0]
    x, y, z, yaw = (
        round(v, 2) + 0.0 for v in (placement.x, placement.y, placement.z, placement.yaw)
    )
    return replace(
        arm,
        base_position=(placement.x, placement.y, placement.z),
        base_yaw=placement.yaw,
        name=f"{root}@x={x:.2f},y={y:.2f},z={z:.2f},yaw={yaw:.2f}",
    )


def unreachable(arm: ArmEmbodiment, poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which poses the placed ``arm`` refuses at reset (``rest_qpos``'s IK from its starts and
    tolerance), shape (N,) bool, and each pose's remaining position and angle error, shape
    (N, 2) (m, rad)."""
    _, error = arm.arm_ik(poses)
    left = np.stack([np.linalg.norm(error[:, :3], axis=1), np.linalg.norm(error[:, 3:], axis=1)], 1)
    return (left[:, 0] > REACH_TOLERANCE[0]) | (left[:, 1] > REACH_TOLERANCE[1]), left


def _relative(poses: np.ndarray, bases: np.ndarray, yaws: np.ndarray):
    """Target positions (K, P, 3) and rotations (K, P, 3, 3) of ``poses`` (P, 6) in the frames
    of bases at ``bases`` (K, 3) turned by ``yaws`` (K,)."""
    turn = np.stack([yaw_rotation(float(yaw)) for yaw in yaws])
    position = np.einsum("kji,kpj->kpi", turn, poses[None, :, :3] - bases[:, None])
    rotation = np.einsum("kji,pjl->kpil", turn, rotation_from_xyz_angles(poses[:, 3:]))
    return position, rotation


def _quick_reach(arm: ArmEmbodiment, position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Whether the arm, its base at the origin facing +x, reaches each target, shape: (B,).

    The placing IK (damped least squares from the home pose, then, for the targets it misses,
    from every other of ``ArmEmbodiment.ik_starts`` at once), given up on a target whose error
    stops shrinking: quick, and no more generous than ``rest_qpos``.
    """
    chain = replace(arm.chain, base_position=np.zeros(3), base_rotation=np.eye(3))
    starts = arm.ik_starts()
    near = np.flatnonzero(np.linalg.norm(position, axis=1) <= ik.longest_reach(chain))
    found = np.zeros(len(position), dtype=bool)
    found[near] = _reach_from(arm, chain, starts[:1], position[near], rotation[near])
    todo = near[~found[near]]
    if todo.size and len(starts) > 1:
        rows = np.repeat(np.arange(len(todo)), len(starts) - 1)
        tries = np.tile(starts[1:], (len(todo), 1))
        again = todo[rows]
        found[todo] = _reach_from(arm, chain, tries, position[again], rotation[again], rows)
    return found


def _reach_from(
    arm: ArmEmbodiment, chain, start: np.ndarray, position, rotation, owner=None
) -> np.ndarray:
    """Whether damped least squares from ``start`` (B, N) or (1, N) (rad) brings ``chain``'s tip
    within ``REACH_TOLERANCE`` of each target (position (B, 3), rotation (B, 3, 3)), giving up
    on a target whose error stops shrinking.

    Returns:
        Shape: (B,); with ``owner`` (B,) (the target each row tries, 0..T-1), per target
        whether any of its rows got there, shape: (T,) (a target's rows stop once one does).
    """
    owner = np.arange(len(position)) if owner is None else owner
    lower, upper = arm.arm.limits()
    found = np.zeros(owner.max(initial=-1) + 1, dtype=bool)
    active = np.arange(len(position))
    q = np.array(np.broadcast_to(start, (len(position), chain.num_joints)), dtype=float)
    previous = np.full(len(position), np.inf)
    for iteration in range(300):
        if active.size == 0:
            break
        tip, turn, jacobian = chain.jacobian(q[active])
        error = ik.pose_error(tip, turn, position[active], rotation[active])
        found[owner[active[ik.within(error, REACH_TOLERANCE)]]] = True
        going = ~found[owner[active]]
        if iteration % 10 == 9:
            size = np.linalg.norm(error[:, :3], axis=1) + ik.ANGLE_WEIGHT * np.linalg.norm(
                error[:, 3:], axis=1
            )
            going &= size < 0.9 * previous[active]
            previous[active] = size
        active, jacobian, error = active[going], jacobian[going], error[going]
        q[active] = ik.dls_step(jacobian, error, q[active], lower, upper, 0.05, 0.3)
    return found


def spread_sample(poses: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` poses spread over all of them (farthest-point sampling, a radian
    counted as 0.3 m), the extremes first, shape: (min(count, N),)."""
    points = np.concatenate([poses[:, :3], 0.3 * poses[:, 3:]], axis=1)
    chosen = [int(np.argmax(np.linalg.norm(points - points.mean(0), axis=1)))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    while len(chosen) < min(count, len(poses)):
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return np.array(chosen)


def obstacle_boxes(task, arm: ArmEmbodiment) -> np.ndarray:
    """World bounding boxes of the scene's colliding geoms (fixtures, and the objects as seed 0
    places them; the floor left out), shape: (M, 2, 3) (low, high; m)."""
    tool = arm.tool
    objects = task.scene_objects()
    movable = [obj.name for obj in objects if obj.movable]
    model = build_model(objects, task.camera, PhysicsConfig(), tool, [], [])
    index = index_scene(model, tool, movable, [])
    data = mujoco.MjData(model)
    state = task.sample_initial_state(0)
    for name, pose in state.objects.items():
        data.qpos[index.object_qpos[name]] = pose
    mujoco.mj_kinematics(model, data)
    ids = [model.body(name).id for name in subtree_bodies(model, [obj.name for obj in objects])]
    geoms = [
        g
        for g in np.flatnonzero(np.isin(model.geom_bodyid, ids))
        if (model.geom_contype[g] or model.geom_conaffinity[g])
        and model.geom_type[g] != mujoco.mjtGeom.mjGEOM_PLANE
    ]
    boxes = []
    for g in geoms:
        turn = data.geom_xmat[g].reshape(3, 3)
        center = data.geom_xpos[g] + turn @ model.geom_aabb[g, :3]
        half = np.abs(turn) @ model.geom_aabb[g, 3:]
        boxes.append([center - half, center + half])
    return np.array(boxes, dtype=np.float64).reshape(-1, 2, 3)


def blocked_bases(arm: ArmEmbodiment, bases: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Whether the base column at each of ``bases`` (K, 3) comes within ``BASE_CLEARANCE`` of a
    box (M, 2, 3) that reaches up to the arm, shape: (K,)."""
    radius = getattr(arm.arm, "base_radius", 0.1) + BASE_CLEARANCE
    if len(boxes) == 0 or len(bases) == 0:
        return np.zeros(len(bases), dtype=bool)
    nearest = np.clip(bases[:, None, :2], boxes[None, :, 0, :2], boxes[None, :, 1, :2])
    near = np.linalg.norm(nearest - bases[:, None, :2], axis=2) < radius
    tall = boxes[None, :, 1, 2] > bases[:, None, 2] - BELOW_BASE
    return (near & tall).any(axis=1)


def _line(arm: ArmEmbodiment, poses: np.ndarray, z: float, yaw: float) -> np.ndarray:
    """Candidate bases (K, 3), ``SCAN_STEP`` apart on the line through the poses' middle y at
    height ``z``: from as far as the arm could reach the farthest pose up to the poses' middle,
    on the side ``yaw`` faces from."""
    low, high = poses[:, :3].min(0), poses[:, :3].max(0)
    middle = (low + high) / 2
    chain = arm.chain
    reach = np.linalg.norm(chain.offsets, axis=1).sum() + np.linalg.norm(chain.tip_offset)
    if np.cos(yaw) > 0:
        xs = np.arange(middle[0], high[0] - reach, -SCAN_STEP)[::-1]
    else:
        xs = np.arange(middle[0], low[0] + reach, SCAN_STEP)
    return np.stack([xs, np.full(len(xs), middle[1]), np.full(len(xs), z)], 1)


def _reached(arm: ArmEmbodiment, poses: np.ndarray, bases: np.ndarray, yaw: float) -> np.ndarray:
    """Whether the arm at each of ``bases`` (K, 3), turned by ``yaw``, reaches each of ``poses``
    (P, 6), by ``_quick_reach``, shape: (K, P)."""
    position, rotation = _relative(poses, bases, np.full(len(bases), yaw))
    found = _quick_reach(arm, position.reshape(-1, 3), rotation.reshape(-1, 3, 3))
    return found.reshape(len(bases), len(poses))


def _scan(arm: ArmEmbodiment, poses: np.ndarray, z: float, yaw: float, boxes, margin: float):
    """Screen bases on ``_line`` at height ``z``: coarsely with the unmoved poses, then ``FINE_STEP`` apart
    around the bases that reach them all, with the poses moved by ``margin`` (m) along ±y and
    ±z (a move along x is the move of the base to a neighbour).

    Returns:
        The fine bases (K, 3) (the coarse ones when none reaches every pose); whether each
        serves every pose with the margin, shape (K,); how many unmoved poses each reaches (-1
        where a fixture blocks it), shape (K,).
    """
    coarse = _line(arm, poses, z, yaw)
    blocked = blocked_bases(arm, coarse, boxes)
    reached = np.where(blocked, -1, _reached(arm, poses, coarse, yaw).sum(axis=1))
    full = np.flatnonzero(reached == len(poses))
    if full.size == 0:
        return coarse, np.zeros(len(coarse), dtype=bool), reached
    xs = np.arange(coarse[full[0], 0] - SCAN_STEP, coarse[full[-1], 0] + SCAN_STEP, FINE_STEP)
    bases = np.stack([xs, np.full(len(xs), coarse[0, 1]), np.full(len(xs), coarse[0, 2])], 1)
    shifts = margin_shifts(margin)[[0, 2, 5, 3, 6]]
    moved = (poses[None] + np.pad(shifts, ((0, 0), (0, 3)))[:, None]).reshape(-1, 6)
    ok = _reached(arm, moved, bases, yaw).reshape(len(bases), len(shifts), len(poses))
    blocked = blocked_bases(arm, bases, boxes)
    serves = ok.all(axis=(1, 2)) & ~blocked
    apart = int(np.ceil(margin / FINE_STEP - 1e-9))
    padded = np.pad(serves, apart)
    good = serves & padded[: len(serves)] & padded[2 * apart :]
    return bases, good, np.where(blocked, -1, ok[:, 0].sum(axis=1))


def _longest_run(good: np.ndarray) -> tuple[int, int]:
    """First and last index of the longest run of True in ``good``; (0, -1) when there is none."""
    best, start = (0, -1), None
    for i, value in enumerate([*good, False]):
        if value and start is None:
            start = i
        elif not value and start is not None:
            if i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    return best


def base_heights(arm: ArmEmbodiment, poses: np.ndarray, boxes: np.ndarray) -> list[float]:
    """Heights (m) a base may stand at: the arm's own, then the top of the work surface (the
    highest fixture box under the poses' middle, below their lowest point) when it differs."""
    middle = (poses[:, :2].min(0) + poses[:, :2].max(0)) / 2
    under = (
        (boxes[:, 0, :2] <= middle).all(1)
        & (boxes[:, 1, :2] >= middle).all(1)
        & (boxes[:, 1, 2] <= poses[:, 2].min())
    )
    heights = [float(arm.base_position[2])]
    if under.any() and abs(boxes[under, 1, 2].max() - heights[0]) > 0.01:
        heights.append(round(float(boxes[under, 1, 2].max()), 3))
    return heights


def find_placement(task, arm: ArmEmbodiment) -> Placement:
    """The base of ``arm`` for ``task`` (module docstring): the largest of ``MARGINS`` that some
    base serves, at the first of ``base_heights`` that serves it; raises ``PlacementError``
    naming the poses out of reach when none does."""
    poses, labels = reach_poses(task)
    boxes = obstacle_boxes(task, arm)
    sample = spread_sample(poses, SCREEN_POSES)
    heights, seen = base_heights(arm, poses, boxes), []
    for margin in MARGINS:
        for z in list(heights):
            placement, sample, scans = _place_at(arm, poses, sample, z, boxes, margin)
            seen += scans
            if placement is not None:
                return placement
            if max(scan[3].max() for scan in scans) < len(sample):
                heights.remove(z)  # out of reach there even unmoved: no margin helps
    raise _refusal(task, arm, poses, labels, seen)


def _place_at(arm: ArmEmbodiment, poses, sample, z: float, boxes, margin: float):
    """The middle of the longest run of bases at height ``z`` that serve the ``sample`` of the
    poses with ``margin``, on the arm's own side (its registered yaw's) if any base there serves,
    else on the other, once every pose (moved by the
    margin) passes ``unreachable`` there; poses that fail join the sample and the scan repeats.

    Returns:
        The ``Placement`` or None; the sample (indices into ``poses``); the last scans, one
        (yaw, bases, serves, reached) per side.
    """
    sides = sorted((0.0, float(np.pi)), key=lambda yaw: -np.cos(yaw - arm.base_yaw))
    moved = poses[None] + np.pad(margin_shifts(margin), ((0, 0), (0, 3)))[:, None]
    for _ in range(3):
        scans = [(yaw, *_scan(arm, poses[sample], z, yaw, boxes, margin)) for yaw in sides]
        runs = [_longest_run(good) for _, _, good, _ in scans]
        side = next((i for i, (first, last) in enumerate(runs) if last >= first), 0)
        (first, last), (yaw, bases, _, _) = runs[side], scans[side]
        if last < first:
            break
        x, y = (bases[first] + bases[last])[:2] / 2
        placement = Placement(round(float(x), 2), round(float(y), 2), z, yaw, margin)
        failing, _ = unreachable(at_placement(arm, placement), moved.reshape(-1, 6))
        if not failing.any():
            return placement, sample, scans
        missed = np.unique(np.flatnonzero(failing) % len(poses))
        sample = np.union1d(sample, missed[spread_sample(poses[missed], 8)])
    return None, sample, scans


def _refusal(task, arm: ArmEmbodiment, poses, labels, scans) -> PlacementError:
    """The error for a task no base serves: which poses the most serving base misses, by how
    much, and how far they lie from it."""
    yaw, bases, _, reached = max(scans, key=lambda scan: scan[3].max())
    root = arm.name.split("@")[0]
    head = (
        f"arm {root!r} cannot be placed for task {task.name!r}: from no base at its height "
        f"{arm.base_position[2]:.2f} m or the work surface's (behind the poses facing +x, or in "
        "front facing -x) does "
        f"it reach every oracle wrist pose of {PLACEMENT_STATES} states with "
        f"{MARGINS[-1]:.2f} m to spare"
    )
    if reached.max() < 0:
        return PlacementError(f"{head}: every base on the line is blocked by a fixture.")
    base = bases[int(np.argmax(reached))]
    placed = at_placement(arm, Placement(*(float(v) for v in base), yaw))
    failing, left = unreachable(placed, poses)
    if not failing.any():
        return PlacementError(
            f"{head}: the best base {np.round(base, 2).tolist()} (yaw {yaw:.2f}) reaches every "
            "pose but not with the margin; the poses lie too near the edge of its reach."
        )
    chain = arm.chain
    reach = np.linalg.norm(chain.offsets[1:], axis=1).sum() + np.linalg.norm(chain.tip_offset)
    shoulder = placed.chain.forward(np.array([arm.arm.home]))[2][0, 1]
    lines = []
    for i in np.flatnonzero(failing)[spread_sample(poses[failing], 3)]:
        offset = poses[i, :3] - shoulder
        lines.append(
            f"{labels[i]} {np.round(poses[i], 2).tolist()}: IK stays {left[i, 0]:.2f} m and "
            f"{left[i, 1]:.2f} rad off; it lies {np.linalg.norm(offset):.2f} m from the "
            f"shoulder ({offset[2]:+.2f} m in height), which reaches about {reach:.2f} m"
        )
    return PlacementError(
        f"{head}. The base that reaches most, {np.round(base, 2).tolist()} (yaw {yaw:.2f}), "
        f"misses {int(failing.sum())} of {len(poses)} poses, e.g.\n  "
        + "\n  ".join(lines)
        + "\nUse an arm that reaches farther, or run the task on its floating tool."
    )


def on_embodiment(task, embodiment: str):
    """``task`` run by the registered ``embodiment``, named ``<task>@<embodiment>``; an arm's
    base is placed for the task when its robot is first asked for (``place_arm``).

    The plans, grasps and action spec of a task are its tool's (the hand's fingers, the
    gripper's jaws), so the embodiment must carry the same tool: a hand task runs on
    ``iiwa_hand``, a gripper task on ``xarm_gripper``. Raises ``ValueError`` naming the
    embodiments that fit, and ``KeyError`` for an unknown name.
    """
    robot, own = make_embodiment(embodiment), make_embodiment(task.embodiment)
    if _tool(robot) is not _tool(own):
        fits = [name for name in embodiment_names() if _tool(make_embodiment(name)) is _tool(own)]
        raise ValueError(
            f"task {task.name!r} is written for the {_tool(own).__name__} tool (its plans, "
            f"grasps and action spec); embodiment {embodiment!r} carries "
            f"{_tool(robot).__name__}. Embodiments with its tool: {', '.join(fits)}"
        )
    spec = task.action_spec or own.default_action_spec
    if spec not in robot.action_specs():
        raise ValueError(
            f"task {task.name!r} acts through action spec {spec!r}, which embodiment "
            f"{embodiment!r} lacks (it has {sorted(robot.action_specs())})"
        )
    task.name = f"{task.name}@{embodiment}"
    task.embodiment, task.place_arm = embodiment, True
    return task


def _tool(robot: Embodiment) -> type:
    """The class of the tool a robot works with (``Embodiment.tool_kind``)."""
    return robot.tool_kind


TABLE: dict[tuple[str, str], Placement] = {
    ("close_pliers", "iiwa_hand"): Placement(-0.25, 0.01, 0.9, 0.0, 0.05),
    ("close_scissors", "iiwa_hand"): Placement(-0.25, -0.03, 0.9, 0.0, 0.05),
    ("hammer", "iiwa_hand"): Placement(-0.27, 0.0, 0.9, 0.0, 0.05),
    ("hammer_three_times", "iiwa_hand"): Placement(-0.22, -0.01, 0.9, 0.0, 0.05),
    ("move_apple", "iiwa_hand"): Placement(-0.27, -0.02, 0.9, 0.0, 0.05),
    ("move_bottle", "iiwa_hand"): Placement(-0.24, 0.0, 0.9, 0.0, 0.05),
    ("open_drawer", "iiwa_hand"): Placement(1.48, 0.01, 0.9, np.pi, 0.03),
    ("open_fridge", "iiwa_hand"): Placement(1.34, -0.07, 0.9, np.pi, 0.01),
    ("place_bottle_on_plate", "iiwa_hand"): Placement(-0.22, 0.01, 0.9, 0.0, 0.05),
    ("slide_box_to_bottle", "iiwa_hand"): Placement(-0.19, -0.12, 0.9, 0.0, 0.05),
    ("wipe_sponge", "iiwa_hand"): Placement(-0.21, 0.03, 0.9, 0.0, 0.05),
    ("book_push", "xarm_gripper"): Placement(0.95, 0.0, 0.9, np.pi, 0.05),
    ("book_reorient", "xarm_gripper"): Placement(1.04, 0.03, 0.8, np.pi, 0.05),
}
"""Placements ``find_placement`` gave for registered tasks, by (task, arm): read instead of
searching, so building a task costs no IK. ``tests/tasks/test_placement.py`` checks that every
entry still serves its task and that the search still finds it; ``computed_table()`` makes it
anew."""

_FOUND: dict[tuple, ArmEmbodiment] = {}


def place_arm(task, arm: ArmEmbodiment) -> ArmEmbodiment:
    """``arm`` standing where it serves ``task``: from ``TABLE``, else found once per process
    (``find_placement``); raises ``PlacementError`` when no base serves."""
    key = (type(task), task.name, arm.name, tuple(arm.base_position), arm.base_yaw)
    if key not in _FOUND:
        placement = TABLE.get((task.name.split("@")[0], arm.name))
        _FOUND[key] = at_placement(arm, placement or find_placement(task, arm))
    return _FOUND[key]


def computed_table(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Placement]:
    """``find_placement`` for each (registered task, registered arm) pair, as ``TABLE`` holds
    it; pairs no base serves are left out."""
    from keyscaffold.tasks.base import make_task

    table = {}
    for task_name, arm_name in pairs:
        try:
            table[task_name, arm_name] = find_placement(
                make_task(task_name), make_embodiment(arm_name)
            )
        except PlacementError:
            continue
    return table
