"""Checks for the exercises of chapter 6 (backpropagation and regularisation).

Every forward pass is compared with the Keras layer or loss it stands for,
every backward pass with ``tf.GradientTape`` on that layer or loss, in
float64 (and float32 where the task says so), with the student's functions
run by :func:`~dlcourse.checks.callables.evaluate` (NumPy warnings recorded,
inputs that must not change watched). Tolerances come from rounding: a value
computed as a sum of k products of magnitudes |a_i b_i| is off by at most
about k eps sum |a_i b_i| in any order (:func:`product_tolerance`), and the
batch statistics of batch normalisation by about n eps of the magnitudes
involved. The classic wrong versions (a transposed kernel, the bias gradient
averaged, ReLU's derivative 1 at 0, the loss summed, the variance with
ddof=1, dropout scaled at inference, L2 on the biases ...) are recognised.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlcourse import LazyReference, network, optimizers
from dlcourse.checks.cases import CallableSpec, Case, run_check
from dlcourse.checks.compare import Mistake, assert_matches, fail
from dlcourse.checks.recording import recorded
from dlcourse.checks.understanding import derivation_case

ref, keras, tf = LazyReference(), LazyReference("keras"), LazyReference("tf")


def tape(function: Callable, *arrays: np.ndarray) -> list[np.ndarray]:
    """The gradients of the scalar ``function(*tensors)`` with respect to each array, in the arrays' own dtypes."""
    return ref.tape_gradient(function, *arrays, dtype=None)

# The functions of the exercise that model_gradients may call: it is checked with the course's versions of them.
MODEL_PIECES = ("dense_forward", "dense_backward", "relu_backward", "softmax_cross_entropy", "l2_penalty_gradient")
# ... and train_epoch: the student's model_gradients, and the course's SGD (which the exercise's imports cell provides)
TRAINING_PIECES = ("model_gradients", "sgd_init", "sgd_update")
# ... and the digits experiment: the student's train_epoch too
EXPERIMENT_PIECES = ("train_epoch", *TRAINING_PIECES)
EXPERIMENT_BUDGET = 20_000     # parameters
EXPERIMENT_BAR = 0.95          # test accuracy


def product_tolerance(a: np.ndarray, b: np.ndarray, dtype=np.float64) -> np.ndarray:
    """The rounding bound of the matrix product a @ b in any summation order: 2 k eps (|a| @ |b|), k the inner dimension."""
    a, b = np.abs(np.asarray(a, dtype=np.float64)), np.abs(np.asarray(b, dtype=np.float64))
    k = a.shape[-1] if a.ndim else 1
    return 2 * (k + 1) * float(np.finfo(dtype).eps) * (a @ b) + float(np.finfo(dtype).tiny)


SOFTMAX_HINT = (" Likely cause: the softmax was computed first, then its log: exp of a large logit overflows, and the log of a "
                "probability that underflowed to 0 is -inf. Work with the logits minus each row's maximum: log_softmax = z - max(z) - "
                "log(sum(exp(z - max(z)))).")


def _judge_quiet(what: str, result, exp_or_log_hint: str = "") -> object:
    """The value of an :func:`~dlcourse.checks.callables.evaluate` result, after failing on a warning or a changed input."""
    __tracebackhide__ = True
    if not isinstance(result, (list, tuple)) or len(result) != 3:
        fail(f"the check could not read {what}'s result.")
    value, warnings, modified = result
    if warnings:
        text = " ".join(warnings)
        hint = exp_or_log_hint if "overflow encountered in exp" in text or "encountered in log" in text else ""
        fail(f"{what} printed a NumPy warning:\n  {warnings[0]}\nYour function must be silent.{hint}")
    if modified:
        fail(f"{what} changed an array it was given in place; return new arrays and leave the inputs as they were.")
    return value


def _parts(value, count: int, what: str, names: str) -> tuple:
    __tracebackhide__ = True
    if not isinstance(value, (list, tuple)) or len(value) != count:
        fail(f"{what} must return a tuple {names}.")
    return tuple(value)


# ----------------------------------------------------------------------------- dense layers


def dense_case(seed: int = 0, n: int = 6, d_in: int = 4, d_out: int = 3, dtype=np.float64) -> tuple:
    """(x (n, d_in), kernel (d_in, d_out), bias (d_out,), dz (n, d_out)) drawn from N(0, 1) with ``seed``."""
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=shape).astype(dtype) for shape in ((n, d_in), (d_in, d_out), (d_out,), (n, d_out)))


