"""Drive a student's optimizer (``init``/``update``) and compare every step with a Keras optimizer.

Shared by the SGD chapter and the adaptive-optimizers chapter: the student's
pair runs through :func:`dlcourse.checks.callables.run_optimizer` (live or in
the grading sandbox) and each parameter's trajectory is compared with the
Keras optimizer's on the same problem, in float64 or float32.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from dlcourse import keras_reference as ref
from dlcourse.checks import callables
from dlcourse.checks.cases import CallableSpec, Case, run_check
from dlcourse.checks.compare import Mistake, assert_matches, fail


def default_problem(seed: int = 0, dtype=np.float64):
    """Two parameter tensors (a (2, 3) matrix and a (3,) vector) of a diagonal quadratic: curvatures, minima, starts."""
    rng = np.random.default_rng(seed)
    shapes = [(2, 3), (3,)]
    curvatures = [rng.uniform(0.2, 3.0, size=s) for s in shapes]
    minima = [rng.normal(size=s) for s in shapes]
    starts = [rng.normal(size=s).astype(dtype) for s in shapes]
    return curvatures, minima, starts


def step_tolerance(starts: list) -> tuple[float, float]:
    """(rtol, atol) of a step-by-step comparison with Keras: looser for float32 parameters than for float64."""
    return (1e-5, 1e-7) if starts[0].dtype == np.float32 else (1e-6, 1e-9)


def learning_rates(learning_rate, num_steps: int) -> list[float]:
    """The rate Keras uses at each update: a schedule's float32 values, or the constant rounded to float32."""
    values = ref.schedule_values(learning_rate, np.arange(num_steps)) if callable(learning_rate) else np.full(num_steps, learning_rate)
    return [float(np.float32(v)) for v in values]


def check_optimizer(names: tuple, functions: tuple, optimizer: Callable[[], object], label: str, hyper: dict,
                    learning_rate, num_steps: int, problem, wrong: list[tuple[list, str]], rtol: float, atol: float,
                    init_arguments: dict | None = None) -> None:
    """Compare the student's ``functions`` = (init, update) with ``optimizer()`` for ``num_steps`` updates.

    ``hyper`` goes to the student's update, ``init_arguments`` to their init;
    ``wrong`` lists (trajectories, hint) of classic mistakes on the same
    problem. ``names`` = (init name, update name), for messages.
    """
    __tracebackhide__ = True
    curvatures, minima, starts = problem
    gradient = callables.quadratic_gradients(curvatures, minima)
    expected = ref.optimizer_trajectories(optimizer(), gradient, starts, num_steps)
    rates = learning_rates(learning_rate, num_steps)
    dtype = starts[0].dtype

    def judge(result, _):
        __tracebackhide__ = True
        trajectories, modified = result
        if modified:
            fail(f"{names[1]} changed the arrays it was given (params or grads) in place. Return new arrays "
                 "(p = p - ..., not p -= ...) and leave the inputs as they were.")
        if not isinstance(trajectories, (list, tuple)) or len(trajectories) != len(expected):
            fail(f"{names[1]} must return one new array per parameter ({len(expected)} here).")
        for i, (actual, target) in enumerate(zip(trajectories, expected)):
            assert_matches(actual, target, what=f"parameter {i} (shape {starts[i].shape}, {dtype}) after each update", reference=label,
                           rtol=rtol, atol=atol, axis_names=("step",), mistakes=[Mistake(t[i], hint) for t, hint in wrong],
                           context=f"{len(starts)} parameter tensors, {num_steps} updates")

    case = Case((starts, CallableSpec("quadratic_gradients", {"curvatures": curvatures, "minima": minima}), rates), judge,
                kwargs=dict(hyper, init_arguments=init_arguments or {}), driver="run_optimizer")
    run_check(functions, [case], f"{names[0]}/{names[1]} match {label} over {num_steps} steps on {len(starts)} {dtype} tensors.")


def numpy_trajectories(step: Callable, starts: list, gradient: Callable, rates: list[float], state: Callable) -> list[np.ndarray]:
    """Trajectories of a NumPy update rule ``step(p, g, s, lr, t) -> (p, s)`` (for the wrong versions the checks recognise)."""
    params = [np.array(p) for p in starts]
    states = [state(p) for p in params]
    history = [[p.copy() for p in params]]
    for t, lr in enumerate(rates, start=1):
        grads = gradient(params)
        for i, g in enumerate(grads):
            params[i], states[i] = step(params[i], np.asarray(g, dtype=params[i].dtype), states[i], lr, t)
        history.append([p.copy() for p in params])
    return [np.stack([h[i] for h in history]) for i in range(len(params))]
