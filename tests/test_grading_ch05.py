"""Chapter 5's exercise through the grader: solution, blank, and the classic wrong versions of each activation."""
from __future__ import annotations

from conftest import chapter_grading_tests, variant_notebook
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
    # only the hidden layer with all-zero units sees this one
    "dead_units_strictly_negative": ("dead", mutate("dead", "pre_activations <= 0", "pre_activations < 0"), {"test_dead_relu_fraction"}),
    "dead_fraction_of_entries": ("dead", mutate("dead", "np.mean(np.all(pre_activations <= 0, axis=0))", "np.mean(pre_activations <= 0)"),
                                 {"test_dead_relu_fraction"}),
}


# Correct implementations written differently from the solution: each notebook must keep full marks.
HONEST = {
    # SciPy's helpers, the exact constants (GELU's 1/sqrt(2) in float64), exp(x) - 1 instead of expm1
    "library_and_exact_constants": {
        "sigmoid": '''
def sigmoid(x):
    x = np.asarray(x)
    return special.expit(x).astype(x.dtype)

def sigmoid_derivative(x):
    s = sigmoid(x)
    return s - s * s
''',
        "elu": '''
def elu(x, alpha=1.0):
    x = np.asarray(x)
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1)).astype(x.dtype)

def elu_derivative(x, alpha=1.0):
    x = np.asarray(x)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))).astype(x.dtype)
''',
        "gelu": '''
def gelu(x, approximate=False):
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    if approximate:
        inner = np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64 ** 3)
        return (0.5 * x64 * (1 + np.tanh(inner))).astype(x.dtype)
    return (0.5 * x64 * special.erfc(-x64 / np.sqrt(2))).astype(x.dtype)      # the exact constant

def gelu_derivative(x, approximate=False):
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    if approximate:
        c = np.sqrt(2 / np.pi)
        t = np.tanh(c * (x64 + 0.044715 * x64 ** 3))
        return (0.5 * (1 + t) + 0.5 * x64 * (1 - t ** 2) * c * (1 + 3 * 0.044715 * x64 ** 2)).astype(x.dtype)
    cdf = 0.5 * special.erfc(-x64 / np.sqrt(2))
    pdf = np.exp(-0.5 * x64 ** 2) / np.sqrt(2 * np.pi)
    return (cdf + x64 * pdf).astype(x.dtype)
''',
        "silu": '''
def silu(x):
    x = np.asarray(x)
    return (x * special.expit(x)).astype(x.dtype)

def silu_derivative(x):
    x = np.asarray(x)
    s = special.expit(x)
    return (s + x * s * (1 - s)).astype(x.dtype)
''',
    },
    # the solution with GELU's 1/sqrt(2) in full precision in the value only (TensorFlow rounds it to float32)
    "full_precision_constant": {"gelu": mutate("gelu", GELU_ARGUMENT, "special.erfc(-x / dtype(np.sqrt(2)))")},
    # np.where and masks instead of maximum, counting instead of a mean
    "masks": {
        "tanh": '''
def tanh(x):
    return np.tanh(np.asarray(x))

def tanh_derivative(x):
    t = np.tanh(np.asarray(x))
    return (1 - t) * (1 + t)
''',
        "relu": '''
def relu(x):
    x = np.asarray(x)
    return np.where(x > 0, x, np.zeros_like(x))

def relu_derivative(x):
    x = np.asarray(x)
    return np.where(x > 0, np.ones_like(x), np.zeros_like(x))
''',
        "leaky_relu": '''
def leaky_relu(x, negative_slope=0.2):
    x = np.asarray(x)
    out = x.copy()
    out[x <= 0] *= negative_slope
    return out

def leaky_relu_derivative(x, negative_slope=0.2):
    x = np.asarray(x)
    out = np.full_like(x, negative_slope)
    out[x > 0] = 1
    return out
''',
        "dead": '''
def dead_relu_fraction(X, W, b):
    outputs = np.maximum(X @ W + b, 0)
    dead = 0
    for unit in range(W.shape[1]):
        if not outputs[:, unit].any():
            dead += 1
    return dead / W.shape[1]
''',
    },
}


DIAGNOSES = [
    ("sigmoid_naive", "test_sigmoid", "overflow encountered in exp"),
    ("sigmoid_where_both_branches", "test_sigmoid", "np.where computes both branches"),
    ("sigmoid_tanh_form", "test_sigmoid", "cancels for x << 0"),
    ("relu_derivative_one_at_zero", "test_relu", "derivative is 0 (x > 0, not x >= 0)"),
    ("tanh_derivative_by_cosh", "test_tanh", "1 - tanh(x)**2", ("np.where",)),
    ("elu_overflows_in_where", "test_elu", "np.where computes both branches"),
    ("leaky_relu_derivative_one_at_zero", "test_leaky_relu", "the negative slope"),
    ("leaky_relu_layer_default", "test_leaky_relu", "keras.layers.LeakyReLU layer"),
    ("elu_derivative_one_at_zero", "test_elu", "alpha * exp(0)"),
    ("gelu_erf_form", "test_gelu", "loses every digit"),
    ("dead_units_strictly_negative", "test_dead_relu_fraction", "use <= 0"),
    ("dead_fraction_of_entries", "test_dead_relu_fraction", "for every example"),
]

(verdicts, test_solution_full_marks_honest_full_marks_and_blank_zero, test_wrong_answer_loses_the_cells_it_breaks,
 test_the_diagnosis_names_the_mistake, test_the_sandboxed_grader_gives_the_same_verdicts) = \
    chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES,
                          honest={name: variant_notebook(CHAPTER, sources) for name, sources in HONEST.items()})
