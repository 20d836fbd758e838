"""Drive a student's optimizer (``init``/``update``) and compare every step with a Keras optimizer.

Shared by the optimizer chapters: the student's pair runs through
:func:`dlcourse.checks.callables.run_optimizer` (live or in the grading
sandbox) and each parameter's trajectory is compared with the Keras
optimizer's on the same problem, in float64 or float32. The classic mistakes
are trajectories too: a Keras optimizer with other arguments
(:func:`keras_run`), or a wrong ``init``/``update`` pair of
:mod:`dlcourse.optimizers` driven by the same driver (:func:`numpy_run`).
"""
from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from dlcourse import LazyReference, optimizers
from dlcourse.checks import callables
from dlcourse.checks.cases import CallableSpec, Case, run_check
from dlcourse.checks.compare import Mistake, assert_matches, fail

ref = LazyReference()


def default_problem(seed: int = 0, dtype=np.float64, shapes: tuple = ((2, 3), (3,))):
    """A diagonal quadratic on parameter tensors of ``shapes`` (by default a (2, 3) matrix and a (3,) vector): curvatures,
    minima, starts."""
    rng = np.random.default_rng(seed)
    curvatures = [rng.uniform(0.2, 3.0, size=s) for s in shapes]
    minima = [rng.normal(size=s) for s in shapes]
    starts = [rng.normal(size=s).astype(dtype) for s in shapes]
    return curvatures, minima, starts


# Rounding analysis of a trajectory comparison. Two correct implementations of an update differ, per step,
# by the rounding of the new parameters (at most eps |theta_k|) and of the step, computed with up to
# STEP_OPERATIONS operations in another order (at most STEP_OPERATIONS eps |theta_k - theta_(k-1)|); both the
# student's run and the reference round, and a difference made at one step is carried by the next ones
# through the gradient and the optimizer's state (ROUNDING_SLACK covers both; benchmarks/rounding_margins.py
# prints how much of the budget correct implementations use and how far outside it the mistakes land).
STEP_OPERATIONS = 8
ROUNDING_SLACK = 16


def rounding_tolerance(trajectory: np.ndarray) -> np.ndarray:
    """The absolute difference from rounding alone, per element and step, of a (steps + 1, ...) trajectory in its dtype."""
    eps = float(np.finfo(trajectory.dtype).eps)
    values = trajectory.astype(np.float64)
    moved = np.concatenate([np.zeros_like(values[:1]), np.cumsum(np.abs(np.diff(values, axis=0)), axis=0)])
    return ROUNDING_SLACK * eps * (np.cumsum(np.abs(values), axis=0) + STEP_OPERATIONS * moved)


def constant_forms(run: Callable[..., list], **choices: list) -> list[list[np.ndarray]]:
    """``run(**values)`` for every combination of ``choices`` (name -> the values a correct implementation may use).

    Keras stores some constants in float32 (SGD's momentum, the betas of Adam's bias corrections, ...);
    a student who uses them exactly, or rounds them as Keras does, is right either way.
    """
    names = list(choices)
    return [run(**dict(zip(names, values))) for values in itertools.product(*(choices[n] for n in names))]


def each_form(trajectories: list[list[np.ndarray]], hint: str) -> list[tuple[list, str]]:
    """The mistakes ``(trajectories, hint)`` of a wrong algorithm run with each choice of constants (:func:`constant_forms`)."""
    return [(trajectory, hint) for trajectory in trajectories]


def exact_or_float32(value: float) -> list[float]:
    """A constant as given and as Keras stores it (float32), without repetition."""
    return sorted({float(value), float(np.float32(value))})


def momentum_forms(update: Callable, problem, rates: list[float], momentum: float, **hyperparameters) -> list[list[np.ndarray]]:
    """An SGD-family ``update`` of :mod:`dlcourse.optimizers` on ``problem``, with ``momentum`` as given and as Keras stores it."""
    return constant_forms(lambda mu: numpy_run(optimizers.sgd_init, update, problem, rates, momentum=mu, **hyperparameters),
                          mu=exact_or_float32(momentum))


