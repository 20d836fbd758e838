"""Checks for the exercises of chapter 1 (gradient descent).

Each ``check_*`` function builds cases (inputs, and a judge holding the
reference that live TensorFlow/Keras computed) and runs them with
:func:`~dlcourse.checks.cases.run_check`: live in the student's notebook, or
planned by the grader. Called with no case arguments a check runs its visible
cases; the hidden tests call it with other inputs.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlcourse import LazyReference
from dlcourse.checks import callables
from dlcourse.checks.cases import CallableSpec, Case, run_check
from dlcourse.checks.compare import CheckFailed, Mistake, assert_matches, describe, fail, type_name
from dlcourse.checks.recording import recorded
from dlcourse.checks.understanding import check_experiment, derivation_case

ref = LazyReference()

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


def _float64(X, y, w, b):
    return tuple(np.asarray(a, dtype=np.float64) for a in (X, y, w)) + (float(b),)


def _mse_loss_case(X, y, w, b) -> Case:
    expected = float(_tf_mse(X, y, w, np.float64(b)).numpy())
    residual = X @ w + b - y
    mistakes = [
        Mistake(np.sum(residual**2), "you summed the squared errors; the task asks for their mean (divide by n)."),
        Mistake(0.5 * np.mean(residual**2), "you included a factor 1/2; the loss here is the plain mean of squared errors."),
        Mistake(np.mean(np.abs(residual)), "that is the mean absolute error; square the residuals instead."),
        Mistake(np.mean((X @ w - y) ** 2), "the bias b is missing from the prediction X @ w + b."),
    ]
    context = describe(X=X, y=y, w=w, b=b)

    def judge(loss, _):
        __tracebackhide__ = True
        if np.ndim(loss) != 0:
            fail(f"mse_loss must return a single number (the mean over the n examples); it returned shape {np.shape(loss)}.")
        assert_matches(loss, expected, what="mse_loss(X, y, w, b)", reference="TensorFlow's tf.reduce_mean((X @ w + b - y)**2)",
                       mistakes=mistakes, context=context)

    return Case((X, y, w, b), judge)


@recorded
def check_mse_loss(mse_loss: Callable, cases=None) -> None:
    """``mse_loss(X, y, w, b)`` must equal ``mean((X @ w + b - y)**2)`` computed by TensorFlow."""
    __tracebackhide__ = True
    cases = cases if cases is not None else [regression_case(seed) for seed in (0, 1, 2)]
    run_check(mse_loss, [_mse_loss_case(*_float64(*c)) for c in cases], f"mse_loss matches TensorFlow on {len(cases)} problems.")


def _mse_gradient_case(X, y, w, b) -> Case:
    expected_w, expected_b = ref.tape_gradient(_tf_mse, X, y, w, np.float64(b))[2:]
    n = len(y)
    residual = X @ w + b - y
    context = describe(X=X, y=y, w=w, b=b)
    reference = "tf.GradientTape's gradient of the MSE"

    def judge(result, _):
        __tracebackhide__ = True
        if not isinstance(result, tuple) or len(result) != 2:
            fail(f"mse_gradient must return a tuple (grad_w, grad_b); it returned {type_name(result)}"
                 + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "") + ".")
        grad_w, grad_b = result
        assert_matches(grad_w, expected_w, what="grad_w", reference=reference, axis_names=("weight",), context=context, mistakes=[
            Mistake(X.T @ residual / n, "grad_w is half the true gradient: d(r^2)/dr = 2r, the factor 2 is missing."),
            Mistake(2 * X.T @ residual, "grad_w is n times too large: the loss is a mean, so divide the sum by n."),
            Mistake(2 * X.T @ (X @ w - y) / n, "the residual leaves out the bias: use X @ w + b - y."),
        ])
        if np.ndim(grad_b) != 0:
            fail(f"grad_b must be a single number (b is a scalar); it has shape {np.shape(grad_b)}. Did you forget to sum/average over the examples?")
        assert_matches(grad_b, expected_b, what="grad_b", reference=reference, context=context, mistakes=[
            Mistake(np.mean(residual), "grad_b is half the true gradient: the factor 2 is missing."),
            Mistake(2 * np.sum(residual), "grad_b is n times too large: average over the examples, don't sum."),
        ])

    return Case((X, y, w, b), judge)


@recorded
def check_mse_gradient(mse_gradient: Callable, cases=None) -> None:
    """``mse_gradient(X, y, w, b)`` must return ``(grad_w, grad_b)`` equal to ``tf.GradientTape``'s."""
    __tracebackhide__ = True
    cases = cases if cases is not None else [regression_case(seed) for seed in (0, 1, 2)]
    run_check(mse_gradient, [_mse_gradient_case(*_float64(*c)) for c in cases],
              f"mse_gradient matches tf.GradientTape on {len(cases)} problems.")


