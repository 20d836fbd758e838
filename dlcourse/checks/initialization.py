"""Checks for the exercises of chapter 4 (initialization, signal propagation, gradient clipping).

- Fans and variance-scaling parameters are compared exactly with Keras: the
  fans with Keras's own ``compute_fans``, the limit or standard deviation
  with the factor a seeded Keras initializer really draws with
  (:func:`dlcourse.keras_reference.initializer_parameter`).
- Samples cannot be compared value by value (Keras draws from TensorFlow's
  Philox stream), so they are judged by statistics: shape, support, mean and
  standard deviation within 5 standard errors, and a Kolmogorov-Smirnov test
  against the exact distribution at a 1e-5 level. The student's generator is
  seeded by the check, so a verdict never changes from one run to the next.
  A failure names a likely cause only when exactly one known mistake explains
  it: by the ratio of the standard deviations (a missing factor 2, another
  mode), or by where the sample stops in units of its own standard deviation
  (a plain normal, re-drawn beyond 3 sigma, clipped at the bound).
- The forward pass is compared with a stack of ``keras.layers.Dense``; the
  clipping functions with ``tf.clip_by_value``, ``tf.clip_by_norm`` and
  ``tf.clip_by_global_norm``; the clipped SGD step with
  ``keras.optimizers.SGD(global_clipnorm=...)``.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

from dlcourse import LazyReference, optimizers
from dlcourse.checks.cases import CallableSpec, Case, run_check
from dlcourse.checks.compare import Mistake, assert_matches, describe, fail, type_name
from dlcourse.checks.optimizer_steps import (
    check_optimizer,
    default_problem,
    each_form,
    learning_rates,
    momentum_forms,
)
from dlcourse.checks.recording import recorded
from dlcourse.checks.understanding import check_experiment, derivation_case, digits_test_accuracy

ref, keras, tf = LazyReference(), LazyReference("keras"), LazyReference("tf")

TRUNCATION_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]
NAMED_INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal")

# --------------------------------------------------------------------------
# Fans and variance-scaling parameters
# --------------------------------------------------------------------------


@recorded
def check_compute_fans(compute_fans: Callable, shapes=((3, 4), (3, 3, 64, 128), (5, 7, 16))) -> None:
    """``compute_fans(shape)`` must return Keras's ``(fan_in, fan_out)`` for each shape."""
    __tracebackhide__ = True

    def case(shape):
        expected = ref.compute_fans(shape)
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        mistakes = [Mistake(expected[::-1], "fan_in and fan_out are swapped: a kernel has shape (..., inputs, outputs).")]
        if len(shape) > 2:
            mistakes.append(Mistake((shape[-2], shape[-1]), f"the receptive field is missing: each input channel feeds "
                                                           f"prod(shape[:-2]) = {receptive} weights per output, so fan_in = {shape[-2]} * "
                                                           f"{receptive}."))

        def judge(result, _):
            __tracebackhide__ = True
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                fail(f"compute_fans{tuple(shape)} must return a pair (fan_in, fan_out); it returned {result!r:.80}.")
            assert_matches(result, expected, what=f"compute_fans({tuple(shape)})", reference="Keras's compute_fans (used by its initializers)",
                           rtol=0, atol=0, mistakes=mistakes)

        return Case((tuple(shape),), judge)

    run_check(compute_fans, [case(s) for s in shapes], f"compute_fans matches Keras on {len(shapes)} kernel shapes.")


def _variance_scaling_formula(shape, scale, mode, distribution, fans=None):
    """The parameter by the textbook formula, with ``fans`` (default Keras's) -- used for the wrong versions."""
    fan_in, fan_out = fans or ref.compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, n)
    return {"uniform": np.sqrt(3 * variance), "truncated_normal": np.sqrt(variance) / TRUNCATION_STD,
            "untruncated_normal": np.sqrt(variance)}[distribution]


