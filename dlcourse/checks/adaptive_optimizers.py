"""Checks for the exercises of chapter 3 (Adagrad, RMSprop, Adam, AdamW).

Each optimizer follows the course's interface (see
:mod:`dlcourse.optimizers`); the checks drive the student's
``init``/``update`` pair and compare every step, in float64 or float32, with
the Keras optimizer, and recognise the classic wrong versions (epsilon outside
the square root, accumulator starting at 0, no bias correction, decay after
the step, L2 instead of decoupled decay).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlcourse import keras_reference as ref
from dlcourse import optimizers
from dlcourse.checks.optimizer_steps import (
    check_optimizer,
    constant_forms,
    default_problem,
    each_form,
    exact_or_float32,
    keras_run,
    learning_rates,
    numpy_run,
)

keras = ref.keras


def tiny_gradient_problem(seed: int = 0, dtype=np.float64):
    """A problem whose gradients are about 1e-6: where epsilon's place changes the step."""
    curvatures, minima, starts = default_problem(seed, dtype)
    return [1e-6 * c for c in curvatures], minima, starts


def zero_gradient_problem(seed: int = 0, dtype=np.float64):
    """A problem that starts at its minimum: every gradient is exactly 0, and the parameters must not move."""
    curvatures, minima, _ = default_problem(seed, dtype)
    return curvatures, minima, [m.astype(dtype) for m in minima]


def _describe(name: str, learning_rate, **hyper) -> str:
    shown = [f"learning_rate={'a schedule' if callable(learning_rate) else learning_rate}"] + [f"{k}={v}" for k, v in hyper.items()]
    return f"keras.optimizers.{name}({', '.join(shown)})"


