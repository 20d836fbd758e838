"""The course's NumPy multilayer perceptron, piece by piece, computed as Keras computes it (chapter 6).

Shapes follow Keras: a batch ``x`` is ``(n, d_in)``, a dense layer's ``kernel``
``(d_in, d_out)`` and ``bias`` ``(d_out,)``; ``params`` of an MLP is the list
``[kernel_1, bias_1, ..., kernel_L, bias_L]`` (the order of
``model.trainable_variables``). Labels are integer class indices ``(n,)``;
the network outputs logits and the loss is Keras's
``SparseCategoricalCrossentropy(from_logits=True)``: the mean over the batch.
Every backward function takes the gradient of that loss with respect to its
output and returns the gradients with respect to its inputs and parameters.

The lessons teach each piece and then use these; the exercise asks students
to write them, so the grading sandbox does not mount this module.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

# ----------------------------------------------------------------------------- dense layers and activations


def dense_forward(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``keras.layers.Dense`` without activation: z = x @ kernel + bias, shape (n, d_out)."""
    return x @ kernel + bias


def dense_backward(dz: np.ndarray, x: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx (n, d_in), dL/dkernel (d_in, d_out), dL/dbias (d_out,)) from dL/dz (n, d_out)."""
    return dz @ kernel.T, x.T @ dz, dz.sum(axis=0)


def relu_backward(dh: np.ndarray, z: np.ndarray) -> np.ndarray:
    """dL/dz of h = relu(z): dh where z > 0, else 0 (TensorFlow's derivative at 0 is 0)."""
    return dh * (z > 0)


def tanh_backward(dh: np.ndarray, z: np.ndarray) -> np.ndarray:
    """dL/dz of h = tanh(z): dh (1 - tanh(z)^2)."""
    return dh * (1 - np.tanh(z) ** 2)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), computed as exp(-log(1 + exp(-z))): no overflow for any z."""
    return np.exp(-np.logaddexp(0.0, -z))


def sigmoid_backward(dh: np.ndarray, z: np.ndarray) -> np.ndarray:
    """dL/dz of h = sigmoid(z): dh sigmoid(z) (1 - sigmoid(z)) (at most dh / 4)."""
    s = sigmoid(z)
    return dh * s * (1 - s)


ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "relu": (lambda z: np.maximum(z, 0), relu_backward),
    "tanh": (np.tanh, tanh_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
}

# ----------------------------------------------------------------------------- softmax cross-entropy from logits


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax along the last axis, computed from logits minus their maximum (never overflows)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Keras's ``SparseCategoricalCrossentropy(from_logits=True)``: (mean loss over the batch, dL/dlogits (n, classes)).

    dL/dlogits = (softmax(logits) - onehot(labels)) / n.
    """
    n = len(labels)
    log_p = log_softmax(logits)
    loss = -log_p[np.arange(n), labels].mean()
    dlogits = np.exp(log_p)
    dlogits[np.arange(n), labels] -= 1
    return float(loss), dlogits / n


# ----------------------------------------------------------------------------- normalisation and regularisation


def batch_norm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, moving_mean: np.ndarray, moving_variance: np.ndarray,
                       training: bool, momentum: float = 0.99, epsilon: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``keras.layers.BatchNormalization`` on (n, d): (y, new moving mean, new moving variance).

    Training: the batch's mean and (biased) variance normalise x, and the moving statistics move towards them,
    m <- momentum m + (1 - momentum) batch statistic. Inference: the moving statistics normalise x and stay.
    """
    if training:
        mean, variance = x.mean(axis=0), x.var(axis=0)
        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_variance = momentum * moving_variance + (1 - momentum) * variance
    else:
        mean, variance = moving_mean, moving_variance
    return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta, moving_mean, moving_variance


def batch_norm_backward(dy: np.ndarray, x: np.ndarray, gamma: np.ndarray, epsilon: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx, dL/dgamma, dL/dbeta) of batch normalisation in training mode, in the simplified form:

    dx = gamma / sqrt(var + eps) * (dy - mean(dy) - x_hat * mean(dy * x_hat)), the means over the batch.
    """
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + epsilon)
    dx = gamma / np.sqrt(x.var(axis=0) + epsilon) * (dy - dy.mean(axis=0) - x_hat * (dy * x_hat).mean(axis=0))
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


