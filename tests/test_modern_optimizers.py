"""dlcourse.optimizers' Lion, Lamb, Adafactor and Muon against the installed Keras, step by step, in float64 and float32."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import dlcourse
from dlcourse import keras_reference as ref
from dlcourse import optimizers
from dlcourse.checks.callables import quadratic_gradients, run_optimizer
from dlcourse.checks.optimizer_steps import default_problem

tf = dlcourse.import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's quiet import)

NUM_STEPS = 30

# The tolerance, from rounding alone: at each update both runs round the new parameter (at most eps/2 |theta| each,
# so eps |theta| apart) and compute the step in another order of operations (TensorFlow's reductions, pow and matmul
# against NumPy's), a relative error of a few eps on a step that is here never larger than |theta| (learning rates
# <= 0.25, steps of at most lr times |theta|-sized quantities): at most 1 + 3 = 4 eps max|theta| per update, added up
# over the updates (the problems and rates below are ones where a difference is not amplified by later steps:
# Adafactor at lr = 0.5 on the matrix problem is not, see test_adafactor_rate_is_well_conditioned). So
# atol = K eps max|theta| with K = 4 per update times NUM_STEPS.
K = 4 * NUM_STEPS


def tolerance(trajectory: np.ndarray) -> float:
    """K eps(dtype) max|theta| over the whole (steps + 1, ...) trajectory of one parameter."""
    return K * float(np.finfo(trajectory.dtype).eps) * float(np.max(np.abs(trajectory)))


def matrix_problem(dtype, seed: int = 1):
    """A diagonal quadratic on an (8, 5) kernel, a (5,) bias and a (2, 4, 3) kernel (factored by Adafactor, AdamW in Muon)."""
    return default_problem(seed, dtype, shapes=((8, 5), (5,), (2, 4, 3)))


PROBLEMS = {"default": default_problem, "matrix": matrix_problem}


def keras_run(optimizer, problem, names: list[str] | None = None) -> list[np.ndarray]:
    """The Keras ``optimizer``'s trajectories on ``problem``, in the dtype of its starts.

    ``names``: run on ``keras.Variable``s with these names, as Muon needs (it reads ``variable.path``).
    """
    curvatures, minima, starts = problem
    gradient = quadratic_gradients(curvatures, minima)
    dtype = starts[0].dtype
    return ref.optimizer_trajectories(optimizer, gradient, starts, NUM_STEPS, dtype=dtype, names=names)


def numpy_run(init, update, problem, learning_rate: float, **hyper) -> list[np.ndarray]:
    """The course's pair on ``problem`` with Keras's float32 learning rate; fails if update changed its inputs."""
    curvatures, minima, starts = problem
    rates = [float(np.float32(learning_rate))] * NUM_STEPS
    trajectories, modified = run_optimizer(init, update, starts, quadratic_gradients(curvatures, minima), rates, **hyper)
    assert not modified, "update changed the arrays it was given"
    return trajectories


def muon_names(problem) -> list[str]:
    return [f"kernel_{i}" if np.ndim(p) >= 2 else f"bias_{i}" for i, p in enumerate(problem[2])]


# (name, Keras optimizer(learning_rate, **hyper), init, update, learning rate, hyperparameters given to both)
CASES = [
    ("lion", keras.optimizers.Lion, optimizers.lion_init, optimizers.lion_update, 0.01, {}),
    ("lion, weight decay", keras.optimizers.Lion, optimizers.lion_init, optimizers.lion_update, 0.01,
     {"beta_1": 0.8, "beta_2": 0.95, "weight_decay": 0.5}),
    ("lamb", keras.optimizers.Lamb, optimizers.lamb_init, optimizers.lamb_update, 0.01, {}),
    ("lamb, weight decay", keras.optimizers.Lamb, optimizers.lamb_init, optimizers.lamb_update, 0.05,
     {"beta_1": 0.8, "epsilon": 1e-3, "weight_decay": 0.3}),
    ("adafactor", keras.optimizers.Adafactor, optimizers.adafactor_init, optimizers.adafactor_update, 0.1, {}),
    # lr > 1 / sqrt(t) from t = 17 on: the relative step takes over
    ("adafactor, relative step", keras.optimizers.Adafactor, optimizers.adafactor_init, optimizers.adafactor_update, 0.25,
     {"clip_threshold": 0.5, "weight_decay": 0.1}),
    ("muon", keras.optimizers.Muon, optimizers.muon_init, optimizers.muon_update, 0.01, {}),
    ("muon, no nesterov", keras.optimizers.Muon, optimizers.muon_init, optimizers.muon_update, 0.02,
     {"nesterov": False, "adam_lr_ratio": 0.1, "momentum": 0.9, "weight_decay": 0.5, "adam_weight_decay": None}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("problem_name", list(PROBLEMS))
@pytest.mark.parametrize("name, keras_class, init, update, learning_rate, hyper", CASES, ids=[c[0] for c in CASES])
def test_equals_keras_at_every_step(name, keras_class, init, update, learning_rate, hyper, problem_name, dtype):
    problem = PROBLEMS[problem_name](dtype=dtype)
    names = None
    if keras_class is keras.optimizers.Muon:
        names = muon_names(problem)
        if dtype == np.float64:  # Keras's Muon step fails on float64 kernels unless rms_rate=None (test_keras_muon_float64)
            hyper = dict(hyper, rms_rate=None)
    expected = keras_run(keras_class(learning_rate=learning_rate, **hyper), problem, names)
    actual = numpy_run(init, update, problem, learning_rate, **hyper)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, e, rtol=0, atol=tolerance(e), err_msg=f"{name}: parameter {i} of shape {e.shape[1:]}")


def test_muon_sends_embeddings_to_adamw_by_name():
    """Keras sends a 2-D variable whose path contains "embedding" to AdamW: use_adamw says so for arrays."""
    problem = matrix_problem(np.float32)
    expected = keras_run(keras.optimizers.Muon(learning_rate=0.01), problem, ["token_embedding", "bias", "kernel"])
    actual = numpy_run(optimizers.muon_init, optimizers.muon_update, problem, 0.01, use_adamw=[True, True, True])
    by_ndim = numpy_run(optimizers.muon_init, optimizers.muon_update, problem, 0.01)
    assert np.max(np.abs(by_ndim[0] - expected[0])) > 100 * tolerance(expected[0])
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=0, atol=tolerance(e))


def test_keras_muon_float64():
    """Keras 3.15's Muon multiplies a float64 step by the float32 sqrt(max(rows, cols)): TensorFlow refuses.

    muon_update computes it with that float32 square root promoted to float64 (what a promoting backend does).
    If this test fails, Keras has changed: compare the default Muon in float64 too.
    """
    with pytest.raises(tf.errors.InvalidArgumentError):
        keras_run(keras.optimizers.Muon(learning_rate=0.01), matrix_problem(np.float64), muon_names(matrix_problem(np.float64)))


# Plausible wrong versions, each written with the course's functions, and the Keras run it must be told apart from.
MISTAKES = [
    ("lion interpolating with beta_2", lambda: keras.optimizers.Lion(learning_rate=0.01), None, 0.01,
     optimizers.lion_init, optimizers.lion_update, {"beta_1": 0.99, "beta_2": 0.99}),
    ("lamb without the trust ratio (the paper's Adam)", lambda: keras.optimizers.Lamb(learning_rate=0.01), None, 0.01,
     optimizers.adam_init, optimizers.adam_paper_update, {}),
    ("adafactor without update clipping", lambda: keras.optimizers.Adafactor(learning_rate=0.1), None, 0.1,
     optimizers.adafactor_init, optimizers.adafactor_update, {"clip_threshold": np.inf}),
    ("muon without the rms_rate scaling", lambda: keras.optimizers.Muon(learning_rate=0.01), "muon", 0.01,
     optimizers.muon_init, optimizers.muon_update, {"rms_rate": None}),
]


@pytest.mark.parametrize("name, make, names, learning_rate, init, update, hyper", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_plausible_mistake_is_far_outside_the_tolerance(name, make, names, learning_rate, init, update, hyper):
    problem = matrix_problem(np.float32)
    expected = keras_run(make(), problem, muon_names(problem) if names else None)
    wrong = numpy_run(init, update, problem, learning_rate, **hyper)
    ratios = [np.max(np.abs(w - e)) / tolerance(e) for w, e in zip(wrong, expected)]
    assert max(ratios) > 100, f"{name}: only {max(ratios):.1f} times the tolerance away from Keras"


# (name, init, update, hyperparameters); the schedule-free forms are those of tests/test_schedule_free.py
PAIRS = [
    ("lion", optimizers.lion_init, optimizers.lion_update, {}),
    ("lamb", optimizers.lamb_init, optimizers.lamb_update, {"weight_decay": 0.1}),
    ("adafactor", optimizers.adafactor_init, optimizers.adafactor_update, {"weight_decay": 0.1}),
    ("muon", optimizers.muon_init, optimizers.muon_update, {}),
    ("schedule-free", optimizers.schedule_free_adamw_init, optimizers.schedule_free_adamw_update, {"weight_decay": 0.1, "warmup_steps": 3}),
    ("schedule-free, intended", optimizers.schedule_free_adamw_init, optimizers.schedule_free_adamw_intended_update, {"weight_decay": 0.1}),
    ("schedule-free, paper", optimizers.schedule_free_adamw_paper_init, optimizers.schedule_free_adamw_paper_update,
     {"weight_decay": 0.1, "warmup_steps": 3}),
]


@pytest.mark.parametrize("name, init, update, hyper", PAIRS, ids=[p[0] for p in PAIRS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_update_keeps_its_inputs_and_the_dtype(name, init, update, hyper, dtype):
    _, _, params = matrix_problem(dtype)
    grads = [np.linspace(-1.0, 2.0, p.size).reshape(p.shape) for p in params]  # float64 gradients, also for float32 parameters
    state = init([p.copy() for p in params])
    assert not any(np.shares_memory(a, p) for a in _arrays(state) for p in params), f"{name}: the state aliases the parameters"
    for _ in range(2):  # the second update starts from a non-zero state
        given = copy.deepcopy((params, grads, state))
        new_params, new_state = update(params, grads, state, 0.01, **hyper)
        for before, after in zip(given, (params, grads, state)):
            for b, a in zip(_arrays(before), _arrays(after)):
                np.testing.assert_array_equal(a, b)
        assert [p.dtype for p in new_params] == [dtype] * len(params)
        assert all(a.dtype == dtype for a in _arrays(new_state))
        assert [p.shape for p in new_params] == [p.shape for p in params]
        assert not any(np.shares_memory(n, p) for n in new_params for p in params)
        params, state = new_params, new_state


def _arrays(tree) -> list[np.ndarray]:
    """The arrays in a nest of lists, tuples and dicts, in order."""
    if isinstance(tree, np.ndarray):
        return [tree]
    if isinstance(tree, dict):
        return [a for key in sorted(tree) for a in _arrays(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [a for item in tree for a in _arrays(item)]
    return []


def test_adafactor_rate_is_well_conditioned():
    """The rates above keep rounding differences small; at lr = 0.5 a 1-ulp change of the start grows by itself.

    Shows why the tolerance needs a problem where differences are not amplified: Keras against Keras, one start
    moved by one ulp, float32, matrix problem.
    """
    curvatures, minima, starts = matrix_problem(np.float32)
    moved = (curvatures, minima, [np.nextafter(s, np.float32(np.inf)) for s in starts])
    spread = {}
    for rate in (0.1, 0.25, 0.5):
        base = keras_run(keras.optimizers.Adafactor(learning_rate=rate), (curvatures, minima, starts))
        other = keras_run(keras.optimizers.Adafactor(learning_rate=rate), moved)
        spread[rate] = max(np.max(np.abs(b - o)) / tolerance(b) for b, o in zip(base, other))
    assert spread[0.1] < 1 and spread[0.25] < 1 and spread[0.5] > 1, spread
