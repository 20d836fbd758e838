"""Checks for the exercises of chapter 3 (Adagrad, RMSprop, Adam, AdamW).

Each optimizer follows the course's interface (see
:mod:`dlcourse.checks.sgd_momentum`); the checks drive the student's
``init``/``update`` pair and compare every step, in float64 or float32, with
the Keras optimizer, and recognise the classic wrong versions (epsilon outside
the square root, accumulator starting at 0, no bias correction, decay after
the step, L2 instead of decoupled decay).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from dlcourse import keras_reference as ref
from dlcourse.checks import callables
from dlcourse.checks.optimizer_steps import check_optimizer, default_problem, learning_rates, numpy_trajectories, step_tolerance

keras = ref.keras


def tiny_gradient_problem(seed: int = 0, dtype=np.float64):
    """A problem whose gradients are about 1e-6: where epsilon's place changes the step."""
    curvatures, minima, starts = default_problem(seed, dtype)
    return [1e-6 * c for c in curvatures], minima, starts


def zero_gradient_problem(seed: int = 0, dtype=np.float64):
    """A problem that starts at its minimum: every gradient is exactly 0, and the parameters must not move."""
    curvatures, minima, _ = default_problem(seed, dtype)
    return curvatures, minima, [m.astype(dtype) for m in minima]


def _setup(problem, learning_rate, num_steps, dtype):
    curvatures, minima, starts = problem if problem is not None else default_problem(dtype=dtype)
    return (curvatures, minima, starts), callables.quadratic_gradients(curvatures, minima), learning_rates(learning_rate, num_steps)


def _describe(name: str, learning_rate, **hyper) -> str:
    shown = [f"learning_rate={'a schedule' if callable(learning_rate) else learning_rate}"] + [f"{k}={v}" for k, v in hyper.items()]
    return f"keras.optimizers.{name}({', '.join(shown)})"


