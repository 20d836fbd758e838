"""Chapter 5's exercise through the grader: solution, blank, and the classic wrong versions of each activation."""
from __future__ import annotations

from conftest import chapter_grading_tests, understanding_catalogue, variant_notebook
from conftest import mutate as mutate_cell

CHAPTER = "05_activation_functions"
CELLS = {"test_sigmoid": 3, "test_tanh": 1, "test_relu": 1, "test_leaky_relu": 1, "test_elu": 1, "test_gelu": 2, "test_silu": 1,
         "test_dead_relu_fraction": 1}

CELLS["test_mish_derivative"] = 2

# the derivation's honest variants
UNDERSTANDING = understanding_catalogue(CHAPTER, {"mish_derivative": ['''
def mish_derivative(x):
    softplus = np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)
    return np.tanh(softplus) + x * sigmoid(x) / np.cosh(softplus) ** 2
''', '''
def mish_derivative(x):
    out = np.empty_like(x)
    for index, value in np.ndenumerate(x):
        t = np.tanh(np.logaddexp(0.0, value))
        out[index] = t + value * (1 - t) * (1 + t) * sigmoid(value)
    return out
''', '''
def mish_derivative(x):
    e = np.exp(x)                           # |x| <= 20: no overflow
    t = ((1 + e) ** 2 - 1) / ((1 + e) ** 2 + 1)   # tanh(log(1 + e^x))
    return t + x * (1 - t**2) * e / (1 + e)
'''],
    "activation_fix": ['activation_fix = {"activation": "tanh", "learning_rate": 0.01}',
                   'activation_fix = {"learning_rate": 0.05, "activation": "tanh"}',
                   'activation_fix = dict(activation="tanh", learning_rate=0.03)']})
CELLS["test_activation_fix"] = 2
CELLS.update(UNDERSTANDING["cells"])



def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


SIGMOID_BODY = '''    x = np.asarray(x)
    e = np.exp(-np.abs(x))                      # never overflows: the exponent is <= 0
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)'''
GELU_ARGUMENT = "special.erfc(-x * dtype(np.float32(0.7071067811865476)))"

