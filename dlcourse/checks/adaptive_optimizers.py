"""Checks for the exercises of chapter 3 (Adagrad, RMSprop, Adam, AdamW).

Each optimizer follows the course's interface (see
:mod:`dlcourse.optimizers`); the checks drive the student's
``init``/``update`` pair and compare every step, in float64 or float32, with
the Keras optimizer, and recognise the classic wrong versions (epsilon outside
the square root, accumulator starting at 0 or 1, g summed instead of g^2, rho
and 1 - rho swapped, PyTorch's RMSprop momentum, no bias correction, AMSGrad's
maximum of the wrong quantity, decay after the step or without the learning
rate, L2 instead of decoupled decay).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlcourse import LazyReference, optimizers
from dlcourse.checks.cases import run_check
from dlcourse.checks.compare import Mistake
from dlcourse.checks.optimizer_steps import (
    check_optimizer,
    constant_forms,
    default_problem,
    each_form,
    exact_or_float32,
    keras_run,
    learning_rates,
    numpy_run,
    optimizer_label,
)
from dlcourse.checks.recording import recorded
from dlcourse.checks.understanding import check_digits_learning_rate, derivation_case

ref, keras = LazyReference(), LazyReference("keras")


def tiny_gradient_problem(seed: int = 0, dtype=np.float64):
    """A problem whose gradients are about 1e-6: where epsilon's place changes the step."""
    curvatures, minima, starts = default_problem(seed, dtype)
    return [1e-6 * c for c in curvatures], minima, starts


def zero_gradient_problem(seed: int = 0, dtype=np.float64):
    """A problem that starts at its minimum: every gradient is exactly 0, and the parameters must not move."""
    curvatures, minima, _ = default_problem(seed, dtype)
    return curvatures, minima, [m.astype(dtype) for m in minima]


# ----------------------------------------------------------------------------- classic wrong versions, in the course's interface
# (the states of :mod:`dlcourse.optimizers`); each computes in the dtype of its parameters, as the student's code does.


def _adagrad_wrong_update(mistake: str) -> Callable:
    """Adagrad done wrong: the accumulator sums g instead of g^2 ("g"), or the step divides by the accumulator
    before the current g^2 is added to it ("stale")."""

    def update(params, grads, state, learning_rate, epsilon=1e-7):
        new_params, new_state = [], []
        for p, g, a in zip(params, grads, state):
            g, dtype = np.asarray(g, dtype=p.dtype), p.dtype.type
            new_a = a + (g if mistake == "g" else g * g)
            with np.errstate(invalid="ignore"):  # g summed can make the accumulator negative
                root = np.sqrt((a if mistake == "stale" else new_a) + dtype(epsilon))
            new_params.append(p - dtype(learning_rate) * g / root)
            new_state.append(new_a)
        return new_params, new_state

    return update


