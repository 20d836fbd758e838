"""The checking machinery, and the solution notebook's NumPy code against live TensorFlow/Keras."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import solution_notebook

from dlcourse import keras_reference as ref
from dlcourse.checks import gradient_descent as checks
from dlcourse.checks.compare import CheckFailed, Mistake, assert_matches


@pytest.fixture(scope="module")
def solution():
    """The functions defined by the solution notebook's solution cells (the course's NumPy reference)."""
    namespace = {"np": np}
    for cell in solution_notebook().cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec(compile(cell.source, "<solution>", "exec"), namespace)
    return namespace


# ---------------------------------------------------------------- machinery

def message_of(actual, expected, **kwargs):
    with pytest.raises(CheckFailed) as failure:
        assert_matches(actual, expected, what="result", reference="the reference", **kwargs)
    return str(failure.value)


def test_equal_arrays_pass_and_tolerance_is_respected():
    assert_matches(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-9], what="r", reference="ref")
    assert "1 of 2 values differ" in message_of(np.array([1.0, 2.0]), [1.0, 2.1])


def test_message_names_first_difference_and_both_values():
    text = message_of(np.array([[0.0, 1.0], [2.0, 3.5]]), np.array([[0.0, 1.0], [2.0, 3.0]]), axis_names=("step", "element"))
    assert "[1, 1] (step 1, element 1)" in text and "yours:    3.5" in text and "expected: 3.0" in text


@pytest.mark.parametrize("actual, expected, phrase", [
    ([-1.0, 2.0, -3.0], [1.0, -2.0, 3.0], "opposite sign"),
    ([2.0, 4.0, 6.0], [1.0, 2.0, 3.0], "times 2 everywhere"),
    ([2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0], "one step ahead"),
    ([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], "one step behind"),
])
def test_pattern_hints(actual, expected, phrase):
    assert phrase in message_of(np.array(actual), np.array(expected))


def test_a_matching_mistake_gives_its_hint_and_two_give_none():
    text = message_of(np.array([2.0, 4.0]), np.array([1.0, 2.0]),
                      mistakes=[Mistake([9.0, 9.0], "not this"), Mistake([2.0, 4.0], "doubled it"), Mistake([2.0, 4.0], "doubled it")])
    assert "Likely cause: doubled it" in text and "not this" not in text
    ambiguous = message_of(np.array([2.0, 4.0]), np.array([1.0, 2.0]),
                           mistakes=[Mistake([2.0, 4.0], "doubled it"), Mistake([2.0, 4.0], "added it to itself")])
    assert "doubled it" not in ambiguous and "added it" not in ambiguous  # the numbers cannot tell which: no guess


@pytest.mark.parametrize("value, phrase", [
    (None, "forget a `return`"),
    ("1.0", "has type str"),
    (True, "is a bool"),
    (np.array([1.0, 2.0, 3.0]), "shape: yours (3,), expected (2,)"),
    (np.array([[1.0], [2.0]]).T, "shape: yours (1, 2)"),
    (np.array([np.nan, 1.0]), "NaN or infinite"),
])
def test_bad_results_are_explained(value, phrase):
    assert phrase in message_of(value, np.array([1.0, 2.0]))


def test_an_object_equal_to_everything_is_not_accepted():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

        __array_priority__ = 1000

    assert "has type" in message_of(AlwaysEqual(), np.array([1.0, 2.0]))


def test_ndarray_subclass_is_compared_as_plain_data():
    class Lenient(np.ndarray):
        def __eq__(self, other):
            return np.ones(self.shape, dtype=bool)

    assert "yours:    5.0" in message_of(np.array([5.0, 2.0]).view(Lenient), np.array([1.0, 2.0]))


# ---------------------------------------------------------------- live Keras facts the course teaches

def test_sgd_first_update_uses_schedule_at_step_0():
    schedule = ref.schedule("exponential_decay", initial_learning_rate=0.1, decay_steps=1, decay_rate=0.5)
    trajectory = ref.sgd_trajectory(lambda theta: np.ones_like(theta), np.array([1.0]), schedule, 3)
    np.testing.assert_allclose(trajectory[:, 0], [1.0, 0.9, 0.85, 0.825], rtol=1e-7)


def test_keras_stores_a_constant_learning_rate_in_float32():
    trajectory = ref.sgd_trajectory(lambda theta: np.ones_like(theta), np.array([0.0]), 0.1, 1)
    assert trajectory[1, 0] == -float(np.float32(0.1)) != -0.1


# ---------------------------------------------------------------- the solution notebook against Keras, on many cases

@pytest.mark.parametrize("seed", range(8))
def test_solution_mse_matches_tensorflow(solution, seed):
    rng = np.random.default_rng(100 + seed)
    case = checks.regression_case(seed, n=int(rng.integers(1, 60)), d=int(rng.integers(1, 8)))
    checks.check_mse_loss(solution["mse_loss"], cases=[case])
    checks.check_mse_gradient(solution["mse_gradient"], cases=[case])


@pytest.mark.parametrize("function", ["cubic", "sin_times_square", "log_sum_exp"])
@pytest.mark.parametrize("shape", [(1,), (4,), (2, 3), (2, 2, 2)])
def test_solution_numerical_gradient_matches_tape(solution, function, shape):
    x = np.random.default_rng(len(shape)).uniform(-1.5, 1.5, size=shape)
    checks.check_numerical_gradient(solution["numerical_gradient"], function, x=x)


@pytest.mark.parametrize("h", [0.5, 0.1, 1e-3])
def test_solution_numerical_gradient_uses_h(solution, h):
    checks.check_numerical_gradient(solution["numerical_gradient"], "cubic", x=np.array([0.3, -1.2, 2.0]), h=h)


@pytest.mark.parametrize("seed", range(6))
def test_solution_gradient_descent_matches_keras_sgd(solution, seed):
    rng = np.random.default_rng(seed)
    shape = [(2,), (3,), (2, 2)][seed % 3]
    curvatures = rng.uniform(0.2, 4.0, size=shape)
    learning_rate = float(rng.uniform(0.01, 0.45))
    if seed % 2:
        learning_rate = ref.schedule("inverse_time_decay", initial_learning_rate=learning_rate, decay_steps=3, decay_rate=0.7, staircase=True)
    checks.check_gradient_descent(solution["gradient_descent"], learning_rate=learning_rate, num_steps=int(rng.integers(1, 40)),
                                  curvatures=curvatures, minimum=rng.normal(size=shape), theta0=rng.normal(size=shape))


SCHEDULE_CASES = [
    ("piecewise_constant_decay", dict(boundaries=[1, 2, 30], values=[1.0, 0.7, 0.3, 0.01])),
    ("exponential_decay", dict(initial_learning_rate=0.05, decay_steps=3, decay_rate=0.8, staircase=True)),
    ("exponential_decay", dict(initial_learning_rate=3.0, decay_steps=25, decay_rate=0.1)),
    ("inverse_time_decay", dict(initial_learning_rate=0.05, decay_steps=2, decay_rate=0.3)),
    ("inverse_time_decay", dict(initial_learning_rate=0.05, decay_steps=2, decay_rate=0.3, staircase=True)),
    ("polynomial_decay", dict(initial_learning_rate=0.2, decay_steps=7, end_learning_rate=0.02, power=1.5)),
    ("polynomial_decay", dict(initial_learning_rate=0.2, decay_steps=7, end_learning_rate=0.02, power=2.0, cycle=True)),
    ("cosine_decay", dict(initial_learning_rate=0.2, decay_steps=33, alpha=0.05)),
    ("cosine_decay", dict(initial_learning_rate=0.001, decay_steps=33, alpha=0.05, warmup_target=0.5, warmup_steps=17)),
]


@pytest.mark.parametrize("name, arguments", SCHEDULE_CASES)
def test_solution_schedules_match_keras(solution, name, arguments):
    checks.check_schedule(solution[name], name, steps=np.arange(0, 120), **arguments)


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"])
@pytest.mark.parametrize("shape", [(300, 200), (3, 3, 16, 32), (1000,)])
def test_keras_initializer_parameter_read_off_samples_equals_the_formula(name, shape):
    """The reference the chapter 4 checks use (a factor read off live Keras samples) is the documented formula."""
    initializer = ref.keras.initializers.get(name)
    fan_in, fan_out = ref.compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[initializer.mode]
    variance = initializer.scale / n
    formula = np.sqrt(3 * variance) if initializer.distribution == "uniform" else np.sqrt(variance) / 0.87962566103423978
    assert ref.initializer_parameter(initializer, shape) == pytest.approx(formula, rel=1e-7)


@pytest.mark.parametrize("name, arguments", [("relu", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.1}),
                                             ("elu", {}), ("elu", {"alpha": 2.0})])
def test_keras_kink_conventions_the_chapter_5_task_states(name, arguments):
    """What the exercise states about derivatives at 0 is what the installed TensorFlow computes."""
    from dlcourse.checks.activation_functions import keras_activation

    _, derivative = keras_activation(name, np.array([0.0]), **arguments)
    stated = {"relu": 0.0, "leaky_relu": arguments.get("negative_slope", 0.2), "elu": arguments.get("alpha", 1.0)}[name]
    assert derivative[0] == pytest.approx(stated, rel=1e-7)


def test_keras_defaults_the_chapter_5_task_states():
    """LeakyReLU layer slope 0.3 (function 0.2); keras.ops.gelu approximates by default, keras.activations.gelu does not;
    TensorFlow's exact GELU multiplies by 1/sqrt(2) rounded to float32, also in float64."""
    from scipy import special

    keras = ref.keras
    assert keras.layers.LeakyReLU().negative_slope == pytest.approx(0.3)
    x = np.array([-1.5, 0.7])
    t = np.tanh(0.7978845608028654 * (x + 0.044715 * x**3))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.gelu(x)), 0.5 * x * (1 + t), rtol=1e-6)
    x = np.array([-30.0])
    exact = 0.5 * x * special.erfc(-x / np.sqrt(2))
    rounded = 0.5 * x * special.erfc(-x * float(np.float32(1 / np.sqrt(2))))
    keras_value = keras.ops.convert_to_numpy(keras.activations.gelu(x))
    np.testing.assert_allclose(keras_value, rounded, rtol=1e-12)
    assert abs(keras_value[0] / exact[0] - 1) > 1e-6