@recorded
def check_dense(dense_forward: Callable, dense_backward: Callable, case=None) -> None:
    """``dense_forward(x, kernel, bias)`` must equal ``keras.layers.Dense`` and ``dense_backward(dz, x, kernel)`` the tape's
    (dx, dkernel, dbias) of sum(dz * z)."""
    __tracebackhide__ = True
    x, kernel, bias, dz = case if case is not None else dense_case()
    dtype = x.dtype
    layer = keras.layers.Dense(kernel.shape[1], dtype=dtype.name)
    layer.build((None, kernel.shape[0]))
    layer.set_weights([kernel, bias])
    z = layer(x).numpy()
    dx, dkernel, dbias = tape(lambda xt, kt, bt: tf.reduce_sum(dz * (xt @ kt + bt)), x, kernel, bias)
    shapes = f"x {x.shape}, kernel {kernel.shape}, bias {bias.shape}, dz {dz.shape}, {dtype.name}"

    def judge_forward(result, _):
        __tracebackhide__ = True
        value = _judge_quiet("dense_forward", result)
        assert_matches(value, z, what="dense_forward(x, kernel, bias)", reference="keras.layers.Dense (no activation)", rtol=0,
                       atol=product_tolerance(x, kernel, dtype) + np.abs(bias) * float(np.finfo(dtype).eps), context=shapes,
                       mistakes=[Mistake(x @ kernel, "the bias is missing: z = x @ kernel + bias.")], dtype=dtype)

    def judge_backward(result, _):
        __tracebackhide__ = True
        grads = _parts(_judge_quiet("dense_backward", result), 3, "dense_backward", "(dx, dkernel, dbias)")
        tolerances = (product_tolerance(dz, kernel.T, dtype), product_tolerance(x.T, dz, dtype),
                      product_tolerance(np.ones(len(dz)), dz, dtype))
        square = kernel.shape[0] == kernel.shape[1]  # where a transpose keeps the shape, only the numbers tell it
        mistakes = ([Mistake(dz @ kernel, "dx uses the kernel itself; it is dz @ kernel.T (the kernel maps x to z, its transpose "
                                          "maps dz back).")] if square else [],
                    ([Mistake(dz.T @ x, "dkernel is transposed: dkernel = x.T @ dz has the kernel's shape (d_in, d_out).")] if square else [])
                    + [Mistake(x.T @ dz / len(x), "dkernel was divided by the batch size: the loss's gradient dz already holds the "
                                                  "1/n of the mean, so dkernel = x.T @ dz.")],
                    [Mistake(dz.mean(axis=0), "the bias gradient is the sum of dz over the batch, not its mean (dz already holds "
                                              "the 1/n of the loss).")])
        for name, actual, expected, tolerance, wrong in zip(("dx", "dkernel", "dbias"), grads, (dx, dkernel, dbias), tolerances, mistakes):
            assert_matches(actual, expected, what=f"dense_backward's {name}", reference="tf.GradientTape on keras.layers.Dense", rtol=0,
                           atol=tolerance, context=shapes, mistakes=wrong, dtype=dtype)

    run_check(dense_forward, [Case((x, kernel, bias), judge_forward, driver="evaluate")], "")
    run_check(dense_backward, [Case((dz, x, kernel), judge_backward, driver="evaluate")],
              f"dense_forward and dense_backward match keras.layers.Dense and tf.GradientTape ({shapes}).")


# ----------------------------------------------------------------------------- activations


@recorded
def check_relu_backward(relu_backward: Callable, seed: int = 1, dtype=np.float64) -> None:
    """``relu_backward(dh, z)`` must equal the tape's gradient of sum(dh * relu(z)), TensorFlow's derivative 0 at z = 0."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.normal(size=20), [0.0, -0.0, 1e-300, -1e-300, 5.0, -5.0]]).reshape(2, 13).astype(dtype)
    dh = rng.normal(size=z.shape).astype(dtype)
    (expected,) = tape(lambda zt: tf.reduce_sum(dh * keras.activations.relu(zt)), z)

    def judge(result, _):
        __tracebackhide__ = True
        value = _judge_quiet("relu_backward", result)
        assert_matches(value, expected, what="relu_backward(dh, z)", reference="tf.GradientTape on keras.activations.relu", rtol=0,
                       atol=0, context=f"z of shape {z.shape} with exact zeros, {np.dtype(dtype).name}", dtype=dtype,
                       mistakes=[Mistake(dh * (z >= 0), "at z = 0 TensorFlow's ReLU gradient is 0: pass dh where z > 0, not z >= 0."),
                                 Mistake((z > 0).astype(dtype), "that is relu's derivative alone: multiply it by the upstream gradient dh."),
                                 Mistake(dh * np.maximum(z, 0), "that multiplies dh by relu(z); the derivative is 1 where z > 0, else 0.")])

    run_check(relu_backward, [Case((dh, z), judge, driver="evaluate")], f"relu_backward matches tf.GradientTape on {z.size} inputs.")


# ----------------------------------------------------------------------------- softmax cross-entropy


def logits_case(seed: int = 2, n: int = 8, classes: int = 5, scale: float = 3.0, dtype=np.float64) -> tuple:
    """(logits (n, classes) from N(0, scale^2), labels (n,) int) with ``seed``."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0.0, scale, size=(n, classes))).astype(dtype), rng.integers(0, classes, size=n)


