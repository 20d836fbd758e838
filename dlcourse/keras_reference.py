"""Reference values computed by live TensorFlow/Keras.

The checks compare a student's NumPy result with what the installed
TensorFlow/Keras computes on the same inputs; this module is the one place
that asks TensorFlow. All functions take and return NumPy arrays (float64
unless stated). The checks reach it through :class:`dlcourse.LazyReference`,
so that importing them does not import TensorFlow.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

import dlcourse

tf = dlcourse.import_tensorflow()
import keras  # noqa: E402  (after TensorFlow's quiet import)

SCHEDULES = {
    "piecewise_constant_decay": keras.optimizers.schedules.PiecewiseConstantDecay,
    "exponential_decay": keras.optimizers.schedules.ExponentialDecay,
    "inverse_time_decay": keras.optimizers.schedules.InverseTimeDecay,
    "polynomial_decay": keras.optimizers.schedules.PolynomialDecay,
    "cosine_decay": keras.optimizers.schedules.CosineDecay,
}


def tape_gradient(tf_function: Callable, *arrays: np.ndarray, dtype: str | None = "float64") -> list[np.ndarray]:
    """Gradients of the scalar ``tf_function(*tensors)`` w.r.t. each input.

    Inputs are converted to ``dtype`` tensors (``None``: each keeps its own
    dtype); returns one array per input, each with that input's shape.
    """
    tensors = [tf.constant(np.asarray(a, dtype=dtype)) for a in arrays]
    with tf.GradientTape() as tape:
        for tensor in tensors:
            tape.watch(tensor)
        value = tf_function(*tensors)
    return [g.numpy() for g in tape.gradient(value, tensors)]


def schedule(name: str, **arguments) -> keras.optimizers.schedules.LearningRateSchedule:
    """The Keras learning-rate schedule class ``name`` built with ``arguments``."""
    return SCHEDULES[name](**arguments)


def schedule_values(lr_schedule: Callable, steps: np.ndarray) -> np.ndarray:
    """``lr_schedule(step)`` for each integer step, as float64 (Keras computes in float32)."""
    steps = np.asarray(steps)
    values = [float(lr_schedule(int(s))) for s in steps.ravel()]
    return np.array(values, dtype=np.float64).reshape(steps.shape)


class ShiftedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step + shift)``: used to reproduce the off-by-one mistake."""

    def __init__(self, schedule: Callable, shift: int):
        self.schedule, self.shift = schedule, shift

    def __call__(self, step):
        return self.schedule(step + self.shift)


def optimizer_trajectories(optimizer, gradient: Callable[[list], list], params0: list, num_steps: int,
                           dtype=np.float64, names: list[str] | None = None) -> list[np.ndarray]:
    """Run a Keras ``optimizer`` for ``num_steps`` updates on variables of ``dtype`` starting at ``params0``.

    ``gradient`` maps the list of current parameter arrays to their gradients.
    ``names``: ``keras.Variable``s of these names (an optimizer that reads ``variable.path``, as Muon does to route
    embeddings to its AdamW), else plain ``tf.Variable``s.
    Returns one array of ``dtype`` and shape ``(num_steps + 1, *p.shape)`` per parameter.
    """
    if names is None:
        variables = [tf.Variable(np.asarray(p, dtype=dtype)) for p in params0]
    else:
        variables = [keras.Variable(np.asarray(p, dtype=dtype), name=name) for p, name in zip(params0, names)]
    history = [[v.numpy().copy() for v in variables]]
    for _ in range(num_steps):
        grads = gradient([v.numpy() for v in variables])
        optimizer.apply_gradients([(tf.constant(np.asarray(g, dtype=dtype)), v) for g, v in zip(grads, variables)])
        history.append([v.numpy().copy() for v in variables])
    return [np.stack([h[i] for h in history]) for i in range(len(variables))]


def sgd_trajectory(
    gradient: Callable[[np.ndarray], np.ndarray],
    theta0: np.ndarray,
    learning_rate,
    num_steps: int,
    **sgd_arguments,
) -> np.ndarray:
    """Run ``keras.optimizers.SGD`` for ``num_steps`` updates from ``theta0``.

    ``gradient`` maps a float64 array of theta's shape to its gradient;
    ``learning_rate`` is a float or a Keras schedule. Returns the float64
    trajectory of shape ``(num_steps + 1, *theta0.shape)``, row 0 = theta0.
    """
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, **sgd_arguments)
    return optimizer_trajectories(optimizer, lambda params: [gradient(params[0])], [theta0], num_steps)[0]


