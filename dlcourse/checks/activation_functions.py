"""Checks for the exercises of chapter 5 (activation functions).

Each activation and its derivative are compared with ``keras.activations``
and with ``tf.GradientTape``'s derivative of it, in float64 and float32, on a
grid that includes the kink at 0, the far tails (down to -1e4 and up to 1e4)
and tiny inputs. The student's functions run with NumPy warnings recorded: a
function that overflows on the way to a right answer fails with the warning
it printed. Known wrong versions (the derivative of ReLU at 0, PyTorch's or
the layer's default slope, the erf form of GELU ...) are recognised.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special

from dlcourse import LazyReference, network
from dlcourse.checks.cases import Case, run_check
from dlcourse.checks.compare import Mistake, assert_matches, fail
from dlcourse.checks.recording import recorded
from dlcourse.checks.understanding import check_experiment, derivation_case, digits_test_accuracy

ref, keras, tf = LazyReference(), LazyReference("keras"), LazyReference("tf")

TAILS = [-1e4, -1e3, -750.0, -100.0, -40.0, -20.0, -12.0, -8.0, 8.0, 12.0, 20.0, 40.0, 100.0, 750.0, 1e3, 1e4]
TINY = [-1e-8, -1e-30, 0.0, 1e-30, 1e-8]


def activation_grid(dtype=np.float64) -> np.ndarray:
    """The inputs every activation is checked on: -10..10 by 0.1, the far tails, 0 and tiny values; shape (n,), ``dtype``."""
    return np.unique(np.concatenate([np.round(np.linspace(-10, 10, 201), 10), TAILS, TINY])).astype(dtype)


def keras_activation(name: str, x: np.ndarray, **arguments) -> tuple[np.ndarray, np.ndarray]:
    """``keras.activations.<name>(x, **arguments)`` and its derivative by ``tf.GradientTape``, in ``x``'s dtype."""
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = getattr(keras.activations, name)(t, **arguments)
    return y.numpy(), tape.gradient(y, t).numpy()


def _mistakes(name: str, x: np.ndarray, arguments: dict):
    """(value mistakes, derivative mistakes): classic wrong versions on ``x``, in float64."""
    x = x.astype(np.float64)
    value, derivative = [], []
    with np.errstate(all="ignore"):
        if name == "relu":
            derivative.append(Mistake(np.where(x >= 0, 1.0, 0.0), "at x = 0 TensorFlow's ReLU derivative is 0 (x > 0, not x >= 0)."))
        if name == "leaky_relu":
            slope = arguments.get("negative_slope", 0.2)
            derivative.append(Mistake(np.where(x >= 0, 1.0, slope), f"at x = 0 TensorFlow's derivative is the negative slope ({slope}), not 1."))
            derivative.append(Mistake(np.where(x > 0, 1.0, slope * x), "the derivative of negative_slope * x is the constant negative_slope: "
                                                                       "your negative branch still multiplies by x."))
            if "negative_slope" not in arguments:
                for wrong, source in ((0.3, "the default of the keras.layers.LeakyReLU layer"), (0.01, "PyTorch's default")):
                    value.append(Mistake(np.where(x > 0, x, wrong * x), f"your default slope is {wrong}, {source}; "
                                                                        "keras.activations.leaky_relu's default is 0.2."))
                    derivative.append(Mistake(np.where(x > 0, 1.0, wrong), f"your default slope is {wrong}, {source}; "
                                                                           "keras.activations.leaky_relu's default is 0.2."))
        if name == "elu":
            alpha = arguments.get("alpha", 1.0)
            if alpha != 1.0:
                derivative.append(Mistake(np.where(x >= 0, 1.0, alpha * np.exp(x)), "at x = 0 TensorFlow's derivative is alpha * exp(0) = "
                                                                                    f"{alpha} (the branch x > 0 is 1)."))
                derivative.append(Mistake(np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))), "alpha is missing from the derivative: its negative "
                                                                                           "branch is alpha * exp(x)."))
            value.append(Mistake(np.where(x > 0, x, alpha * (np.expm1(np.minimum(x, 0)) - 1)), "np.expm1(x) already is exp(x) - 1: subtracting "
                                                                                                "1 again moves the negative branch down by alpha."))
        if name == "gelu":
            gelu_value, gelu_derivative = _gelu_mistakes(x, arguments.get("approximate", False))
            value += gelu_value
            derivative += gelu_derivative
        if name == "sigmoid":
            s = 1 / (1 + np.exp(-x))
            value.append(Mistake(1 - 1 / (1 + np.exp(x)), "1 - 1/(1 + exp(x)) cancels for x << 0: use exp(x) / (1 + exp(x)) there."))
            value.append(Mistake(0.5 * (1 + np.tanh(x / 2)), "0.5 (1 + tanh(x/2)) cancels for x << 0 (1 + tanh is 1 - 1); use exp(x) / (1 + "
                                                             "exp(x)) there."))
            derivative.append(Mistake(s, "that is sigmoid(x) itself; its derivative is sigmoid(x) (1 - sigmoid(x))."))
            derivative.append(Mistake(1 - s * s, "1 - s^2 is the pattern of tanh's derivative; the sigmoid's is s (1 - s), with s = sigmoid(x)."))
        if name == "tanh":
            derivative.append(Mistake(1 - np.tanh(x * x), "np.tanh(x**2) is tanh of x squared; the derivative is 1 - np.tanh(x)**2, "
                                                          "the square of tanh(x)."))
        if name == "silu":
            s = special.expit(x)
            value.append(Mistake(s, "that is sigmoid(x); silu(x) is x * sigmoid(x)."))
            derivative.append(Mistake(x * s * (1 - s), "the product rule's first term is missing: silu'(x) = sigmoid(x) + x sigmoid'(x) "
                                                       "= sigmoid(x) (1 + x (1 - sigmoid(x)))."))
    return value, derivative