@recorded
def check_softmax_cross_entropy(softmax_cross_entropy: Callable, case=None) -> None:
    """``softmax_cross_entropy(logits, labels)`` must return (the mean loss of ``SparseCategoricalCrossentropy(from_logits=True)``,
    its gradient with respect to the logits by ``tf.GradientTape``), silently for any logits."""
    __tracebackhide__ = True
    logits, labels = case if case is not None else logits_case()
    dtype = logits.dtype
    loss_function = ref.sparse_cross_entropy(dtype.name)
    expected_loss = float(loss_function(labels, logits))
    (expected_grad,) = tape(lambda t: loss_function(labels, t), logits)
    n, classes = logits.shape
    eps = float(np.finfo(dtype).eps)
    spread = np.abs(logits).max(axis=1) + np.log(classes)            # the magnitudes log-sum-exp works with, per example
    loss_tolerance = 8 * (classes + 2) * eps * float(spread.mean()) + eps * abs(expected_loss)
    shown = f"logits {logits.shape} {dtype.name} up to |{np.abs(logits).max():.3g}|, labels {labels.tolist()}"
    onehot = np.eye(classes)[labels]
    probabilities = np.exp(network.log_softmax(logits.astype(np.float64)))
    # softmax's relative error grows with the exponents' size; softmax - 1 at the label loses eps of 1 whatever the result
    grad_tolerance = 8 * (classes + 2) * eps * (1 + spread[:, None]) * (probabilities + onehot) / n + float(np.finfo(dtype).tiny)

    def judge(result, _):
        __tracebackhide__ = True
        value = _judge_quiet("softmax_cross_entropy", result, SOFTMAX_HINT)
        loss, grad = _parts(value, 2, "softmax_cross_entropy", "(loss, dlogits)")
        if np.ndim(loss) != 0:
            fail(f"softmax_cross_entropy's loss must be one number (the mean over the batch); it has shape {np.shape(loss)}.")
        assert_matches(loss, expected_loss, what="softmax_cross_entropy's loss", rtol=0, atol=loss_tolerance, context=shown,
                       reference="keras.losses.SparseCategoricalCrossentropy(from_logits=True)", dtype=dtype,
                       mistakes=[Mistake(n * expected_loss, "that is the sum over the batch; Keras reduces the loss to the mean "
                                                            "(sum_over_batch_size).")])
        assert_matches(grad, expected_grad, what="softmax_cross_entropy's dlogits", rtol=0, atol=grad_tolerance, context=shown,
                       reference="tf.GradientTape on the Keras loss", dtype=dtype, axis_names=("example", "class"),
                       mistakes=[Mistake(probabilities - onehot, "dlogits was not divided by the batch size: the loss is the mean, "
                                                                 "so dlogits = (softmax - onehot) / n."),
                                 Mistake((onehot - probabilities) / n, "the sign is reversed: dlogits = (softmax - onehot) / n."),
                                 Mistake(probabilities / n, "the onehot of the labels is missing: dlogits = (softmax - onehot) / n.")])

    run_check(softmax_cross_entropy, [Case((logits, labels), judge, driver="evaluate")],
              f"softmax_cross_entropy matches Keras's loss and tf.GradientTape ({shown}).")


# ----------------------------------------------------------------------------- batch normalisation


DDOF_HINT = "the variance was computed with ddof=1; BatchNormalization uses the biased variance of the batch (np.var's default, ddof=0)."


def batch_norm_case(seed: int = 3, n: int = 16, d: int = 4, dtype=np.float64) -> tuple:
    """(x (n, d) from N(2, 3^2), gamma (d,), beta (d,), moving_mean (d,), moving_variance (d,), dy (n, d))."""
    rng = np.random.default_rng(seed)
    return (rng.normal(2.0, 3.0, size=(n, d)).astype(dtype), rng.normal(1.0, 0.5, size=d).astype(dtype), rng.normal(size=d).astype(dtype),
            rng.normal(size=d).astype(dtype), rng.uniform(0.5, 2.0, size=d).astype(dtype), rng.normal(size=(n, d)).astype(dtype))