@recorded
def check_variance_scaling_parameter(variance_scaling_parameter: Callable, settings=None) -> None:
    """``variance_scaling_parameter(shape, scale, mode, distribution)`` must equal what ``keras.initializers.VarianceScaling`` draws with.

    ``settings`` lists (shape, scale, mode, distribution) tuples.
    """
    __tracebackhide__ = True
    settings = settings or [((300, 200), 1.0, "fan_avg", "uniform"), ((3, 3, 16, 32), 2.0, "fan_in", "truncated_normal"),
                            ((64, 10), 1.0, "fan_out", "untruncated_normal")]

    def case(shape, scale, mode, distribution):
        expected = ref.initializer_parameter(keras.initializers.VarianceScaling(scale, mode, distribution), shape)
        fan_in, fan_out = ref.compute_fans(shape)
        formula = lambda **changes: _variance_scaling_formula(**dict(dict(shape=shape, scale=scale, mode=mode, distribution=distribution), **changes))
        mistakes = []
        if distribution == "truncated_normal":
            mistakes.append(Mistake(formula(distribution="untruncated_normal"),
                                    f"Keras's truncated normal is drawn with sigma = sqrt(scale / n) / {TRUNCATION_STD} (and re-drawn beyond "
                                    "2 sigma), so that the std after truncation is sqrt(scale / n); the correction is missing."))
            mistakes.append(Mistake(formula(distribution="untruncated_normal") * TRUNCATION_STD,
                                    f"the correction goes the other way: divide sqrt(scale / n) by {TRUNCATION_STD}, not multiply; truncation "
                                    "shrinks the std by that factor, so sigma must start larger."))
        if distribution == "uniform":
            mistakes.append(Mistake(formula(distribution="untruncated_normal"),
                                    "that is the standard deviation; a uniform on [-limit, limit] has std limit / sqrt(3), so limit = sqrt(3 "
                                    "* scale / n)."))
        if mode == "fan_avg":
            mistakes.append(Mistake(np.sqrt(3 * scale / (fan_in + fan_out)) if distribution == "uniform" else expected / np.sqrt(0.5),
                                    "fan_avg is the average (fan_in + fan_out) / 2, not the sum."))
        for other in ("fan_in", "fan_out", "fan_avg"):
            if other != mode and not np.isclose(formula(mode=other), expected):
                mistakes.append(Mistake(formula(mode=other), f"you used {other}; mode={mode!r} asks for "
                                                             f"{'(fan_in + fan_out) / 2' if mode == 'fan_avg' else mode}."))
        if len(shape) > 2:
            mistakes.append(Mistake(formula(fans=(shape[-2], shape[-1])), "the fans leave out the receptive field (see compute_fans)."))

        def judge(result, _):
            __tracebackhide__ = True
            if np.ndim(result) != 0:
                fail(f"variance_scaling_parameter must return one number; it returned shape {np.shape(result)}.")
            assert_matches(result, expected, what=f"variance_scaling_parameter({tuple(shape)}, {scale}, {mode!r}, {distribution!r})",
                           reference=f"the factor keras.initializers.VarianceScaling({scale}, {mode!r}, {distribution!r}) draws with",
                           rtol=1e-6, atol=0, mistakes=mistakes, context=f"fan_in={fan_in}, fan_out={fan_out}")

        return Case((tuple(shape), scale, mode, distribution), judge, substitutes=("compute_fans",))

    run_check(variance_scaling_parameter, [case(*s) for s in settings],
              f"variance_scaling_parameter matches Keras's VarianceScaling in {len(settings)} settings.")


# --------------------------------------------------------------------------
# Samples, judged by statistics
# --------------------------------------------------------------------------


def _distribution(distribution: str, parameter: float):
    """The exact scipy distribution a variance-scaling initializer draws from."""
    if distribution == "uniform":
        return stats.uniform(loc=-parameter, scale=2 * parameter)
    if distribution == "truncated_normal":
        return stats.truncnorm(-2.0, 2.0, scale=parameter)
    return stats.norm(scale=parameter)


