"""Checks for the exercises of chapter 2 (mini-batches, SGD with momentum and Nesterov).

``sgd_init``/``sgd_update`` follow the course's optimizer interface (see
:mod:`dlcourse.optimizers`); the checks drive the student's pair with
:func:`dlcourse.checks.callables.run_optimizer` and compare every step with
``keras.optimizers.SGD``.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlcourse import LazyReference, optimizers
from dlcourse.checks import callables
from dlcourse.checks.cases import CallableSpec, Case, run_check
from dlcourse.checks.compare import Mistake, assert_matches, fail, type_name
from dlcourse.checks.optimizer_steps import (
    check_optimizer,
    default_problem,
    each_form,
    keras_run,
    learning_rates,
    momentum_forms,
)
from dlcourse.checks.recording import recorded
from dlcourse.checks.understanding import check_experiment, derivation_case

__all__ = ["check_minibatches", "check_momentum_step", "check_momentum_tuning", "check_sgd", "check_train_epoch", "classification_data",
           "default_problem"]

ref, keras = LazyReference(), LazyReference("keras")

# --------------------------------------------------------------------------
# Mini-batches
# --------------------------------------------------------------------------


def _as_batches(result, what: str) -> list:
    __tracebackhide__ = True
    if not isinstance(result, (list, tuple)):
        fail(f"{what} must return a list of index arrays; it returned {type_name(result)}"
             + (" (a generator? wrap it: return list(...))" if type_name(result) == "generator" else "") + ".")
    return list(result)


def _compare_batches(batches: list, expected: list, what: str, reference: str, wrong: dict) -> None:
    __tracebackhide__ = True
    # a cause is named only when one known mistake gives these batches: two are a guess
    hints = [text for text, candidates in wrong.items()
             if any(len(candidate) == len(batches)
                    and all(np.shape(a) == np.shape(b) and np.array_equal(a, b) for a, b in zip(batches, candidate)) for candidate in candidates)]
    suffix = f"\n  Likely cause: {hints[0]}" if len(hints) == 1 else ""
    if len(batches) != len(expected):
        fail(f"{what} gives {len(batches)} batches; {reference} gives {len(expected)} "
             f"(sizes {[len(b) for b in expected][-3:]} at the end).{suffix}")
    for number, (batch, target) in enumerate(zip(batches, expected)):
        if np.shape(batch) != target.shape or not np.array_equal(np.asarray(batch), target):
            fail(f"{what}: batch {number} differs from {reference}.\n  yours:    {np.asarray(batch)[:12]}\n  expected: {target[:12]}{suffix}")


@recorded
def check_minibatches(minibatches: Callable, num_examples: int = 10, batch_size: int = 4, seed: int = 0, drop_last: bool = False) -> None:
    """``minibatches(num_examples, batch_size, rng, drop_last)`` must equal tf.data's batching of ``rng.permutation(num_examples)``."""
    __tracebackhide__ = True
    permutation = np.random.default_rng(seed).permutation(num_examples)
    expected = ref.batch_indices(permutation, batch_size, drop_last)
    what = f"minibatches({num_examples}, {batch_size}, rng, drop_last={drop_last})"
    reference = f"tf.data.Dataset.from_tensor_slices(rng.permutation({num_examples})).batch({batch_size}, drop_remainder={drop_last})"
    # hint -> the batches of each form of that mistake
    wrong = {
        "the examples are not shuffled: start from rng.permutation(num_examples).":
            [ref.batch_indices(np.arange(num_examples), batch_size, drop_last)],
        ("the last, smaller batch must be dropped when drop_last is True." if drop_last else
         "the last, smaller batch must be kept when drop_last is False."): [ref.batch_indices(permutation, batch_size, not drop_last)],
        "the order repeats some examples and misses others: rng.choice draws with replacement. Use rng.permutation(num_examples).":
            [ref.batch_indices(np.random.default_rng(seed).choice(num_examples, size=num_examples), batch_size, drop_last)],
        "np.array_split(order, k) cuts the order into k nearly equal parts; the batches are consecutive slices of batch_size, "
        "order[i:i + batch_size], and only the last may be shorter.":
            [list(np.array_split(permutation, k)) for k in sorted({max(num_examples // batch_size, 1), -(-num_examples // batch_size)})],
    }
    if drop_last and expected and num_examples % batch_size == 0:
        wrong["a full last batch was dropped: drop_last leaves out only a last batch shorter than batch_size."] = [expected[:-1]]

    def judge(result, _):
        __tracebackhide__ = True
        _compare_batches(_as_batches(result, what), expected, what, reference, wrong)

    case = Case((num_examples, batch_size, CallableSpec("random_generator", {"seed": seed})), judge, kwargs={"drop_last": drop_last})
    run_check(minibatches, [case], f"minibatches matches tf.data batching ({len(expected)} batches).")


# --------------------------------------------------------------------------
# SGD, momentum, Nesterov with explicit state
# --------------------------------------------------------------------------


def _velocity_subtracted_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    """Keras's velocity, subtracted from the parameters instead of added (v already holds -lr * g)."""
    steps, velocity = _keras_steps(grads, state, learning_rate, momentum, nesterov)
    return [p - s for p, s in zip(params, steps)], velocity


def _learning_rate_twice_update(params, grads, state, learning_rate, momentum=0.0, nesterov=False):
    """Keras's step multiplied by the learning rate once more (theta + lr * v)."""
    steps, velocity = _keras_steps(grads, state, learning_rate, momentum, nesterov)
    return [p + learning_rate * s for p, s in zip(params, steps)], velocity


def _momentum_and_nesterov_update(params, grads, state, learning_rate, momentum=0.0, nesterov=True):
    """Both steps at once: theta + v, then the Nesterov step momentum * v - lr * g added as well."""
    velocity = [momentum * v - learning_rate * g for v, g in zip(state, grads)]
    return [p + v + (momentum * v - learning_rate * g) for p, v, g in zip(params, velocity, grads)], velocity


def _keras_steps(grads, state, learning_rate, momentum, nesterov):
    velocity = [momentum * v - learning_rate * g for v, g in zip(state, grads)]
    return [momentum * v - learning_rate * g if nesterov else v for v, g in zip(velocity, grads)], velocity


@recorded
def check_sgd(sgd_init: Callable, sgd_update: Callable, momentum: float = 0.0, nesterov: bool = False, learning_rate=0.05,
              num_steps: int = 25, problem=None) -> None:
    """``sgd_init``/``sgd_update`` driven for ``num_steps`` must equal ``keras.optimizers.SGD`` step by step.

    ``learning_rate`` is a float or a Keras schedule (the update receives the
    schedule's value at each step); ``problem`` is (curvatures, minima, starts)
    lists, default :func:`default_problem`. Keras stores the learning rate and
    the momentum as float32 (0.9 is 0.8999999761...): the student's update
    receives the learning rates Keras uses and ``momentum`` as given, and may
    use it exactly or round it as Keras does.
    """
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem()
    rates = learning_rates(learning_rate, num_steps)

    def sgd(**changes):
        return keras.optimizers.SGD(**{"learning_rate": learning_rate, "momentum": momentum, "nesterov": nesterov, **changes})

    mistakes = []
    if momentum:
        mistakes += each_form(momentum_forms(optimizers.sgd_update, problem, rates, momentum, nesterov=not nesterov),
                              "this is plain momentum; with nesterov=True the step is theta + (momentum * v_new - lr * g)." if nesterov
                              else "this is Nesterov's update; with nesterov=False the step is theta + v_new.")
        mistakes.append((keras_run(sgd(momentum=0.0, nesterov=False), problem, num_steps),
                         "your velocity does not carry over from one step to the next: keep it in the state you return and read it back."))
        if callable(learning_rate):  # with a constant learning rate the PyTorch form is the same update
            mistakes += each_form(momentum_forms(optimizers.pytorch_momentum_update, problem, rates, momentum),
                                  "that is the PyTorch form (v = momentum*v + g; theta -= lr*v), with the learning rate outside the velocity. "
                                  "Keras puts it inside (v = momentum*v - lr*g; theta += v); the two differ once the learning rate changes.")
        mistakes += each_form(momentum_forms(optimizers.ema_momentum_update, problem, rates, momentum),
                              "that is the moving-average form (v = momentum*v + (1-momentum)*g); Keras uses v = momentum*v - lr*g.")
        mistakes += each_form(momentum_forms(_velocity_subtracted_update, problem, rates, momentum, nesterov=nesterov),
                              "the velocity already carries the minus sign (v = momentum*v - lr*g): add it to the parameters (theta + v); "
                              "subtracting it climbs the gradient.")
        mistakes += each_form(momentum_forms(_learning_rate_twice_update, problem, rates, momentum, nesterov=nesterov),
                              "the learning rate is applied twice: v = momentum*v - lr*g already holds it, so the step adds v (Nesterov: "
                              "momentum*v - lr*g) itself, not lr times it.")
        if nesterov:
            mistakes += each_form(momentum_forms(_momentum_and_nesterov_update, problem, rates, momentum),
                                  "with nesterov=True the step theta + (momentum*v - lr*g) replaces the plain step theta + v; you applied both.")
    shown = [f"learning_rate={'a schedule' if callable(learning_rate) else learning_rate}", f"momentum={momentum}"]
    label = "keras.optimizers.SGD(" + ", ".join(shown + (["nesterov=True"] if nesterov else [])) + ")"
    check_optimizer((sgd_init, sgd_update), names=("sgd_init", "sgd_update"), keras_optimizer=sgd, label=label,
                    learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters={"momentum": momentum, "nesterov": nesterov}, mistakes=mistakes,
                    alternatives=momentum_forms(optimizers.sgd_update, problem, rates, momentum, nesterov=nesterov))


# --------------------------------------------------------------------------
# One epoch of mini-batch training
# --------------------------------------------------------------------------


def classification_data(seed: int = 0, n: int = 50, d: int = 2):
    """Two Gaussian blobs: X (n, d) float64, y (n,) float64 labels 0/1, and Dense(1) weights [kernel (d, 1), bias (1,)]."""
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.5).astype(np.float64)
    X = rng.normal(size=(n, d)) + np.where(y[:, None] > 0, 1.0, -1.0)
    return X, y, [0.1 * rng.normal(size=(d, 1)), np.zeros(1)]


def _numpy_epoch(params0: list, X, y, batches: list, learning_rate: float, momentum: float, nesterov: bool, fresh_state: bool = False,
                 whole_data: bool = False) -> list:
    """One epoch of the course's NumPy SGD on ``batches``: [kernel, bias].

    With ``fresh_state`` a new optimizer state for every batch; with ``whole_data`` the gradient of every update on all of X.
    """
    gradient = callables.logistic_regression_gradient()
    params = [np.array(p, dtype=np.float64) for p in params0]
    state = optimizers.sgd_init(params)
    for indices in batches:
        state = optimizers.sgd_init(params) if fresh_state else state
        grads = gradient(params, X, y) if whole_data else gradient(params, X[indices], y[indices])
        params, state = optimizers.sgd_update(params, grads, state, learning_rate, momentum, nesterov)
    return params


@recorded
def check_train_epoch(train_epoch: Callable, seed: int = 0, n: int = 50, batch_size: int = 8, learning_rate: float = 0.1,
                      momentum: float = 0.9, nesterov: bool = False, drop_last: bool = False, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """``train_epoch(params, X, y, gradient_fn, batch_size, rng, learning_rate, momentum, nesterov, drop_last)``.

    Must return the weights of a float64 ``keras.layers.Dense(1)`` trained for
    one epoch (from a fresh optimizer) with ``keras.optimizers.SGD`` on the
    same mini-batches.
    """
    __tracebackhide__ = True
    X, y, params0 = classification_data(seed, n)
    batch_seed = seed + 1
    permutation = np.random.default_rng(batch_seed).permutation(n)

    def keras_epoch(order, drop):
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov)
        return ref.dense_logistic_epoch(params0[0], params0[1], X, y, ref.batch_indices(order, batch_size, drop), optimizer)

    expected = keras_epoch(permutation, drop_last)
    mistakes = [keras_epoch(np.arange(n), drop_last), keras_epoch(permutation, not drop_last)]
    hints = ["the examples were not shuffled: use minibatches(len(X), batch_size, rng, drop_last).",
             "the last, smaller batch was " + ("kept although drop_last is True." if drop_last else "dropped although drop_last is False.")]
    # the loop's own mistakes, computed with the course's NumPy SGD (equal to Keras's far below the tolerance)
    lr, mu = float(np.float32(learning_rate)), float(np.float32(momentum))
    batches = ref.batch_indices(permutation, batch_size, drop_last)
    for own_seed in sorted({0, 42} - {batch_seed}):
        mistakes.append(_numpy_epoch(params0, X, y, ref.batch_indices(np.random.default_rng(own_seed).permutation(n), batch_size, drop_last),
                                     lr, mu, nesterov))
        hints.append(f"the batches come from a random generator of your own (np.random.default_rng({own_seed})), not from the rng argument: "
                     "pass rng to minibatches, so that the caller decides the shuffle.")
    if momentum:
        mistakes.append(_numpy_epoch(params0, X, y, batches, lr, 0.0, False))
        hints.append("momentum was not passed on to sgd_update: the epoch ran plain SGD.")
        mistakes.append(_numpy_epoch(params0, X, y, batches, lr, mu, nesterov, fresh_state=True))
        hints.append("the optimizer state starts again at every batch: call sgd_init once, before the loop, and carry the state that "
                     "sgd_update returns to the next batch.")
        if nesterov:
            mistakes.append(_numpy_epoch(params0, X, y, batches, lr, mu, False))
            hints.append("nesterov was not passed on to sgd_update: the epoch ran plain momentum.")
    mistakes.append(_numpy_epoch(params0, X, y, batches, lr, mu, nesterov, whole_data=True))
    hints.append("every update used the gradient on all of X: compute it on the batch, gradient_fn(params, X[indices], y[indices]).")
    mistakes.append([np.array(p) for p in params0])
    hints.append("your train_epoch returns the parameters it was given: keep the new ones sgd_update returns "
                 "(params, state = sgd_update(params, ...)) and use them for the next batch.")
    label = f"a float64 keras.layers.Dense(1) trained with keras.optimizers.SGD(learning_rate={learning_rate}, momentum={momentum}" \
            + (", nesterov=True" if nesterov else "") + ") on the same batches"

    def judge(result, _):
        __tracebackhide__ = True
        if not isinstance(result, (list, tuple)) or len(result) != 2:
            fail("train_epoch must return the new params: a list [kernel, bias].")
        for i, name in enumerate(("kernel", "bias")):
            assert_matches(result[i], expected[i], what=f"the {name} after one epoch", reference=label, rtol=rtol, atol=atol,
                           mistakes=[Mistake(m[i], h) for m, h in zip(mistakes, hints)],
                           context=f"{n} examples, batch_size={batch_size}, drop_last={drop_last}")

    # the float32 values Keras keeps for the learning rate and the momentum
    case = Case((params0, X, y, CallableSpec("logistic_regression_gradient"),
                 batch_size, CallableSpec("random_generator", {"seed": batch_seed}), float(np.float32(learning_rate))),
                judge, kwargs={"momentum": float(np.float32(momentum)), "nesterov": nesterov, "drop_last": drop_last},
                substitutes=("minibatches", "sgd_init", "sgd_update"))
    run_check(train_epoch, [case], f"train_epoch matches {label}.")


def keras_constant_gradient_steps(learning_rate: float, momentum: float, num_steps: int) -> np.ndarray:
    """The sizes of the first ``num_steps`` updates of ``keras.optimizers.SGD(learning_rate, momentum)`` on a float64
    parameter whose gradient is always 1: (num_steps,)."""
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    trajectory = ref.optimizer_trajectories(optimizer, lambda params: [np.ones_like(params[0])], [np.zeros(())], num_steps)[0]
    return -np.diff(trajectory)


@recorded
def check_momentum_step(momentum_step: Callable, learning_rate: float = 0.25, momentum: float = 0.875, num_steps: int = 40) -> None:
    """``momentum_step(step, learning_rate, momentum)``: the size of update number ``step`` (1, 2, ...) of Keras's SGD with
    momentum when the gradient is constantly 1, for steps 1 to ``num_steps``, against Keras's own updates.

    The hyperparameters are binary fractions (Keras keeps them in float32, which rounds 0.9 but not 0.875).
    """
    __tracebackhide__ = True
    steps = np.arange(1, num_steps + 1)
    expected = keras_constant_gradient_steps(learning_rate, momentum, num_steps)
    mistakes = [
        Mistake(np.full(num_steps, learning_rate / (1 - momentum)), "that is the limit of the steps as t grows; update t is the "
                                                                   "geometric sum of t terms eta (1 + mu + ... + mu^(t-1))."),
        Mistake(learning_rate * (1 - momentum ** (steps + 1)) / (1 - momentum), "one term too many: the velocity starts at 0, so the "
                                                                               "first update is eta times the gradient."),
        Mistake(learning_rate * momentum ** (steps - 1.0), "momentum keeps the past velocity and adds the new gradient: update t "
                                                          "sums eta mu^k for k = 0 .. t-1, not one term."),
        Mistake(np.full(num_steps, learning_rate), "with momentum the updates grow while the gradient stays the same: the velocity "
                                                   "accumulates eta g at every step."),
    ]
    # Keras's updates are differences of parameters up to eta t / (1 - mu): a few float64 epsilons of that size
    atol = 8 * np.finfo(np.float64).eps * learning_rate * num_steps / (1 - momentum)
    case = derivation_case((list(steps.tolist()), learning_rate, momentum), expected, mistakes,
                           what=f"momentum_step(t, {learning_rate}, {momentum}) for t = 1 .. {num_steps}",
                           reference="keras.optimizers.SGD's updates", rtol=1e-12, atol=atol, driver="at_each_step")
    run_check(momentum_step, [case], "your formula gives every update of Keras's SGD with momentum under a constant gradient.")


ILL_CONDITIONED_STEPS, ILL_CONDITIONED_TARGET = 100, 1e-4


def ill_conditioned_quadratic():
    """The chapter's ill-conditioned quadratic: Hessian eigenvalues 1 and 100, eigenvectors rotated by 30 degrees."""
    from dlcourse.problems import Quadratic

    return Quadratic.from_eigenvalues([1.0, 100.0], angle=np.pi / 6, b=np.array([1.0, -2.0]))


def momentum_tuning_run(learning_rate: float, momentum: float, steps: int = ILL_CONDITIONED_STEPS) -> float:
    """Keras's SGD with momentum from the origin on :func:`ill_conditioned_quadratic`, computed with NumPy
    (:func:`~dlcourse.checks.callables.sgd_run`): the distance to the minimum left after ``steps`` steps, as a fraction of the
    initial distance (inf or nan when the run overflows)."""
    problem = ill_conditioned_quadratic()
    minimum = problem.minimiser
    with np.errstate(all="ignore"):
        trajectory = callables.sgd_run(problem.gradient, np.zeros(2), learning_rate, steps, momentum=momentum)
        return float(np.linalg.norm(trajectory[-1] - minimum) / np.linalg.norm(minimum))


@recorded
def check_momentum_tuning(choice) -> None:
    """``choice = {"learning_rate": ..., "momentum": ...}`` must make Keras's SGD shrink the distance to the minimum of
    :func:`ill_conditioned_quadratic` from the origin by ``ILL_CONDITIONED_TARGET`` within ``ILL_CONDITIONED_STEPS`` steps."""
    __tracebackhide__ = True
    problem = ill_conditioned_quadratic()

    def run(values):
        rate, momentum = float(values["learning_rate"]), float(values["momentum"])
        if not np.isfinite(rate) or rate <= 0 or not 0 <= momentum < 1:
            return f"the learning rate must be positive and the momentum in [0, 1); yours are {rate!r} and {momentum!r}."
        left = momentum_tuning_run(rate, momentum)
        factor = problem.momentum_factor(rate, momentum)
        if not np.isfinite(left) or left > ILL_CONDITIONED_TARGET:
            shown = f"{left:.2g}" if np.isfinite(left) else "not finite"
            message = (f"with learning rate {rate:g} and momentum {momentum:g} the distance to the minimum after "
                       f"{ILL_CONDITIONED_STEPS} steps is {shown} of the initial one; the target is {ILL_CONDITIONED_TARGET:g}. ")
            if factor >= 1:
                return message + (f"The run does not converge: lambda_max = {problem.eigenvalues[-1]:g} needs eta < 2 (1 + mu) / lambda_max = "
                                  f"{2 * (1 + momentum) / problem.eigenvalues[-1]:.3g}, strictly (Lesson 2).")
            return message + (f"Your pair shrinks the error by a factor {factor:.3f} per step, asymptotically; the target needs about "
                              f"{ILL_CONDITIONED_TARGET ** (1 / ILL_CONDITIONED_STEPS):.3f}. Lesson 2's tuning of eta and mu for "
                              "given lambda_min and lambda_max gives the smallest factor.")
        return ""

    check_experiment(choice, {"learning_rate": (float, int), "momentum": (float, int)}, run,
                     f"your run gets within {ILL_CONDITIONED_TARGET:g} of the initial distance in {ILL_CONDITIONED_STEPS} steps.")