@recorded
def check_batch_norm(batch_norm_forward: Callable, batch_norm_backward: Callable, case=None, momentum: float = 0.99,
                     epsilon: float = 1e-3) -> None:
    """``batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, training, momentum, epsilon)`` must give
    ``keras.layers.BatchNormalization``'s (y, moving mean, moving variance) in training and in inference, and
    ``batch_norm_backward(dy, x, gamma, epsilon)`` the tape's (dx, dgamma, dbeta) in training."""
    __tracebackhide__ = True
    x, gamma, beta, moving_mean, moving_variance, dy = case if case is not None else batch_norm_case()
    dtype, n = x.dtype, len(x)
    eps = float(np.finfo(dtype).eps)

    def keras_layer():
        layer = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, dtype=dtype.name)
        layer.build((None, x.shape[1]))
        layer.set_weights([gamma, beta, moving_mean, moving_variance])
        return layer

    training_layer, inference_layer = keras_layer(), keras_layer()
    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        y_tensor = training_layer(x_tensor, training=True)
        upstream = tf.reduce_sum(dy * y_tensor)
    dx, dgamma, dbeta = (g.numpy() for g in tape.gradient(upstream, [x_tensor, training_layer.gamma, training_layer.beta]))
    y_train = y_tensor.numpy()
    moved = (training_layer.moving_mean.numpy(), training_layer.moving_variance.numpy())
    y_infer = inference_layer(x, training=False).numpy()
    mean, variance = x.astype(np.float64).mean(axis=0), x.astype(np.float64).var(axis=0)
    sigma = np.sqrt(variance + epsilon)
    scale = np.abs(gamma) * (np.abs(x) + np.abs(mean)) / sigma + np.abs(beta)      # the magnitudes y is computed from
    y_tolerance = 16 * (n + 4) * eps * scale
    infer_tolerance = 16 * eps * (np.abs(gamma) * (np.abs(x) + np.abs(moving_mean)) / np.sqrt(moving_variance + epsilon) + np.abs(beta))
    statistics_tolerance = 16 * (n + 4) * eps * (np.abs(moving_mean) + np.abs(mean) + np.abs(moving_variance) + variance + mean**2)
    x_hat = (x - mean) / sigma
    grad_scale = np.abs(gamma) / sigma * (np.abs(dy) + np.abs(dy).mean(axis=0) + np.abs(x_hat) * np.abs(dy * x_hat).mean(axis=0))
    shown = f"x {x.shape} {dtype.name} (mean about 2, std about 3), momentum={momentum}, epsilon={epsilon}"

    def forms(ddof=0, eps_outside=False, swapped=False):
        var = x.var(axis=0, ddof=ddof)
        y = gamma * (x - mean) / (np.sqrt(var) + epsilon if eps_outside else np.sqrt(var + epsilon)) + beta
        m = (1 - momentum) * moving_mean + momentum * mean if swapped else momentum * moving_mean + (1 - momentum) * mean
        v = (1 - momentum) * moving_variance + momentum * var if swapped else momentum * moving_variance + (1 - momentum) * var
        return y, m, v

    ddof1, outside, swapped = forms(ddof=1), forms(eps_outside=True), forms(swapped=True)

    def judge_training(result, _):
        __tracebackhide__ = True
        y, new_mean, new_variance = _parts(_judge_quiet("batch_norm_forward", result), 3, "batch_norm_forward",
                                           "(y, new_moving_mean, new_moving_variance)")
        assert_matches(y, y_train, what="batch_norm_forward(..., training=True)'s y", rtol=0, atol=y_tolerance, context=shown,
                       reference="keras.layers.BatchNormalization(training=True)", dtype=dtype, axis_names=("example", "feature"),
                       mistakes=[Mistake(ddof1[0], DDOF_HINT),
                                 Mistake(outside[0], "epsilon is added to the variance inside the square root: sqrt(var + epsilon)."),
                                 Mistake(gamma * (x - moving_mean) / np.sqrt(moving_variance + epsilon) + beta,
                                         "in training the batch's own mean and variance normalise x; the moving statistics are "
                                         "for inference.")])
        for name, actual, expected, wrong in (("moving mean", new_mean, moved[0], [ddof1[1], swapped[1]]),
                                              ("moving variance", new_variance, moved[1], [ddof1[2], swapped[2]])):
            assert_matches(actual, expected, what=f"batch_norm_forward's new {name}", rtol=0, atol=statistics_tolerance, context=shown,
                           reference="the layer's moving statistics after one training call", dtype=dtype,
                           mistakes=[Mistake(wrong[0], DDOF_HINT),
                                     Mistake(wrong[1], "momentum weighs the old moving statistic: new = momentum * moving + "
                                                       "(1 - momentum) * batch statistic.")])

    def judge_inference(result, _):
        __tracebackhide__ = True
        y, new_mean, new_variance = _parts(_judge_quiet("batch_norm_forward", result), 3, "batch_norm_forward",
                                           "(y, new_moving_mean, new_moving_variance)")
        assert_matches(y, y_infer, what="batch_norm_forward(..., training=False)'s y", rtol=0, atol=infer_tolerance, context=shown,
                       reference="keras.layers.BatchNormalization(training=False)", dtype=dtype, axis_names=("example", "feature"),
                       mistakes=[Mistake(y_train, "at inference the moving statistics normalise x, not the batch's own.")])
        for name, actual, expected in (("moving mean", new_mean, moving_mean), ("moving variance", new_variance, moving_variance)):
            assert_matches(actual, expected, what=f"batch_norm_forward(..., training=False)'s {name}", rtol=0, atol=0, context=shown,
                           reference="the moving statistics given (inference leaves them as they are)", dtype=dtype)

    def judge_backward(result, _):
        __tracebackhide__ = True
        grads = _parts(_judge_quiet("batch_norm_backward", result), 3, "batch_norm_backward", "(dx, dgamma, dbeta)")
        tolerances = (16 * (n + 4) * eps * grad_scale, 16 * (n + 4) * eps * np.abs(dy * x_hat).sum(axis=0),
                      16 * (n + 4) * eps * np.abs(dy).sum(axis=0))
        mistakes = ([Mistake(gamma / sigma * dy, "dx lacks the terms that come through the batch mean and variance: "
                                                 "dx = gamma / sqrt(var + eps) * (dy - mean(dy) - x_hat * mean(dy * x_hat)).")],
                    [Mistake((dy * x_hat).mean(axis=0), "dgamma is the sum over the batch of dy * x_hat, not the mean.")],
                    [Mistake(dy.mean(axis=0), "dbeta is the sum of dy over the batch, not the mean.")])
        for name, actual, expected, tolerance, wrong in zip(("dx", "dgamma", "dbeta"), grads, (dx, dgamma, dbeta), tolerances, mistakes):
            assert_matches(actual, expected, what=f"batch_norm_backward's {name}", rtol=0, atol=tolerance, context=shown, dtype=dtype,
                           reference="tf.GradientTape on batch normalisation in training", mistakes=wrong)

    arguments = (x, gamma, beta, moving_mean, moving_variance)
    run_check(batch_norm_forward, [Case(arguments + (True, momentum, epsilon), judge_training, driver="evaluate"),
                                   Case(arguments + (False, momentum, epsilon), judge_inference, driver="evaluate")], "")
    run_check(batch_norm_backward, [Case((dy, x, gamma, epsilon), judge_backward, driver="evaluate")],
              f"batch_norm_forward and batch_norm_backward match keras.layers.BatchNormalization and tf.GradientTape ({shown}).")