# --------------------------------------------------------------------------
# Numerical gradient by central differences
# --------------------------------------------------------------------------


def _tf_test_function(name: str):
    tf = ref.tf
    return {
        "cubic": lambda x: tf.reduce_sum(x**3),
        "sin_times_square": lambda x: tf.reduce_sum(tf.sin(x) * x**2),
        "log_sum_exp": lambda x: tf.reduce_logsumexp(x),
    }[name]


def _one_sided_difference(f, x, h, direction):
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        shifted = x.copy()
        shifted[index] += direction * h
        gradient[index] = direction * (f(shifted) - f(x)) / h
    return gradient


def _central_difference(f, x, h):
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        gradient[index] = (f(plus) - f(minus)) / (2 * h)
    return gradient


@recorded
def check_numerical_gradient(numerical_gradient: Callable, function: str = "sin_times_square", x=None, h: float | None = None,
                             rtol: float = 1e-6, atol: float = 1e-7) -> None:
    """``numerical_gradient(f, x[, h])`` must approximate the true gradient to O(h^2).

    ``function`` names a test function (``cubic``, ``sin_times_square``,
    ``log_sum_exp``); ``x`` defaults to a seeded (2, 3) float64 array; ``h``
    (when given) is passed on and the expected value is the exact central
    difference of ``cubic`` for that h: 3 x^2 + h^2.
    """
    __tracebackhide__ = True
    x = np.random.default_rng(3).uniform(0.5, 2.0, size=(2, 3)) if x is None else np.asarray(x, dtype=np.float64)
    f_np = callables.scalar_function(function)
    (expected,) = ref.tape_gradient(_tf_test_function(function), x)
    step = 1e-5 if h is None else h
    reference = "tf.GradientTape's exact gradient"
    if h is not None:
        if function != "cubic":
            raise ValueError("an explicit h is checked on the cubic, whose central difference is known exactly")
        expected = expected + h**2  # ((x+h)^3 - (x-h)^3) / 2h = 3x^2 + h^2
        reference = f"the exact central difference 3x^2 + h^2 (tf.GradientTape's 3x^2 plus h^2, h={h})"
    mistakes = [
        Mistake(_one_sided_difference(f_np, x, step, +1),
                "that is the forward difference (f(x+h) - f(x)) / h, whose error is O(h). Use the central difference (f(x+h) - f(x-h)) / "
                "(2h), error O(h^2)."),
        Mistake(_one_sided_difference(f_np, x, step, -1),
                "that is the backward difference (f(x) - f(x-h)) / h, whose error is O(h). Use the central difference (f(x+h) - f(x-h)) / (2h)."),
        Mistake(2 * _central_difference(f_np, x, step),
                "you divided by h instead of 2h: the central difference (f(x+h) - f(x-h)) / (2h) spans 2h, from x - h to x + h."),
        Mistake(np.full(x.shape, (f_np(x + step) - f_np(x - step)) / (2 * step)),
                "you moved every element of x at once (x + h): perturb only element j, x + h e_j, and leave the others as they are."),
    ]
    if h is not None:
        mistakes.append(Mistake(expected - h**2 + 1e-10, f"your step is not the h that was passed (h={h}); use the argument h, not a fixed "
                                                         "constant."))
    context = describe(x=x) + (f", h={h}" if h is not None else "")

    def judge(result, args_after):
        __tracebackhide__ = True
        x_after = np.asarray(args_after[1], dtype=np.float64)
        if x_after.shape != x.shape or not np.array_equal(x_after, x):
            changed = tuple(int(i) for i in np.argwhere(x_after != x)[0]) if x_after.shape == x.shape else ()
            where = f" (first at x{list(changed)}: was {float(x[changed])!r}, now {float(x_after[changed])!r})" if changed else ""
            fail(f"numerical_gradient changed its input x{where}. Perturb a copy of x, or put the element back after each evaluation.")
        assert_matches(result, expected, what=f"numerical_gradient({function}, x)", reference=reference, rtol=rtol, atol=atol,
                       axis_names=("row", "column")[: x.ndim] if x.ndim <= 2 else (), mistakes=mistakes, context=context)

    f_spec = CallableSpec("scalar_function", {"name": function})
    case = Case((f_spec, x) if h is None else (f_spec, x, h), judge)
    run_check(numerical_gradient, [case], f"numerical_gradient matches {reference} for {function} on x of shape {x.shape}.")


