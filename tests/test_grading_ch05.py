"""Chapter 5's exercise through the grader: solution, blank, and the classic wrong versions of each activation."""
from __future__ import annotations

from conftest import chapter_grading_tests
from conftest import mutate as mutate_cell

CHAPTER = "05_activation_functions"
CELLS = {"test_sigmoid": 3, "test_tanh": 1, "test_relu": 1, "test_leaky_relu": 1, "test_elu": 1, "test_gelu": 2, "test_silu": 1,
         "test_dead_relu_fraction": 1}


def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


SIGMOID_BODY = '''    x = np.asarray(x)
    e = np.exp(-np.abs(x))                      # never overflows: the exponent is <= 0
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)'''
GELU_ARGUMENT = "special.erfc(-x * dtype(np.float32(0.7071067811865476)))"

# student -> (cell, source, graded cells that must score 0); silu calls sigmoid, so the sigmoid's mistakes reach it
WRONG_ANSWERS = {
    "sigmoid_naive": ("sigmoid", mutate("sigmoid", SIGMOID_BODY, "    return 1 / (1 + np.exp(-x))"), {"test_sigmoid", "test_silu"}),
    "sigmoid_where_both_branches": ("sigmoid", mutate("sigmoid", SIGMOID_BODY, "    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) "
                                                                               "/ (1 + np.exp(x)))"),
                                    {"test_sigmoid", "test_silu"}),
    "sigmoid_tanh_form": ("sigmoid", mutate("sigmoid", SIGMOID_BODY, "    return 0.5 * (1 + np.tanh(0.5 * x))"), {"test_sigmoid", "test_silu"}),
    "tanh_derivative_by_cosh": ("tanh", mutate("tanh", "    t = np.tanh(x)\n    return 1 - t * t", "    return 1 / np.cosh(x) ** 2"), {"test_tanh"}),
    "relu_derivative_one_at_zero": ("relu", mutate("relu", "(np.asarray(x) > 0)", "(np.asarray(x) >= 0)"), {"test_relu"}),
    "leaky_relu_layer_default": ("leaky_relu", mutate("leaky_relu", "negative_slope=0.2", "negative_slope=0.3"), {"test_leaky_relu"}),
    "leaky_relu_derivative_one_at_zero": ("leaky_relu", mutate("leaky_relu", "np.where(x > 0, x.dtype.type(1)", "np.where(x >= 0, x.dtype.type(1)"),
                                          {"test_leaky_relu"}),
    "elu_overflows_in_where": ("elu", mutate("elu", "np.expm1(np.minimum(x, 0))", "(np.exp(x) - 1)"), {"test_elu"}),
    # only the hidden test with alpha = 2 sees the derivative at 0
    "elu_derivative_one_at_zero": ("elu", mutate("elu", "np.where(x > 0, x.dtype.type(1), x.dtype.type(alpha) * np.exp",
                                                 "np.where(x >= 0, x.dtype.type(1), x.dtype.type(alpha) * np.exp"), {"test_elu"}),
    "gelu_erf_form": ("gelu", mutate("gelu", GELU_ARGUMENT, "(1 + special.erf(x * dtype(np.float32(0.7071067811865476))))"), {"test_gelu"}),
    "gelu_full_precision_constant": ("gelu", mutate("gelu", GELU_ARGUMENT, "special.erfc(-x / np.sqrt(2))"), {"test_gelu"}),
    # only the hidden layer with all-zero units sees this one
    "dead_units_strictly_negative": ("dead", mutate("dead", "pre_activations <= 0", "pre_activations < 0"), {"test_dead_relu_fraction"}),
    "dead_fraction_of_entries": ("dead", mutate("dead", "np.mean(np.all(pre_activations <= 0, axis=0))", "np.mean(pre_activations <= 0)"),
                                 {"test_dead_relu_fraction"}),
}


DIAGNOSES = [
    ("sigmoid_naive", "test_sigmoid", "overflow encountered in exp"),
    ("sigmoid_where_both_branches", "test_sigmoid", "np.where computes both branches"),
    ("sigmoid_tanh_form", "test_sigmoid", "cancels for x << 0"),
    ("relu_derivative_one_at_zero", "test_relu", "derivative is 0 (x > 0, not x >= 0)"),
    ("leaky_relu_layer_default", "test_leaky_relu", "keras.layers.LeakyReLU layer"),
    ("elu_derivative_one_at_zero", "test_elu", "alpha * exp(0)"),
    ("gelu_erf_form", "test_gelu", "loses every digit"),
    ("gelu_full_precision_constant", "test_gelu", "casts it to float32"),
    ("dead_units_strictly_negative", "test_dead_relu_fraction", "use <= 0"),
    ("dead_fraction_of_entries", "test_dead_relu_fraction", "for every example"),
]

(verdicts, test_solution_full_marks_honest_full_marks_and_blank_zero, test_wrong_answer_loses_the_cells_it_breaks,
 test_the_diagnosis_names_the_mistake, test_the_sandboxed_grader_gives_the_same_verdicts) = \
    chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES)
