"""Checks for the exercises of chapter 2 (mini-batches, SGD with momentum and Nesterov).

``sgd_init``/``sgd_update`` follow the course's optimizer interface (see
:mod:`dlcourse.optimizers`); the checks drive the student's pair with
:func:`dlcourse.checks.callables.run_optimizer` and compare every step with
``keras.optimizers.SGD``.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from dlcourse import keras_reference as ref
from dlcourse import optimizers
from dlcourse.checks.cases import CallableSpec, Case, run_check
from dlcourse.checks.compare import Mistake, Unsupported, assert_matches, fail
from dlcourse.checks.optimizer_steps import (
    check_optimizer,
    default_problem,
    each_form,
    keras_run,
    learning_rates,
    momentum_forms,
)

__all__ = ["check_minibatches", "check_sgd", "check_train_epoch", "classification_data", "default_problem"]

keras = ref.keras

# --------------------------------------------------------------------------
# Mini-batches
# --------------------------------------------------------------------------


def _as_batches(result, what: str) -> list:
    __tracebackhide__ = True
    if not isinstance(result, (list, tuple)):
        fail(f"{what} must return a list of index arrays; it returned {type(result).__name__}"
             + (" (a generator? wrap it: return list(...))" if isinstance(result, Unsupported) or inspect.isgenerator(result) else "") + ".")
    return list(result)


def _compare_batches(batches: list, expected: list, what: str, reference: str, wrong: dict) -> None:
    __tracebackhide__ = True
    hint = next((text for text, candidate in wrong.items()
                 if len(candidate) == len(batches)
                 and all(np.shape(a) == np.shape(b) and np.array_equal(a, b) for a, b in zip(batches, candidate))), "")
    suffix = f"\n  Likely cause: {hint}" if hint else ""
    if len(batches) != len(expected):
        fail(f"{what} gives {len(batches)} batches; {reference} gives {len(expected)} "
             f"(sizes {[len(b) for b in expected][-3:]} at the end).{suffix}")
    for number, (batch, target) in enumerate(zip(batches, expected)):
        if np.shape(batch) != target.shape or not np.array_equal(np.asarray(batch), target):
            fail(f"{what}: batch {number} differs from {reference}.\n  yours:    {np.asarray(batch)[:12]}\n  expected: {target[:12]}{suffix}")


def check_minibatches(minibatches: Callable, num_examples: int = 10, batch_size: int = 4, seed: int = 0, drop_last: bool = False) -> None:
    """``minibatches(num_examples, batch_size, rng, drop_last)`` must equal tf.data's batching of ``rng.permutation(num_examples)``."""
    __tracebackhide__ = True
    permutation = np.random.default_rng(seed).permutation(num_examples)
    expected = ref.batch_indices(permutation, batch_size, drop_last)
    what = f"minibatches({num_examples}, {batch_size}, rng, drop_last={drop_last})"
    reference = f"tf.data.Dataset.from_tensor_slices(rng.permutation({num_examples})).batch({batch_size}, drop_remainder={drop_last})"
    wrong = {
        "the examples are not shuffled: start from rng.permutation(num_examples).": ref.batch_indices(np.arange(num_examples), batch_size, drop_last),
        ("the last, smaller batch must be dropped when drop_last is True." if drop_last else
         "the last, smaller batch must be kept when drop_last is False."): ref.batch_indices(permutation, batch_size, not drop_last),
    }

    def judge(result, _):
        __tracebackhide__ = True
        _compare_batches(_as_batches(result, what), expected, what, reference, wrong)

    case = Case((num_examples, batch_size, CallableSpec("random_generator", {"seed": seed})), judge, kwargs={"drop_last": drop_last})
    run_check(minibatches, [case], f"minibatches matches tf.data batching ({len(expected)} batches).")


# --------------------------------------------------------------------------
# SGD, momentum, Nesterov with explicit state
# --------------------------------------------------------------------------


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
                judge, kwargs={"momentum": float(np.float32(momentum)), "nesterov": nesterov, "drop_last": drop_last})
    run_check(train_epoch, [case], f"train_epoch matches {label}.")
