"""dlcourse.optimizers' ScheduleFreeAdamW against the installed Keras, step by step, in float64 and float32.

Keras 3.15.1's ScheduleFreeAdamW reads its momentum slot after updating it (on TensorFlow, ``momentum.value`` is the live
variable), so the trained variable is the running mean of the z's and beta_1 does not matter: the tests below pin that
down, tell it apart from the form Keras's comments describe and from the paper's reference implementation, and check
which point Keras evaluates.
"""
from __future__ import annotations

import numpy as np
import pytest
from test_modern_optimizers import NUM_STEPS, PROBLEMS, keras_run, matrix_problem, numpy_run, tolerance

import dlcourse
from dlcourse import optimizers
from dlcourse.checks.callables import quadratic_gradients

tf = dlcourse.import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's quiet import)

INIT, UPDATE = optimizers.schedule_free_adamw_init, optimizers.schedule_free_adamw_update

# (name, learning rate, hyperparameters given to both Keras and NumPy). Learning rates <= 0.1: on these quadratics a
# rounding difference is not amplified (the steps are at most lr |theta|-sized, as in test_modern_optimizers).
CASES = [
    ("defaults", 0.0025, {}),
    ("lr 0.05", 0.05, {}),
    ("warmup", 0.1, {"warmup_steps": 12}),
    ("weight decay", 0.05, {"weight_decay": 0.3}),
    ("everything", 0.1, {"beta_1": 0.5, "beta_2": 0.99, "epsilon": 1e-3, "warmup_steps": 7, "weight_decay": 0.1}),
    ("warmup longer than the run", 0.1, {"warmup_steps": 100, "beta_1": 0.95}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("problem_name", list(PROBLEMS))
@pytest.mark.parametrize("name, learning_rate, hyper", CASES, ids=[c[0] for c in CASES])
def test_equals_keras_at_every_step(name, learning_rate, hyper, problem_name, dtype):
    problem = PROBLEMS[problem_name](dtype=dtype)
    expected = keras_run(keras.optimizers.ScheduleFreeAdamW(learning_rate=learning_rate, **hyper), problem)
    actual = numpy_run(INIT, UPDATE, problem, learning_rate, **hyper)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, e, rtol=0, atol=tolerance(e), err_msg=f"{name}: parameter {i} of shape {e.shape[1:]}")


def keras_state(optimizer) -> list[tuple[np.ndarray, np.ndarray]]:
    """(momentum, velocity) of each variable, as Keras stores them."""
    return [(m.numpy(), v.numpy()) for m, v in zip(optimizer._momentums, optimizer._velocities)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_state_equals_keras_slots(dtype):
    """z is Keras's ``momentum`` slot (it starts as a copy of the variable), v its ``velocity``; t its iterations."""
    curvatures, minima, starts = matrix_problem(dtype)
    hyper = {"warmup_steps": 5, "weight_decay": 0.2}
    optimizer = keras.optimizers.ScheduleFreeAdamW(learning_rate=0.05, **hyper)
    keras_run(optimizer, (curvatures, minima, starts))
    params, state = [s.copy() for s in starts], INIT(starts)
    gradient = quadratic_gradients(curvatures, minima)
    for _ in range(NUM_STEPS):
        params, state = UPDATE(params, gradient(params), state, float(np.float32(0.05)), **hyper)
    assert state["t"] == int(optimizer.iterations.numpy()) == NUM_STEPS
    for (z, v), (momentum, velocity) in zip(state["slots"], keras_state(optimizer)):
        np.testing.assert_allclose(z, momentum, rtol=0, atol=tolerance(momentum[None]))
        np.testing.assert_allclose(v, velocity, rtol=0, atol=tolerance(velocity[None]))


def test_keras_variable_is_the_running_mean_of_z():
    """Keras's theta_t equals the mean of z_1..z_t, and beta_1 = 0.9 or 0.5 gives the same run (to rounding)."""
    problem = matrix_problem(np.float64)
    runs = {b1: keras_run(keras.optimizers.ScheduleFreeAdamW(learning_rate=0.05, beta_1=b1), problem) for b1 in (0.9, 0.5)}
    for a, b in zip(runs[0.9], runs[0.5]):
        np.testing.assert_allclose(a, b, rtol=0, atol=tolerance(a))
    # the z's from the NumPy state, step by step
    curvatures, minima, starts = problem
    params, state, zs = [s.copy() for s in starts], INIT(starts), []
    gradient = quadratic_gradients(curvatures, minima)
    for _ in range(NUM_STEPS):
        params, state = UPDATE(params, gradient(params), state, float(np.float32(0.05)))
        zs.append([z for z, _ in state["slots"]])
    for i, trajectory in enumerate(runs[0.9]):
        means = np.cumsum([z[i] for z in zs], axis=0) / np.arange(1, NUM_STEPS + 1).reshape(-1, *[1] * (trajectory.ndim - 1))
        np.testing.assert_allclose(trajectory[1:], means, rtol=0, atol=tolerance(trajectory))


# Plausible other versions, and the Keras run each must be told apart from (float32, the matrix problem).
MISTAKES = [
    ("the old z, as Keras's comments describe", 0.05, {}, optimizers.schedule_free_adamw_init,
     optimizers.schedule_free_adamw_intended_update, {}),
    ("the paper's reference implementation", 0.05, {}, optimizers.schedule_free_adamw_paper_init,
     optimizers.schedule_free_adamw_paper_update, {}),
    ("warmup ignored", 0.1, {"warmup_steps": 20}, INIT, UPDATE, {}),
    ("weight decay ignored", 0.05, {"weight_decay": 0.3}, INIT, UPDATE, {}),
    ("Adam's epsilon 1e-7 and no warmup", 0.1, {"warmup_steps": 10, "epsilon": 1e-3}, INIT, UPDATE, {"epsilon": 1e-7}),
    ("plain AdamW", 0.05, {"weight_decay": 0.1}, optimizers.adam_init, optimizers.adamw_update,
     {"weight_decay": 0.1, "epsilon": 1e-8}),
]


@pytest.mark.parametrize("name, learning_rate, keras_hyper, init, update, hyper", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_plausible_mistake_is_far_outside_the_tolerance(name, learning_rate, keras_hyper, init, update, hyper):
    problem = matrix_problem(np.float32)
    expected = keras_run(keras.optimizers.ScheduleFreeAdamW(learning_rate=learning_rate, **keras_hyper), problem)
    wrong = numpy_run(init, update, problem, learning_rate, **hyper)
    ratios = [np.max(np.abs(w - e)) / tolerance(e) for w, e in zip(wrong, expected)]
    assert max(ratios) > 100, f"{name}: only {max(ratios):.1f} times the tolerance away from Keras"


EPS32 = float(np.float32(1e-3))


def test_intended_and_paper_forms_agree_where_they_should():
    """Without warmup, weight decay or bias correction in the weights the intended form is the paper's, up to epsilon's place.

    With beta_2 = 0 both v's are g^2 and 1 - beta_2^t = 1, so the paper's rates and averaging weights are constant (c_t =
    1/t, as Keras's); both forms then compute the same numbers up to rounding: the averages of the two states agree too.
    """
    curvatures, minima, starts = matrix_problem(np.float64)
    gradient = quadratic_gradients(curvatures, minima)
    runs = {}
    for name, init, update in [("intended", INIT, optimizers.schedule_free_adamw_intended_update),
                               ("paper", optimizers.schedule_free_adamw_paper_init, optimizers.schedule_free_adamw_paper_update)]:
        params, state = [s.copy() for s in starts], init(starts)
        for _ in range(NUM_STEPS):
            # epsilon as Keras casts it, and large: g / (|g| + epsilon) is steep, 1 / epsilon, where g crosses 0
            params, state = update(params, gradient(params), state, 0.05, beta_1=0.75, beta_2=0.0, epsilon=EPS32)
        runs[name] = params, optimizers.schedule_free_adamw_average(params, state, beta_1=0.75)
    for intended, paper in zip(runs["intended"], runs["paper"]):
        for a, b in zip(intended, paper):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_keras_evaluates_the_trained_variable():
    """Keras has no evaluation point of its own: model.evaluate uses the variable it trains, and fit leaves it there."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 3)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.ScheduleFreeAdamW(learning_rate=0.05)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    kernel, bias = (w.copy() for w in model.get_weights())
    assert type(optimizer).finalize_variable_values is keras.optimizers.Optimizer.finalize_variable_values
    loss = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(loss, np.mean((x @ kernel + bias - y) ** 2), rtol=1e-5)
    # the compiled (graph) training step reads the slot after its update too: the variable is the mean of the z's,
    # here checked on the last step, theta_t = (1 - 1/t) theta_{t-1} + z_t / t
    t = int(optimizer.iterations.numpy())
    before = [w.numpy().copy() for w in model.trainable_variables]
    model.fit(x[:16], y[:16], epochs=1, batch_size=16, verbose=0)
    for variable, old, momentum in zip(model.trainable_variables, before, optimizer._momentums):
        np.testing.assert_allclose(variable.numpy(), (1 - 1 / (t + 1)) * old + momentum.numpy() / (t + 1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name, init, update", [("keras", INIT, UPDATE), ("intended", INIT, optimizers.schedule_free_adamw_intended_update),
                                                ("paper", optimizers.schedule_free_adamw_paper_init, optimizers.schedule_free_adamw_paper_update)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_average_keeps_the_dtype(name, init, update, dtype):
    """The evaluation point of every form is in the parameters' dtype (the updates themselves: test_modern_optimizers)."""
    _, _, params = matrix_problem(dtype)
    grads = [np.linspace(-1.0, 2.0, p.size).reshape(p.shape) for p in params]
    new_params, new_state = update(params, grads, init([p.copy() for p in params]), 0.01)
    assert [a.dtype for a in optimizers.schedule_free_adamw_average(new_params, new_state)] == [dtype] * len(params)


def test_average_recovers_x_of_the_intended_form():
    """After the intended update, the x recovered from (theta, z) is the x the paper's state stores when both agree."""
    _, _, starts = matrix_problem(np.float64)
    grads = [np.full(p.shape, 0.3) for p in starts]
    params, state = starts, INIT(starts)
    for _ in range(3):
        params, state = optimizers.schedule_free_adamw_intended_update(params, grads, state, 0.1, beta_1=0.8)
    x = optimizers.schedule_free_adamw_average(params, state, beta_1=0.8)
    # theta = (1 - beta_1) z + beta_1 x, to rounding
    b1 = float(np.float32(0.8))
    for p, (z, _), a in zip(params, state["slots"], x):
        np.testing.assert_allclose(p, (1 - b1) * z + b1 * a, rtol=0, atol=1e-13)
        assert np.max(np.abs(a - p)) > 1e-3  # a different point from theta
