"""dlcourse.optimizers against the installed Keras: the Keras-named pairs pass the course's checks,
the other forms are the mistakes the checks name."""
from __future__ import annotations

import numpy as np
import pytest

from dlcourse import keras_reference as ref
from dlcourse import optimizers
from dlcourse.checks import initialization
from dlcourse.checks.adaptive_optimizers import check_adagrad, check_adam, check_adamw, check_rmsprop
from dlcourse.checks.compare import CheckFailed
from dlcourse.checks.optimizer_steps import default_problem
from dlcourse.checks.sgd_momentum import check_sgd

KERAS_FORMS = [
    ("sgd", lambda **a: check_sgd(optimizers.sgd_init, optimizers.sgd_update, **a), {}),
    ("momentum", lambda **a: check_sgd(optimizers.sgd_init, optimizers.sgd_update, **a), {"momentum": 0.9}),
    ("nesterov", lambda **a: check_sgd(optimizers.sgd_init, optimizers.sgd_update, **a), {"momentum": 0.9, "nesterov": True}),
    ("adagrad", lambda **a: check_adagrad(optimizers.adagrad_init, optimizers.adagrad_update, **a), {}),
    ("rmsprop", lambda **a: check_rmsprop(optimizers.rmsprop_init, optimizers.rmsprop_update, **a), {}),
    ("rmsprop centered with momentum", lambda **a: check_rmsprop(optimizers.rmsprop_init, optimizers.rmsprop_update, **a),
     {"centered": True, "momentum": 0.5, "rho": 0.8}),
    ("adam", lambda **a: check_adam(optimizers.adam_init, optimizers.adam_update, **a), {}),
    ("amsgrad", lambda **a: check_adam(optimizers.adam_init, optimizers.adam_update, **a), {"amsgrad": True}),
    ("adamw", lambda **a: check_adamw(optimizers.adam_init, optimizers.adamw_update, **a), {}),
]


@pytest.mark.parametrize("name, check, arguments", KERAS_FORMS, ids=[f[0] for f in KERAS_FORMS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_keras_forms_equal_keras(name, check, arguments, dtype):
    if name in ("sgd", "momentum", "nesterov"):
        arguments = dict(arguments, problem=default_problem(dtype=dtype))
    else:
        arguments = dict(arguments, dtype=dtype)
    check(**arguments)


def without_nesterov(update):
    """``update`` called as chapter 2's check calls an SGD update (with ``nesterov=False``)."""
    return lambda params, grads, state, learning_rate, momentum, nesterov: update(params, grads, state, learning_rate, momentum)


COMPARED_FORMS = [
    # with a constant learning rate the PyTorch form is the same update as Keras's; a decaying rate tells them apart
    (lambda: check_sgd(optimizers.sgd_init, without_nesterov(optimizers.pytorch_momentum_update), momentum=0.9,
                       learning_rate=ref.schedule("exponential_decay", initial_learning_rate=0.05, decay_steps=5, decay_rate=0.5)),
     "PyTorch form"),
    (lambda: check_sgd(optimizers.sgd_init, without_nesterov(optimizers.ema_momentum_update), momentum=0.9), "moving-average form"),
    (lambda: check_adagrad(optimizers.adagrad_init, optimizers.adagrad_epsilon_outside_update), "epsilon must be inside the square root"),
    (lambda: check_rmsprop(optimizers.rmsprop_init, optimizers.rmsprop_epsilon_outside_update), "epsilon must be inside the square root"),
    (lambda: check_adam(optimizers.adam_init, optimizers.adam_paper_update), "the paper's form"),
    (lambda: check_adam(optimizers.adam_init, optimizers.adam_no_bias_correction_update), "bias correction is missing"),
    (lambda: check_adamw(optimizers.adam_init, optimizers.adamw_decay_after_update), "decay must come before the Adam step"),
]


@pytest.mark.parametrize("check, named", COMPARED_FORMS, ids=[n for _, n in COMPARED_FORMS])
def test_the_compared_forms_differ_from_keras_and_are_named(check, named):
    with pytest.raises(CheckFailed, match=named):
        check()


def test_unclipped_momentum_is_the_clipped_steps_named_mistake():
    def unclipped_update(params, grads, state, learning_rate, momentum=0.0, global_clipnorm=None):
        return optimizers.sgd_update(params, grads, state, learning_rate, np.float32(momentum))

    with pytest.raises(CheckFailed, match="the gradients are not clipped"):
        initialization.check_clipped_sgd(optimizers.sgd_init, unclipped_update)


@pytest.mark.parametrize("update", [optimizers.sgd_update, optimizers.adam_update, optimizers.rmsprop_update, optimizers.adagrad_update])
def test_updates_leave_their_inputs_unchanged_and_keep_the_dtype(update):
    init = {optimizers.sgd_update: optimizers.sgd_init, optimizers.adam_update: optimizers.adam_init,
            optimizers.rmsprop_update: optimizers.rmsprop_init, optimizers.adagrad_update: optimizers.adagrad_init}[update]
    params, grads = [np.ones((2, 3), np.float32), np.arange(3, dtype=np.float32)], [np.full((2, 3), 0.5, np.float32), np.ones(3, np.float32)]
    before = [a.copy() for a in params + grads]
    new_params, _ = update(params, grads, init(params), 0.1)
    assert all(np.array_equal(a, b) for a, b in zip(params + grads, before))
    assert [p.dtype for p in new_params] == [np.float32, np.float32]


@pytest.mark.parametrize("learning_rate, momentum", [(0.3, 0.0), (0.013, 0.9), (0.5, 0.95)])
def test_sgd_run_is_keras_sgd(learning_rate, momentum):
    """The experiments' judges run SGD with :func:`~dlcourse.checks.callables.sgd_run` (NumPy, no TensorFlow): it is Keras's."""
    from dlcourse.checks.callables import sgd_run
    from dlcourse.problems import Quadratic

    problem = Quadratic.from_eigenvalues([1.0, 100.0], angle=np.pi / 6, b=np.array([1.0, -2.0]))
    ours = sgd_run(problem.gradient, np.zeros(2), learning_rate, 60, momentum=momentum)
    keras = ref.sgd_trajectory(problem.gradient, np.zeros(2), learning_rate, 60, momentum=momentum)
    # the same operations in float64, possibly in another order: a few float64 epsilons per step, on values up to |theta|
    scale = np.max(np.abs(keras), axis=1, keepdims=True)
    assert ours.shape == keras.shape == (61, 2)
    assert np.all(np.abs(ours - keras) <= 4 * 60 * np.finfo(np.float64).eps * np.maximum(scale, 1.0)), np.max(np.abs(ours - keras))
    wrong = sgd_run(problem.gradient, np.zeros(2), learning_rate * 1.001, 60, momentum=momentum)
    assert not np.allclose(wrong, keras, rtol=1e-6, atol=0)
