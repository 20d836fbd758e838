"""Signals through a deep Keras MLP: per-layer activation and gradient statistics.

Shared by the lessons on initialization (chapter 4) and activation functions
(chapter 5). A network is ``depth`` Dense layers of ``width`` units, all with
the same activation and kernel initializer (biases zero), built in Keras so
that the initializers are Keras's own. :func:`layer_statistics` runs one
batch forward and one backward pass and reports, per layer, the spread of the
activations (forward signal) and of the gradients (backward signal).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

import dlcourse

tf = dlcourse.import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's quiet import)

# Label -> factory(seed) of a Keras kernel initializer: the cases the lessons compare.
INITIALIZERS: dict[str, Callable[[int], keras.initializers.Initializer]] = {
    "zeros": lambda seed: keras.initializers.Zeros(),
    "N(0, 1)": lambda seed: keras.initializers.RandomNormal(stddev=1.0, seed=seed),
    "N(0, 0.01)": lambda seed: keras.initializers.RandomNormal(stddev=0.01, seed=seed),
    "LeCun normal": lambda seed: keras.initializers.LecunNormal(seed=seed),
    "Glorot uniform": lambda seed: keras.initializers.GlorotUniform(seed=seed),
    "He normal": lambda seed: keras.initializers.HeNormal(seed=seed),
}


def seeded_initializer(identifier: str, seed: int) -> keras.initializers.Initializer:
    """``keras.initializers.get(identifier)`` with ``seed`` when the initializer is random (so runs are reproducible)."""
    initializer = keras.initializers.get(identifier)
    config = initializer.get_config()
    return type(initializer).from_config(dict(config, seed=seed)) if "seed" in config else initializer


def deep_mlp(depth: int, width: int, activation: str, initializer: str, input_dim: int | None = None,
             seed: int = 0, dtype: str = "float32") -> keras.Sequential:
    """``depth`` Dense(``width``, ``activation``) layers with kernels from ``INITIALIZERS[initializer]`` (or a Keras identifier).

    Layer i's kernel initializer is seeded with ``seed + i`` (also for a Keras identifier such as
    ``"he_normal"``); biases are zero.
    The model is built for inputs of shape (batch, ``input_dim`` or ``width``).
    """
    factory = INITIALIZERS.get(initializer) or (lambda layer_seed: seeded_initializer(initializer, layer_seed))
    layers = [keras.layers.Dense(width, activation=activation, dtype=dtype, kernel_initializer=factory(seed + i))
              for i in range(depth)]
    model = keras.Sequential(layers)
    model.build((None, input_dim or width))
    return model


def layer_statistics(model: keras.Sequential, x: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Forward and backward statistics of ``model`` on the batch ``x`` (shape (batch, input_dim)).

    The loss is a fixed random linear read-out of the last layer,
    ``mean(output @ r)`` with ``r ~ N(0, 1)`` (seeded), so the backward signal
    starts with the same size whatever the forward pass did. Returns float64
    arrays of shape (depth,):

    * ``activation_mean``, ``activation_std``: mean and std of each layer's output;
    * ``gradient_std``: std of d loss / d kernel of each layer;
    * ``backward_std``: std of d loss / d (layer input), the signal flowing back;
    * ``dead_fraction``: fraction of units whose output is 0 for the whole batch.
    """
    h = tf.constant(np.asarray(x), dtype=model.layers[0].compute_dtype)
    readout = tf.constant(np.random.default_rng(seed).normal(size=(model.layers[-1].units, 1)), dtype=h.dtype)
    outputs, inputs = [], []
    with tf.GradientTape(persistent=True) as tape:
        for layer in model.layers:
            tape.watch(h)
            inputs.append(h)
            h = layer(h)
            outputs.append(h)
        loss = tf.reduce_mean(h @ readout)
    kernels = tape.gradient(loss, [layer.kernel for layer in model.layers])
    backward = tape.gradient(loss, inputs)
    del tape
    as_numpy = [np.asarray(o, dtype=np.float64) for o in outputs]
    with np.errstate(over="ignore", invalid="ignore"):  # an exploding network legitimately reaches inf
        return {
            "activation_mean": np.array([o.mean() for o in as_numpy]),
            "activation_std": np.array([o.std() for o in as_numpy]),
            "gradient_std": np.array([float(np.std(g)) for g in kernels]),
            "backward_std": np.array([float(np.std(g)) for g in backward]),
            "dead_fraction": np.array([float(np.mean(np.all(o == 0, axis=0))) for o in as_numpy]),
        }


def statistics_grid(activations: list[str], initializers: list[str], depth: int = 50, width: int = 256,
                    batch: int = 256, seed: int = 0, dtype: str = "float32") -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """:func:`layer_statistics` for every (activation, initializer) pair on one standard-normal batch."""
    x = np.random.default_rng(seed).normal(size=(batch, width)).astype(dtype)
    return {(a, i): layer_statistics(deep_mlp(depth, width, a, i, seed=seed, dtype=dtype), x, seed=seed)
            for a in activations for i in initializers}
