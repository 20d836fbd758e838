"""One mistake, one loss: a graded function that calls another exercise function is checked with the course's version of it."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import grade_batch, graded_points, solution_cell_source, solution_notebook, variant_notebook

from dlcourse import numpy_reference
from dlcourse.checks.cases import Case, referenced_names, substituted
from dlcourse.checks.compare import CheckFailed
from dlcourse.grading.plan import GradedCell, _check_substitution_order
from dlcourse.grading.workspace import GradingError

SHUFFLES_NOTHING = '''
def minibatches(num_examples, batch_size, rng, drop_last=False):
    order = np.arange(num_examples)
    return [order[i:i + batch_size] for i in range(0, num_examples, batch_size)]
'''


def notebook_namespace(*sources: str) -> dict:
    """The globals of a notebook whose cells are ``sources`` (after ``import numpy as np``)."""
    namespace: dict = {}
    for source in ("import numpy as np", *sources):
        exec(source, namespace)
    return namespace


def test_the_course_versions_pass_the_checks_of_the_functions_they_stand_for():
    from dlcourse.checks.activation_functions import check_activation
    from dlcourse.checks.adaptive_optimizers import check_adam
    from dlcourse.checks.initialization import (
        check_clip_by_global_norm,
        check_compute_fans,
        check_variance_scaling_parameter,
        check_variance_scaling_sample,
    )
    from dlcourse.checks.sgd_momentum import check_minibatches, check_sgd

    reference = numpy_reference
    check_minibatches(reference.minibatches)
    check_minibatches(reference.minibatches, num_examples=11, batch_size=3, drop_last=True)
    check_sgd(reference.sgd_init, reference.sgd_update, momentum=0.9, nesterov=True)
    check_adam(reference.adam_init, reference.adam_update, amsgrad=True)
    check_compute_fans(reference.compute_fans, shapes=((3, 4), (3, 3, 64, 128), (7,), ()))
    check_variance_scaling_parameter(reference.variance_scaling_parameter)
    check_variance_scaling_sample(reference.variance_scaling_sample)
    check_clip_by_global_norm(reference.clip_by_global_norm)
    for tensors, clip_norm in (([np.zeros(2), None, np.zeros((2, 2))], 1.0), ([np.array([np.inf, 1.0]), np.ones(3)], 1.0),
                               ([np.array([3.0], dtype=np.float32), None, np.array([[4.0, 0.0]], dtype=np.float32)], 2.5)):
        check_clip_by_global_norm(reference.clip_by_global_norm, tensors=tensors, clip_norm=clip_norm)

    def sigmoid_derivative(x):
        s = reference.sigmoid(x)
        return s * (1 - s)

    check_activation("sigmoid", reference.sigmoid, sigmoid_derivative)
    check_activation("sigmoid", reference.sigmoid, sigmoid_derivative, dtype=np.float32)


def test_a_wrong_dependency_costs_nothing_live_and_the_notebook_gets_its_own_function_back():
    from dlcourse.checks.sgd_momentum import check_minibatches, check_train_epoch

    chapter = "02_sgd_momentum"
    namespace = notebook_namespace(SHUFFLES_NOTHING, *(solution_cell_source(chapter, c) for c in ("sgd", "train_epoch")))
    students_minibatches = namespace["minibatches"]
    with pytest.raises(CheckFailed, match="not shuffled"):
        check_minibatches(students_minibatches)
    check_train_epoch(namespace["train_epoch"])  # passes: train_epoch itself is right
    assert namespace["minibatches"] is students_minibatches


def test_the_substitution_applies_only_to_names_the_code_uses_and_is_undone_after_an_error():
    namespace = notebook_namespace('''
def helper_through_a_comprehension(n):
    return [sigmoid(k) for k in range(n)]

def own_formula(x):
    return 1 / (1 + np.exp(-x))

def raises(x):
    sigmoid(x)
    raise ValueError("the student's error")
''')
    assert "sigmoid" in referenced_names(namespace["helper_through_a_comprehension"])
    with substituted((namespace["own_formula"],), ("sigmoid",)) as functions:
        assert functions == (namespace["own_formula"],) and "sigmoid" not in namespace
    with substituted((namespace["helper_through_a_comprehension"],), ("sigmoid",)):
        assert namespace["sigmoid"] is numpy_reference.sigmoid
    assert "sigmoid" not in namespace
    with pytest.raises(ValueError), substituted((namespace["raises"],), ("sigmoid",)):
        namespace["raises"](0.0)
    assert "sigmoid" not in namespace


def test_an_init_handed_to_the_check_is_replaced_with_the_update_it_belongs_to():
    namespace = notebook_namespace('''
def adam_init(params):
    return "the student's own state"

def adamw_update(params, grads, state, learning_rate, **hyper):
    return adam_update(params, grads, state, learning_rate)
''')
    with substituted((namespace["adam_init"], namespace["adamw_update"]), ("adam_init", "adam_update")) as (init, update):
        assert init is numpy_reference.adam_init and update is namespace["adamw_update"]
        assert namespace["adam_update"] is numpy_reference.adam_update
    assert namespace["adam_init"](None) == "the student's own state"


def test_a_plan_that_checks_a_function_after_substituting_it_is_refused():
    def cell(grade_id, names, substitutes=()):
        return GradedCell(grade_id, 1.0, [(names, Case((), lambda result, args: None, substitutes=substitutes))])

    _check_substitution_order("fine", [cell("test_sigmoid", ("sigmoid", "sigmoid_derivative")),
                                       cell("test_silu", ("silu", "silu_derivative"), ("sigmoid",))])
    # AdamW's check hands the update the student's adam_init, which the course's replaces: that call checks only adamw_update
    adamw = cell("test_adamw", ("adam_init", "adamw_update"), ("adam_init", "adam_update"))
    _check_substitution_order("adamw", [cell("test_adam", ("adam_init", "adam_update")), adamw, adamw])
    with pytest.raises(GradingError, match="sigmoid"):
        _check_substitution_order("reversed", [cell("test_silu", ("silu", "silu_derivative"), ("sigmoid",)),
                                               cell("test_sigmoid", ("sigmoid", "sigmoid_derivative"))])


@pytest.mark.grading
def test_a_submission_cannot_get_the_course_versions_before_the_calls_that_substitute_them(tmp_path):
    """The runner's own request function, found and called from a checked function, gets no answer: only its call fails."""
    chapter = "02_sgd_momentum"
    thief = variant_notebook(chapter, {"minibatches": '''
import gc

def minibatches(num_examples, batch_size, rng, drop_last=False):
    fetch = next(o for o in gc.get_objects() if getattr(o, "__name__", "") == "fetch_references")
    return fetch().minibatches(num_examples, batch_size, rng, drop_last)
'''})
    wrong = variant_notebook(chapter, {"minibatches": SHUFFLES_NOTHING})
    graded = grade_batch(tmp_path, chapter, {"thief": thief, "wrong": wrong, "solution": solution_notebook(chapter)})
    points = {student: {c.grade_id: c.points for c in outcome.cells} for student, outcome in graded["outcomes"].items()}
    full = graded_points("02_sgd_momentum")
    assert points["solution"] == full
    assert points["thief"] == points["wrong"] == dict(full, test_minibatches=0.0)
    thief_message = {c.grade_id: c.message for c in graded["outcomes"]["thief"].cells}["test_minibatches"]
    assert "did not return" in thief_message, thief_message