# ----------------------------------------------------------------------------- dropout


@recorded
def check_dropout(dropout_mask: Callable, dropout_forward: Callable, rate: float = 0.3, shape=(200, 300), seed: int = 4) -> None:
    """``dropout_mask(shape, rate, rng)`` must keep each unit with probability 1 - rate, independently; ``dropout_forward(x,
    rate, mask, training)`` must equal ``keras.layers.Dropout(rate)`` given the same kept units, and be the identity at inference."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(20, 30))
    keras_train = keras.layers.Dropout(rate, seed=seed, dtype="float64")(x, training=True).numpy()
    kept = keras_train != 0                      # the units Keras kept (x has no exact zeros)
    keras_infer = keras.layers.Dropout(rate, dtype="float64")(x, training=False).numpy()
    size = int(np.prod(shape))
    standard_error = np.sqrt(rate * (1 - rate) / size)

    def judge_mask(result, _):
        __tracebackhide__ = True
        mask = np.asarray(_judge_quiet("dropout_mask", result))
        if mask.shape != tuple(shape):
            fail(f"dropout_mask(shape={tuple(shape)}, ...) returned shape {mask.shape}.")
        if not np.isin(mask, (0, 1)).all():
            fail("dropout_mask must say for each unit whether it is kept: booleans (or 0 and 1), not scaled values.")
        kept_fraction = float(np.mean(mask))
        rows = np.asarray(mask, dtype=float).mean(axis=1)
        hint = (" Likely cause: the mask keeps units with probability rate; Keras drops them with probability rate (keeps 1 - rate)."
                if abs(kept_fraction - rate) < 5 * standard_error and abs(rate - 0.5) > 10 * standard_error else "")
        if abs(kept_fraction - (1 - rate)) > 5 * standard_error:
            fail(f"dropout_mask(shape={tuple(shape)}, rate={rate}) keeps {kept_fraction:.4f} of the units; each must be kept with "
                 f"probability 1 - rate = {1 - rate:g} (5 standard errors: {5 * standard_error:.4f}).{hint}")
        row_error = np.sqrt(rate * (1 - rate) / shape[1])
        if np.std(rows) < 0.2 * row_error or np.std(rows) > 5 * row_error:
            fail(f"the kept fraction per row varies by {np.std(rows):.4f}; independent units vary by about {row_error:.4f}: "
                 "draw every unit independently (rng.random(shape) >= rate).")

    def judge_training(result, _):
        __tracebackhide__ = True
        value = _judge_quiet("dropout_forward", result)
        assert_matches(value, keras_train, what=f"dropout_forward(x, {rate}, mask, training=True)", rtol=0, atol=4e-16 * np.abs(x),
                       reference=f"keras.layers.Dropout({rate}) in training, with the units it kept as mask", context=f"x {x.shape}",
                       mistakes=[Mistake(x * kept, "the kept units must be scaled by 1 / (1 - rate) (inverted dropout), so that the "
                                                   "expected output equals x."),
                                 Mistake(x * kept * (1 - rate), "the kept units are divided by 1 - rate, not multiplied.")])

    def judge_inference(result, _):
        __tracebackhide__ = True
        value = _judge_quiet("dropout_forward", result)
        assert_matches(value, keras_infer, what=f"dropout_forward(x, {rate}, mask, training=False)", rtol=0, atol=0, context=f"x {x.shape}",
                       reference=f"keras.layers.Dropout({rate}) at inference", dtype=np.float64,
                       mistakes=[Mistake(x * (1 - rate), "at inference Keras's dropout is the identity: inverted dropout scales at "
                                                         "training, so nothing is scaled at inference."),
                                 Mistake(keras_train, "at inference no unit is dropped: return x.")])

    run_check(dropout_mask, [Case((tuple(shape), rate, CallableSpec("random_generator", {"seed": seed})), judge_mask, driver="evaluate")], "")
    run_check(dropout_forward, [Case((x, rate, kept, True), judge_training, driver="evaluate"),
                                Case((x, rate, kept, False), judge_inference, driver="evaluate")],
              f"dropout_mask keeps 1 - rate of the units and dropout_forward matches keras.layers.Dropout({rate}).")


# ----------------------------------------------------------------------------- L2 and a whole model


@recorded
def check_l2_penalty_gradient(l2_penalty_gradient: Callable, l2: float = 0.01, seed: int = 5) -> None:
    """``l2_penalty_gradient(kernels, l2)`` must give the tape's gradient of ``keras.regularizers.L2(l2)`` on each kernel
    (Keras keeps l2 in float32: the exact l2 is accepted too)."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    kernels = [rng.normal(size=(4, 3)), rng.normal(size=(3, 2))]
    regularizer = keras.regularizers.L2(l2)
    expected = [tape(lambda k: regularizer(k), k)[0] for k in kernels]

    def judge(result, _):
        __tracebackhide__ = True
        grads = _judge_quiet("l2_penalty_gradient", result)
        if not isinstance(grads, (list, tuple)) or len(grads) != len(kernels):
            fail(f"l2_penalty_gradient must return one gradient per kernel ({len(kernels)} here).")
        for i, (actual, target, k) in enumerate(zip(grads, expected, kernels)):
            assert_matches(actual, target, what=f"l2_penalty_gradient's gradient {i}", rtol=0, atol=4 * np.finfo(float).eps * np.abs(target),
                           reference=f"tf.GradientTape on keras.regularizers.L2({l2})", context=f"kernels {[q.shape for q in kernels]}",
                           alternatives=[2 * l2 * k],
                           mistakes=[Mistake(l2 * k, "the factor 2 is missing: the gradient of l2 * sum(w**2) is 2 * l2 * w."),
                                     Mistake(2 * k, "l2 is missing: the gradient of l2 * sum(w**2) is 2 * l2 * w.")])

    run_check(l2_penalty_gradient, [Case((kernels, l2), judge, driver="evaluate")],
              f"l2_penalty_gradient matches tf.GradientTape on keras.regularizers.L2({l2}).")


