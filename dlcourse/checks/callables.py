"""Callables the checks pass to students' functions, built from plain data.

NumPy only: the grader's sandbox rebuilds them from a
:class:`~dlcourse.checks.cases.CallableSpec` without TensorFlow, so a student's
function receives the very same callable live and when graded.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

TEST_FUNCTIONS = {
    "cubic": lambda x: np.sum(x**3),
    "sin_times_square": lambda x: np.sum(np.sin(x) * x**2),
    "log_sum_exp": lambda x: np.log(np.sum(np.exp(x))),
}


def scalar_function(name: str) -> Callable[[np.ndarray], float]:
    """The scalar test function ``name`` (see ``TEST_FUNCTIONS``) on float64 arrays."""
    numpy_function = TEST_FUNCTIONS[name]

    def f(x):
        return float(numpy_function(np.asarray(x, dtype=np.float64)))

    f.__name__ = name
    return f


def quadratic_gradient(curvatures, minimum) -> Callable[[np.ndarray], np.ndarray]:
    """Gradient of 0.5 * sum(curvatures * (theta - minimum)**2): theta -> curvatures * (theta - minimum)."""
    curvatures, minimum = np.asarray(curvatures, dtype=np.float64), np.asarray(minimum, dtype=np.float64)

    def gradient(theta):
        return curvatures * (np.asarray(theta, dtype=np.float64) - minimum)

    return gradient


def table_schedule(values) -> Callable[[int], float]:
    """A learning-rate function ``step -> values[step]`` (the values a Keras schedule gave)."""
    values = [float(v) for v in values]

    def schedule(step):
        step = int(step)
        if not 0 <= step < len(values):
            raise IndexError(f"learning_rate({step}) asked for a step outside 0..{len(values) - 1}")
        return values[step]

    return schedule


def random_generator(seed: int) -> np.random.Generator:
    """``np.random.default_rng(seed)``: the random generator a check hands to a student's function."""
    return np.random.default_rng(seed)


def quadratic_gradients(curvatures: list, minima: list) -> Callable[[list], list]:
    """Gradients of a sum of diagonal quadratics, one per parameter tensor: list of arrays -> list of arrays."""
    parts = [quadratic_gradient(c, m) for c, m in zip(curvatures, minima)]

    def gradients(params):
        return [part(p) for part, p in zip(parts, params)]

    return gradients


def logistic_regression_gradient() -> Callable[[list, np.ndarray, np.ndarray], list]:
    """Gradient of the mean logistic loss of a Dense(1) layer: ([kernel (d, 1), bias (1,)], X (n, d), y (n,)) -> [d kernel, d bias]."""

    def gradient(params, X, y):
        kernel, bias = (np.asarray(p, dtype=np.float64) for p in params)
        logits = X @ kernel + bias                      # (n, 1)
        probability = np.exp(-np.logaddexp(0.0, -logits))  # a sigmoid that never overflows
        error = probability - np.asarray(y, dtype=np.float64).reshape(-1, 1)
        return [X.T @ error / len(X), error.mean(axis=0)]

    return gradient


def run_optimizer(init: Callable, update: Callable, params0: list, gradient: Callable, learning_rates: list,
                  init_arguments: dict | None = None, **hyper) -> tuple:
    """Drive a student's optimizer: ``state = init(params, **init_arguments)``, then ``update`` once per learning rate.

    Returns ``(trajectories, modified_inputs)``: one float64 array of shape
    ``(len(learning_rates) + 1, *p.shape)`` per parameter (in the dtype the
    update returns), and whether ``update`` changed the arrays it was given
    (params or grads) in place.
    """
    params = [np.array(p) for p in params0]
    state = init([p.copy() for p in params], **(init_arguments or {}))
    history, modified = [[p.copy() for p in params]], False
    for learning_rate in learning_rates:
        grads = gradient(params)
        given, before = list(params) + list(grads), [a.copy() for a in list(params) + list(grads)]
        returned = update(params, grads, state, learning_rate, **hyper)
        if not isinstance(returned, tuple) or len(returned) != 2:
            raise TypeError(f"the update must return a tuple (new_params, new_state); it returned {type(returned).__name__}")
        params, state = returned
        params = [np.array(p) for p in params]
        modified = modified or _arrays_changed(given, before)
        history.append([p.copy() for p in params])
    return [np.stack([h[i] for h in history]) for i in range(len(params0))], modified


def sgd_run(gradient: Callable[[np.ndarray], np.ndarray], theta0: np.ndarray, learning_rate: float, num_steps: int,
            momentum: float = 0.0) -> np.ndarray:
    """``keras.optimizers.SGD(learning_rate, momentum)`` for ``num_steps`` updates from ``theta0``, computed with the course's
    :func:`~dlcourse.optimizers.sgd_update`, the learning rate and the momentum rounded to float32 as Keras stores them: the
    float64 trajectory, shape ``(num_steps + 1, *theta0.shape)``. (``tests/test_optimizers.py`` compares it with
    ``keras_reference.sgd_trajectory``.)"""
    from dlcourse import optimizers

    rate = float(np.float32(learning_rate))
    trajectories, _ = run_optimizer(optimizers.sgd_init, optimizers.sgd_update, [np.asarray(theta0, dtype=np.float64)],
                                    lambda params: [gradient(params[0])], [rate] * num_steps, momentum=float(np.float32(momentum)))
    return trajectories[0]


def _recording_warnings(call: Callable[[], object]) -> tuple[object, list[str]]:
    """``call()`` with NumPy's warnings recorded: (result, the text of every overflow, invalid value or division by zero;
    underflow to 0 is not an error)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
        warnings.simplefilter("always")
        result = call()
    return result, [f"{w.category.__name__}: {w.message}" for w in caught]


def _arrays_changed(given: list, before: list) -> bool:
    return any(isinstance(a, np.ndarray) and not np.array_equal(a, b, equal_nan=True) for a, b in zip(given, before))


def evaluate_activation(function: Callable, derivative: Callable, x: np.ndarray, **arguments) -> tuple:
    """Call a student's activation and its derivative on ``x``, recording NumPy warnings.

    Returns ``(values, derivatives, warnings, modified)``: the two results,
    the text of every warning raised (overflow, invalid value, division by
    zero; underflow to 0 is not an error), and whether ``x`` was changed.
    """
    given = np.array(x)
    (values, derivatives), messages = _recording_warnings(lambda: (function(x, **arguments), derivative(x, **arguments)))
    return values, derivatives, messages, not np.array_equal(given, x, equal_nan=True)


def evaluate(function: Callable, *args, **kwargs) -> tuple:
    """Call a student's ``function(*args, **kwargs)`` recording NumPy warnings: ``(result, warnings, modified)``,
    ``modified`` telling whether it changed an array among ``args`` (or inside a list of them) in place."""
    flat = [a for arg in args for a in (arg if isinstance(arg, (list, tuple)) else [arg])]
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in flat]
    result, messages = _recording_warnings(lambda: function(*args, **kwargs))
    return result, messages, _arrays_changed(flat, before)


def at_each_step(function: Callable, steps: list, *args, **kwargs) -> list:
    """``[function(step, *args, **kwargs) for step in steps]``: a formula of the step number, called with one integer at a time."""
    return [function(step, *args, **kwargs) for step in steps]