def dense_logistic_epoch(kernel: np.ndarray, bias: np.ndarray, X: np.ndarray, y: np.ndarray, batches: list, optimizer) -> list[np.ndarray]:
    """One epoch of a float64 ``keras.layers.Dense(1)`` trained on the logistic loss, batch by batch.

    ``batches`` lists the example indices of each mini-batch, in order; the
    loss is ``tf.nn.sigmoid_cross_entropy_with_logits`` averaged over the
    batch. Returns the final ``[kernel (d, 1), bias (1,)]``.
    """
    layer = keras.layers.Dense(1, dtype="float64")
    layer.build((None, X.shape[1]))
    layer.set_weights([kernel, bias])
    for indices in batches:
        xb, yb = tf.constant(X[indices]), tf.constant(np.asarray(y, dtype=np.float64)[indices].reshape(-1, 1))
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yb, logits=layer(xb)))
        optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_variables), layer.trainable_variables))
    return [w.copy() for w in layer.get_weights()]


def batch_indices(permutation: np.ndarray, batch_size: int, drop_last: bool) -> list[np.ndarray]:
    """``tf.data``'s batching of ``permutation``: consecutive slices of ``batch_size`` (the last one kept unless ``drop_last``)."""
    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(permutation)).batch(batch_size, drop_remainder=drop_last)
    return [np.asarray(batch) for batch in dataset.as_numpy_iterator()]


def compute_fans(shape: tuple) -> tuple[int, int]:
    """Keras's (fan_in, fan_out) of a kernel ``shape``, as its variance-scaling initializers compute them."""
    from keras.src.initializers.random_initializers import compute_fans as keras_compute_fans

    fan_in, fan_out = keras_compute_fans(tuple(shape))
    return int(fan_in), int(fan_out)


UNIT_INITIALIZERS = {
    "uniform": lambda seed: keras.initializers.RandomUniform(-1.0, 1.0, seed=seed),
    "truncated_normal": lambda seed: keras.initializers.TruncatedNormal(0.0, 1.0, seed=seed),
    "untruncated_normal": lambda seed: keras.initializers.RandomNormal(0.0, 1.0, seed=seed),
}


def initializer_parameter(initializer: keras.initializers.VarianceScaling, shape: tuple, seed: int = 0) -> float:
    """The parameter a Keras variance-scaling ``initializer`` draws with for ``shape``, read off live samples.

    The uniform's limit, the truncated normal's standard deviation *before*
    truncation, or the plain normal's standard deviation. A seeded Keras
    initializer and the unit one of the same distribution (uniform on [-1, 1],
    standard (truncated) normal) with the same seed draw the same stream, so
    the samples differ only by that factor; it is recovered by least squares
    (float64, relative error about 1e-8 for shapes of 1000+ elements).
    """
    config = dict(initializer.get_config(), seed=seed)
    seeded = type(initializer).from_config(config)
    scaled = np.asarray(seeded(tuple(shape), dtype="float32"), dtype=np.float64).ravel()
    unit = np.asarray(UNIT_INITIALIZERS[initializer.distribution](seed)(tuple(shape), dtype="float32"), dtype=np.float64).ravel()
    return float(scaled @ unit / (unit @ unit))


def dense_network_outputs(x: np.ndarray, weights: list, biases: list, activation: str) -> list[np.ndarray]:
    """Each layer's output of a float64 stack of ``keras.layers.Dense(activation=activation)`` with the given kernels and biases."""
    outputs, h = [], tf.constant(np.asarray(x, dtype=np.float64))
    for kernel, bias in zip(weights, biases):
        layer = keras.layers.Dense(np.shape(kernel)[1], activation=activation, dtype="float64")
        layer.build((None, np.shape(kernel)[0]))
        layer.set_weights([np.asarray(kernel, dtype=np.float64), np.asarray(bias, dtype=np.float64)])
        h = layer(h)
        outputs.append(h.numpy())
    return outputs


def elementwise_derivative(function: Callable, x, dtype: str = "float32") -> np.ndarray:
    """f'(x) of an element-wise TensorFlow ``function`` at every element of ``x``, by ``tf.GradientTape``.

    The gradient of ``sum(f(x))`` with respect to ``x`` is f'(x) element by
    element. Returns an array of ``x``'s shape in ``dtype``.
    """
    tensor = tf.constant(x, dtype=dtype)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        value = function(tensor)
    return tape.gradient(value, tensor).numpy()


