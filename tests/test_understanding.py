"""The tasks that ask for understanding: questions, derivations and experiments, and the claims their statements make."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from dlcourse.checks.cases import ANSWER, Case
from dlcourse.checks.compare import CheckFailed
from dlcourse.checks.understanding import check_choice, check_experiment, chosen_option, read_choice
from dlcourse.grading.plan import GradedCell, defined_names
from dlcourse.grading.run import judge


@pytest.mark.parametrize("answer", ["b", "B", " b ", "(b)", "( B )"])
def test_an_option_can_be_written_several_ways(answer):
    assert chosen_option(answer, "abcd") == "b"


@pytest.mark.parametrize("answer, phrase", [("e", "is not one of the options"), ("b or c", "is not one of the options"),
                                            ("", "is not one of the options"), (2, "as a string"), (None, "as a string"),
                                            (["b"], "as a string")])
def test_an_answer_that_names_no_option_is_refused(answer, phrase):
    with pytest.raises(CheckFailed, match=phrase):
        chosen_option(answer, "abcd")


def test_the_visible_check_judges_the_form_only(capsys):
    check_choice("c")
    assert "judges it and explains it" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="is not one of the options"):
        check_choice("z")


def test_the_hidden_check_explains_a_wrong_answer_and_a_right_one(capsys):
    with pytest.raises(CheckFailed) as failure:
        check_choice("a", correct="b", explanation="Because of the Hessian.", wrong={"a": "Not the gradient.", "c": "Not c."})
    assert str(failure.value) == "you answered (a); the answer is (b). Not the gradient. Because of the Hessian."
    check_choice("B", correct="b", explanation="Because of the Hessian.")
    assert "(b) is right. Because of the Hessian." in capsys.readouterr().out


def test_a_passed_answer_carries_its_explanation_to_the_feedback_and_a_failed_one_does_not():
    cases = {"right": Case((), lambda result, _: None, driver=ANSWER, remark="(b) is right. Because."),
             "wrong": Case((), lambda result, _: check_choice(result, correct="b"), driver=ANSWER, remark="(b) is right. Because.")}
    plan = type("Plan", (), {"graded": [GradedCell(f"test_{name}", 1.0, [(name, case)]) for name, case in cases.items()]})()
    verdicts = judge(plan, {0: {"result": "b"}, 1: {"result": "a"}})
    assert (verdicts[0].points, verdicts[0].remark) == (1.0, "(b) is right. Because.")
    assert (verdicts[1].points, verdicts[1].remark) == (0.0, "") and "the answer is (b)" in verdicts[1].message


def test_a_solution_cell_defines_functions_and_answers():
    source = 'def f(x):\n    y = 2\n    return y\n\nanswer_scale = "b"\nchoice: dict = {"learning_rate": 0.1}\nx, y = 1, 2\n'
    assert defined_names(source) == ["f", "answer_scale", "choice"]


def test_an_experiment_choice_must_have_the_stated_keys_and_types():
    fields = {"learning_rate": (float, int), "standardise": (bool,)}
    assert read_choice({"learning_rate": 1, "standardise": False}, fields) == {"learning_rate": 1, "standardise": False}
    for choice, phrase in [({"learning_rate": 0.1}, "with the keys"), ([0.1, True], "yours is a list"),
                           ({"learning_rate": True, "standardise": True}, "must be a float or a int"),
                           ({"learning_rate": 0.1, "standardise": 1}, "must be a bool")]:
        with pytest.raises(CheckFailed, match=phrase):
            read_choice(choice, fields)
    with pytest.raises(CheckFailed, match="measured 3"):
        check_experiment({"learning_rate": 0.1, "standardise": True}, fields, lambda values: "measured 3", "")


# ---------------------------------------------------------------- the derivations' answers, against Keras

def test_the_largest_stable_learning_rate_is_where_keras_sgd_stops_converging():
    from dlcourse import keras_reference as ref
    from dlcourse.checks.gradient_descent import regression_case

    X = regression_case(0, n=20, d=3)[0] + 1.0
    y = regression_case(0, n=20, d=3)[1]
    design = np.column_stack([X, np.ones(len(y))])
    hessian = 2.0 / len(y) * design.T @ design
    limit = 2.0 / np.linalg.eigvalsh(hessian).max()
    theta0 = np.ones(4)
    finals = [np.linalg.norm(ref.sgd_trajectory(lambda t: hessian @ t - 2.0 / len(y) * design.T @ y, theta0, factor * limit, 2000)[-1])
              for factor in (0.98, 1.02)]
    assert finals[0] < 10 and finals[1] > 1e6, finals


def test_momentum_is_stable_up_to_twice_one_plus_mu_over_lambda_in_keras():
    from dlcourse import keras_reference as ref

    curvature, momentum = 4.0, 0.75
    limit = 2 * (1 + momentum) / curvature
    ends = [abs(float(ref.sgd_trajectory(lambda t: curvature * t, np.ones(1), factor * limit, 3000, momentum=momentum)[-1, 0]))
            for factor in (0.98, 1.02)]
    assert ends[0] < 1e-3 and ends[1] > 1e3, ends


def test_the_leaky_relu_scale_keeps_the_second_moment_through_keras_layers():
    from dlcourse import keras_reference as ref

    keras = ref.keras
    slope, depth = 0.5, 12

    def second_moment_ratio(scale):
        keras.utils.set_random_seed(0)
        x = np.random.default_rng(0).normal(size=(400, 800))
        h, moments = x, []
        for _ in range(depth):
            layer = keras.layers.Dense(800, use_bias=False, kernel_initializer=keras.initializers.VarianceScaling(scale, "fan_in", "normal"))
            z = layer(h).numpy()
            h = keras.layers.LeakyReLU(negative_slope=slope)(z).numpy()
            moments.append(float(np.mean(z**2)))
        return moments[-1] / moments[0]             # from the first layer's pre-activations to the last one's

    assert 0.8 < second_moment_ratio(2.0 / (1.0 + slope**2)) < 1.25
    assert second_moment_ratio(2.0 / (1.0 + slope)) < 0.25       # the slip the check names: (1.333 * 0.625)^11 = 0.13


# ---------------------------------------------------------------- the figures the questions and tasks quote

def test_the_figures_the_questions_quote():
    g, steps, eta = 1e-3, 100, 1.0
    paper = eta * g / np.sqrt(steps * g**2)
    tutorial = eta * g / np.sqrt(1 + steps * g**2)
    assert np.isclose(paper, 0.1 * eta) and np.isclose(tutorial, 1e-3 * eta, rtol=1e-4)        # ch3, question 1
    assert np.isclose(1 / np.sqrt(1 - 0.999), 31.6, atol=0.05)                                  # ch3, question 3
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn"):
        warnings.simplefilter("always")
        assert np.log(1 / (1 + np.exp(800.0))) == -np.inf and len(caught) == 2                  # ch5, question 3
    assert 4.0**10 > 1e6                                                                        # ch5, question 2


def test_the_figures_the_experiments_quote():
    from dlcourse.checks.activation_functions import DEEP_DIGITS, first_to_last_gradient_ratio
    from dlcourse.checks.adaptive_optimizers import ADAM_DIGITS
    from dlcourse.checks.gradient_descent import regression_rescue_run
    from dlcourse.checks.initialization import DEEP_RELU_DIGITS
    from dlcourse.checks.sgd_momentum import ill_conditioned_quadratic, momentum_tuning_run
    from dlcourse.checks.understanding import digits_test_accuracy

    assert not regression_rescue_run(0.01, standardise=False)["left"] < 1          # ch1: "the loss explodes"
    eigenvalues = ill_conditioned_quadratic().eigenvalues
    assert round(momentum_tuning_run(2 / (eigenvalues[0] + eigenvalues[-1]), 0.0), 2) == 0.14       # ch2: "14 % left"
    adam = {key: ADAM_DIGITS[key] for key in ("sizes", "activation", "scale", "epochs")}
    assert 0.2 < digits_test_accuracy(**adam, optimizer="adam", learning_rate=0.1) < 0.3            # ch3: "barely a quarter"
    deep = DEEP_RELU_DIGITS
    assert digits_test_accuracy(deep["sizes"], "relu", 0.01, "sgd", deep["learning_rate"], deep["epochs"],
                                momentum=deep["momentum"]) < 0.15                                  # ch4: "chance"
    assert digits_test_accuracy(DEEP_DIGITS["sizes"], "sigmoid", 1.0, "sgd", 0.02, DEEP_DIGITS["epochs"], momentum=0.9) < 0.15
    assert first_to_last_gradient_ratio("sigmoid", DEEP_DIGITS["sizes"], 1.0) < 1e-3                 # ch5: the gradient vanishes