def check_adagrad(adagrad_init: Callable, adagrad_update: Callable, learning_rate=0.1, initial_accumulator_value: float = 0.1,
                  epsilon: float = 1e-7, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """Adagrad as ``keras.optimizers.Adagrad``: accumulator from ``initial_accumulator_value``, epsilon inside the square root."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(dtype=dtype)
    rates = learning_rates(learning_rate, num_steps)

    def adagrad(update, initial):
        return numpy_run(optimizers.adagrad_init, update, problem, rates, {"initial_accumulator_value": initial}, epsilon=epsilon)

    mistakes = [(adagrad(optimizers.adagrad_epsilon_outside_update, initial_accumulator_value),
                 "epsilon must be inside the square root: sqrt(accumulator + epsilon)."),
                (adagrad(optimizers.adagrad_update, 0.0), "the accumulator must start at initial_accumulator_value "
                                                          f"({initial_accumulator_value}), not at 0."),
                (adagrad(optimizers.adagrad_update, 1.0),
                 "that is the 'sqrt(1 + sum of g^2)' form some tutorials print; Keras starts the accumulator at "
                 f"initial_accumulator_value={initial_accumulator_value} and adds epsilon inside the square root.")]
    arguments = {"initial_accumulator_value": initial_accumulator_value, "epsilon": epsilon}
    check_optimizer((adagrad_init, adagrad_update), names=("adagrad_init", "adagrad_update"),
                    keras_optimizer=lambda: keras.optimizers.Adagrad(learning_rate=learning_rate, **arguments),
                    label=_describe("Adagrad", learning_rate, **arguments), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters={"epsilon": epsilon}, mistakes=mistakes,
                    init_arguments={"initial_accumulator_value": initial_accumulator_value},
                    alternatives=constant_forms(lambda initial: adagrad(optimizers.adagrad_update, initial),
                                                initial=exact_or_float32(initial_accumulator_value)))


def check_rmsprop(rmsprop_init: Callable, rmsprop_update: Callable, learning_rate=0.01, rho: float = 0.9, momentum: float = 0.0,
                  epsilon: float = 1e-7, centered: bool = False, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """RMSprop as ``keras.optimizers.RMSprop`` (plain, centered, with momentum); epsilon inside the square root."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(dtype=dtype)
    rates = learning_rates(learning_rate, num_steps)
    hyper = {"rho": rho, "momentum": momentum, "epsilon": epsilon, "centered": centered}

    def rmsprop(**changes):
        return keras.optimizers.RMSprop(learning_rate=learning_rate, **dict(hyper, **changes))

    mistakes = [(numpy_run(optimizers.rmsprop_init, optimizers.rmsprop_epsilon_outside_update, problem, rates, **hyper),
                 "epsilon must be inside the square root: sqrt(v + epsilon).")]
    if centered:
        mistakes.append((keras_run(rmsprop(centered=False), problem, num_steps),
                         "centered=True is ignored: subtract the square of the moving average of g inside the root."))
    if momentum:
        mistakes.append((keras_run(rmsprop(momentum=0.0), problem, num_steps),
                         "momentum is ignored: b = momentum * b + lr * g / sqrt(...); theta -= b."))
    check_optimizer((rmsprop_init, rmsprop_update), names=("rmsprop_init", "rmsprop_update"), keras_optimizer=rmsprop,
                    label=_describe("RMSprop", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters=hyper, mistakes=mistakes)


def check_adam(adam_init: Callable, adam_update: Callable, learning_rate=0.05, beta_1: float = 0.9, beta_2: float = 0.999,
               epsilon: float = 1e-7, amsgrad: bool = False, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """Adam as ``keras.optimizers.Adam``: bias correction with t = 1 on the first update, Keras's epsilon-hat form."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(dtype=dtype)
    rates = learning_rates(learning_rate, num_steps)
    hyper = {"beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon, "amsgrad": amsgrad}

    def forms(update, init=optimizers.adam_init, **changes):
        """``update`` (with ``changes`` to the hyperparameters) with Keras's float32 beta powers and with the exact ones."""
        return constant_forms(lambda powers: numpy_run(init, update, problem, rates, float32_beta_powers=powers, **dict(hyper, **changes)),
                              powers=[True, False])

    mistakes = (each_form(forms(optimizers.adam_no_bias_correction_update),
                          "the bias correction is missing: divide by 1 - beta_1**t and 1 - beta_2**t, with t = 1 on the first update.")
                + each_form(forms(optimizers.adam_update, epsilon=0.0), "epsilon is missing from the denominator: m / (sqrt(v) + epsilon).")
                + each_form(forms(optimizers.adam_update, init=lambda params: dict(optimizers.adam_init(params), t=1)),
                            "your update count is one ahead: t must be 1 on the first update (start the count at 0 and add 1 "
                            "before the bias corrections).")
                + each_form(forms(optimizers.adam_paper_update),
                            "that is the paper's form, epsilon added to sqrt(v_hat). Keras folds the corrections "
                            "into the step: lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon).")
                + ([] if problem[2][0].dtype == np.float32 else
                   each_form(forms(optimizers.adam_float32_corrections_update),
                             "your bias corrections are computed in float32: np.float32(beta) ** t stays float32, and 1 - beta_2**t "
                             "then keeps only about three digits. Use the betas as Python floats (or float(np.float32(beta))).")))
    if amsgrad:
        mistakes += each_form(forms(optimizers.adam_update, amsgrad=False),
                              "amsgrad=True is ignored: keep the running maximum of v and use it in the denominator.")
    check_optimizer((adam_init, adam_update), names=("adam_init", "adam_update"),
                    keras_optimizer=lambda: keras.optimizers.Adam(learning_rate=learning_rate, **hyper),
                    label=_describe("Adam", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters=hyper, mistakes=mistakes, alternatives=forms(optimizers.adam_update))


def check_adamw(adam_init: Callable, adamw_update: Callable, learning_rate=0.05, weight_decay: float = 0.004, beta_1: float = 0.9,
                beta_2: float = 0.999, epsilon: float = 1e-7, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """AdamW as ``keras.optimizers.AdamW``: decoupled decay theta -= theta * weight_decay * lr, applied before the Adam step."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(dtype=dtype)
    rates = learning_rates(learning_rate, num_steps)
    adam_hyper = {"beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon}
    hyper = {"weight_decay": weight_decay, **adam_hyper}
    curvatures, minima, starts = problem
    # L2 regularisation: the gradient of the quadratic plus weight_decay * theta, itself a diagonal quadratic
    l2_problem = ([c + weight_decay for c in curvatures], [c * m / (c + weight_decay) for c, m in zip(curvatures, minima)], starts)
    decays = exact_or_float32(weight_decay)

    def forms(update, on, decays=(None,)):
        """``update`` on problem ``on`` with each choice of constants (``None``: no weight_decay argument)."""
        return constant_forms(lambda powers, decay: numpy_run(optimizers.adam_init, update, on, rates, float32_beta_powers=powers, **adam_hyper,
                                                              **({} if decay is None else {"weight_decay": decay})),
                              powers=[True, False], decay=list(decays))

    mistakes = (each_form(forms(optimizers.adamw_decay_after_update, problem, decays),
                          "the decay must come before the Adam step (Keras decays the old parameters, then adds the Adam update).")
                + each_form(forms(optimizers.adam_update, problem),
                            "no weight decay at all: theta = theta - theta * weight_decay * learning_rate, before the Adam step.")
                + each_form(forms(optimizers.adam_update, l2_problem),
                            "that is L2 regularisation (weight_decay * theta added to the gradient); AdamW's decay is "
                            "decoupled: it shrinks theta directly and never enters m and v."))
    check_optimizer((adam_init, adamw_update), names=("adam_init", "adamw_update"),
                    keras_optimizer=lambda: keras.optimizers.AdamW(learning_rate=learning_rate, **hyper),
                    label=_describe("AdamW", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters=hyper, mistakes=mistakes, alternatives=forms(optimizers.adamw_update, problem, decays))
