"""Callables the checks pass to students' functions, built from plain data.

NumPy only: the grader's sandbox rebuilds them from a
:class:`~dlcourse.checks.cases.CallableSpec` without TensorFlow, so a student's
function receives the very same callable live and when graded.
"""
from __future__ import annotations

from typing import Callable

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