def _gelu_mistakes(x: np.ndarray, approximate: bool) -> tuple[list, list]:
    """(value mistakes, derivative mistakes) of GELU on float64 ``x``: the exact form or the tanh approximation (``approximate``)."""
    value, derivative = [], []
    roots = (np.float32(1 / np.sqrt(2)), 1 / np.sqrt(2))  # TensorFlow's float32 1/sqrt(2) or the exact one
    c, k = np.sqrt(2 / np.pi), 0.044715
    if approximate:
        for r in roots:
            value.append(Mistake(0.5 * x * special.erfc(-x * float(r)), "approximate=True asks for the tanh approximation "
                                                                         "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."))
        for wrong_c, written in ((np.sqrt(2) / np.pi, "sqrt(2)/pi"), (np.sqrt(2 * np.pi), "sqrt(2 pi)"), (2 / np.pi, "2/pi")):
            hint = f"your constant c is {written} = {wrong_c:.6g}; the tanh approximation uses c = sqrt(2/pi) = 0.797885."
            value.append(Mistake(_gelu_tanh(x, wrong_c, k, 3)[0], hint))
            derivative.append(Mistake(_gelu_tanh(x, wrong_c, k, 3)[1], hint))
        value.append(Mistake(_gelu_tanh(x, c, k, 2)[0], "the approximation's correction term is 0.044715 x^3, the cube of x; yours uses x^2."))
        derivative.append(Mistake(_gelu_tanh(x, c, k, 2)[1], "the approximation's correction term is 0.044715 x^3 (its derivative "
                                                             "3 * 0.044715 x^2); yours uses x^2."))
        first_term = 0.5 * (1 + np.tanh(c * (x + k * x**3)))
        derivative.append(Mistake(first_term, "the product rule's second term is missing: the derivative of 0.5 x (1 + tanh(u)) is "
                                              "0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) u'."))
        return value, derivative
    for r in roots:
        value.append(Mistake(0.5 * x * (1 + special.erf(x * float(r))), "0.5 x (1 + erf(x / sqrt 2)) cancels to 0 for x below about -6: "
                                                                        "1 + erf(...) loses every digit. Use 0.5 x erfc(-x / sqrt 2)."))
        derivative.append(Mistake(0.5 * special.erfc(-x * float(r)), "the product rule's second term is missing: gelu'(x) = Phi(x) + x phi(x), "
                                                                      "with phi(x) = exp(-x^2/2) / sqrt(2 pi)."))
    value.append(Mistake(_gelu_tanh(x, c, k, 3)[0], "that is the tanh approximation; keras.activations.gelu is exact by default "
                                                    "(approximate=False)."))
    return value, derivative


def _gelu_tanh(x: np.ndarray, c: float, k: float, power: int) -> tuple[np.ndarray, np.ndarray]:
    """0.5 x (1 + tanh(c (x + k x^power))) and its derivative, in float64: the tanh approximation with the constants a student used."""
    t = np.tanh(c * (x + k * x**power))
    return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + power * k * x ** (power - 1))