def judge_sample(sample, shape: tuple, distribution: str, parameter: float, what: str, reference: str, mode: str = "fan_in",
                 alpha: float = 1e-5, scale: float | None = None, *, fans: tuple[int, int]) -> None:
    """Fail unless ``sample`` (of ``shape``) is a credible draw from the initializer's exact distribution.

    Tests, in order: shape and finiteness; the support (uniform: [-limit,
    limit]; truncated normal: [-2 sigma, 2 sigma]); mean and standard
    deviation within 5 standard errors; Kolmogorov-Smirnov at level ``alpha``.
    ``mode``, ``scale`` (the initializer's) and ``fans`` (Keras's (fan_in, fan_out) of ``shape``, computed when the case is
    built, so that judging needs no Keras) let a failure name the mistake that explains it.
    A sample that leaves the support but stops where Keras's distribution stops, in units of its own
    standard deviation, has the right shape at another scale: the standard deviation test then speaks first.
    """
    __tracebackhide__ = True
    values = np.asarray(sample, dtype=np.float64) if isinstance(sample, np.ndarray) else None
    if values is None:
        fail(f"{what} must return a NumPy array of shape {shape}; it returned {type_name(sample)}.")
    if values.shape != tuple(shape):
        fail(f"{what} has shape {values.shape}; expected {tuple(shape)}.")
    if not np.isfinite(values).all():
        fail(f"{what} contains NaN or infinite values.")
    law = _distribution(distribution, parameter)
    flat = values.ravel()
    n, std = flat.size, law.std()
    header = f"{what} is not distributed like {reference}"
    bound = {"uniform": parameter, "truncated_normal": 2 * parameter}.get(distribution)
    beyond = ""  # the values beyond the bound of a sample that has Keras's shape at another scale
    if bound is not None:
        outside = int(np.sum(np.abs(flat) > bound * (1 + 1e-6)))
        if outside:
            beyond = f"{outside} of {n} values lie outside [-{bound:.6g}, {bound:.6g}] (largest |value| {np.abs(flat).max():.6g})"
            hint = _support_hint(flat, distribution)
            if hint is not None:
                fail(f"{header}: {beyond}.{hint}")
        at_bound = int(np.sum(np.isclose(np.abs(flat), bound, rtol=1e-7, atol=0)))
        if at_bound > max(5, n // 1000):
            fail(f"{header}: {at_bound} of {n} values sit exactly at +-{bound:.6g}. Likely cause: the values beyond the bound were "
                 "clipped to it; they must be re-drawn, not clipped.")
    mean_error = abs(flat.mean()) / (std / np.sqrt(n))
    std_se = std * np.sqrt(max(law.stats(moments="k") + 2, 0.1) / (4 * n))  # standard error of a sample std
    sample_std = flat.std()
    if abs(sample_std - std) > 5 * std_se:
        shape_note = f" {beyond}, but they stop where Keras's distribution stops for their spread: the scale is off." if beyond else ""
        fail(f"{header}: its standard deviation is {sample_std:.6g}, expected {std:.6g} (ratio {sample_std / std:.4f}; "
             f"{n} values, 5 standard errors = {5 * std_se:.2g}).{shape_note}{_ratio_hint(sample_std / std, distribution, fans, mode, scale)}")
    if beyond:
        fail(f"{header}: {beyond}.")
    if mean_error > 5:
        fail(f"{header}: its mean is {flat.mean():.6g}, {mean_error:.1f} standard errors from 0 (the weights must be centred at 0).")
    result = stats.kstest(flat, law.cdf)
    if result.pvalue < alpha:
        kurtosis, expected_kurtosis = stats.kurtosis(flat, fisher=False), float(law.stats(moments="k")) + 3
        fail(f"{header}: the Kolmogorov-Smirnov test rejects it (D = {result.statistic:.4g}, p = {result.pvalue:.2g} < {alpha:g}, "
             f"{n} values). Its kurtosis is {kurtosis:.4g}, the distribution's {expected_kurtosis:.4g} (uniform 1.8, normal 3, "
             "normal truncated at 2 sigma 2.3655): is it the right family?")


def _extent(distribution: str, truncation: float = 2.0) -> float:
    """The largest |value| of a large sample in units of its own standard deviation: sqrt(3) for a uniform,
    k / std(k) for a normal re-drawn beyond k sigma (2.2737 for k = 2, 3.0408 for k = 3)."""
    if distribution == "uniform":
        return float(np.sqrt(3.0))
    return truncation / float(stats.truncnorm(-truncation, truncation).std())


def _support_hint(flat: np.ndarray, distribution: str) -> str | None:
    """Why a sample has values beyond Keras's bound, from where it stops: its largest |value| over its own std.

    None when it stops where Keras's distribution stops (the right distribution at another scale: the
    standard deviation test names the cause); otherwise a " Likely cause: ..." when exactly one known
    mistake stops there: values clipped at a bound of their own (a pile-up at the largest |value|), a
    normal truncated at 3 sigma, or a plain normal, whose largest |value| among n grows like sqrt(2 ln n).
    ``window`` is 5 standard errors of the sample std, relative (a normal's).
    """
    n, spread = flat.size, float(flat.std())
    if spread == 0:
        return " Every value is the same: the weights must be random."
    largest = float(np.abs(flat).max())
    own = largest / spread
    window = max(0.01, 5 * np.sqrt(0.5 / n))
    if distribution == "truncated_normal" and int(np.sum(np.isclose(np.abs(flat), largest, rtol=1e-7, atol=0))) > max(5, n // 1000):
        return (f" Likely cause: the values were clipped at {own:.3g} of their standard deviations; Keras re-draws every value beyond "
                "2 sigma: they must be re-drawn, not clipped.")
    if abs(own / _extent(distribution) - 1) <= window:
        return None
    if distribution == "uniform":
        family = (f" Your largest |value| is {own:.3g} standard deviations from 0, where a uniform's stops at sqrt(3) = 1.732: are they drawn "
                  "from a uniform?" if own > _extent(distribution) * (1 + window) else "")
        return f"{family} Check the limit: uniform on [-limit, limit] with limit = sqrt(3 * scale / n)."
    causes = []
    if abs(own / _extent(distribution, 3.0) - 1) <= window:
        causes.append("the values are truncated at 3 sigma; Keras re-draws every value beyond 2 sigma (the 95 % of the 68-95-99.7 "
                      "rule), so that all of them lie within [-2 s, 2 s].")
    # chance that the largest |value| of n plain normal values lies below own (1 + window), or above own (1 - window)
    below = float(np.exp(n * np.log1p(-2 * stats.norm.sf(own * (1 + window)))))
    above = -float(np.expm1(n * np.log1p(-2 * stats.norm.sf(own * (1 - window)))))
    if min(below, above) > 1e-6:
        causes.append("a plain normal is not truncated: Keras re-draws every value beyond 2 sigma (its *_normal initializers use "
                      "this truncated normal).")
    return f" Likely cause: {causes[0]}" if len(causes) == 1 else " Keras re-draws every value beyond 2 sigma."


def _ratio_hint(ratio: float, distribution: str, fans: tuple[int, int], mode: str, scale: float | None = None) -> str:
    """The cause of a standard deviation ``ratio`` times Keras's, when exactly one known mistake gives that ratio.

    The mistakes of the scale are those ``scale`` (when given) allows: a missing factor 2 only where it is 2.
    """
    known = []
    if distribution == "truncated_normal":
        known.append((TRUNCATION_STD, f"you drew with sigma = sqrt(scale / n) and then truncated; Keras divides sigma by {TRUNCATION_STD} "
                                      "first, so that the truncated values have the variance scale / n."))
    if distribution == "uniform":
        known.append((1 / np.sqrt(3), "the uniform's limit is sqrt(scale / n); it must be sqrt(3 * scale / n)."))
    fan_in, fan_out = fans
    fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
    for other, n in fans.items():
        if other != mode and n != fans[mode]:
            known.append((np.sqrt(max(1.0, fans[mode]) / max(1.0, n)),
                          f"the variance is divided by {other} = {n:g}; this initializer's mode is {mode} = {fans[mode]:g}."))
    if mode == "fan_avg":
        known.append((np.sqrt(max(1.0, fans[mode]) / max(1.0, fan_in + fan_out)), "fan_avg is the average (fan_in + fan_out) / 2, not the sum."))
    if scale is None or scale == 2:
        known.append((1 / np.sqrt(2), "a factor 2 in the variance is missing (He's scale is 2)."))
    if scale is None or scale == 1:
        known.append((np.sqrt(2), "the variance is twice too large (a scale of 2 where 1 was asked?)."))
    matches = list(dict.fromkeys(hint for value, hint in known if abs(ratio - value) < 0.02))
    return f" Likely cause: {matches[0]}" if len(matches) == 1 else ""


def _sample_case(shape, distribution, mode, parameter, what, reference, seed, args, substitutes, scale) -> Case:
    fans = ref.compute_fans(shape)

    def judge(result, _):
        __tracebackhide__ = True
        judge_sample(result, shape, distribution, parameter, what, reference, mode, scale=scale, fans=fans)

    return Case(args + (CallableSpec("random_generator", {"seed": seed}),), judge, substitutes=substitutes)


@recorded
def check_variance_scaling_sample(variance_scaling_sample: Callable, settings=None, seed: int = 0) -> None:
    """``variance_scaling_sample(shape, scale, mode, distribution, rng)`` must draw from Keras's VarianceScaling distribution."""
    __tracebackhide__ = True
    settings = settings or [((300, 200), 1.0, "fan_avg", "uniform"), ((3, 3, 64, 128), 2.0, "fan_in", "truncated_normal"),
                            ((200, 100), 1.0, "fan_out", "untruncated_normal")]
    cases = []
    for i, (shape, scale, mode, distribution) in enumerate(settings):
        parameter = ref.initializer_parameter(keras.initializers.VarianceScaling(scale, mode, distribution), shape)
        label = f"keras.initializers.VarianceScaling({scale}, {mode!r}, {distribution!r}) on shape {tuple(shape)}"
        cases.append(_sample_case(tuple(shape), distribution, mode, parameter, f"variance_scaling_sample({tuple(shape)}, {scale}, {mode!r}, "
                                                                         f"{distribution!r}, rng)",
                                  label, seed + i, (tuple(shape), scale, mode, distribution), ("variance_scaling_parameter",), scale))
    run_check(variance_scaling_sample, cases, f"variance_scaling_sample passes the statistical tests against Keras in {len(settings)} settings.")


@recorded
def check_initialize(initialize: Callable, names=NAMED_INITIALIZERS, shape=(256, 128), seed: int = 10) -> None:
    """``initialize(name, shape, rng)`` must draw from ``keras.initializers.get(name)``'s distribution for each name."""
    __tracebackhide__ = True
    cases = []
    for i, name in enumerate(names):
        initializer = keras.initializers.get(name)
        parameter = ref.initializer_parameter(initializer, shape)
        label = (f"keras.initializers.{type(initializer).__name__} (scale={initializer.scale}, mode={initializer.mode!r}, "
                 f"distribution={initializer.distribution!r}) on shape {tuple(shape)}")
        cases.append(_sample_case(tuple(shape), initializer.distribution, initializer.mode, parameter,
                                  f"initialize({name!r}, {tuple(shape)}, rng)",
                                  label, seed + i, (name, tuple(shape)), ("variance_scaling_sample",), initializer.scale))
    run_check(initialize, cases, f"initialize passes the statistical tests against Keras for {', '.join(names)}.")


# --------------------------------------------------------------------------
# A forward pass that records per-layer statistics
# --------------------------------------------------------------------------


def deep_network(seed: int = 0, widths=(32, 64, 64, 64, 64, 16), batch: int = 100, weight_std=None):
    """A random batch and MLP: x (batch, widths[0]), kernels (widths[i], widths[i+1]) with std ``weight_std``
    (default 1/sqrt(fan_in)), biases (widths[i+1],)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, widths[0]))
    weights = [rng.normal(size=(a, b)) * (weight_std if weight_std is not None else 1 / np.sqrt(a)) for a, b in zip(widths[:-1], widths[1:])]
    biases = [0.1 * rng.normal(size=b) for b in widths[1:]]
    return x, weights, biases


@recorded
def check_forward_statistics(forward_statistics: Callable, activation: str = "tanh", network=None) -> None:
    """``forward_statistics(x, weights, biases, activation)`` must return each layer's (mean, std) as Keras Dense layers compute them."""
    __tracebackhide__ = True
    x, weights, biases = network if network is not None else deep_network()
    outputs = ref.dense_network_outputs(x, weights, biases, activation)
    expected = np.array([[float(tf.reduce_mean(o)), float(tf.math.reduce_std(o))] for o in outputs]).T  # (2, layers)
    linear = ref.dense_network_outputs(x, weights, biases, "linear") if activation != "linear" else outputs
    pre_activations = [h @ w + b for h, w, b in zip([x] + outputs[:-1], weights, biases)]
    last_layer_linear = "the last layer's activation is missing: every layer, the last one too, computes activation(h @ W + b)."
    mistakes_std = [Mistake([np.std(o, ddof=1) for o in outputs], "that is the sample std with ddof=1; use the population std (np.std's "
                                                                  "default, ddof=0), as tf.math.reduce_std."),
                    Mistake([np.std(z) for z in pre_activations], "those are the statistics of the pre-activations x @ W + b; record each "
                                                                  "layer's output after the activation."),
                    Mistake([np.std(o, axis=0).mean() for o in outputs], "that is the mean over units of each unit's std; take the std over "
                                                                         "all the layer's values (batch and units together)."),
                    Mistake([np.std(o) for o in linear], "the activation is not applied: these are the statistics of a linear network."),
                    Mistake([np.std(o) for o in outputs[:-1]] + [np.std(pre_activations[-1])], last_layer_linear)]
    context = describe(x=x) + f", {len(weights)} layers of widths {[w.shape[1] for w in weights]}, activation={activation!r}"

    def judge(result, _):
        __tracebackhide__ = True
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            fail("forward_statistics must return a pair (means, stds) of arrays with one entry per layer.")
        means, stds = result
        what = f"forward_statistics(..., {activation!r})"
        reference = f"a stack of keras.layers.Dense(activation={activation!r}) (tf.reduce_mean, tf.math.reduce_std of each output)"
        assert_matches(stds, expected[1], what=f"{what} stds", reference=reference, rtol=1e-6, atol=1e-12, axis_names=("layer",),
                       mistakes=mistakes_std, context=context)
        assert_matches(means, expected[0], what=f"{what} means", reference=reference, rtol=1e-6, atol=1e-12, axis_names=("layer",),
                       mistakes=[Mistake([np.mean(z) for z in pre_activations], "those are the means of the pre-activations; record each "
                                                                                "layer's output."),
                                 Mistake([np.mean(o) for o in outputs[:-1]] + [np.mean(pre_activations[-1])], last_layer_linear)],
                       context=context)

    run_check(forward_statistics, [Case((x, weights, biases, activation), judge)],
              f"forward_statistics matches Keras Dense layers ({activation}, {len(weights)} layers).")


# --------------------------------------------------------------------------
# Clipping, as TensorFlow does it
# --------------------------------------------------------------------------


def _same_dtype(result, given: np.ndarray, what: str) -> None:
    __tracebackhide__ = True
    if isinstance(result, np.ndarray) and given.dtype == np.float32 and result.dtype != np.float32:
        fail(f"{what} returned {result.dtype} for float32 input; keep the input's dtype (TensorFlow does).")


@recorded
def check_clip_by_value(clip_by_value: Callable, t=None, clip_value_min=-0.5, clip_value_max=0.5) -> None:
    """``clip_by_value(t, clip_value_min, clip_value_max)`` must equal ``tf.clip_by_value`` (bounds may be arrays)."""
    __tracebackhide__ = True
    t = np.random.default_rng(1).normal(size=(4, 5)) if t is None else np.asarray(t)
    expected = tf.clip_by_value(tf.constant(t), tf.constant(clip_value_min, dtype=t.dtype), tf.constant(clip_value_max, dtype=t.dtype)).numpy()
    mistakes = [Mistake(np.clip(t, clip_value_min, clip_value_max), "when clip_value_min > clip_value_max, TensorFlow computes "
                                                                    "maximum(minimum(t, max), min), so the minimum wins; np.clip lets the "
                                                                    "maximum win.")]
    what = f"clip_by_value(t, {clip_value_min!r}, {clip_value_max!r})"

    def judge(result, args_after):
        __tracebackhide__ = True
        _same_dtype(result, t, what)
        assert_matches(result, expected, what=what, reference="tf.clip_by_value", rtol=0, atol=0, mistakes=mistakes,
                       context=describe(t=t), axis_names=("row", "column")[: t.ndim] if t.ndim <= 2 else ())
        if not np.array_equal(np.asarray(args_after[0]), t, equal_nan=True):
            fail("clip_by_value changed its input t in place; return a new array.")

    run_check(clip_by_value, [Case((t, clip_value_min, clip_value_max), judge)], f"clip_by_value matches tf.clip_by_value on t of shape {t.shape}.")


@recorded
def check_clip_by_norm(clip_by_norm: Callable, tensors=None, clip_norm: float = 1.0) -> None:
    """``clip_by_norm(t, clip_norm)`` must equal ``tf.clip_by_norm`` (t * clip_norm / max(norm, clip_norm); all-zero t stays 0)."""
    __tracebackhide__ = True
    rng = np.random.default_rng(2)
    tensors = tensors if tensors is not None else [rng.normal(size=(3, 4)), 0.1 * rng.normal(size=5)]
    cases = []
    for t in (np.asarray(t) for t in tensors):
        expected = tf.clip_by_norm(tf.constant(t), clip_norm).numpy()
        norm = float(np.sqrt(np.sum(t.astype(np.float64) ** 2)))
        what = f"clip_by_norm(t, {clip_norm!r})"
        mistakes = [Mistake(t * clip_norm / norm if norm else t, "you always rescale to the threshold; TensorFlow only shrinks: t * "
                                                                 "clip_norm / max(norm, clip_norm)."),
                    Mistake(np.clip(t, -clip_norm, clip_norm), "that is clipping by value (each element); clip_by_norm rescales the whole "
                                                               "tensor so its L2 norm is at most clip_norm."),
                    Mistake(t * clip_norm / max(float(np.max(np.abs(t), initial=0.0)), clip_norm),
                            "you measured the tensor by its largest |value| (the max norm); clip_by_norm uses the L2 norm sqrt(sum(t**2))."),
                    Mistake(t * clip_norm / max(float(np.sum(np.abs(t))), clip_norm),
                            "you measured the tensor by the sum of |values| (the L1 norm); clip_by_norm uses the L2 norm sqrt(sum(t**2)).")]

        def judge(result, args_after, t=t, expected=expected, what=what, mistakes=mistakes, norm=norm):
            __tracebackhide__ = True
            _same_dtype(result, t, what)
            assert_matches(result, expected, what=what, reference="tf.clip_by_norm", rtol=1e-6, atol=1e-12, mistakes=mistakes,
                           context=describe(t=t) + f", its norm {norm:.6g}")

        cases.append(Case((t, clip_norm), judge))
    run_check(clip_by_norm, cases, f"clip_by_norm matches tf.clip_by_norm on {len(cases)} tensors.")


@recorded
def check_clip_by_global_norm(clip_by_global_norm: Callable, tensors=None, clip_norm: float = 1.0) -> None:
    """``clip_by_global_norm(t_list, clip_norm)`` must return ``(clipped list, global norm)`` as ``tf.clip_by_global_norm``.

    ``None`` entries stay ``None`` and do not count; a global norm of inf or
    NaN makes every tensor NaN (TensorFlow's signal that something overflowed).
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(3)
    tensors = tensors if tensors is not None else [rng.normal(size=(3, 4)), rng.normal(size=5), np.array(2.0)]
    tensors = [None if t is None else np.asarray(t) for t in tensors]
    clipped, norm = tf.clip_by_global_norm([None if t is None else tf.constant(t) for t in tensors], clip_norm)
    expected = [None if c is None else c.numpy() for c in clipped]
    expected_norm = float(norm.numpy())
    per_tensor = [None if t is None else tf.clip_by_norm(tf.constant(t), clip_norm).numpy() for t in tensors]
    sum_of_norms = sum(float(np.sqrt(np.sum(t.astype(np.float64) ** 2))) for t in tensors if t is not None)
    shown = "[" + ", ".join("None" if t is None else f"shape {t.shape}" for t in tensors) + "]"
    what = f"clip_by_global_norm(t_list, {clip_norm!r})"
    if np.isfinite(expected_norm):
        mistakes = [[Mistake(p, "each tensor was clipped by its own norm; scale all of them by the same factor "
                                "clip_norm / max(global_norm, clip_norm).")] for p in per_tensor]
    else:
        with np.errstate(invalid="ignore"):
            mistakes = [[Mistake(None if t is None else t * 0.0, f"the global norm is {expected_norm}: TensorFlow then makes every tensor NaN, "
                                                                 "its signal that a gradient overflowed (scale = clip_norm * min(1 / global_norm, "
                                                                 "1 / clip_norm) + (global_norm - global_norm)).")] for t in tensors]

    def judge(result, _):
        __tracebackhide__ = True
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            fail(f"{what} must return a pair (list of clipped tensors, global_norm).")
        clipped_list, global_norm = result
        if not isinstance(clipped_list, (list, tuple)) or len(clipped_list) != len(tensors):
            fail(f"{what} must return a list of {len(tensors)} tensors, one per input.")
        assert_matches(global_norm, expected_norm, what=f"{what} global_norm", reference="tf.clip_by_global_norm", rtol=1e-6, atol=1e-12,
                       context=shown, mistakes=[Mistake(sum_of_norms, "you added the tensors' norms; the global norm is sqrt of the sum of "
                                                                      "all squares: sqrt(sum_i ||t_i||^2).")])
        for i, (actual, target) in enumerate(zip(clipped_list, expected)):
            if target is None:
                if actual is not None:
                    fail(f"{what}: entry {i} is None in the input and must stay None (TensorFlow ignores it).")
                continue
            _same_dtype(actual, tensors[i], what)
            assert_matches(actual, target, what=f"{what} tensor {i}", reference="tf.clip_by_global_norm", rtol=1e-6, atol=1e-12, context=shown,
                           mistakes=mistakes[i])

    run_check(clip_by_global_norm, [Case((tensors, clip_norm), judge)], f"clip_by_global_norm matches tf.clip_by_global_norm on {shown}.")


# --------------------------------------------------------------------------
# A training step with global-norm clipping
# --------------------------------------------------------------------------


def _sgd_clipping_the_step_update(params: list, grads: list, state: list, learning_rate: float, momentum: float = 0.0,
                                  global_clipnorm: float = 1.0):
    """A classic wrong order: v <- momentum v - lr g first, then v clipped by its global norm; theta <- theta + v."""
    velocities = [momentum * v - learning_rate * np.asarray(g, dtype=p.dtype) for p, g, v in zip(params, grads, state)]
    velocities, _ = optimizers.clip_by_global_norm(velocities, global_clipnorm)
    return [p + v for p, v in zip(params, velocities)], velocities


@recorded
def check_clipped_sgd(clipped_sgd_init: Callable, clipped_sgd_update: Callable, learning_rate: float = 0.1, momentum: float = 0.9,
                      global_clipnorm: float = 1.0, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """``clipped_sgd_update`` must follow ``keras.optimizers.SGD(learning_rate, momentum, global_clipnorm=...)`` step by step."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(seed=4, dtype=dtype)

    def sgd(**clipping):
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum, **clipping)

    rates = learning_rates(learning_rate, num_steps)

    def forms(**clipping):
        """Keras's SGD with ``clipping`` (NumPy), with the momentum as given and as Keras stores it."""
        return momentum_forms(optimizers.sgd_update, problem, rates, momentum, **clipping)

    mistakes = (each_form(forms(clipnorm=global_clipnorm),
                          "each tensor was clipped by its own norm (Keras's clipnorm); global_clipnorm scales all gradients "
                          "by one factor from the norm of all of them together.")
                + each_form(forms(clipvalue=global_clipnorm),
                            "that is clipping by value (Keras's clipvalue); clip the gradients by their global norm.")
                + each_form(forms(), "the gradients are not clipped: clip them by their global norm before the momentum update.")
                + each_form(momentum_forms(_sgd_clipping_the_step_update, problem, rates, momentum, global_clipnorm=global_clipnorm),
                            "the step (the new velocity) was clipped after the momentum update; Keras clips the gradients by their global "
                            "norm first, then v <- momentum v - lr g."))
    hyper = {"momentum": momentum, "global_clipnorm": global_clipnorm}
    label = f"keras.optimizers.SGD(learning_rate={learning_rate}, momentum={momentum}, global_clipnorm={global_clipnorm})"
    check_optimizer((clipped_sgd_init, clipped_sgd_update), names=("clipped_sgd_init", "clipped_sgd_update"),
                    keras_optimizer=lambda: sgd(global_clipnorm=global_clipnorm), label=label, learning_rate=learning_rate,
                    num_steps=num_steps, problem=problem, hyperparameters=hyper, mistakes=mistakes,
                    alternatives=forms(global_clipnorm=global_clipnorm), substitutes=("clip_by_global_norm",))


@recorded
def check_leaky_relu_scale(leaky_relu_scale: Callable, negative_slopes=(0.2, 0.01, 0.5, 1.0)) -> None:
    """``leaky_relu_scale(negative_slope)``: the ``scale`` of ``keras.initializers.VarianceScaling(mode="fan_in")`` that keeps
    the second moment of the pre-activations from layer to layer through LeakyReLU(negative_slope) layers: 2 / (1 + a^2),
    for each slope of ``negative_slopes`` (exact; the lesson's variance map checks it with Keras)."""
    __tracebackhide__ = True
    made = []
    for slope in negative_slopes:
        exact = 2.0 / (1.0 + slope**2)
        mistakes = [
            Mistake(2.0 / (1.0 + slope), "the negative half contributes a^2 q / 2 to E[phi(z)^2], not a q / 2: the slope is squared."),
            Mistake(np.sqrt(exact), "that is a gain on the standard deviation (as PyTorch's calculate_gain); Keras's scale multiplies "
                                    "the variance 1 / fan_in, so it is the square of that."),
            Mistake(exact / 2, "each sign of z has probability 1/2, so E[phi(z)^2] = (1 + a^2) q / 2: the scale that "
                               "makes up for it is 2 / (1 + a^2)."),
            Mistake(1.0 / exact, "the scale must make up for what the activation removes: it is the inverse of E[phi(z)^2] / q."),
            Mistake(2.0, "He's scale 2 holds for ReLU (a = 0) only: the negative side of a leaky ReLU passes a^2 of its variance."),
        ]
        made.append(derivation_case((slope,), exact, [m for m in mistakes if not np.isclose(m.output, exact)],
                                    what=f"leaky_relu_scale({slope})", reference="2 / (1 + negative_slope^2)", rtol=1e-12, atol=0.0))
    run_check(leaky_relu_scale, made, "your scale keeps the second moment of a deep leaky-ReLU network's pre-activations.")


DEEP_RELU_DIGITS = {"sizes": [64] + [64] * 10 + [10], "activation": "relu", "learning_rate": 0.01, "momentum": 0.9, "epochs": 3,
                    "bar": 0.8}


@recorded
def check_deep_relu_scale(choice) -> None:
    """``choice = {"scale": ...}``: the 10-hidden-layer ReLU MLP of ``DEEP_RELU_DIGITS``, its kernels from N(0, scale / fan_in),
    trained by SGD with momentum on the digits; its test accuracy must reach the bar."""
    __tracebackhide__ = True
    setup = DEEP_RELU_DIGITS
    depth = len(setup["sizes"]) - 2

    def run(values):
        scale = float(values["scale"])
        if not np.isfinite(scale) or scale <= 0:
            return f"the scale must be a positive number; yours is {scale!r}."
        accuracy = digits_test_accuracy(setup["sizes"], setup["activation"], scale, "sgd", setup["learning_rate"], setup["epochs"],
                                        momentum=setup["momentum"])
        if accuracy >= setup["bar"]:
            return ""
        return (f"with kernels from N(0, {scale:g} / fan_in), the network classifies {accuracy:.1%} of the test digits; the bar is "
                f"{setup['bar']:.0%}. At initialization each ReLU layer multiplies the second moment of the pre-activations by "
                f"scale / 2 (Lesson 1): through the {depth} hidden layers yours multiplies it by {(scale / 2) ** depth:.3g}.")

    check_experiment(choice, {"scale": (float, int)}, run,
                     f"your initialization lets the deep ReLU network pass {setup['bar']:.0%} of the test digits.")