def dropout_mask(shape: tuple, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Which units ``keras.layers.Dropout(rate)`` keeps in one training step: a bool array, True with probability 1 - rate."""
    return rng.random(shape) >= rate


def dropout_forward(x: np.ndarray, rate: float, mask: np.ndarray, training: bool) -> np.ndarray:
    """Inverted dropout: x * mask / (1 - rate) in training, x itself at inference."""
    return x * mask / (1 - rate) if training else x


def l2_penalty(kernels: list, l2: float) -> float:
    """``keras.regularizers.L2(l2)`` summed over ``kernels`` (biases are not regularised): l2 * sum of squares.

    Keras stores the factor as float32 (``L2(1e-3)`` multiplies by 0.0010000000474974513): pass ``float(np.float32(l2))``
    to reproduce it to the last bit.
    """
    return float(l2 * sum(np.sum(k**2) for k in kernels))


def l2_penalty_gradient(kernels: list, l2: float) -> list:
    """The gradient of :func:`l2_penalty`: 2 l2 kernel, per kernel."""
    return [2 * l2 * k for k in kernels]


# ----------------------------------------------------------------------------- a whole MLP


def mlp_init(sizes: list[int], rng: np.random.Generator, scale: float = 2.0) -> list:
    """``[kernel_1, bias_1, ...]`` for layer sizes ``sizes`` (inputs first): kernels from N(0, scale / fan_in) (He normal,
    untruncated, for ``scale=2``), biases 0, float64."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(0.0, np.sqrt(scale / fan_in), size=(fan_in, fan_out)), np.zeros(fan_out)]
    return params


def mlp_forward(params: list, x: np.ndarray, activation: str = "relu", activate_logits: bool = False) -> tuple[list, list, np.ndarray]:
    """The forward pass of the MLP ``params`` on ``x``, keeping what the backward pass needs: (each dense layer's input,
    each pre-activation, the output). Dense, activation, ..., dense: no activation on the last layer, whose output is the
    logits (``activate_logits``: the activation there too, the classic mistake the checks recognise)."""
    forward, _ = ACTIVATIONS[activation]
    inputs, pre_activations, h = [], [], x
    for i in range(0, len(params), 2):
        inputs.append(h)
        pre_activations.append(dense_forward(h, params[i], params[i + 1]))
        h = forward(pre_activations[-1]) if i + 2 < len(params) or activate_logits else pre_activations[-1]
    return inputs, pre_activations, h


def mlp_backward(params: list, inputs: list, pre_activations: list, doutput: np.ndarray, activation: str = "relu",
                 activate_logits: bool = False) -> list:
    """The gradient of every parameter from dL/doutput, back through the layers :func:`mlp_forward` kept."""
    _, backward = ACTIVATIONS[activation]
    grads: list = [None] * len(params)
    dz = backward(doutput, pre_activations[-1]) if activate_logits else doutput
    for layer in reversed(range(len(inputs))):
        dh, grads[2 * layer], grads[2 * layer + 1] = dense_backward(dz, inputs[layer], params[2 * layer])
        if layer:
            dz = backward(dh, pre_activations[layer - 1])
    return grads


def mlp_logits(params: list, x: np.ndarray, activation: str = "relu") -> np.ndarray:
    """The logits of the MLP ``params`` on ``x``: dense, activation, ..., dense (no activation on the last layer)."""
    return mlp_forward(params, x, activation)[2]


def accuracy(params: list, x: np.ndarray, labels: np.ndarray, activation: str = "relu") -> float:
    """The fraction of examples whose largest logit is their label (Keras's ``SparseCategoricalAccuracy`` on logits)."""
    return float(np.mean(mlp_logits(params, x, activation).argmax(axis=1) == labels))


def mlp_gradients(params: list, x: np.ndarray, labels: np.ndarray, activation: str = "relu", l2: float = 0.0,
                  activate_logits: bool = False) -> tuple[float, list]:
    """(loss, gradient of every parameter) of the MLP on a batch, by backpropagation; ``l2`` adds
    ``keras.regularizers.L2(l2)`` on every kernel to the loss (``activate_logits``: see :func:`mlp_forward`)."""
    inputs, pre_activations, output = mlp_forward(params, x, activation, activate_logits)
    loss, doutput = softmax_cross_entropy(output, labels)
    grads = mlp_backward(params, inputs, pre_activations, doutput, activation, activate_logits)
    if l2:
        kernels = params[0::2]
        loss += l2_penalty(kernels, l2)
        grads[0::2] = [g + r for g, r in zip(grads[0::2], l2_penalty_gradient(kernels, l2))]
    return loss, grads


def train_epoch(params: list, x: np.ndarray, labels: np.ndarray, batches: list, update: Callable, state, learning_rate,
                activation: str = "relu", l2: float = 0.0, first_step: int = 0, **hyperparameters) -> tuple[list, object, list]:
    """One epoch over ``batches`` (index arrays) with an optimizer of the course's interface: (params, state, batch losses).

    ``learning_rate`` is a number or a schedule (a function of the update count, here ``first_step``, ``first_step + 1``, ...);
    the state carries over from the epoch before (``<name>_init(params)`` for the first one).
    """
    losses = []
    for k, indices in enumerate(batches):
        loss, grads = mlp_gradients(params, x[indices], labels[indices], activation, l2)
        rate = learning_rate(first_step + k) if callable(learning_rate) else learning_rate
        params, state = update(params, grads, state, rate, **hyperparameters)
        losses.append(loss)
    return params, state, losses


def train_shuffled(params: list, x: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int, init: Callable, update: Callable,
                   learning_rate, rng: np.random.Generator, activation: str = "relu", **hyperparameters) -> list:
    """``epochs`` epochs of :func:`train_epoch` from a fresh optimizer state ``init(params)``, the examples shuffled by ``rng``
    at the start of each epoch; a schedule counts the updates across epochs. Returns the trained params."""
    state, step = init(params), 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        batches = [order[start:start + batch_size] for start in range(0, len(x), batch_size)]
        params, state, _ = train_epoch(params, x, labels, batches, update, state, learning_rate, activation, first_step=step,
                                       **hyperparameters)
        step += len(batches)
    return params