def _warning_hint(name: str, warnings: list[str], exact: bool) -> str:
    """The likely cause of the NumPy ``warnings`` of activation ``name``, read from the warnings and from whether the
    results are nevertheless right (``exact``); no cause when they do not tell it apart from others.

    An exp that overflows to inf in a result that comes out right was either harmless in the formula itself
    (1 / (1 + inf) = 0: the naive sigmoid) or discarded afterwards: when the overflow also made an inf / inf = nan
    that is not in the result, a branch was computed where it is not used (np.where computes both branches).
    ELU uses exp only for x <= 0, where it cannot overflow: its overflow is always in a branch it does not use.
    """
    text = " ".join(warnings)
    if "in cosh" in text or "in sinh" in text:
        return (" Likely cause: cosh (or sinh) of a large argument overflows: write the derivative with tanh, 1 - tanh(x)**2, "
                "which stays between 0 and 1.")
    if "overflow encountered in exp" not in text:
        return ""
    nan = "invalid value" in text
    if name == "tanh":
        return (" Likely cause: tanh (or its derivative) written with exp overflows for |x| above about 710 (89 in float32)"
                f"{', and inf / inf is nan' if nan else ''}: use np.tanh, and 1 - tanh(x)**2 for the derivative.")
    if name == "elu":
        return (" Likely cause: exp(x) was computed for large positive x, where ELU does not use it (np.where computes both branches, "
                "as does any expression of all of x): evaluate exp on np.minimum(x, 0) only.")
    if name in ("sigmoid", "silu") and exact:
        if nan:
            return (" Likely cause: exp of a large argument, evaluated even where its branch is not used (np.where computes both "
                    "branches): the overflow made a nan (such as exp(x) / (1 + exp(x)) = inf / inf for x >> 0) that your result then discarded. "
                    "Use exp(-|x|) in both branches.")
        return (" Likely cause: exp(-x) overflows for x below about -710 (-89 in float32); the result there is still right (an inf in "
                "the denominator gives 0), but NumPy warns. Exponentiate only -|x| (never a positive number): exp(-|x|) serves both signs.")
    return " (An exponential overflows: exponentiate only -|x| or np.minimum(x, 0), which never exceed 0.)"


def exact_forms(name: str, x: np.ndarray, arguments: dict) -> tuple[list, list]:
    """(values, derivatives): other correct results than Keras's, in ``x``'s dtype.

    TensorFlow's exact GELU multiplies by 1/sqrt(2) rounded to float32; the
    exact constant is as correct (it moves the far negative tail by up to 1e-5 relative).
    """
    if name != "gelu" or arguments.get("approximate", False):
        return [], []
    z = x.astype(np.float64) / np.sqrt(2)
    value = 0.5 * x.astype(np.float64) * special.erfc(-z)
    derivative = 0.5 * special.erfc(-z) + x.astype(np.float64) * np.exp(-z * z) / np.sqrt(2 * np.pi)
    return [value.astype(x.dtype)], [derivative.astype(x.dtype)]


def _first_difference(actual, expected, rtol, atol) -> int | None:
    try:
        close = np.isclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol, atol=atol, equal_nan=True)
    except (TypeError, ValueError):
        return None
    bad = np.flatnonzero(~close) if close.shape == expected.shape else []  # flat indices
    return int(bad[0]) if len(bad) else None


# The exercise's activations written with another of its activations: checked with the course's version of that one
USES_OTHER_ACTIVATIONS = {"silu": ("sigmoid",)}


