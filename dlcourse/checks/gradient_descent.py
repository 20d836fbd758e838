"""Checks for the exercises of chapter 1 (gradient descent).

Each ``check_*`` function calls the student's function on concrete inputs,
computes the same quantity with live TensorFlow/Keras, and raises
:class:`~dlcourse.checks.compare.CheckFailed` with a diagnosis when they
differ. Called with no case arguments it runs the visible cases; the
hidden tests of the grader call it with other inputs.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from dlcourse import keras_reference as ref
from dlcourse.checks.compare import Mistake, assert_matches, call_student, describe, fail, passed

# --------------------------------------------------------------------------
# Linear regression: loss and gradient
# --------------------------------------------------------------------------


def regression_case(seed: int, n: int = 20, d: int = 3):
    """A random linear-regression problem: X (n, d), y (n,), w (d,), b float; float64."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.5 + 0.1 * rng.normal(size=n)
    w = rng.normal(size=d)
    b = float(rng.normal())
    return X, y, w, b


def _tf_mse(X, y, w, b):
    tf = ref.tf
    return tf.reduce_mean((tf.linalg.matvec(X, w) + b - y) ** 2)


def check_mse_loss(mse_loss: Callable, cases=None) -> None:
    """``mse_loss(X, y, w, b)`` must equal ``mean((X @ w + b - y)**2)`` computed by TensorFlow."""
    __tracebackhide__ = True
    cases = cases if cases is not None else [regression_case(seed) for seed in (0, 1, 2)]
    for X, y, w, b in cases:
        expected = float(_tf_mse(*(np.asarray(a, dtype=np.float64) for a in (X, y, w, b))).numpy())
        residual = X @ w + b - y
        mistakes = [
            Mistake(np.sum(residual**2), "you summed the squared errors; the task asks for their mean (divide by n)."),
            Mistake(0.5 * np.mean(residual**2), "you included a factor 1/2; the loss here is the plain mean of squared errors."),
            Mistake(np.mean(np.abs(residual)), "that is the mean absolute error; square the residuals instead."),
            Mistake(np.mean((X @ w - y) ** 2), "the bias b is missing from the prediction X @ w + b."),
        ]
        loss = call_student(mse_loss, X.copy(), y.copy(), w.copy(), b, name="mse_loss")
        if np.ndim(loss) != 0:
            fail(f"mse_loss must return a single number (the mean over the n examples); it returned shape {np.shape(loss)}.")
        assert_matches(loss, expected, what="mse_loss(X, y, w, b)", reference="TensorFlow's tf.reduce_mean((X @ w + b - y)**2)",
                       mistakes=mistakes, context=describe(X=X, y=y, w=w, b=b))
    passed(f"mse_loss matches TensorFlow on {len(cases)} problems.")


def check_mse_gradient(mse_gradient: Callable, cases=None) -> None:
    """``mse_gradient(X, y, w, b)`` must return ``(grad_w, grad_b)`` equal to ``tf.GradientTape``'s."""
    __tracebackhide__ = True
    cases = cases if cases is not None else [regression_case(seed) for seed in (0, 1, 2)]
    for X, y, w, b in cases:
        X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
        expected_w, expected_b = ref.tape_gradient(_tf_mse, X, y, w, np.float64(b))[2:]
        n = len(y)
        residual = X @ w + b - y
        result = call_student(mse_gradient, X.copy(), y.copy(), w.copy(), b, name="mse_gradient")
        if not isinstance(result, tuple) or len(result) != 2:
            fail(f"mse_gradient must return a tuple (grad_w, grad_b); it returned {type(result).__name__}"
                 + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "") + ".")
        grad_w, grad_b = result
        context = describe(X=X, y=y, w=w, b=b)
        assert_matches(grad_w, expected_w, what="grad_w", reference="tf.GradientTape's gradient of the MSE",
                       axis_names=("weight",), context=context, mistakes=[
                           Mistake(X.T @ residual / n, "grad_w is half the true gradient: d(r^2)/dr = 2r, the factor 2 is missing."),
                           Mistake(2 * X.T @ residual, "grad_w is n times too large: the loss is a mean, so divide the sum by n."),
                           Mistake(2 * X.T @ (X @ w - y) / n, "the residual leaves out the bias: use X @ w + b - y."),
                       ])
        if np.ndim(grad_b) != 0:
            fail(f"grad_b must be a single number (b is a scalar); it has shape {np.shape(grad_b)}. Did you forget to sum/average over the examples?")
        assert_matches(grad_b, expected_b, what="grad_b", reference="tf.GradientTape's gradient of the MSE", context=context,
                       mistakes=[Mistake(np.mean(residual), "grad_b is half the true gradient: the factor 2 is missing."),
                                 Mistake(2 * np.sum(residual), "grad_b is n times too large: average over the examples, don't sum.")])
    passed(f"mse_gradient matches tf.GradientTape on {len(cases)} problems.")