def _rmsprop_wrong_update(mistake: str) -> Callable:
    """RMSprop done wrong: centered with the moving average of g subtracted unsquared ("mean_not_squared"), or
    PyTorch's momentum, whose buffer holds g / sqrt(...) and whose step is learning_rate * buffer ("rate_outside")."""

    def update(params, grads, state, learning_rate, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
        new_params, new_state = [], []
        for p, g, (v, mean_g, b) in zip(params, grads, state):
            g, dtype = np.asarray(g, dtype=p.dtype), p.dtype.type
            v = dtype(rho) * v + dtype(1 - rho) * g * g
            denominator = v
            if centered:
                mean_g = dtype(rho) * mean_g + dtype(1 - rho) * g
                denominator = v - (mean_g if mistake == "mean_not_squared" else mean_g * mean_g)
            with np.errstate(invalid="ignore"):  # v - mean_g can be negative
                root = np.sqrt(denominator + dtype(epsilon))
            rate = dtype(learning_rate)
            if mistake == "rate_outside":
                step = g / root
                if momentum > 0:
                    b = dtype(momentum) * b + step
                    step = b
                step = rate * step
            else:
                step = rate * g / root
                if momentum > 0:
                    b = dtype(momentum) * b + step
                    step = b
            new_params.append(p - step)
            new_state.append((v, mean_g, b))
        return new_params, new_state

    return update


def _adam_wrong_amsgrad_update(mistake: str) -> Callable:
    """Adam with AMSGrad done wrong: the running maximum kept of the bias-corrected v / (1 - beta_2**t) and used in
    Keras's folded step ("v_hat") or in the paper's step ("v_hat_paper"), or kept of m instead of v ("m")."""

    def update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, float32_beta_powers=True):
        t = state["t"] + 1
        rounded = (lambda value: float(np.float32(value))) if float32_beta_powers else float
        new_params, moments = [], []
        for p, g, (m, v, v_max) in zip(params, grads, state["moments"]):
            g, dtype = np.asarray(g, dtype=p.dtype), p.dtype.type
            b1t, b2t = dtype(rounded(beta_1)) ** t, dtype(rounded(beta_2)) ** t
            m = m + (g - m) * dtype(1 - beta_1)
            v = v + (g * g - v) * dtype(1 - beta_2)
            v_max = np.maximum(v_max, m if mistake == "m" else v / (1 - b2t))
            lr, eps = dtype(learning_rate), dtype(epsilon)
            if mistake == "v_hat_paper":
                step = lr * (m / (1 - b1t)) / (np.sqrt(v_max) + eps)
            else:
                step = lr * np.sqrt(1 - b2t) / (1 - b1t) * m / (np.sqrt(v_max) + eps)
            new_params.append(p - step)
            moments.append((m, v, v_max))
        return new_params, {"t": t, "moments": moments}

    return update


def _adamw_decay_without_learning_rate_update(params, grads, state, learning_rate, weight_decay=0.004, float32_beta_powers=True,
                                              **adam_hyperparameters):
    """AdamW whose decay forgets the learning rate: theta - theta * weight_decay, then the Adam step."""
    decayed = [p - p * p.dtype.type(weight_decay) for p in params]
    return optimizers.adam_update(decayed, grads, state, learning_rate, float32_beta_powers=float32_beta_powers, **adam_hyperparameters)


def beta_choices(beta_1: float, beta_2: float) -> list[dict]:
    """The betas a correct Adam may use: as given, or rounded to float32 everywhere (``float(np.float32(beta))``).

    Keras raises the betas rounded to float32 in its bias corrections (``float32_beta_powers``) and uses them
    exactly in the moving averages; the task tells students who round them to convert back to Python floats,
    without saying where, so the moving averages with the rounded betas are accepted too (they move a step by
    about 1e-6 relative). With rounded betas both choices of powers coincide.
    """
    return [{}, {"beta_1": float(np.float32(beta_1)), "beta_2": float(np.float32(beta_2))}]


@recorded
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
    initials = exact_or_float32(initial_accumulator_value)
    mistakes += each_form(constant_forms(lambda initial: adagrad(_adagrad_wrong_update("g"), initial), initial=initials),
                          "the accumulator sums the squared gradients: a = a + g**2 (yours adds g itself).")
    mistakes += each_form(constant_forms(lambda initial: adagrad(_adagrad_wrong_update("stale"), initial), initial=initials),
                          "add g**2 to the accumulator before the step: the step divides by sqrt(a + epsilon) with the current "
                          "gradient's g**2 already in a (yours uses the accumulator of the previous update).")
    arguments = {"initial_accumulator_value": initial_accumulator_value, "epsilon": epsilon}
    check_optimizer((adagrad_init, adagrad_update), names=("adagrad_init", "adagrad_update"),
                    keras_optimizer=lambda: keras.optimizers.Adagrad(learning_rate=learning_rate, **arguments),
                    label=optimizer_label("Adagrad", learning_rate, **arguments), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters={"epsilon": epsilon}, mistakes=mistakes,
                    init_arguments={"initial_accumulator_value": initial_accumulator_value},
                    alternatives=constant_forms(lambda initial: adagrad(optimizers.adagrad_update, initial),
                                                initial=exact_or_float32(initial_accumulator_value)))