# --------------------------------------------------------------------------
# The gradient-descent loop
# --------------------------------------------------------------------------


def _row_count_hint(result, expected: np.ndarray, rtol: float, atol: float) -> str:
    """The mistake a trajectory with one row too few or too many shows (its rows are the expected ones, shifted), or ""."""
    if not isinstance(result, (np.ndarray, list, tuple)) or len(expected) < 2:
        return ""
    try:
        rows = np.asarray(result, dtype=np.float64)
    except (TypeError, ValueError):
        return ""
    if rows.ndim != expected.ndim or rows.shape[1:] != expected.shape[1:] or abs(len(rows) - len(expected)) != 1:
        return ""

    def same(a, b):
        return bool(np.all(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)))

    if len(rows) < len(expected):
        causes = {"your trajectory leaves out the starting point: row 0 must be theta0, then one row after each update.": same(rows, expected[1:]),
                  "one update is missing: make num_steps updates (for step in range(num_steps)); with theta0 the trajectory has num_steps + 1 "
                  "rows.": same(rows, expected[:-1])}
    else:
        causes = {"one update too many: make num_steps updates (for step in range(num_steps)), not num_steps + 1.": same(rows[:-1], expected),
                  "theta0 is in your trajectory twice: row 0 is theta0, row k the point after k updates.": same(rows[1:], expected)}
    named = [cause for cause, matches in causes.items() if matches]
    return named[0] if len(named) == 1 else ""


@recorded
def check_gradient_descent(gradient_descent: Callable, learning_rate=0.1, num_steps: int = 30, curvatures=(4.0, 0.5),
                           minimum=(1.0, -2.0), theta0=None, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """``gradient_descent(grad_fn, theta0, learning_rate, num_steps)`` must equal ``keras.optimizers.SGD``.

    ``learning_rate`` is a float or a Keras schedule; for a schedule the
    student receives a plain function ``step -> float`` giving the Keras
    values. ``curvatures`` and ``minimum`` (theta's shape) define a diagonal
    quadratic whose gradient is the ``grad_fn``.
    """
    __tracebackhide__ = True
    curvatures = np.asarray(curvatures, dtype=np.float64)
    minimum = np.asarray(minimum, dtype=np.float64)
    gradient = callables.quadratic_gradient(curvatures, minimum)
    theta0 = np.zeros_like(curvatures) if theta0 is None else np.asarray(theta0, dtype=np.float64)
    expected = ref.sgd_trajectory(gradient, theta0, learning_rate, num_steps)
    mistakes = [Mistake(np.broadcast_to(expected[-1], expected.shape),
                        "every row of your trajectory is the final point: you appended the same array object each step "
                        "and then updated it in place. Append a copy (theta.copy()) or use theta = theta - ... .")]
    is_schedule = callable(learning_rate)
    if is_schedule:
        mistakes.append(Mistake(ref.sgd_trajectory(gradient, theta0, ref.ShiftedSchedule(learning_rate, 1), num_steps),
                                "your learning rates are one step late: the first update must use learning_rate(0), "
                                "as Keras calls the schedule with the number of updates done so far."))
        # one value more than needed, so that the one-step-late mistake is diagnosed rather than an IndexError
        student_rate = CallableSpec("table_schedule", {"values": ref.schedule_values(learning_rate, np.arange(num_steps + 1)).tolist()})
        reference = "keras.optimizers.SGD with the same schedule"
        context = describe(theta0=theta0, num_steps=num_steps) + ", learning_rate=a schedule"
    else:
        student_rate = learning_rate
        reference = f"keras.optimizers.SGD(learning_rate={learning_rate})"
        context = describe(theta0=theta0, num_steps=num_steps) + f", learning_rate={learning_rate}"

    def judge(result, args_after):
        __tracebackhide__ = True
        theta_after = np.asarray(args_after[1], dtype=np.float64)
        if theta_after.shape != theta0.shape or not np.array_equal(theta_after, theta0):
            fail("gradient_descent modified theta0 in place. Work on a copy (theta = theta0.copy()) so the caller's array is unchanged.")
        try:
            assert_matches(result, expected, what="gradient_descent(...) trajectory", reference=reference, rtol=rtol, atol=atol,
                           axis_names=("step",) + ("element",) * (expected.ndim > 1), mistakes=mistakes, context=context)
        except CheckFailed as failure:  # a row too few or too many fails on the shape, before any mistake is compared
            hint = _row_count_hint(result, expected, rtol, atol)
            if hint:
                fail(f"{failure}\n  Likely cause: {hint}")
            raise

    case = Case((CallableSpec("quadratic_gradient", {"curvatures": curvatures, "minimum": minimum}), theta0, student_rate, num_steps), judge)
    run_check(gradient_descent, [case], f"gradient_descent matches {reference} over {num_steps} steps.")


# --------------------------------------------------------------------------
# Learning-rate schedules
# --------------------------------------------------------------------------


def _cosine(u, top, decay_steps, alpha):
    return top * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * u / decay_steps)) + alpha)