def learning_rates(learning_rate, num_steps: int) -> list[float]:
    """The rate Keras uses at each update: a schedule's float32 values, or the constant rounded to float32."""
    values = ref.schedule_values(learning_rate, np.arange(num_steps)) if callable(learning_rate) else np.full(num_steps, learning_rate)
    return [float(np.float32(v)) for v in values]


def optimizer_label(name: str, learning_rate, **hyperparameters) -> str:
    """How messages name the Keras optimizer of a check: ``keras.optimizers.Adam(learning_rate=0.05, beta_1=0.9, ...)``."""
    shown = [f"learning_rate={'a schedule' if callable(learning_rate) else learning_rate}"] + [f"{k}={v}" for k, v in hyperparameters.items()]
    return f"keras.optimizers.{name}({', '.join(shown)})"


def problem_gradient(problem) -> Callable[[list], list]:
    """The gradient function (list of arrays -> list of arrays) of a (curvatures, minima, starts) problem."""
    curvatures, minima, _ = problem
    return callables.quadratic_gradients(curvatures, minima)


def keras_run(optimizer, problem, num_steps: int, variable_names: list[str] | None = None) -> list[np.ndarray]:
    """The trajectories of a Keras ``optimizer`` on ``problem``, in the dtype of its starts: one (num_steps + 1, *shape) array per parameter.

    ``variable_names``: run on ``keras.Variable``s of these names (Muon routes a variable by its path).
    """
    starts = problem[2]
    return ref.optimizer_trajectories(optimizer, problem_gradient(problem), starts, num_steps, dtype=starts[0].dtype, names=variable_names)


def numpy_run(init: Callable, update: Callable, problem, rates: list[float], init_arguments: dict | None = None, **hyperparameters) -> list:
    """The trajectories of a NumPy ``init``/``update`` pair on ``problem``, through the drivers' own loop."""
    trajectories, _ = callables.run_optimizer(init, update, problem[2], problem_gradient(problem), rates, init_arguments, **hyperparameters)
    return trajectories


def check_optimizer(functions: tuple, *, names: tuple[str, str], keras_optimizer: Callable[[], object], label: str,
                    learning_rate, num_steps: int, problem, hyperparameters: dict, mistakes: list[tuple[list, str]] = (),
                    init_arguments: dict | None = None, alternatives: list[list] = (), substitutes: tuple[str, ...] = (),
                    variable_names: list[str] | None = None) -> None:
    """Compare the student's ``functions`` = (init, update) with ``keras_optimizer()`` for ``num_steps`` updates.

    ``hyperparameters`` go to the student's update, ``init_arguments`` to
    their init; ``mistakes`` lists (trajectories, hint) of classic wrong
    versions on the same problem; ``alternatives`` lists other correct
    trajectories (the constants Keras rounds to float32, taken exactly:
    :func:`constant_forms`); ``names`` = (init name, update name), for
    messages; ``substitutes``, the other exercise functions the student's may call, for which the call uses
    the course's (:func:`~dlcourse.checks.cases.substituted`); ``variable_names``, the names of Keras's variables
    (:func:`keras_run`). The tolerance is :func:`rounding_tolerance` of Keras's run.
    """
    __tracebackhide__ = True
    starts = problem[2]
    expected = keras_run(keras_optimizer(), problem, num_steps, variable_names)
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
                           rtol=0.0, atol=rounding_tolerance(target), axis_names=("step",),
                           mistakes=[Mistake(t[i], hint) for t, hint in mistakes], alternatives=[a[i] for a in alternatives],
                           context=f"{len(starts)} parameter tensors, {num_steps} updates")

    curvatures, minima, _ = problem
    case = Case((starts, CallableSpec("quadratic_gradients", {"curvatures": curvatures, "minima": minima}), rates), judge,
                kwargs=dict(hyperparameters, init_arguments=init_arguments or {}), driver="run_optimizer", substitutes=substitutes)
    run_check(functions, [case], f"{names[0]}/{names[1]} match {label} over {num_steps} steps on {len(starts)} {dtype} tensors.")