def check_adagrad(adagrad_init: Callable, adagrad_update: Callable, learning_rate=0.1, initial_accumulator_value: float = 0.1,
                  epsilon: float = 1e-7, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """Adagrad as ``keras.optimizers.Adagrad``: accumulator from ``initial_accumulator_value``, epsilon inside the square root."""
    __tracebackhide__ = True
    problem, gradient, rates = _setup(problem, learning_rate, num_steps, dtype)
    starts = problem[2]

    def adagrad(a0, eps_inside=True):
        def step(p, g, a, lr, t):
            a = a + g * g
            return p - lr * g / (np.sqrt(a + epsilon) if eps_inside else np.sqrt(a) + epsilon), a
        return numpy_trajectories(step, starts, gradient, rates, lambda p: np.full_like(p, a0))

    wrong = [(adagrad(initial_accumulator_value, eps_inside=False), "epsilon must be inside the square root: sqrt(accumulator + epsilon)."),
             (adagrad(0.0), f"the accumulator must start at initial_accumulator_value ({initial_accumulator_value}), not at 0."),
             (adagrad(1.0), "that is the 'sqrt(1 + sum of g^2)' form some tutorials print; Keras starts the accumulator at "
                            f"initial_accumulator_value={initial_accumulator_value} and adds epsilon inside the square root.")]
    optimizer = lambda: keras.optimizers.Adagrad(learning_rate=learning_rate, initial_accumulator_value=initial_accumulator_value, epsilon=epsilon)  # noqa: E731
    check_optimizer(("adagrad_init", "adagrad_update"), (adagrad_init, adagrad_update), optimizer,
                    _describe("Adagrad", learning_rate, initial_accumulator_value=initial_accumulator_value, epsilon=epsilon),
                    {"epsilon": epsilon}, learning_rate, num_steps, problem, wrong, *step_tolerance(starts),
                    init_arguments={"initial_accumulator_value": initial_accumulator_value})


def check_rmsprop(rmsprop_init: Callable, rmsprop_update: Callable, learning_rate=0.01, rho: float = 0.9, momentum: float = 0.0,
                  epsilon: float = 1e-7, centered: bool = False, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """RMSprop as ``keras.optimizers.RMSprop`` (plain, centered, with momentum); epsilon inside the square root."""
    __tracebackhide__ = True
    problem, gradient, rates = _setup(problem, learning_rate, num_steps, dtype)
    starts = problem[2]
    hyper = {"rho": rho, "momentum": momentum, "epsilon": epsilon, "centered": centered}

    def keras_rmsprop(**changes):
        return ref.optimizer_trajectories(keras.optimizers.RMSprop(learning_rate=learning_rate, **dict(hyper, **changes)), gradient, starts, num_steps)

    def eps_outside(p, g, s, lr, t):
        v = rho * s + (1 - rho) * g * g
        return p - lr * g / (np.sqrt(v) + epsilon), v

    wrong = [(numpy_trajectories(eps_outside, starts, gradient, rates, np.zeros_like), "epsilon must be inside the square root: sqrt(v + epsilon).")]
    if centered:
        wrong.append((keras_rmsprop(centered=False), "centered=True is ignored: subtract the square of the moving average of g inside the root."))
    if momentum:
        wrong.append((keras_rmsprop(momentum=0.0), "momentum is ignored: b = momentum * b + lr * g / sqrt(...); theta -= b."))
    check_optimizer(("rmsprop_init", "rmsprop_update"), (rmsprop_init, rmsprop_update),
                    lambda: keras.optimizers.RMSprop(learning_rate=learning_rate, **hyper), _describe("RMSprop", learning_rate, **hyper),
                    hyper, learning_rate, num_steps, problem, wrong, *step_tolerance(starts))


def _adam_numpy(starts, gradient, rates, beta_1, beta_2, epsilon, bias_correction=True, paper_epsilon=False, decay=0.0, decay_after=False):
    """NumPy trajectories of Adam variants the checks recognise, with Keras's constants (betas in float32 in the powers)."""
    def state(p):
        return (np.zeros_like(p), np.zeros_like(p))

    def step(p, g, s, lr, t):
        m, v = s
        dtype = p.dtype.type
        b1t, b2t = dtype(np.float32(beta_1)) ** t, dtype(np.float32(beta_2)) ** t
        if decay and not decay_after:
            p = p - p * dtype(np.float32(decay)) * dtype(lr)
        m = m + (g - m) * dtype(1 - beta_1)
        v = v + (g * g - v) * dtype(1 - beta_2)
        if not bias_correction:
            update = dtype(lr) * m / (np.sqrt(v) + dtype(epsilon))
        elif paper_epsilon:
            update = dtype(lr) * (m / (1 - b1t)) / (np.sqrt(v / (1 - b2t)) + dtype(epsilon))
        else:
            update = dtype(lr) * np.sqrt(1 - b2t) / (1 - b1t) * m / (np.sqrt(v) + dtype(epsilon))
        p = p - update
        if decay and decay_after:
            p = p - p * dtype(np.float32(decay)) * dtype(lr)
        return p, (m, v)

    return numpy_trajectories(step, starts, gradient, rates, state)


def check_adam(adam_init: Callable, adam_update: Callable, learning_rate=0.05, beta_1: float = 0.9, beta_2: float = 0.999,
               epsilon: float = 1e-7, amsgrad: bool = False, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """Adam as ``keras.optimizers.Adam``: bias correction with t = 1 on the first update, Keras's epsilon-hat form."""
    __tracebackhide__ = True
    problem, gradient, rates = _setup(problem, learning_rate, num_steps, dtype)
    starts = problem[2]
    hyper = {"beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon, "amsgrad": amsgrad}
    arguments = (starts, gradient, rates, beta_1, beta_2, epsilon)
    wrong = [(_adam_numpy(*arguments, bias_correction=False), "the bias correction is missing: divide by 1 - beta_1**t and 1 - beta_2**t, with t = 1 on the first update."),
             (_adam_numpy(*arguments, paper_epsilon=True), "that is the paper's form, epsilon added to sqrt(v_hat). Keras folds the corrections "
                                                           "into the step: lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon).")]
    if amsgrad:
        wrong.append((ref.optimizer_trajectories(keras.optimizers.Adam(learning_rate=learning_rate, **dict(hyper, amsgrad=False)), gradient, starts, num_steps),
                      "amsgrad=True is ignored: keep the running maximum of v and use it in the denominator."))
    check_optimizer(("adam_init", "adam_update"), (adam_init, adam_update), lambda: keras.optimizers.Adam(learning_rate=learning_rate, **hyper),
                    _describe("Adam", learning_rate, **hyper), hyper, learning_rate, num_steps, problem, wrong, *step_tolerance(starts))


def check_adamw(adam_init: Callable, adamw_update: Callable, learning_rate=0.05, weight_decay: float = 0.004, beta_1: float = 0.9,
                beta_2: float = 0.999, epsilon: float = 1e-7, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """AdamW as ``keras.optimizers.AdamW``: decoupled decay theta -= theta * weight_decay * lr, applied before the Adam step."""
    __tracebackhide__ = True
    problem, gradient, rates = _setup(problem, learning_rate, num_steps, dtype)
    starts = problem[2]
    hyper = {"weight_decay": weight_decay, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon}
    arguments = (starts, gradient, rates, beta_1, beta_2, epsilon)
    l2 = callables.quadratic_gradients([c + weight_decay for c in problem[0]], [c * m / (c + weight_decay) for c, m in zip(problem[0], problem[1])])
    wrong = [(_adam_numpy(*arguments, decay=weight_decay, decay_after=True), "the decay must come before the Adam step (Keras decays the old parameters, then adds the Adam update)."),
             (_adam_numpy(*arguments), "no weight decay at all: theta = theta - theta * weight_decay * learning_rate, before the Adam step."),
             (_adam_numpy(starts, l2, rates, beta_1, beta_2, epsilon), "that is L2 regularisation (weight_decay * theta added to the gradient); AdamW's decay is "
                                                                       "decoupled: it shrinks theta directly and never enters m and v.")]
    check_optimizer(("adam_init", "adamw_update"), (adam_init, adamw_update), lambda: keras.optimizers.AdamW(learning_rate=learning_rate, **hyper),
                    _describe("AdamW", learning_rate, **hyper), hyper, learning_rate, num_steps, problem, wrong, *step_tolerance(starts))