# --------------------------------------------------------------------------
# Numerical gradient by central differences
# --------------------------------------------------------------------------


def _test_functions():
    """Scalar test functions as (NumPy version, TensorFlow version) pairs."""
    tf = ref.tf
    return {
        "cubic": (lambda x: np.sum(x**3), lambda x: tf.reduce_sum(x**3)),
        "sin_times_square": (lambda x: np.sum(np.sin(x) * x**2), lambda x: tf.reduce_sum(tf.sin(x) * x**2)),
        "log_sum_exp": (lambda x: np.log(np.sum(np.exp(x))), lambda x: tf.reduce_logsumexp(x)),
    }


def _one_sided_difference(f, x, h, direction):
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        shifted = x.copy()
        shifted[index] += direction * h
        gradient[index] = direction * (f(shifted) - f(x)) / h
    return gradient


def check_numerical_gradient(numerical_gradient: Callable, function: str = "sin_times_square", x=None, h: float | None = None,
                             rtol: float = 1e-6, atol: float = 1e-7) -> None:
    """``numerical_gradient(f, x[, h])`` must approximate the true gradient to O(h^2).

    ``function`` names a test function (``cubic``, ``sin_times_square``,
    ``log_sum_exp``); ``x`` defaults to a seeded (2, 3) float64 array; ``h``
    (when given) is passed on and the expected value is the exact central
    difference of ``cubic`` for that h: 3 x^2 + h^2.
    """
    __tracebackhide__ = True
    f_np, f_tf = _test_functions()[function]
    x = np.random.default_rng(3).uniform(0.5, 2.0, size=(2, 3)) if x is None else np.asarray(x, dtype=np.float64)
    original = x.copy()

    def f(z):
        return f_np(np.asarray(z, dtype=np.float64))

    f.__name__ = function
    if h is None:
        result = call_student(numerical_gradient, f, x, name="numerical_gradient")
        step = 1e-5
        (expected,) = ref.tape_gradient(f_tf, x)
        reference = "tf.GradientTape's exact gradient"
    else:
        if function != "cubic":
            raise ValueError("an explicit h is checked on the cubic, whose central difference is known exactly")
        result = call_student(numerical_gradient, f, x, h, name="numerical_gradient")
        step = h
        (expected,) = ref.tape_gradient(f_tf, x)
        expected = expected + h**2  # ((x+h)^3 - (x-h)^3) / 2h = 3x^2 + h^2
        reference = f"the exact central difference 3x^2 + h^2 (tf.GradientTape's 3x^2 plus h^2, h={h})"
    if not np.array_equal(x, original):
        changed = tuple(int(i) for i in np.argwhere(x != original)[0])
        fail(f"numerical_gradient changed its input x (first at x{list(changed)}: was {float(original[changed])!r}, now {float(x[changed])!r}). "
             "Perturb a copy of x, or put the element back after each evaluation.")
    mistakes = [
        Mistake(_one_sided_difference(f_np, original, step, +1),
                "that is the forward difference (f(x+h) - f(x)) / h, whose error is O(h). Use the central difference (f(x+h) - f(x-h)) / (2h), error O(h^2)."),
        Mistake(_one_sided_difference(f_np, original, step, -1),
                "that is the backward difference (f(x) - f(x-h)) / h, whose error is O(h). Use the central difference (f(x+h) - f(x-h)) / (2h)."),
    ]
    if h is not None:
        mistakes.append(Mistake(expected - h**2 + 1e-10, f"your step is not the h that was passed (h={h}); use the argument h, not a fixed constant."))
    assert_matches(result, expected, what=f"numerical_gradient({function}, x)", reference=reference, rtol=rtol, atol=atol,
                   axis_names=("row", "column")[: original.ndim] if original.ndim <= 2 else (), mistakes=mistakes,
                   context=describe(x=original) + (f", h={h}" if h is not None else ""))
    passed(f"numerical_gradient matches {reference} for {function} on x of shape {original.shape}.")