@recorded
def check_model_gradients(model_gradients: Callable, sizes=(8, 6, 5, 3), l2: float = 0.0, n: int = 10, seed: int = 6) -> None:
    """``model_gradients(params, x, labels, l2)`` must return (loss, gradients) of the ReLU MLP ``params`` as ``tf.GradientTape``
    computes them on ``keras_reference.dense_mlp(params, "relu", l2)`` with ``SparseCategoricalCrossentropy(from_logits=True)``
    (Keras multiplies the L2 penalty by float32(l2): the exact l2 is accepted too)."""
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    params = network.mlp_init(list(sizes), rng)
    params[1::2] = [0.1 * rng.normal(size=b.shape) for b in params[1::2]]
    x, labels = rng.normal(size=(n, sizes[0])), rng.integers(0, sizes[-1], size=n)
    expected_loss, expected = ref.mlp_loss_and_gradients(ref.dense_mlp(params, "relu", l2), x, labels)
    l2_used = float(np.float32(l2))                      # what Keras's L2 multiplies by
    eps = float(np.finfo(np.float64).eps)
    # rounding accumulates along the backward pass: bound each gradient by the same pass on absolute values, times the depth
    magnitudes = _gradient_magnitudes(params, x, labels, l2_used)
    tolerances = [16 * len(sizes) * (max(sizes) + 2) * eps * m + 1e-300 for m in magnitudes]
    shown = f"layer sizes {list(sizes)}, ReLU, a batch of {n}, l2={l2}"
    mistakes = []
    if l2:
        _, plain = network.mlp_gradients(params, x, labels)
        for factor in sorted({l2_used, l2}):
            mistakes.append(([g + 2 * factor * p for g, p in zip(plain, params)],
                             "the L2 penalty was applied to the biases too; keras.regularizers.L2 is on the kernels only."))
    # Keras multiplies by float32(l2); a student who uses l2 exactly is right too
    exact_loss, exact = network.mlp_gradients(params, x, labels, "relu", l2) if l2 else (expected_loss, expected)
    relu_last_loss, relu_last = network.mlp_gradients(params, x, labels, "relu", l2_used, activate_logits=True)
    relu_last_hint = "ReLU was applied to the last layer too: the network's output is the logits, with no activation."
    mistakes.append((relu_last, relu_last_hint))

    def judge(result, _):
        __tracebackhide__ = True
        loss, grads = _parts(_judge_quiet("model_gradients", result), 2, "model_gradients", "(loss, gradients)")
        assert_matches(loss, expected_loss, what="model_gradients' loss", rtol=0, atol=64 * (max(sizes) + 2) * eps * (1 + abs(expected_loss)),
                       reference="the Keras model's loss (cross-entropy + L2)", context=shown, alternatives=[exact_loss],
                       mistakes=[Mistake(relu_last_loss, relu_last_hint)])
        if not isinstance(grads, (list, tuple)) or len(grads) != len(params):
            fail(f"model_gradients must return one gradient per parameter, in the order of params ({len(params)} here).")
        for i, (actual, target) in enumerate(zip(grads, expected)):
            kind = "kernel" if i % 2 == 0 else "bias"
            assert_matches(actual, target, what=f"model_gradients' gradient {i} (layer {i // 2 + 1}'s {kind})", rtol=0, atol=tolerances[i],
                           reference="tf.GradientTape on the Keras model", context=shown, alternatives=[exact[i]],
                           mistakes=[Mistake(m[i], hint) for m, hint in mistakes])

    run_check(model_gradients, [Case((params, x, labels, l2), judge, driver="evaluate", substitutes=MODEL_PIECES)],
              f"model_gradients matches tf.GradientTape on the Keras model ({shown}).")