# student -> (cell, source, graded cells that must score 0); silu is checked with the course's sigmoid: sigmoid's mistakes cost test_sigmoid only
WRONG_ANSWERS = {
    # the derivation of mish's derivative
    "mish_product_rule_forgotten": ("mish_derivative", mutate("mish_derivative", "return inner + x * (1.0 - inner * inner) * sigmoid(x)",
                                                              "return inner"), {"test_mish_derivative"}),
    "mish_chain_rule_forgotten": ("mish_derivative", mutate("mish_derivative", " * sigmoid(x)", ""), {"test_mish_derivative"}),
    "mish_tanh_derivative_wrong": ("mish_derivative", mutate("mish_derivative", "(1.0 - inner * inner)", "(1.0 - inner)"),
                                   {"test_mish_derivative"}),
    # the experiment
    "activation_fix_sigmoid": ("activation_fix", 'activation_fix = {"activation": "sigmoid", "learning_rate": 0.05}', {"test_activation_fix"}),
    "activation_fix_relu_lecun": ("activation_fix", 'activation_fix = {"activation": "relu", "learning_rate": 0.02}', {"test_activation_fix"}),
    "activation_fix_unknown": ("activation_fix", 'activation_fix = {"activation": "swish", "learning_rate": 0.02}', {"test_activation_fix"}),
    **UNDERSTANDING["wrong_answers"],
    "sigmoid_naive": ("sigmoid", mutate("sigmoid", SIGMOID_BODY, "    return 1 / (1 + np.exp(-x))"), {"test_sigmoid"}),
    "sigmoid_where_both_branches": ("sigmoid", mutate("sigmoid", SIGMOID_BODY, "    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) "
                                                                               "/ (1 + np.exp(x)))"),
                                    {"test_sigmoid"}),
    "sigmoid_tanh_form": ("sigmoid", mutate("sigmoid", SIGMOID_BODY, "    return 0.5 * (1 + np.tanh(0.5 * x))"), {"test_sigmoid"}),
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
    # the derivative of the sigmoid written with the pattern of tanh's, 1 - s^2
    "sigmoid_derivative_like_tanh": ("sigmoid", mutate("sigmoid", "    return s * (1 - s)", "    return 1 - s * s"), {"test_sigmoid"}),
    # tanh through its definition with exp: overflows (inf / inf) for |x| > 710
    "tanh_via_exp": ("tanh", mutate("tanh", "    return np.tanh(x)\n", "    return (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))\n"),
                     {"test_tanh"}),
    # precedence: tanh of x squared instead of tanh(x) squared
    "tanh_derivative_tanh_of_square": ("tanh", mutate("tanh", "    t = np.tanh(x)\n    return 1 - t * t", "    return 1 - np.tanh(x ** 2)"),
                                       {"test_tanh"}),
    # the derivative's negative branch copied from the function: negative_slope * x instead of negative_slope
    "leaky_relu_derivative_slope_times_x": ("leaky_relu", mutate("leaky_relu", "x.dtype.type(1), x.dtype.type(negative_slope))",
                                                                 "x.dtype.type(1), x.dtype.type(negative_slope) * x)"), {"test_leaky_relu"}),
    # only the hidden tests with alpha = 2 and 0.5 see it
    "elu_derivative_without_alpha": ("elu", mutate("elu", "x.dtype.type(alpha) * np.exp(np.minimum(x, 0))", "np.exp(np.minimum(x, 0))"),
                                     {"test_elu"}),
    # expm1 already subtracts the 1
    "elu_expm1_minus_one": ("elu", mutate("elu", "x.dtype.type(alpha) * np.expm1(np.minimum(x, 0))",
                                          "x.dtype.type(alpha) * (np.expm1(np.minimum(x, 0)) - 1)"), {"test_elu"}),
    # sqrt(2)/pi for sqrt(2/pi), in the value and the derivative
    "gelu_tanh_constant_sqrt2_over_pi": ("gelu", mutate("gelu", "dtype(0.7978845608028654)", "dtype(np.sqrt(2) / np.pi)"), {"test_gelu"}),
    # the correction term with x**2 instead of x**3 (and its derivative 2 k x)
    "gelu_tanh_square_not_cube": ("gelu", mutate("gelu", "x**3", "x**2").replace("(1 + 3 * k * x * x)", "(1 + 2 * k * x)"), {"test_gelu"}),
    # approximate=True ignored: always the exact form
    "gelu_approximate_ignored": ("gelu", mutate("gelu", "    if approximate:\n", "    if False:\n"), {"test_gelu"}),
    # always the tanh approximation, also for approximate=False (keras.ops.gelu's default)
    "gelu_always_tanh": ("gelu", mutate("gelu", "    if approximate:\n", "    if True:\n"), {"test_gelu"}),
    # gelu'(x) = Phi(x) only: the product rule's x * phi(x) is missing
    "gelu_derivative_without_x_phi": ("gelu", mutate("gelu", "    return dtype(0.5) * special.erfc(-x * r) + x * r * np.exp(-(x * r) ** 2) * "
                                                             "dtype(1 / np.sqrt(np.pi))", "    return dtype(0.5) * special.erfc(-x * r)"),
                                      {"test_gelu"}),
    # silu as the sigmoid alone: the factor x is missing
    "silu_without_x": ("silu", mutate("silu", "    return np.asarray(x) * sigmoid(x)", "    return sigmoid(x)"), {"test_silu"}),
    # the product rule's first term sigmoid(x) missing from the derivative
    "silu_derivative_without_sigmoid_term": ("silu", mutate("silu", "    return s * (1 + np.asarray(x) * (1 - s))",
                                                            "    return np.asarray(x) * s * (1 - s)"), {"test_silu"}),
    # the number of dead units, not their fraction
    "dead_count_not_fraction": ("dead", mutate("dead", "np.mean(np.all(pre_activations <= 0, axis=0))",
                                               "np.sum(np.all(pre_activations <= 0, axis=0))"), {"test_dead_relu_fraction"}),
    # a unit counted dead when it is 0 for some example (any instead of all)
    "dead_any_example": ("dead", mutate("dead", "np.all(pre_activations <= 0, axis=0)", "np.any(pre_activations <= 0, axis=0)"),
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
    # identities: logaddexp for the sigmoid and sigma(x) sigma(-x) for its derivative, tanh from expm1(-2|x|), sech^2 from exp(-2|x|),
    # relu as (x + |x|) / 2, leaky as a maximum, ELU as positive part plus negative part (derivative elu + alpha), GELU through
    # scipy's normal CDF and the tanh form as a sigmoid (0.5 (1 + tanh u) = sigmoid(2u)), float64 inside for float32 inputs
    "identities": {
        "sigmoid": '''
def sigmoid(x):
    x = np.asarray(x)
    return np.exp(-np.logaddexp(0.0, -x.astype(np.float64))).astype(x.dtype)      # 1 / (1 + exp(-x)) = exp(-log(1 + exp(-x)))

def sigmoid_derivative(x):
    x = np.asarray(x)
    return sigmoid(x) * sigmoid(-x)                                               # 1 - sigmoid(x) = sigmoid(-x)
''',
        "tanh": '''
def tanh(x):
    x = np.asarray(x)
    e = np.expm1(-2 * np.abs(x))                                                  # exp(-2|x|) - 1, in (-1, 0]
    return np.sign(x) * (-e / (2 + e))

def tanh_derivative(x):
    x = np.asarray(x)
    e = np.exp(-2 * np.abs(x).astype(np.float64))
    return (4 * e / (1 + e) ** 2).astype(x.dtype)                                  # sech^2, never overflows
''',
        "relu": '''
def relu(x):
    x = np.asarray(x)
    return (x + np.abs(x)) / 2

def relu_derivative(x):
    x = np.asarray(x)
    return np.clip(np.sign(x), 0, 1)
''',
        "leaky_relu": '''
def leaky_relu(x, negative_slope=0.2):
    x = np.asarray(x)
    return np.maximum(x, x.dtype.type(negative_slope) * x)                       # 0 < negative_slope < 1

def leaky_relu_derivative(x, negative_slope=0.2):
    x = np.asarray(x)
    return (1 - (1 - negative_slope) * (x <= 0)).astype(x.dtype)
''',
        "elu": '''
def elu(x, alpha=1.0):
    x = np.asarray(x)
    return np.maximum(x, 0) + alpha * np.expm1(np.minimum(x, 0))

def elu_derivative(x, alpha=1.0):
    x = np.asarray(x)
    return np.where(x > 0, 1, elu(x, alpha) + alpha).astype(x.dtype)              # alpha exp(x) = elu(x) + alpha for x <= 0
''',
        "gelu": '''
def gelu(x, approximate=False):
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    if approximate:
        u = np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64 ** 3)
        return (x64 * special.expit(2 * u)).astype(x.dtype)                        # 0.5 (1 + tanh(u)) = sigmoid(2u)
    return (x64 * special.ndtr(x64)).astype(x.dtype)                               # Phi, scipy's normal CDF

def gelu_derivative(x, approximate=False):
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    if approximate:
        c, k = np.sqrt(2 / np.pi), 0.044715
        s = special.expit(2 * c * (x64 + k * x64 ** 3))
        return (s + x64 * 2 * s * (1 - s) * c * (1 + 3 * k * x64 ** 2)).astype(x.dtype)
    return (special.ndtr(x64) + x64 * np.exp(-x64 * x64 / 2) / np.sqrt(2 * np.pi)).astype(x.dtype)
''',
        "silu": '''
def silu(x):
    x = np.asarray(x)
    return (x * np.exp(-np.logaddexp(0.0, -x.astype(np.float64)))).astype(x.dtype)

def silu_derivative(x):
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    s, s_minus = np.exp(-np.logaddexp(0.0, -x64)), np.exp(-np.logaddexp(0.0, x64))   # sigmoid(x), sigmoid(-x) = 1 - sigmoid(x)
    return (s * (1 + x64 * s_minus)).astype(x.dtype)
''',
        "dead": '''
def dead_relu_fraction(X, W, b):
    alive = np.any(X @ W + b > 0, axis=0)
    return float(np.mean(~alive))
''',
    },
    # explicit loops over the elements with the math module (float64 inside), other expressions of the same branches
    "loops": {
        "sigmoid": '''
import math

def sigmoid(x):
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=x.dtype)
    for i in np.ndindex(x.shape):
        v = float(x[i])
        out[i] = 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
    return out

def sigmoid_derivative(x):
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=x.dtype)
    for i in np.ndindex(x.shape):
        e = math.exp(-abs(float(x[i])))
        out[i] = e / (1 + e) ** 2                                                   # s (1 - s), the same for x and -x
    return out
''',
        "tanh": '''
import math

def tanh(x):
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=x.dtype)
    for i in np.ndindex(x.shape):
        out[i] = math.tanh(float(x[i]))
    return out

def tanh_derivative(x):
    t = tanh(x)
    return 1 - t ** 2
''',
        "relu": '''
def relu(x):
    x = np.asarray(x)
    out = x.copy()
    for i in np.ndindex(x.shape):
        if not x[i] > 0:
            out[i] = 0
    return out

def relu_derivative(x):
    x = np.asarray(x)
    return np.heaviside(x, 0).astype(x.dtype)                                      # heaviside(0) = 0
''',
        "leaky_relu": '''
def leaky_relu(x, negative_slope=0.2):
    x = np.asarray(x)
    return np.maximum(x, 0) + x.dtype.type(negative_slope) * np.minimum(x, 0)

def leaky_relu_derivative(x, negative_slope=0.2):
    x = np.asarray(x)
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        out[i] = 1.0 if x[i] > 0 else negative_slope
    return out
''',
        "elu": '''
import math

def elu(x, alpha=1.0):
    x = np.asarray(x)
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        v = float(x[i])
        out[i] = v if v > 0 else alpha * math.expm1(v)
    return out

def elu_derivative(x, alpha=1.0):
    x = np.asarray(x)
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        v = float(x[i])
        out[i] = 1.0 if v > 0 else alpha * math.exp(v)
    return out
''',
        "gelu": '''
import math

def gelu(x, approximate=False):
    x = np.asarray(x)
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        v = float(x[i])
        if approximate:
            out[i] = 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
        else:
            out[i] = 0.5 * v * math.erfc(-v / math.sqrt(2))
    return out

def gelu_derivative(x, approximate=False):
    x = np.asarray(x)
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        v = float(x[i])
        if approximate:
            c, k = math.sqrt(2 / math.pi), 0.044715
            t = math.tanh(c * (v + k * v ** 3))
            out[i] = 0.5 * (1 + t) + 0.5 * v * (1 - t) * (1 + t) * c * (1 + 3 * k * v * v)
        else:
            out[i] = 0.5 * math.erfc(-v / math.sqrt(2)) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
    return out
''',
        "silu": '''
def silu(x):
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, x / (1 + e), x * e / (1 + e))

def silu_derivative(x):
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    e = np.exp(-np.abs(x64))
    s = np.where(x64 >= 0, 1 / (1 + e), e / (1 + e))
    return (s * (1 + x64) - x64 * s * s).astype(x.dtype)                           # s + x s (1 - s), expanded
''',
        "dead": '''
def dead_relu_fraction(X, W, b):
    highest = np.max(X @ W + b, axis=0)                                             # a unit is dead if even its largest z is <= 0
    return np.count_nonzero(highest <= 0) / len(b)
''',
    },
    # arithmetic in the input's own dtype with Python-float constants (NumPy scalars such as np.sqrt(2) would promote float32)
    "native_dtype": {
        "relu": '''
def relu(x):
    x = np.asarray(x)
    return x * (x > 0)

def relu_derivative(x):
    x = np.asarray(x)
    return np.greater(x, 0).astype(x.dtype)
''',
        "leaky_relu": '''
def leaky_relu(x, negative_slope=0.2):
    x = np.asarray(x)
    return np.where(x > 0, x, x * negative_slope)

def leaky_relu_derivative(x, negative_slope=0.2):
    x = np.asarray(x)
    return np.where(x > 0, 1.0, negative_slope).astype(x.dtype)
''',
        "gelu": '''
import math

def gelu(x, approximate=False):
    x = np.asarray(x)
    if approximate:
        u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
        return x - 0.5 * x * (1 - np.tanh(u))                                     # x Phi(x) = x - x (1 - Phi(x))
    return 0.5 * x * special.erfc(-x / math.sqrt(2))

def gelu_derivative(x, approximate=False):
    x = np.asarray(x)
    if approximate:
        c, k = math.sqrt(2 / math.pi), 0.044715
        t = np.tanh(c * (x + k * x ** 3))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * k * x * x)
    return 0.5 * special.erfc(-x / math.sqrt(2)) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
''',
        "silu": '''
def silu(x):
    x = np.asarray(x)
    return x * sigmoid(x)

def silu_derivative(x):
    x = np.asarray(x)
    s = sigmoid(x)
    return s + x * s * sigmoid(-x)                                                  # 1 - sigmoid(x) = sigmoid(-x)
''',
    },
}


NAIVE_EXP = "exp(-x) overflows for x below about -710"
BOTH_BRANCHES = "np.where computes both branches"
DIAGNOSES = [
    ("mish_product_rule_forgotten", "test_mish_derivative", "the product rule: mish"),
    ("mish_chain_rule_forgotten", "test_mish_derivative", "the chain rule through softplus"),
    ("mish_tanh_derivative_wrong", "test_mish_derivative", "not 1 - tanh"),
    ("activation_fix_sigmoid", "test_activation_fix", "the first layer's gradient is 1.8e-05 times"),
    ("activation_fix_relu_lecun", "test_activation_fix", "the first layer's gradient is 1.5 times"),
    ("activation_fix_unknown", "test_activation_fix", 'the activation must be one of'),
    *UNDERSTANDING["diagnoses"],
    ("sigmoid_naive", "test_sigmoid", NAIVE_EXP, (BOTH_BRANCHES,)),
    ("sigmoid_where_both_branches", "test_sigmoid", BOTH_BRANCHES, (NAIVE_EXP,)),
    ("sigmoid_tanh_form", "test_sigmoid", "cancels for x << 0", ("1 - 1/(1 + exp(x))",)),
    ("sigmoid_derivative_like_tanh", "test_sigmoid", "pattern of tanh's derivative", ("sigmoid(x) itself",)),
    ("relu_derivative_one_at_zero", "test_relu", "derivative is 0 (x > 0, not x >= 0)"),
    ("tanh_derivative_by_cosh", "test_tanh", "1 - tanh(x)**2", (BOTH_BRANCHES, "written with exp")),
    ("tanh_via_exp", "test_tanh", "tanh (or its derivative) written with exp overflows", (BOTH_BRANCHES, "cosh")),
    ("tanh_derivative_tanh_of_square", "test_tanh", "np.tanh(x**2) is tanh of x squared"),
    ("elu_overflows_in_where", "test_elu", BOTH_BRANCHES, (NAIVE_EXP,)),
    ("leaky_relu_derivative_one_at_zero", "test_leaky_relu", "the negative slope", ("multiplies by x",)),
    ("leaky_relu_layer_default", "test_leaky_relu", "keras.layers.LeakyReLU layer", ("PyTorch",)),
    ("leaky_relu_derivative_slope_times_x", "test_leaky_relu", "still multiplies by x", ("at x = 0",)),
    ("elu_derivative_one_at_zero", "test_elu", "alpha * exp(0)", ("alpha is missing",)),
    ("elu_derivative_without_alpha", "test_elu", "alpha is missing from the derivative", ("at x = 0",)),
    ("elu_expm1_minus_one", "test_elu", "np.expm1(x) already is exp(x) - 1", (BOTH_BRANCHES,)),
    ("gelu_erf_form", "test_gelu", "loses every digit", ("tanh approximation",)),
    ("gelu_tanh_constant_sqrt2_over_pi", "test_gelu", "your constant c is sqrt(2)/pi", ("x^2", "sqrt(2 pi)", "2/pi =")),
    ("gelu_tanh_square_not_cube", "test_gelu", "yours uses x^2", ("constant c",)),
    ("gelu_approximate_ignored", "test_gelu", "approximate=True asks for the tanh approximation", ("exact by default",)),
    ("gelu_always_tanh", "test_gelu", "keras.activations.gelu is exact by default", ("approximate=True asks",)),
    ("gelu_derivative_without_x_phi", "test_gelu", "gelu'(x) = Phi(x) + x phi(x)", ("loses every digit",)),
    ("silu_without_x", "test_silu", "silu(x) is x * sigmoid(x)", ("product rule",)),
    ("silu_derivative_without_sigmoid_term", "test_silu", "the product rule's first term is missing", ("silu(x) is x",)),
    ("dead_units_strictly_negative", "test_dead_relu_fraction", "use <= 0", ("only if its output is 0", "number of dead units")),
    ("dead_fraction_of_entries", "test_dead_relu_fraction", "fraction of zero outputs over all examples and units",
     ("use <= 0", "number of dead units")),
    ("dead_count_not_fraction", "test_dead_relu_fraction", "that is the number of dead units", ("only if its output is 0",)),
    ("dead_any_example", "test_dead_relu_fraction", "0 for some examples is alive", ("fraction of zero outputs",)),
]

globals().update(chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES,
                          honest={name: variant_notebook(CHAPTER, sources) for name, sources in {**HONEST, **UNDERSTANDING["honest"]}.items()}))
