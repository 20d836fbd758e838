"""The course's NumPy versions of the exercise functions that other exercise functions call.

When a graded function calls another graded function of its exercise, its
check runs it with these functions in place of the student's
(:func:`dlcourse.checks.cases.substituted`): a mistake costs the points of
the function it is in, once. The pairs: ``train_epoch`` (chapter 2) calls
``minibatches``, ``sgd_init`` and ``sgd_update``; ``adamw_update`` calls
``adam_update``; ``initialize`` calls ``variance_scaling_sample``, which calls
``variance_scaling_parameter``, which calls ``compute_fans``;
``clipped_sgd_update`` calls ``clip_by_global_norm``; ``muon_update`` (chapter 7) calls ``newton_schulz5``, ``adam_init``
and ``adam_update``; ``silu`` calls
``sigmoid``; in chapter 6, ``model_gradients`` calls the dense, ReLU, softmax
cross-entropy and L2 pieces, ``train_epoch`` calls ``model_gradients`` and
the digits experiment calls ``train_epoch``. Each has the exercise's
signature and result; the optimizers are those of :mod:`dlcourse.optimizers`,
the network pieces those of :mod:`dlcourse.network`.

The grading sandbox does not mount this module: its grader sends it to the
sandbox only when a call needs it, after the checks of these functions have run.
"""
from __future__ import annotations

import numpy as np

from dlcourse.network import dense_backward, dense_forward, l2_penalty_gradient, mlp_gradients, relu_backward, sigmoid, softmax_cross_entropy
from dlcourse.network import train_epoch as network_train_epoch
from dlcourse.optimizers import adam_init, adam_update, clip_by_global_norm, newton_schulz5, sgd_init, sgd_update

__all__ = ["adam_init", "adam_update", "clip_by_global_norm", "compute_fans", "dense_backward", "dense_forward", "l2_penalty_gradient",
           "minibatches", "model_gradients", "newton_schulz5", "relu_backward", "sgd_init", "sgd_update", "sigmoid", "softmax_cross_entropy",
           "train_epoch", "variance_scaling_parameter", "variance_scaling_sample"]

# Keras's truncated normal keeps draws within two standard deviations; this is the std of N(0, 1) so truncated.
TRUNCATED_NORMAL_STD = 0.87962566103423978


def minibatches(num_examples: int, batch_size: int, rng: np.random.Generator, drop_last: bool = False) -> list:
    """The index batches of one epoch, from ``rng.permutation(num_examples)``: a list of int arrays of ``batch_size``
    (the last one shorter, or dropped when ``drop_last``)."""
    order = rng.permutation(num_examples)
    stop = num_examples - num_examples % batch_size if drop_last else num_examples
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]


def compute_fans(shape: tuple) -> tuple[int, int]:
    """Keras's (fan_in, fan_out) of a kernel ``shape``: a convolution's receptive field multiplies both."""
    shape = tuple(shape)
    if len(shape) < 2:
        return (1, 1) if not shape else (shape[0], shape[0])
    receptive_field = int(np.prod(shape[:-2]))
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def variance_scaling_parameter(shape: tuple, scale: float, mode: str, distribution: str) -> float:
    """``keras.initializers.VarianceScaling``'s uniform limit, or its normal's std (before truncation)."""
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, n)
    if distribution == "uniform":
        return float(np.sqrt(3.0 * variance))
    if distribution == "truncated_normal":
        return float(np.sqrt(variance) / TRUNCATED_NORMAL_STD)
    return float(np.sqrt(variance))


def variance_scaling_sample(shape: tuple, scale: float, mode: str, distribution: str, rng: np.random.Generator) -> np.ndarray:
    """A float64 array of ``shape`` from ``VarianceScaling(scale, mode, distribution)``'s distribution (redrawing beyond 2 std)."""
    parameter = variance_scaling_parameter(shape, scale, mode, distribution)
    if distribution == "uniform":
        return rng.uniform(-parameter, parameter, size=shape)
    sample = rng.normal(0.0, parameter, size=shape)
    outside = np.abs(sample) > 2 * parameter if distribution == "truncated_normal" else np.zeros(np.shape(sample), dtype=bool)
    while outside.any():
        sample[outside] = rng.normal(0.0, parameter, size=int(outside.sum()))
        outside = np.abs(sample) > 2 * parameter
    return sample


def model_gradients(params: list, x: np.ndarray, labels: np.ndarray, l2: float = 0.0) -> tuple[float, list]:
    """(loss, gradients) of the ReLU MLP ``params`` on a batch, with ``keras.regularizers.L2(l2)`` on the kernels."""
    return mlp_gradients(params, x, labels, "relu", l2)


def train_epoch(params: list, x: np.ndarray, labels: np.ndarray, batch_size: int, learning_rate: float, momentum: float = 0.0,
                l2: float = 0.0) -> tuple[list, list]:
    """One epoch of SGD with momentum over the consecutive batches of ``batch_size``: (params, the loss of each batch)."""
    batches = [np.arange(start, min(start + batch_size, len(x))) for start in range(0, len(x), batch_size)]
    params, _, losses = network_train_epoch(params, x, labels, batches, sgd_update, sgd_init(params), learning_rate, "relu", l2,
                                            momentum=momentum)
    return params, losses