def _gradient_magnitudes(params: list, x: np.ndarray, labels: np.ndarray, l2: float) -> list:
    """The backward pass of the ReLU MLP with every product taken in absolute values: what each gradient's rounding scales with."""
    inputs, pre_activations, logits = network.mlp_forward(params, x)
    _, dlogits = network.softmax_cross_entropy(logits, labels)
    magnitudes = network.mlp_backward([np.abs(p) for p in params], [np.abs(h) for h in inputs], pre_activations,
                                      np.abs(dlogits) + np.finfo(float).eps / len(x))
    magnitudes[0::2] = [m + 2 * l2 * np.abs(k) for m, k in zip(magnitudes[0::2], params[0::2])]
    return magnitudes


# ----------------------------------------------------------------------------- an epoch of training


@recorded
def check_train_epoch(train_epoch: Callable, sizes=(64, 32, 10), n: int = 200, batch_size: int = 32, learning_rate: float = 0.05,
                      momentum: float = 0.9, l2: float = 0.0, seed: int = 7) -> None:
    """``train_epoch(params, x, labels, batch_size, learning_rate, momentum, l2)`` must return (params, batch losses) of one epoch
    of ``keras.optimizers.SGD(learning_rate, momentum)`` on the Keras twin of ``params``, batch by batch, in order, on ``n`` of
    scikit-learn's digits (the learning rate and momentum are passed as the float32 values Keras keeps)."""
    __tracebackhide__ = True
    from dlcourse.checks.optimizer_steps import STEP_OPERATIONS
    from dlcourse.problems import digits_split

    x, labels = (part[:n] for part in digits_split()["train"])
    params = network.mlp_init(list(sizes), np.random.default_rng(seed))
    lr, mu = float(np.float32(learning_rate)), float(np.float32(momentum))
    batches = [np.arange(n)[start:start + batch_size] for start in range(0, n, batch_size)]

    def keras_epoch(order: list, momentum_used: float):
        """(final weights, batch losses, the weights after each batch) of Keras's SGD over the batches ``order``."""
        model = ref.dense_mlp(params, "relu", l2)
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum_used)
        losses, history = [], [[p.copy() for p in params]]
        for indices in order:
            loss, grads = ref.mlp_loss_and_gradients(model, x[indices], labels[indices])
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            losses.append(loss)
            history.append(model.get_weights())
        return history[-1], losses, history

    expected, expected_losses, history = keras_epoch(batches, momentum)
    # Keras multiplies the L2 penalty by float32(l2); the same epoch with l2 exactly (the course's NumPy network) is right too
    exact, _, exact_losses = network.train_epoch(params, x, labels, batches, optimizers.sgd_update, optimizers.sgd_init(params), lr, "relu",
                                                 l2, momentum=mu)
    eps = float(np.finfo(np.float64).eps)
    # each step's gradient is a backward pass through sums of up to max(sizes) products: it carries that many eps of the step
    tolerances = []
    for i in range(len(params)):
        trajectory = np.stack([h[i] for h in history])
        moved = np.abs(np.diff(trajectory, axis=0)).sum(axis=0)
        tolerances.append(16 * eps * (np.abs(trajectory).sum(axis=0) + (STEP_OPERATIONS + max(sizes)) * moved))
    loss_tolerance = [16 * eps * (max(sizes) + 2) * (1 + abs(value)) for value in expected_losses]
    mistakes = []
    if momentum:
        mistakes.append((keras_epoch(batches, 0.0)[0], "these are the parameters of plain SGD: the momentum has no effect. Check that "
                                                       "sgd_update gets momentum=momentum and that the state is created once, before "
                                                       "the loop, and carried from batch to batch."))
    if n % batch_size:
        mistakes.append((keras_epoch(batches[:-1], momentum)[0], "the last, smaller batch is part of the epoch: take every "
                                                                 "x[start:start + batch_size], the last one shorter."))
    shown = f"{n} digits, layer sizes {list(sizes)}, batch_size={batch_size}, SGD(learning_rate={learning_rate}, momentum={momentum}), l2={l2}"

    def judge(result, _):
        __tracebackhide__ = True
        trained, losses = _parts(_judge_quiet("train_epoch", result), 2, "train_epoch", "(params, losses)")
        if not isinstance(trained, (list, tuple)) or len(trained) != len(params):
            fail(f"train_epoch must return the new params: one array per parameter ({len(params)} here).")
        for i, (actual, target) in enumerate(zip(trained, expected)):
            kind = "kernel" if i % 2 == 0 else "bias"
            assert_matches(actual, target, what=f"train_epoch's parameter {i} (layer {i // 2 + 1}'s {kind}) after the epoch", rtol=0,
                           atol=tolerances[i], reference="keras.optimizers.SGD on the Keras model, batch by batch", context=shown,
                           mistakes=[Mistake(m[i], hint) for m, hint in mistakes], alternatives=[exact[i]])
        if not isinstance(losses, (list, tuple)) or len(losses) != len(batches):
            fail(f"train_epoch must return one loss per batch ({len(batches)} batches of {batch_size} here, the last one "
                 f"{n - batch_size * (len(batches) - 1)}); it returned {len(losses) if isinstance(losses, (list, tuple)) else 'no list'}.")
        assert_matches(losses, expected_losses, what="train_epoch's batch losses", rtol=0, atol=np.array(loss_tolerance),
                       reference="the Keras model's loss on each batch, before its update", context=shown, axis_names=("batch",),
                       alternatives=[exact_losses])

    case = Case((params, x, labels, batch_size, lr), judge, kwargs={"momentum": mu, "l2": l2}, driver="evaluate",
                substitutes=TRAINING_PIECES)
    run_check(train_epoch, [case], f"train_epoch matches Keras's SGD batch by batch ({shown}).")


