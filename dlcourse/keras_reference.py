"""Reference values computed by live TensorFlow/Keras.

The checks compare a student's NumPy result with what the installed
TensorFlow/Keras computes on the same inputs; this module is the one place
that asks TensorFlow. All functions take and return NumPy arrays (float64
unless stated).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

import dlcourse

tf = dlcourse.import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's quiet import)

SCHEDULES = {
    "piecewise_constant_decay": keras.optimizers.schedules.PiecewiseConstantDecay,
    "exponential_decay": keras.optimizers.schedules.ExponentialDecay,
    "inverse_time_decay": keras.optimizers.schedules.InverseTimeDecay,
    "polynomial_decay": keras.optimizers.schedules.PolynomialDecay,
    "cosine_decay": keras.optimizers.schedules.CosineDecay,
}


def tape_gradient(tf_function: Callable, *arrays: np.ndarray) -> list[np.ndarray]:
    """Gradients of the scalar ``tf_function(*tensors)`` w.r.t. each input.

    Inputs are converted to float64 tensors; returns one float64 array per
    input, each with that input's shape.
    """
    tensors = [tf.constant(np.asarray(a, dtype=np.float64)) for a in arrays]
    with tf.GradientTape() as tape:
        for tensor in tensors:
            tape.watch(tensor)
        value = tf_function(*tensors)
    return [g.numpy() for g in tape.gradient(value, tensors)]


def schedule(name: str, **arguments) -> keras.optimizers.schedules.LearningRateSchedule:
    """The Keras learning-rate schedule class ``name`` built with ``arguments``."""
    return SCHEDULES[name](**arguments)


def schedule_values(lr_schedule: Callable, steps: np.ndarray) -> np.ndarray:
    """``lr_schedule(step)`` for each integer step, as float64 (Keras computes in float32)."""
    steps = np.asarray(steps)
    values = [float(lr_schedule(int(s))) for s in steps.ravel()]
    return np.array(values, dtype=np.float64).reshape(steps.shape)


class ShiftedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step + shift)``: used to reproduce the off-by-one mistake."""

    def __init__(self, schedule: Callable, shift: int):
        self.schedule, self.shift = schedule, shift

    def __call__(self, step):
        return self.schedule(step + self.shift)


def sgd_trajectory(
    gradient: Callable[[np.ndarray], np.ndarray],
    theta0: np.ndarray,
    learning_rate,
    num_steps: int,
    **sgd_arguments,
) -> np.ndarray:
    """Run ``keras.optimizers.SGD`` for ``num_steps`` updates from ``theta0``.

    ``gradient`` maps a float64 array of theta's shape to its gradient;
    ``learning_rate`` is a float or a Keras schedule. Returns the float64
    trajectory of shape ``(num_steps + 1, *theta0.shape)``, row 0 = theta0.
    """
    theta0 = np.asarray(theta0, dtype=np.float64)
    variable = tf.Variable(theta0)
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, **sgd_arguments)
    trajectory = [theta0.copy()]
    for _ in range(num_steps):
        g = np.asarray(gradient(variable.numpy()), dtype=np.float64)
        optimizer.apply_gradients([(tf.constant(g), variable)])
        trajectory.append(variable.numpy().copy())
    return np.stack(trajectory)