def training_step(model, loss: Callable, optimizer, training: bool | None = None) -> Callable:
    """A compiled training step of ``model``: ``step(x, y) -> (loss, global gradient norm)`` as tensors.

    ``loss(y, model(x, training=training))`` is differentiated with
    ``tf.GradientTape``; the norm is the raw global norm of the gradients,
    before the optimizer clips anything; then ``optimizer`` applies them.
    """

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=training))
        grads = tape.gradient(value, model.trainable_variables)
        norm = tf.linalg.global_norm(grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return value, norm

    return step


def dense_mlp(params: list, activation: str = "relu", l2: float = 0.0, dtype: str = "float64") -> keras.Sequential:
    """The Keras twin of :mod:`dlcourse.network`'s MLP ``params`` = [kernel_1, bias_1, ...]: ``Dense`` layers with those weights,
    ``activation`` on every layer but the last (which gives logits), ``keras.regularizers.L2(l2)`` on every kernel when l2 > 0."""
    sizes = [np.shape(params[0])[0]] + [np.shape(k)[1] for k in params[0::2]]
    regularizer = keras.regularizers.L2(l2) if l2 else None
    model = keras.Sequential([keras.Input((sizes[0],), dtype=dtype)] + [
        keras.layers.Dense(size, activation=activation if i + 1 < len(sizes) - 1 else None, kernel_regularizer=regularizer, dtype=dtype)
        for i, size in enumerate(sizes[1:])])
    model.set_weights([np.asarray(p, dtype=dtype) for p in params])
    return model


def sparse_cross_entropy(dtype: str = "float64") -> keras.losses.Loss:
    """``SparseCategoricalCrossentropy(from_logits=True)`` computed in ``dtype`` (Keras's losses compute in float32 unless told)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype)


def mlp_loss_and_gradients(model: keras.Sequential, x: np.ndarray, labels: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """(loss, gradients) of ``model`` on a batch by ``tf.GradientTape``: ``SparseCategoricalCrossentropy(from_logits=True)``
    plus the model's regularisation losses, gradients in the order of ``model.trainable_variables``."""
    loss_function = sparse_cross_entropy(model.layers[0].kernel.dtype)
    with tf.GradientTape() as tape:
        loss = loss_function(labels, model(x, training=True)) + sum(model.losses)
    return float(loss), [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


def sequence_sum_data(length: int = 30, n_sequences: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The exploding-RNN task of chapter 4: ``n_sequences`` sequences of ``length`` inputs x_t ~ N(0, 1), shape
    (n, length, 1), and the target sum_t x_t / sqrt(length), shape (n, 1) (variance 1), both float32."""
    x = np.random.default_rng(seed).normal(size=(n_sequences, length, 1)).astype("float32")
    y = (x[:, :, 0].sum(axis=1, keepdims=True) / np.sqrt(length)).astype("float32")
    return x, y


def simple_rnn_regressor(length: int = 30, hidden: int = 32, gain: float = 1.5, seed: int = 0) -> keras.Sequential:
    """``SimpleRNN(hidden)`` then ``Dense(1)`` on sequences of ``length`` scalars, with the recurrent kernel drawn from
    N(0, gain^2 / hidden) instead of Keras's orthogonal default; ``seed`` fixes every initial weight."""
    keras.utils.set_random_seed(seed)
    recurrent = keras.initializers.RandomNormal(stddev=gain / np.sqrt(hidden), seed=seed)
    return keras.Sequential([
        keras.Input((length, 1)),
        keras.layers.SimpleRNN(hidden, recurrent_initializer=recurrent),
        keras.layers.Dense(1),
    ])


def mean_squared_error(y_true, y_pred):
    """The mean of (y_pred - y_true)^2 over every entry, as a TensorFlow scalar."""
    return tf.reduce_mean((y_pred - y_true) ** 2)


def train_simple_rnn(optimizer, x: np.ndarray, y: np.ndarray, steps: int = 400, batch: int = 64, hidden: int = 32,
                     gain: float = 1.5, seed: int = 0) -> dict[str, np.ndarray]:
    """Train :func:`simple_rnn_regressor` (initial weights from ``seed``) on (x, y) with ``optimizer`` for ``steps`` steps of
    :func:`training_step` and mean squared error; batch k holds ``batch`` indices drawn with replacement by
    ``np.random.default_rng(seed)``. Returns per-step arrays: "loss", "grad_norm" (the raw global norm, before any
    clipping) and "sigma_max" (largest singular value of the recurrent kernel after the step, nan once not finite)."""
    model = simple_rnn_regressor(x.shape[1], hidden, gain, seed)
    recurrent = model.layers[0].cell.recurrent_kernel
    step = training_step(model, mean_squared_error, optimizer)
    batches = np.random.default_rng(seed).integers(0, len(x), size=(steps, batch))
    history = {"loss": [], "grad_norm": [], "sigma_max": []}
    for indices in batches:
        loss, norm = step(x[indices], y[indices])
        history["loss"].append(float(loss))
        history["grad_norm"].append(float(norm))
        kernel = recurrent.numpy()
        finite = np.all(np.isfinite(kernel))
        history["sigma_max"].append(float(np.linalg.norm(kernel, 2)) if finite else np.nan)
    return {key: np.array(values) for key, values in history.items()}


def training_summary(history: dict[str, np.ndarray], last: int = 50) -> dict:
    """What the exploding-RNN demonstration reads off a :func:`train_simple_rnn` history: "finite_steps" (how many
    losses are finite), "first_non_finite" (the first step whose loss is inf or nan, None if none), "growth" (the
    largest finite loss divided by the first loss) and "final" (the mean of the ``last`` losses, nan if one is not)."""
    loss = history["loss"]
    finite = np.isfinite(loss)
    return {
        "finite_steps": int(finite.sum()),
        "first_non_finite": None if finite.all() else int(np.argmin(finite)),
        "growth": float(np.max(loss[finite]) / loss[0]),
        "final": float(np.mean(loss[-last:])),
    }