# ----------------------------------------------------------------------------- the digits experiment


@recorded
def check_digits_experiment(train_digits: Callable, seed: int = 0) -> None:
    """``train_digits(x_train, y_train, x_validation, y_validation)`` must return the params of a ReLU MLP (64 inputs, 10 logits,
    at most ``EXPERIMENT_BUDGET`` parameters) whose accuracy on the digits' test split, which it never sees, is at least
    ``EXPERIMENT_BAR``; it runs within the grader's time limit for one call."""
    __tracebackhide__ = True
    from dlcourse.problems import digits_split

    data = digits_split(seed)
    x_test, y_test = data["test"]

    def judge(result, _):
        __tracebackhide__ = True
        params = _judge_quiet("train_digits", result)
        if not isinstance(params, (list, tuple)) or len(params) < 2 or len(params) % 2:
            fail("train_digits must return the params of an MLP: [kernel_1, bias_1, ..., kernel_L, bias_L].")
        params = [np.asarray(p, dtype=np.float64) for p in params]
        sizes = [64] + [np.shape(k)[1] if np.ndim(k) == 2 else -1 for k in params[0::2]]
        layers_fit = all(np.ndim(k) == 2 and np.shape(k)[0] == d_in and np.shape(b) == (np.shape(k)[1],)
                         for k, b, d_in in zip(params[0::2], params[1::2], sizes))
        if not layers_fit or sizes[-1] != 10:
            fail(f"the returned params are not an MLP from 64 inputs to 10 logits: shapes {[np.shape(p) for p in params]}.")
        count = sum(p.size for p in params)
        if count > EXPERIMENT_BUDGET:
            fail(f"the network has {count} parameters; the budget is {EXPERIMENT_BUDGET}.")
        if not all(np.isfinite(p).all() for p in params):
            fail("the returned params hold NaN or infinite values: the training diverged (a smaller learning rate?).")
        accuracy = float((network.mlp_logits(params, x_test).argmax(axis=1) == y_test).mean())
        if accuracy < EXPERIMENT_BAR:
            fail(f"the trained network (layer sizes {sizes}, {count} parameters) classifies {accuracy:.1%} of the {len(y_test)} test "
                 f"digits correctly; the bar is {EXPERIMENT_BAR:.0%}. Tune it on the validation split: more epochs, another "
                 "learning rate or width, shuffling the examples each epoch.")

    case = Case((*data["train"], *data["validation"]), judge, driver="evaluate", substitutes=EXPERIMENT_PIECES)
    run_check(train_digits, [case], f"the network train_digits trains reaches at least {EXPERIMENT_BAR:.0%} on the test digits.")


@recorded
def check_label_smoothing_gradient(label_smoothing_gradient: Callable, case=None, label_smoothing: float = 0.1) -> None:
    """``label_smoothing_gradient(logits, labels, label_smoothing)``: the gradient with respect to the logits of the mean loss of
    ``keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=...)`` on the one-hot labels, by ``tf.GradientTape``."""
    __tracebackhide__ = True
    logits, labels = case if case is not None else logits_case()
    n, classes = logits.shape
    onehot = np.eye(classes)[labels]
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing, dtype="float64")
    expected = ref.tape_gradient(lambda z: loss(tf.constant(onehot), z), logits)[0]
    probabilities = np.exp(network.log_softmax(logits.astype(np.float64)))
    target = (1 - label_smoothing) * onehot + label_smoothing / classes
    spread = (1 - label_smoothing) * onehot + label_smoothing / (classes - 1) * (1 - onehot)
    mistakes = [
        Mistake((probabilities - spread) / n, "Keras spreads label_smoothing over all K classes, the true one included: the target "
                                              "is (1 - eps) onehot + eps / K."),
        Mistake(probabilities - target, "the loss is the mean over the batch: the gradient is divided by n."),
        Mistake((probabilities - onehot) / n, "label smoothing changes the target: (1 - eps) onehot + eps / K, not the one-hot labels."),
        Mistake((target - probabilities) / n, "the sign: the gradient of the cross-entropy with respect to the logits is softmax - target."),
    ]
    # softmax's exponentials and the division by n round each element once or twice, relative to 1/n
    case = derivation_case((logits, labels, label_smoothing), expected, mistakes,
                           what=f"label_smoothing_gradient(logits {logits.shape}, labels, {label_smoothing})",
                           reference="tf.GradientTape on CategoricalCrossentropy(from_logits=True, label_smoothing)",
                           rtol=1e-9, atol=1e-15)
    run_check(label_smoothing_gradient, [case], "your gradient of the label-smoothed cross-entropy matches tf.GradientTape.")