def _schedule_mistakes(name: str, arguments: dict, steps: np.ndarray) -> list[Mistake]:
    """Outputs of the classic wrong versions of schedule ``name`` on ``steps``, most specific first."""
    mistakes = []
    s = steps.astype(np.float64)
    if name == "piecewise_constant_decay":
        # on integer steps, < is the same function as the schedule evaluated at step + 1: one mistake, one hint
        earlier = dict(arguments, boundaries=[b - 1 for b in arguments["boundaries"]])
        mistakes.append(Mistake(ref.schedule_values(ref.schedule(name, **earlier), steps),
                                "at a boundary step you already switch to the next value. Keras keeps values[i] while step <= boundaries[i] "
                                "(<=, not <)."))
    if arguments.get("staircase"):
        mistakes.append(Mistake(ref.schedule_values(ref.schedule(name, **dict(arguments, staircase=False)), steps),
                                "staircase=True is ignored: p = step / decay_steps must be floored (np.floor) when staircase is True."))
    if name == "exponential_decay" and not arguments.get("staircase"):
        lr0, D, rate = arguments["initial_learning_rate"], arguments["decay_steps"], arguments["decay_rate"]
        with np.errstate(all="ignore"):
            mistakes.append(Mistake(lr0 * rate ** s / D,
                                    "operator precedence: decay_rate ** step / decay_steps is (decay_rate ** step) / decay_steps, since ** "
                                    "binds tighter than /. Write decay_rate ** (step / decay_steps)."))
    if name == "polynomial_decay":
        lr0, end = arguments["initial_learning_rate"], arguments.get("end_learning_rate", 1e-4)
        D, p = arguments["decay_steps"], arguments.get("power", 1.0)
        with np.errstate(all="ignore"):
            if not arguments.get("cycle"):
                unclamped = (lr0 - end) * (1 - s / D) ** p + end
                mistakes.append(Mistake(unclamped, "past decay_steps the rate must stay at end_learning_rate: clamp step to decay_steps first."))
            else:
                floor_plus_one = (lr0 - end) * (1 - s / (D * (np.floor(s / D) + 1))) ** p + end
                mistakes.append(Mistake(floor_plus_one, "with cycle=True the decay length is decay_steps * ceil(step / decay_steps), not floor "
                                                        "+ 1: at a multiple of decay_steps the cycle ends, at end_learning_rate."))
                if (s == 0).any():
                    ceil_at_zero = np.where(s == 0, np.nan, (lr0 - end) * (1 - s / (D * np.ceil(s / D))) ** p + end)
                    mistakes.append(Mistake(ceil_at_zero, "with cycle=True, ceil(step / decay_steps) is 0 at step 0 and 1 - 0/0 is NaN: "
                                                          "at step 0 the decay length is decay_steps (one cycle)."))
    if name == "cosine_decay":
        D, alpha = arguments["decay_steps"], arguments.get("alpha", 0.0)
        lr0, target, W = arguments["initial_learning_rate"], arguments.get("warmup_target"), arguments.get("warmup_steps", 0)
        with np.errstate(all="ignore"):
            if target is None:
                unclamped, unscaled = _cosine(s, lr0, D, alpha), lr0 * (1 - alpha) * 0.5 * (1 + np.cos(np.pi * np.minimum(s, D) / D)) + alpha
            else:
                unclamped = np.where(s < W, lr0 + (target - lr0) * s / W, _cosine(s - W, target, D, alpha))
                clamped = np.minimum(s, W + D)
                unscaled = np.where(clamped < W, lr0 + (target - lr0) * clamped / W,
                                    target * (1 - alpha) * 0.5 * (1 + np.cos(np.pi * (clamped - W) / D)) + alpha)
        mistakes.append(Mistake(unclamped, "past decay_steps the cosine rises again: clamp the step (to decay_steps, or warmup_steps + "
                                           "decay_steps with a warmup) so that the rate then stays at its final value."))
        if alpha:
            mistakes.append(Mistake(unscaled, "alpha is a fraction of the rate the cosine starts from: ((1 - alpha) * cosine + alpha) times "
                                              "that rate; you added alpha itself."))
    if name == "cosine_decay" and W and target is not None:
        without_warmup = dict(arguments, warmup_steps=0, warmup_target=None)
        mistakes.append(Mistake(ref.schedule_values(ref.schedule(name, **without_warmup), steps),
                                "the warmup is ignored: for step < warmup_steps the rate rises linearly from initial_learning_rate "
                                "to warmup_target, and the cosine then decays from warmup_target."))
        from_zero = _cosine(np.minimum(s, D), target, D, alpha)
        warm = lr0 + (target - lr0) * s / W
        mistakes.append(Mistake(np.where(s < W, warm, from_zero),
                                "the cosine phase must start when the warmup ends: count its steps from warmup_steps (step - warmup_steps)."))
    if name != "piecewise_constant_decay":
        mistakes.append(Mistake(ref.schedule_values(ref.ShiftedSchedule(ref.schedule(name, **arguments), 1), steps),
                                "you evaluate the schedule one step late (at step + 1). Keras's first update uses schedule(0)."))
    return mistakes


