"""Damped-least-squares inverse kinematics, in numpy, batched over worlds.

One step moves joint positions q toward a pose error e through the Jacobian J:
dq = J^T (J J^T + damping^2 I)^-1 e, the least-norm joint change that best removes the error,
kept finite near singular poses by the damping; the new positions are clamped to the joint
limits. ``pose_error`` gives e from a current and a target pose, ``wrist_step`` takes the one
step per control step that the simulator's arm controller and the deployment runtime both take
toward a wrist target, and ``solve`` repeats the step on a ``chain.SerialChain``
(``solve_from_starts`` from several starting configurations in turn). Nothing here needs MuJoCo.
"""

from __future__ import annotations

import numpy as np

from keyscaffold.geometry import rotation_from_xyz_angles, rotation_vector
from keyscaffold.kinematics.chain import SerialChain


def dls_step(
    jacobian: np.ndarray,
    error: np.ndarray,
    q: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    damping: float,
    max_step: float | None = None,
) -> np.ndarray:
    """Joint positions one damped-least-squares step from ``q`` toward removing ``error``.

    Args:
        jacobian: Shape: (B, 6, N): rows map joint rates to linear (m/s) then angular velocity
            (rad/s) of the controlled frame.
        error: Target minus current pose, shape: (B, 6): position (m), then a rotation vector
            (rad), both in the Jacobian's axes.
        q: Joint positions, shape: (B, N) (rad).
        lower: Lower joint limits, shape: (N,).
        upper: Upper joint limits, shape: (N,).
        damping: Damping (m, or rad for rotation): larger is slower but steadier near singular
            poses.
        max_step: Largest change of any one joint (rad); the step is scaled down to it.

    Returns:
        Shape: (B, N), inside the limits.
    """
    rows = jacobian.shape[1]
    square = jacobian @ np.swapaxes(jacobian, 1, 2) + damping**2 * np.eye(rows)
    step = (np.swapaxes(jacobian, 1, 2) @ np.linalg.solve(square, error[..., None]))[..., 0]
    if max_step is not None:
        largest = np.abs(step).max(axis=1, keepdims=True)
        step = step * np.minimum(1.0, max_step / np.maximum(largest, 1e-12))
    return np.clip(q + step, lower, upper)


def pose_error(
    position: np.ndarray,
    rotation: np.ndarray,
    target_position: np.ndarray,
    target_rotation: np.ndarray,
) -> np.ndarray:
    """Target minus current pose: position difference, then the rotation vector that turns the
    current frame onto the target's, in world axes.

    Args:
        position: Shape: (B, 3) (m).
        rotation: Shape: (B, 3, 3).
        target_position: Shape: (B, 3) (m).
        target_rotation: Shape: (B, 3, 3).

    Returns:
        Shape: (B, 6) (m, rad).
    """
    turn = rotation_vector(target_rotation @ np.swapaxes(rotation, 1, 2))
    return np.concatenate([target_position - position, turn], axis=1)


def wrist_step(
    position: np.ndarray,
    rotation: np.ndarray,
    jacobian: np.ndarray,
    q: np.ndarray,
    wrist: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    damping: float,
    max_step: float | None = None,
) -> np.ndarray:
    """Arm joint targets one ``dls_step`` from ``q`` toward wrist pose targets.

    Args:
        position: World position of the controlled frame (the tool's mount), shape: (B, 3) (m).
        rotation: Its world rotation, shape: (B, 3, 3).
        jacobian: Its geometric Jacobian over the arm's joints, shape: (B, 6, N) (as
            ``dls_step``).
        q: Arm joint positions, shape: (B, N) (rad).
        wrist: Wrist pose targets, shape: (B, 6): position (m), then hinge angles about x, y, z
            (rad; ``geometry.rotation_from_xyz_angles``).
        lower: Shape: (N,).
        upper: Shape: (N,).
        damping: See ``dls_step``.
        max_step: See ``dls_step`` (rad).

    Returns:
        Shape: (B, N), inside the limits.
    """
    wrist = np.asarray(wrist, dtype=np.float64)
    error = pose_error(position, rotation, wrist[:, :3], rotation_from_xyz_angles(wrist[:, 3:6]))
    return dls_step(jacobian, error, q, lower, upper, damping, max_step)


ANGLE_WEIGHT = 0.2
"""Metres a radian of angle error counts as when two IK solutions are compared (m/rad)."""
STALL_STEPS = 10
"""Steps over which a giving-up ``solve`` wants the error to shrink by a tenth."""


def within(error: np.ndarray, tolerance: tuple[float, float]) -> np.ndarray:
    """Whether each pose error (B, 6) (m, rad) stays within ``tolerance`` (position in m, angle
    in rad), shape: (B,)."""
    position, angle = np.linalg.norm(error[:, :3], axis=1), np.linalg.norm(error[:, 3:], axis=1)
    return (position <= tolerance[0]) & (angle <= tolerance[1])