@recorded
def check_activation(name: str, function: Callable, derivative: Callable, dtype=np.float64, x=None, **arguments) -> None:
    """``function(x, **arguments)`` must equal ``keras.activations.<name>`` and ``derivative(x, **arguments)`` its ``tf.GradientTape`` derivative.

    Both run on ``x`` (default :func:`activation_grid` in ``dtype``) with NumPy
    warnings recorded; they must be silent, keep the dtype and not modify x.
    """
    __tracebackhide__ = True
    span_note = " (0 and the tails included)" if x is None else ""
    x = activation_grid(dtype) if x is None else np.asarray(x, dtype=dtype)
    expected_value, expected_derivative = keras_activation(name, x, **arguments)
    value_mistakes, derivative_mistakes = _mistakes(name, x, arguments)
    value_alternatives, derivative_alternatives = exact_forms(name, x, arguments)
    double = np.dtype(dtype) == np.float64
    rtol = 1e-6 if double else 2e-6
    atol = 1e-300 if double else 1e-37
    if name == "elu":
        atol = 2.3e-16 if double else 1.2e-7  # Keras's exp(x) - 1 and np.expm1 differ by up to one ulp of 1 near 0
    if name == "gelu":
        rtol = rtol if double else 3e-5  # float32 erfc far in the tail: one ulp of the argument moves it by ~1e-5
        if arguments.get("approximate"):
            atol = 1e-14 if double else 1e-5  # TensorFlow's own tanh form cancels (and saturates) in the far negative tail
    derivative_atol = max(atol, 1e-12 if double else 1e-6)  # TensorFlow's s(1 - s) and 1 - tanh^2 lose the far tails
    shown_arguments = "".join(f", {k}={v!r}" for k, v in arguments.items())
    span = f"{x.size} {np.dtype(dtype).name} inputs from {x.min():g} to {x.max():g}{span_note}"

    def judge(result, _):
        __tracebackhide__ = True
        values, derivatives, warnings, modified = result
        if warnings:
            exact = (_first_difference(values, expected_value, rtol, atol) is None
                     and _first_difference(derivatives, expected_derivative, rtol, derivative_atol) is None)
            fail(f"{name} or {name}_derivative printed a NumPy warning on {span}:\n  {warnings[0]}\n"
                 f"Your functions must be silent.{_warning_hint(name, warnings, exact)}")
        if modified:
            fail(f"{name} or {name}_derivative changed its input x in place; return a new array.")
        for what, actual, expected, mistakes, alternatives, tolerance in (
                (f"{name}(x{shown_arguments})", values, expected_value, value_mistakes, value_alternatives, atol),
                (f"{name}_derivative(x{shown_arguments})", derivatives, expected_derivative, derivative_mistakes, derivative_alternatives,
                 derivative_atol)):
            reference = f"keras.activations.{name}" + ("" if what.startswith(f"{name}(") else " differentiated by tf.GradientTape")
            if isinstance(actual, np.ndarray) and actual.dtype != np.dtype(dtype):
                fail(f"{what} returned {actual.dtype} for {np.dtype(dtype).name} input; keep the input's dtype.")
            first = _first_difference(actual, expected, rtol, tolerance)
            where = f"; first difference at x = {float(x.ravel()[first])!r}" if first is not None else ""
            assert_matches(actual, expected, what=what, reference=reference, rtol=rtol, atol=tolerance, axis_names=("input",) if x.ndim == 1 else (),
                           mistakes=mistakes, alternatives=alternatives, context=span + where)

    case = Case((x,), judge, kwargs=dict(arguments), driver="evaluate_activation", substitutes=USES_OTHER_ACTIVATIONS.get(name, ()))
    run_check((function, derivative), [case], f"{name} and {name}_derivative match Keras and tf.GradientTape on {span}, silently.")


@recorded
def check_dead_relu_fraction(dead_relu_fraction: Callable, layer=None) -> None:
    """``dead_relu_fraction(X, W, b)``: the fraction of units of ``keras.layers.Dense(activation="relu")`` that output 0 for every example."""
    __tracebackhide__ = True
    X, W, b = layer if layer is not None else dense_relu_layer()
    (outputs,) = ref.dense_network_outputs(X, [W], [b], "relu")
    expected = float(np.mean(np.all(outputs == 0, axis=0)))
    z = X @ W + b
    mistakes = [Mistake(float(np.mean(outputs == 0)), "that is the fraction of zero outputs over all examples and units; a unit is dead "
                                                      "only if its output is 0 for every example of the batch."),
                Mistake(float(np.mean(np.all(z < 0, axis=0))), "a unit whose pre-activation is exactly 0 for every example is dead too: "
                                                              "ReLU outputs 0 there and TensorFlow's ReLU derivative at 0 is 0 (use <= 0)."),
                Mistake(float(np.mean(np.any(outputs == 0, axis=0))), "a unit that is 0 for some examples is alive; it is dead only if 0 for "
                                                                      "all of them."),
                Mistake(float(np.sum(np.all(outputs == 0, axis=0))), "that is the number of dead units; return the fraction (divide by the "
                                                                     "number of units).")]

    def judge(result, _):
        __tracebackhide__ = True
        if np.ndim(result) != 0:
            fail(f"dead_relu_fraction must return one number (a fraction of the {W.shape[1]} units); it returned shape {np.shape(result)}.")
        assert_matches(result, expected, what="dead_relu_fraction(X, W, b)", reference='keras.layers.Dense(activation="relu")',
                       rtol=1e-12, atol=1e-12, mistakes=mistakes, context=f"X of shape {X.shape}, {W.shape[1]} units")

    run_check(dead_relu_fraction, [Case((X, W, b), judge)], f"dead_relu_fraction matches Keras's Dense ReLU layer ({W.shape[1]} units, "
                                                            f"{len(X)} examples).")