@recorded
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
    keras_name = type(keras_schedule).__name__
    arg_text = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    mistakes = _schedule_mistakes(name, arguments, steps)

    def judge(result, _):
        __tracebackhide__ = True
        if steps.ndim and np.ndim(result) == 0:
            fail(f"{name} returned a single number for an array of {steps.size} steps; it must work elementwise on a NumPy array of steps "
                 "(use np.floor, np.minimum, np.where ... instead of math.* functions and if statements).")
        assert_matches(result, expected, what=f"{name}(steps, {arg_text})", reference=f"keras.optimizers.schedules.{keras_name}",
                       rtol=rtol, atol=atol, axis_names=("step",) if steps.ndim == 1 else (), mistakes=mistakes,
                       context=describe(steps=steps))

    case = Case((int(steps) if steps.ndim == 0 else steps,), judge, kwargs=dict(arguments))
    run_check(student_schedule, [case], f"{name} matches keras.optimizers.schedules.{keras_name}({arg_text}) at {steps.size} steps.")


def _stable_rate(design: np.ndarray, scale: float) -> float:
    """2 / the largest eigenvalue of scale * design^T design."""
    return 2.0 / float(np.linalg.eigvalsh(scale * design.T @ design).max())


@recorded
def check_largest_stable_learning_rate(largest_stable_learning_rate: Callable, cases=None) -> None:
    """``largest_stable_learning_rate(X)``: the learning rate below which gradient descent on Part 1's mean squared error
    (weights and bias together) converges from every start, 2 / lambda_max of the Hessian (2/n) [X 1]^T [X 1], for each
    design matrix of ``cases``; the usual wrong derivations are named."""
    __tracebackhide__ = True
    cases = cases if cases is not None else [regression_case(0, n=20, d=3)[0] + 1.0]
    made = []
    for X in cases:
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        design = np.column_stack([X, np.ones(n)])
        hessian = 2.0 / n * design.T @ design
        mistakes = [
            Mistake(_stable_rate(design, 1.0 / n), "the Hessian of a mean of squares carries the factor 2 of the square's derivative: "
                                                   "(2/n) [X 1]^T [X 1]."),
            Mistake(_stable_rate(design, 2.0 / n) / 2, "gradient descent on a quadratic is stable while |1 - eta lambda| < 1, that is "
                                                       "eta < 2 / lambda_max; 1 / lambda_max is the step that removes the steepest "
                                                       "direction in one step, not the limit."),
            Mistake(_stable_rate(X, 2.0 / n), "the bias b is a parameter too: the Hessian is that of theta = (w, b), with a column of "
                                              "ones beside X."),
            Mistake(_stable_rate(design, 2.0), "the loss is a mean over the n examples: the Hessian carries 1/n."),
            Mistake(2.0 / float(np.linalg.eigvalsh(hessian).min()), "the largest eigenvalue sets the limit: along the steepest "
                                                                    "direction 1 - eta lambda_max must stay above -1."),
            Mistake(2.0 / float(np.max(hessian)), "use the largest eigenvalue of the Hessian (np.linalg.eigvalsh), not its largest entry."),
            Mistake(2.0 / float(np.trace(hessian)), "the trace is the sum of all eigenvalues; only the largest one sets the limit."),
        ]
        # eigvalsh and the SVD are backward stable: lambda_max carries a relative error of a few float64 epsilons
        made.append(derivation_case((X,), _stable_rate(design, 2.0 / n), mistakes, what=f"largest_stable_learning_rate(X), X {X.shape}",
                                    reference="2 / the largest eigenvalue of the loss's Hessian", rtol=1e-9, atol=0.0))
    run_check(largest_stable_learning_rate, made,
              "your limit is 2 / lambda_max of the Hessian of the mean squared error, for the weights and the bias together.")