@recorded
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
                 "epsilon must be inside the square root: sqrt(v + epsilon)."),
                (keras_run(rmsprop(rho=1 - rho), problem, num_steps),
                 "rho and 1 - rho are swapped: v = rho * v + (1 - rho) * g**2 keeps the old average with weight rho.")]
    if centered:
        mistakes.append((numpy_run(optimizers.rmsprop_init, _rmsprop_wrong_update("mean_not_squared"), problem, rates, **hyper),
                         "centered RMSprop subtracts the square of the moving average of g: sqrt(v - mean_g**2 + epsilon) "
                         "(yours subtracts mean_g itself)."))
    if momentum:
        mistakes.append((numpy_run(optimizers.rmsprop_init, _rmsprop_wrong_update("rate_outside"), problem, rates, **hyper),
                         "that is PyTorch's momentum, b = momentum * b + g / sqrt(...), theta -= lr * b; Keras puts the learning "
                         "rate inside the buffer: b = momentum * b + lr * g / sqrt(...), theta -= b (they differ once lr changes)."))
    if centered:
        mistakes.append((keras_run(rmsprop(centered=False), problem, num_steps),
                         "centered=True is ignored: subtract the square of the moving average of g inside the root."))
    if momentum:
        mistakes.append((keras_run(rmsprop(momentum=0.0), problem, num_steps),
                         "momentum is ignored: b = momentum * b + lr * g / sqrt(...); theta -= b."))
    check_optimizer((rmsprop_init, rmsprop_update), names=("rmsprop_init", "rmsprop_update"), keras_optimizer=rmsprop,
                    label=optimizer_label("RMSprop", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters=hyper, mistakes=mistakes)


@recorded
def check_adam(adam_init: Callable, adam_update: Callable, learning_rate=0.05, beta_1: float = 0.9, beta_2: float = 0.999,
               epsilon: float = 1e-7, amsgrad: bool = False, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """Adam as ``keras.optimizers.Adam``: bias correction with t = 1 on the first update, Keras's epsilon-hat form."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(dtype=dtype)
    rates = learning_rates(learning_rate, num_steps)
    hyper = {"beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon, "amsgrad": amsgrad}

    def forms(update, init=optimizers.adam_init, **changes):
        """``update`` (with ``changes`` to the hyperparameters) with Keras's float32 beta powers, with the exact ones, and with
        the betas rounded to float32 everywhere (:func:`beta_choices`)."""
        return constant_forms(lambda powers, betas: numpy_run(init, update, problem, rates, float32_beta_powers=powers,
                                                              **dict(hyper, **changes, **betas)),
                              powers=[True, False], betas=beta_choices(beta_1, beta_2))

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
        mistakes += each_form(forms(_adam_wrong_amsgrad_update("v_hat")) + forms(_adam_wrong_amsgrad_update("v_hat_paper")),
                              "AMSGrad's running maximum is of the raw v, max(v_max, v); yours keeps the maximum of the "
                              "bias-corrected v / (1 - beta_2**t) (on the first update that is g**2 itself).")
        mistakes += each_form(forms(_adam_wrong_amsgrad_update("m")),
                              "AMSGrad's running maximum is of the second moment v, max(v_max, v); yours takes it of m.")
    check_optimizer((adam_init, adam_update), names=("adam_init", "adam_update"),
                    keras_optimizer=lambda: keras.optimizers.Adam(learning_rate=learning_rate, **hyper),
                    label=optimizer_label("Adam", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters=hyper, mistakes=mistakes, alternatives=forms(optimizers.adam_update))


@recorded
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
        return constant_forms(lambda powers, decay, betas: numpy_run(optimizers.adam_init, update, on, rates, float32_beta_powers=powers,
                                                                     **dict(adam_hyper, **betas),
                                                                     **({} if decay is None else {"weight_decay": decay})),
                              powers=[True, False], decay=list(decays), betas=beta_choices(beta_1, beta_2))

    mistakes = (each_form(forms(optimizers.adamw_decay_after_update, problem, decays),
                          "the decay must come before the Adam step (Keras decays the old parameters, then adds the Adam update).")
                + each_form(forms(optimizers.adam_update, problem),
                            "no weight decay at all: theta = theta - theta * weight_decay * learning_rate, before the Adam step.")
                + each_form(forms(_adamw_decay_without_learning_rate_update, problem, decays),
                            "the decay is scaled by the learning rate too: theta = theta - theta * weight_decay * learning_rate "
                            "(yours subtracts theta * weight_decay).")
                + each_form(forms(optimizers.adam_update, l2_problem),
                            "that is L2 regularisation (weight_decay * theta added to the gradient); AdamW's decay is "
                            "decoupled: it shrinks theta directly and never enters m and v."))
    check_optimizer((adam_init, adamw_update), names=("adam_init", "adamw_update"),
                    keras_optimizer=lambda: keras.optimizers.AdamW(learning_rate=learning_rate, **hyper),
                    label=optimizer_label("AdamW", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters=hyper, mistakes=mistakes, alternatives=forms(optimizers.adamw_update, problem, decays),
                    substitutes=("adam_init", "adam_update"))


def keras_adam_moments(beta_1: float, beta_2: float, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Keras Adam's first and second moments ``m_t``, ``v_t`` after steps 1 .. ``num_steps`` on a float64 parameter whose
    gradient is always 1: two (num_steps,) arrays."""
    variable = ref.tf.Variable(np.zeros((), dtype=np.float64))
    optimizer = keras.optimizers.Adam(beta_1=beta_1, beta_2=beta_2)
    moments = []
    for _ in range(num_steps):
        optimizer.apply_gradients([(ref.tf.constant(1.0, dtype=ref.tf.float64), variable)])
        moments.append((float(optimizer._momentums[0].numpy()), float(optimizer._velocities[0].numpy())))
    first, second = np.array(moments).T
    return first, second


@recorded
def check_bias_correction(bias_correction: Callable, beta_1: float = 0.9, beta_2: float = 0.999, num_steps: int = 60) -> None:
    """``bias_correction(step, beta)``: the factor c_t with m_t = c_t g for a gradient that is constantly g, for Keras Adam's
    first moment (``beta_1``) and second moment (``beta_2``, for g^2), steps 1 .. ``num_steps``, against Keras's own moments."""
    __tracebackhide__ = True
    steps = np.arange(1, num_steps + 1)
    made = []
    for beta, moment, which in zip((beta_1, beta_2), keras_adam_moments(beta_1, beta_2, num_steps), ("m_t", "v_t")):
        mistakes = [
            Mistake(1 - beta ** (steps - 1.0), "one power too few: after the first step m_1 = (1 - beta) g, so c_1 = 1 - beta."),
            Mistake(beta ** steps, "beta^t is the weight left on the zero the average started from; the factor is what the "
                                   "gradients got: 1 minus that."),
            Mistake((1 - beta) * steps, "(1 - beta) t is only the first-order expansion of the sum of the weights; sum the geometric "
                                        "series (1 - beta)(1 + beta + ... + beta^(t-1)) exactly."),
            Mistake(np.ones(num_steps), "without a correction m_t underestimates g at the start: m_t is an average that began at 0."),
        ]
        # Keras's moment is a recursion: each of its t steps rounds once (relative float64 epsilon on a value below 1)
        made.append(derivation_case((list(steps.tolist()), beta), moment, mistakes,
                                    what=f"bias_correction(t, {beta}) for t = 1 .. {num_steps}",
                                    reference=f"keras.optimizers.Adam's {which} under a constant gradient", rtol=0.0,
                                    atol=4 * num_steps * np.finfo(np.float64).eps, driver="at_each_step"))
    run_check(bias_correction, made, "your factor is what Keras's Adam moments reach under a constant gradient, for both betas.")


ADAM_DIGITS = {"sizes": [64, 64, 64, 64, 10], "activation": "relu", "scale": 2.0, "epochs": 2, "bar": 0.88}


@recorded
def check_adam_learning_rate(choice) -> None:
    """``choice = {"learning_rate": ...}``: the course's Adam trains the ReLU MLP of ``ADAM_DIGITS`` (He initialization) on the
    digits for its epochs; its test accuracy must reach the bar."""
    __tracebackhide__ = True
    check_digits_learning_rate(choice, "adam", ADAM_DIGITS, "Adam moves every weight by up to about the learning rate at each "
                                                            "step, whatever the size of its gradient (Lesson 2)")