def dense_relu_layer(seed: int = 0, batch: int = 64, inputs: int = 10, units: int = 40, bias_shift: float = -1.5, zero_units: int = 0):
    """A batch X (batch, inputs) and a layer W (inputs, units), b (units,) with many dead units; ``zero_units`` units get W = 0 and b = 0."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(batch, inputs))
    W = rng.normal(size=(inputs, units)) / np.sqrt(inputs)
    b = rng.normal(size=units) + bias_shift
    W[:, :zero_units], b[:zero_units] = 0.0, 0.0
    return X, W, b


@recorded
def check_mish_derivative(mish_derivative: Callable, x=None) -> None:
    """``mish_derivative(x)``: the derivative of ``keras.activations.mish`` (x tanh(softplus(x))) on float64 ``x`` (default
    -20 to 20), against its ``tf.GradientTape`` derivative; the usual slips of the product and chain rules are named.
    The check hands ``mish_derivative`` the course's ``sigmoid``."""
    __tracebackhide__ = True
    x = np.linspace(-20.0, 20.0, 81) if x is None else np.asarray(x, dtype=np.float64)
    _, expected = keras_activation("mish", x)
    softplus = np.logaddexp(0.0, x)
    squashed, sigma = np.tanh(softplus), special.expit(x)
    mistakes = [
        Mistake(squashed, "the product rule: mish = x * tanh(softplus(x)), so its derivative also has x times the derivative of "
                          "tanh(softplus(x))."),
        Mistake(squashed + x * (1 - squashed**2), "the chain rule through softplus: d softplus(x)/dx = sigmoid(x) multiplies "
                                                  "tanh's derivative."),
        Mistake(x * (1 - squashed**2) * sigma, "the product rule has two terms: tanh(softplus(x)) + x * d tanh(softplus(x))/dx; "
                                               "the first is missing."),
        Mistake(squashed + x * (1 - squashed) * sigma, "tanh's derivative is 1 - tanh^2, not 1 - tanh."),
    ]
    # TensorFlow's derivative and any reasonable formula round a sum of terms of size up to |x|: a few epsilons of that
    case = derivation_case((x,), expected, mistakes, what=f"mish_derivative(x), x from {x.min():g} to {x.max():g}",
                           reference="tf.GradientTape on keras.activations.mish", rtol=1e-9, atol=1e-14, substitutes=("sigmoid",))
    run_check(mish_derivative, [case], "your derivative of mish matches tf.GradientTape.")


DEEP_DIGITS = {"sizes": [64] + [32] * 8 + [10], "scale": 1.0, "momentum": 0.9, "epochs": 4, "bar": 0.88}


def first_to_last_gradient_ratio(activation: str, sizes: list[int], scale: float, seed: int = 0) -> float:
    """At initialization, the norm of the first kernel's gradient over the last kernel's, on the digits' first 256 training
    examples: how much of the gradient reaches the first layer."""
    from dlcourse.problems import digits_split

    x, labels = digits_split()["train"]
    params = network.mlp_init(sizes, np.random.default_rng(seed), scale=scale)
    _, grads = network.mlp_gradients(params, x[:256], labels[:256], activation)
    return float(np.linalg.norm(grads[0]) / np.linalg.norm(grads[-2]))


@recorded
def check_deep_activation(choice) -> None:
    """``choice = {"activation": "relu" | "tanh" | "sigmoid", "learning_rate": ...}``: the 8-hidden-layer MLP of ``DEEP_DIGITS``
    (LeCun initialization) with that activation, trained by SGD with momentum on the digits; its test accuracy must reach the bar."""
    __tracebackhide__ = True
    setup = DEEP_DIGITS

    def run(values):
        activation, rate = values["activation"], float(values["learning_rate"])
        if activation not in network.ACTIVATIONS:
            return f'the activation must be one of {sorted(network.ACTIVATIONS)}; yours is "{activation}".'
        if not np.isfinite(rate) or rate <= 0:
            return f"the learning rate must be a positive number; yours is {rate!r}."
        accuracy = digits_test_accuracy(setup["sizes"], activation, setup["scale"], "sgd", rate, setup["epochs"],
                                        momentum=setup["momentum"])
        if accuracy >= setup["bar"]:
            return ""
        ratio = first_to_last_gradient_ratio(activation, setup["sizes"], setup["scale"])
        return (f"with {activation} and learning rate {rate:g} the network classifies {accuracy:.1%} of the test digits; the bar "
                f"is {setup['bar']:.0%}. At initialization the first layer's gradient is {ratio:.2g} times the last layer's "
                "(its norm): the smaller that is, the less the early layers learn.")

    check_experiment(choice, {"activation": (str,), "learning_rate": (float, int)}, run,
                     f"your deep network passes {setup['bar']:.0%} of the test digits.")