# --------------------------------------------------------------------------
# The gradient-descent loop
# --------------------------------------------------------------------------


def quadratic_gradient(curvatures: np.ndarray, minimum: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Gradient of 0.5 * sum(curvatures * (theta - minimum)**2): theta -> curvatures * (theta - minimum)."""
    curvatures, minimum = np.asarray(curvatures, dtype=np.float64), np.asarray(minimum, dtype=np.float64)

    def gradient(theta):
        return curvatures * (np.asarray(theta, dtype=np.float64) - minimum)

    return gradient


def check_gradient_descent(gradient_descent: Callable, learning_rate=0.1, num_steps: int = 30, curvatures=(4.0, 0.5),
                           minimum=(1.0, -2.0), theta0=None, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """``gradient_descent(grad_fn, theta0, learning_rate, num_steps)`` must equal ``keras.optimizers.SGD``.

    ``learning_rate`` is a float or a Keras schedule; the student receives a
    plain Python function ``step -> float`` for a schedule. ``curvatures``
    and ``minimum`` (same shape as theta) define a diagonal quadratic.
    """
    __tracebackhide__ = True
    curvatures = np.asarray(curvatures, dtype=np.float64)
    gradient = quadratic_gradient(curvatures, minimum)
    theta0 = np.zeros_like(curvatures) if theta0 is None else np.asarray(theta0, dtype=np.float64)
    original = theta0.copy()
    is_schedule = callable(learning_rate)
    if is_schedule:
        keras_schedule = learning_rate

        def learning_rate(step):
            return float(keras_schedule(int(step)))

        learning_rate.__name__ = "schedule"
    result = call_student(gradient_descent, gradient, theta0, learning_rate, num_steps, name="gradient_descent")
    if not np.array_equal(theta0, original):
        fail("gradient_descent modified theta0 in place. Work on a copy (theta = theta0.copy()) so the caller's array is unchanged.")
    expected = ref.sgd_trajectory(gradient, original, keras_schedule if is_schedule else learning_rate, num_steps)
    mistakes = [Mistake(np.broadcast_to(expected[-1], expected.shape),
                        "every row of your trajectory is the final point: you appended the same array object each step "
                        "and then updated it in place. Append a copy (theta.copy()) or use theta = theta - ... .")]
    if is_schedule:
        mistakes.append(Mistake(ref.sgd_trajectory(gradient, original, ref.ShiftedSchedule(keras_schedule, 1), num_steps),
                                "your learning rates are one step late: the first update must use learning_rate(0), "
                                "as Keras calls the schedule with the number of updates done so far."))
    what = "gradient_descent(...) trajectory"
    reference = "keras.optimizers.SGD" + (" with the same schedule" if is_schedule else f"(learning_rate={learning_rate})")
    context = describe(theta0=original, num_steps=num_steps) + (", learning_rate=a schedule" if is_schedule else f", learning_rate={learning_rate}")
    assert_matches(result, expected, what=what, reference=reference, rtol=rtol, atol=atol,
                   axis_names=("step",) + ("element",) * (expected.ndim > 1), mistakes=mistakes, context=context)
    passed(f"gradient_descent matches {reference} over {num_steps} steps.")


# --------------------------------------------------------------------------
# Learning-rate schedules
# --------------------------------------------------------------------------


def _schedule_mistakes(name: str, arguments: dict, steps: np.ndarray) -> list[Mistake]:
    """Outputs of the classic wrong versions of schedule ``name`` on ``steps``."""
    mistakes = []
    s = steps.astype(np.float64)
    if name == "piecewise_constant_decay":
        earlier = dict(arguments, boundaries=[b - 1 for b in arguments["boundaries"]])
        mistakes.append(Mistake(ref.schedule_values(ref.schedule(name, **earlier), steps),
                                "at a boundary step you already switch to the next value. Keras keeps values[i] while step <= boundaries[i] (<=, not <)."))
    if arguments.get("staircase"):
        mistakes.append(Mistake(ref.schedule_values(ref.schedule(name, **dict(arguments, staircase=False)), steps),
                                "staircase=True is ignored: the exponent's step / decay_steps must be floored."))
    if name == "polynomial_decay" and not arguments.get("cycle"):
        lr0, end = arguments["initial_learning_rate"], arguments.get("end_learning_rate", 1e-4)
        D, p = arguments["decay_steps"], arguments.get("power", 1.0)
        with np.errstate(invalid="ignore"):
            unclamped = (lr0 - end) * (1 - s / D) ** p + end
        mistakes.append(Mistake(unclamped, "past decay_steps the rate must stay at end_learning_rate: clamp step to decay_steps first."))
    if name == "cosine_decay" and arguments.get("warmup_steps"):
        lr0, D = arguments["initial_learning_rate"], arguments["decay_steps"]
        target, W, alpha = arguments["warmup_target"], arguments["warmup_steps"], arguments.get("alpha", 0.0)
        decay_step = np.minimum(s, D)
        from_zero = target * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * decay_step / D)) + alpha)
        warm = lr0 + (target - lr0) * s / W
        mistakes.append(Mistake(np.where(s < W, warm, from_zero),
                                "the cosine phase must start when the warmup ends: count its steps from warmup_steps (step - warmup_steps)."))
    mistakes.append(Mistake(ref.schedule_values(ref.ShiftedSchedule(ref.schedule(name, **arguments), 1), steps),
                            "you evaluate the schedule one step late (at step + 1). Keras's first update uses schedule(0)."))
    return mistakes


def check_schedule(student_schedule: Callable, name: str, steps=None, rtol: float = 1e-5, atol: float = 1e-8, **arguments) -> None:
    """``student_schedule(steps, **arguments)`` must equal ``keras.optimizers.schedules.<Name>``.

    ``name`` is the student's function name (e.g. ``"exponential_decay"``);
    ``steps`` defaults to ``np.arange(0, 101)``. A scalar ``steps`` checks
    that a plain int gives a 0-d result. Keras computes in float32, hence
    ``rtol=1e-5``.
    """
    __tracebackhide__ = True
    steps = np.arange(0, 101) if steps is None else np.asarray(steps)
    keras_schedule = ref.schedule(name, **arguments)
    expected = ref.schedule_values(keras_schedule, steps)
    call_steps = int(steps) if steps.ndim == 0 else steps.copy()
    result = call_student(student_schedule, call_steps, **arguments, name=name)
    if steps.ndim and np.ndim(result) == 0:
        fail(f"{name} returned a single number for an array of {steps.size} steps; it must work elementwise on a NumPy array of steps "
             "(use np.floor, np.minimum, np.where ... instead of math.* functions and if statements).")
    keras_name = type(keras_schedule).__name__
    arg_text = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    assert_matches(result, expected, what=f"{name}(steps, {arg_text})", reference=f"keras.optimizers.schedules.{keras_name}",
                   rtol=rtol, atol=atol, axis_names=("step",) if steps.ndim == 1 else (),
                   mistakes=_schedule_mistakes(name, arguments, steps), context=describe(steps=steps))
    passed(f"{name} matches keras.optimizers.schedules.{keras_name}({arg_text}) at {steps.size} steps.")