RESCUE_STEPS, RESCUE_TARGET = 100, 1e-6


def raw_regression_problem(seed: int = 7, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """A linear regression with raw, unscaled features (a price in the tens, a ratio below 1): X (n, 2), y (n,), float64."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(30.0, 6.0, n), rng.normal(0.4, 0.1, n)])
    y = 0.8 * X[:, 0] - 20.0 * X[:, 1] + 3.0 + rng.normal(0.0, 1.0, n)
    return X, y


def regression_rescue_run(learning_rate: float, standardise: bool, steps: int = RESCUE_STEPS) -> dict:
    """Gradient descent from theta = 0 on the mean squared error of :func:`raw_regression_problem`, its features standardised
    or not: the excess loss left after ``steps`` as a fraction of the initial one, and the problem's stable limit 2 / lambda_max
    and condition number. The run is ``keras.optimizers.SGD``'s, computed with NumPy (:func:`~dlcourse.checks.callables.sgd_run`),
    so that the judge of a student's choice needs no TensorFlow."""
    X, y = raw_regression_problem()
    if standardise:
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    design = np.column_stack([X, np.ones(len(y))])
    hessian = 2.0 / len(y) * design.T @ design
    eigenvalues = np.linalg.eigvalsh(hessian)
    best = np.linalg.lstsq(design, y, rcond=None)[0]

    def loss(theta):
        return float(np.mean((design @ theta - y) ** 2))

    with np.errstate(all="ignore"):
        trajectory = callables.sgd_run(lambda theta: hessian @ theta - 2.0 / len(y) * design.T @ y, np.zeros(3), learning_rate, steps)
        left = (loss(trajectory[-1]) - loss(best)) / (loss(np.zeros(3)) - loss(best))
    return {"left": float(left), "limit": float(2.0 / eigenvalues[-1]), "condition": float(eigenvalues[-1] / eigenvalues[0])}


@recorded
def check_regression_rescue(choice) -> None:
    """``choice = {"learning_rate": ..., "standardise": ...}`` must make gradient descent on :func:`raw_regression_problem`
    reduce the excess loss to ``RESCUE_TARGET`` of its initial value within ``RESCUE_STEPS`` steps."""
    __tracebackhide__ = True

    def run(values):
        rate, standardise = float(values["learning_rate"]), values["standardise"]
        if not np.isfinite(rate) or rate <= 0:
            return f"the learning rate must be a positive number; yours is {rate!r}."
        result = regression_rescue_run(rate, standardise)
        features = "standardised" if standardise else "raw"
        if not np.isfinite(result["left"]) or result["left"] > 1:
            return (f"with {features} features and learning rate {rate:g} the loss grows: the rate is above the stable limit "
                    f"2 / lambda_max = {result['limit']:.3g} of this problem (your Part 5 computes it).")
        if result["left"] > RESCUE_TARGET:
            message = (f"after {RESCUE_STEPS} steps with {features} features and learning rate {rate:g}, {result['left']:.2g} of the "
                       f"initial excess loss is left; the target is {RESCUE_TARGET:g}. ")
            if result["condition"] > 100:
                message += (f"The condition number lambda_max / lambda_min is {result['condition']:.3g}: even the best rate removes "
                            "a tiny fraction of the error per step along the flattest direction (Lesson 2).")
            else:
                message += (f"The condition number is only {result['condition']:.3g}: a rate closer to the best one, "
                            "2 / (lambda_min + lambda_max), converges in far fewer steps.")
            return message
        return ""

    check_experiment(choice, {"learning_rate": (float, int), "standardise": (bool,)}, run,
                     f"your run leaves less than {RESCUE_TARGET:g} of the initial excess loss after {RESCUE_STEPS} steps.")