def _size(error: np.ndarray) -> np.ndarray:
    """Position error plus ``ANGLE_WEIGHT`` times angle error of each pose error (B, 6), shape:
    (B,) (m)."""
    return np.linalg.norm(error[:, :3], axis=1) + ANGLE_WEIGHT * np.linalg.norm(
        error[:, 3:], axis=1
    )


def longest_reach(chain: SerialChain) -> float:
    """A distance (m) from the chain's base that its tip never passes, at any joint positions:
    the links' lengths and the tip's offset added up (a joint turning about an anchor off the
    link's origin moves it by up to twice the anchor's distance)."""
    links = np.linalg.norm(chain.offsets, axis=1).sum() + np.linalg.norm(chain.tip_offset)
    return float(links + 2.0 * np.linalg.norm(chain.anchors, axis=1).sum())


def solve(
    chain: SerialChain,
    target_position: np.ndarray,
    target_rotation: np.ndarray,
    q: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    damping: float = 0.05,
    iterations: int = 300,
    max_step: float = 0.3,
    give_up: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions that put the chain's tip at target poses, by repeated ``dls_step``.

    Args:
        chain: The arm's kinematics.
        target_position: Shape: (B, 3) (m).
        target_rotation: Shape: (B, 3, 3).
        q: Starting joint positions, shape: (B, N) or (N,) (rad).
        lower: Shape: (N,).
        upper: Shape: (N,).
        damping: See ``dls_step``.
        iterations: Most steps taken; worlds whose error is below 1e-6 stop early.
        max_step: See ``dls_step`` (rad).
        give_up: A tolerance (m, rad, as ``within``'s): also stop a world outside it whose
            error (``_size``) has not shrunk by a tenth over the last ``STALL_STEPS`` steps,
            quick on targets out of reach from ``q``; None: run every world to the end.

    Returns:
        Joint positions, shape (B, N); the remaining pose error, shape (B, 6).
    """
    q = np.array(np.broadcast_to(q, (len(target_position), chain.num_joints)), dtype=np.float64)
    active = np.arange(len(q))
    error = np.zeros((len(q), 6))
    previous = np.full(len(q), np.inf)
    for iteration in range(iterations + 1):
        position, rotation, jacobian = chain.jacobian(q[active])
        error[active] = pose_error(
            position, rotation, target_position[active], target_rotation[active]
        )
        moving = np.abs(error[active]).max(axis=1) > 1e-6
        if give_up is not None and iteration % STALL_STEPS == STALL_STEPS - 1:
            size = _size(error[active])
            moving &= (size < 0.9 * previous[active]) | within(error[active], give_up)
            previous[active] = size
        active, jacobian = active[moving], jacobian[moving]
        if active.size == 0 or iteration == iterations:
            break
        q[active] = dls_step(jacobian, error[active], q[active], lower, upper, damping, max_step)
    return q, error


def solve_from_starts(
    chain: SerialChain,
    target_position: np.ndarray,
    target_rotation: np.ndarray,
    starts: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    tolerance: tuple[float, float],
    **options,
) -> tuple[np.ndarray, np.ndarray]:
    """``solve`` from each of ``starts`` in turn, for the targets every earlier start left
    outside ``tolerance``: a local solver stuck against a joint limit or in the wrong elbow or
    wrist branch gets another chance from elsewhere. Each target keeps the first solution
    within tolerance, else the one with the smallest error (``_size``); the result is
    deterministic for given starts, and a target the first start reaches gets what ``solve``
    from it alone gives. The later starts give up on a target outside tolerance whose error
    stops shrinking (``solve``'s ``give_up``) and skip one beyond the chain's longest reach, so
    targets out of reach cost little more than from the first start alone.

    Args:
        chain: The arm's kinematics.
        target_position: Shape: (B, 3) (m).
        target_rotation: Shape: (B, 3, 3).
        starts: Joint positions to start from, in order, shape: (S, N) (rad).
        lower: Shape: (N,).
        upper: Shape: (N,).
        tolerance: Largest position (m) and angle (rad) error that counts as reached.
        options: ``solve``'s damping, iterations and max_step.

    Returns:
        Joint positions inside the limits, shape (B, N); the remaining pose error, shape (B, 6).
    """
    q, error = solve(chain, target_position, target_rotation, starts[0], lower, upper, **options)
    options = {**options, "give_up": tolerance}
    near = np.linalg.norm(target_position - chain.base_position, axis=1) <= longest_reach(chain)
    for start in starts[1:]:
        missed = np.flatnonzero(near & ~within(error, tolerance))
        if missed.size == 0:
            break
        targets = target_position[missed], target_rotation[missed]
        found, left = solve(chain, *targets, start, lower, upper, **options)
        better = _size(left) < _size(error[missed])
        q[missed[better]], error[missed[better]] = found[better], left[better]
    return q, error
