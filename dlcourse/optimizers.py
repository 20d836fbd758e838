"""The course's NumPy optimizers, in its one optimizer interface.

Every optimizer, in the lessons and in the checks, is a pair::

    state = <name>_init(params, **init_arguments)
    new_params, new_state = <name>_update(params, grads, state, learning_rate, **hyperparameters)

``params`` and ``grads`` are lists of arrays (one per parameter tensor);
``update`` returns new lists and leaves its inputs unchanged; the caller
passes the learning rate of each update (a schedule is evaluated by the
caller at update 0, 1, ...). :func:`dlcourse.checks.callables.run_optimizer`
drives a pair for many steps.

The ``*_update`` functions named after Keras compute what the Keras optimizer
computes; the other forms (PyTorch's momentum, the moving-average momentum,
epsilon outside the square root, the paper's Adam, ...) are the versions the
lessons compare it with and the checks recognise as mistakes. Each computes
in the dtype of its parameters and uses its constants as given, except
Adam's bias corrections, which raise the betas as Keras does, rounded to
float32 (``float32_beta_powers=False``: the exact betas). Keras also stores
the learning rate, SGD's momentum, Adagrad's initial accumulator and AdamW's
weight decay in float32: pass ``float(np.float32(value))`` to reproduce it
to the last bit.

The grading sandbox does not mount this module: a submission cannot call it.
"""
from __future__ import annotations

import numpy as np


def zeros_init(params: list) -> list:
    """One zero array per parameter: the state of SGD with momentum and of RMSprop."""
    return [np.zeros_like(p) for p in params]


def _as_dtype(value, like: np.ndarray):
    """``value`` as a scalar of ``like``'s dtype (Keras casts its constants to the variable's dtype)."""
    return like.dtype.type(value)


def _float32(value: float) -> float:
    """The float32 number Keras stores for a hyperparameter (0.9 -> 0.8999999761...)."""
    return float(np.float32(value))


# ----------------------------------------------------------------------------- SGD and momentum


def sgd_init(params: list) -> list:
    """The velocity of every parameter, 0: list of arrays shaped like ``params``."""
    return zeros_init(params)


def clip_by_global_norm(t_list: list, clip_norm: float) -> tuple[list, float]:
    """``tf.clip_by_global_norm`` (Keras's ``global_clipnorm``): (every tensor times clip_norm * min(1 / N, 1 / clip_norm), N).

    N is the norm of all tensors together, in their dtype; ``None`` entries stay ``None``; every value is NaN when N is not finite.
    """
    tensors = [t for t in t_list if t is not None]
    norm = np.sqrt(sum(np.sum(np.square(t)) for t in tensors))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = clip_norm * np.minimum(1 / norm, 1 / clip_norm) + (norm - norm)
    return [None if t is None else t * np.asarray(scale, dtype=np.result_type(t)) for t in t_list], norm


def sgd_update(params: list, grads: list, state: list, learning_rate: float, momentum: float = 0.0, nesterov: bool = False,
               clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None):
    """``keras.optimizers.SGD``: v <- momentum v - lr g; theta <- theta + v (Nesterov: + momentum v - lr g).

    The gradients are first clipped as Keras's arguments say: each tensor by its own norm (``clipnorm``),
    each element (``clipvalue``), or all of them by their global norm (``global_clipnorm``, :func:`clip_by_global_norm`).
    """
    grads = [np.asarray(g, dtype=p.dtype) for p, g in zip(params, grads)]
    if clipnorm:
        grads = [g * clipnorm / np.maximum(np.sqrt(np.sum(g * g)), clipnorm) for g in grads]
    if clipvalue:
        grads = [np.clip(g, -clipvalue, clipvalue) for g in grads]
    if global_clipnorm:
        grads, _ = clip_by_global_norm(grads, global_clipnorm)
    new_params, new_state = [], []
    for p, g, v in zip(params, grads, state):
        if momentum == 0.0:
            new_params.append(p - learning_rate * g)
            new_state.append(v)
            continue
        v = momentum * v - learning_rate * g
        new_params.append(p + (momentum * v - learning_rate * g if nesterov else v))
        new_state.append(v)
    return new_params, new_state


def pytorch_momentum_update(params: list, grads: list, state: list, learning_rate: float, momentum: float = 0.9):
    """PyTorch's heavy ball: v <- momentum v + g; theta <- theta - lr v (the learning rate outside the velocity)."""
    new_state = [momentum * v + np.asarray(g, dtype=p.dtype) for p, g, v in zip(params, grads, state)]
    return [p - learning_rate * v for p, v in zip(params, new_state)], new_state


def ema_momentum_update(params: list, grads: list, state: list, learning_rate: float, momentum: float = 0.9):
    """The moving-average form: v <- momentum v + (1 - momentum) g; theta <- theta - lr v."""
    new_state = [momentum * v + (1 - momentum) * np.asarray(g, dtype=p.dtype) for p, g, v in zip(params, grads, state)]
    return [p - learning_rate * v for p, v in zip(params, new_state)], new_state


# ----------------------------------------------------------------------------- Adagrad and RMSprop


def adagrad_init(params: list, initial_accumulator_value: float = 0.1) -> list:
    """Adagrad's accumulator of squared gradients, starting at ``initial_accumulator_value``."""
    return [np.full_like(p, initial_accumulator_value) for p in params]


def _adagrad(params, grads, state, learning_rate, epsilon, epsilon_inside):
    new_params, new_state = [], []
    for p, g, a in zip(params, grads, state):
        g = np.asarray(g, dtype=p.dtype)
        a = a + g * g
        root = np.sqrt(a + epsilon) if epsilon_inside else np.sqrt(a) + epsilon
        new_params.append(p - learning_rate * g / root)
        new_state.append(a)
    return new_params, new_state


def adagrad_update(params: list, grads: list, state: list, learning_rate: float, epsilon: float = 1e-7):
    """``keras.optimizers.Adagrad``: a <- a + g^2; theta <- theta - lr g / sqrt(a + epsilon)."""
    return _adagrad(params, grads, state, learning_rate, epsilon, epsilon_inside=True)


def adagrad_epsilon_outside_update(params: list, grads: list, state: list, learning_rate: float, epsilon: float = 1e-7):
    """Adagrad with epsilon outside the square root (PyTorch's form): theta <- theta - lr g / (sqrt(a) + epsilon)."""
    return _adagrad(params, grads, state, learning_rate, epsilon, epsilon_inside=False)


def rmsprop_init(params: list) -> list:
    """RMSprop's state per parameter: (moving average of g^2, moving average of g, momentum buffer), all 0."""
    return [(np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)) for p in params]


def _rmsprop(params, grads, state, learning_rate, rho, momentum, epsilon, centered, epsilon_inside):
    new_params, new_state = [], []
    for p, g, (v, m, b) in zip(params, grads, state):
        g = np.asarray(g, dtype=p.dtype)
        v = rho * v + (1 - rho) * (g * g)
        denominator = v
        if centered:
            m = rho * m + (1 - rho) * g
            denominator = v - m * m
        root = np.sqrt(denominator + epsilon) if epsilon_inside else np.sqrt(denominator) + epsilon
        step = learning_rate * g / root
        if momentum:
            b = momentum * b + step
            step = b
        new_params.append(p - step)
        new_state.append((v, m, b))
    return new_params, new_state


def rmsprop_update(params: list, grads: list, state: list, learning_rate: float, rho: float = 0.9, momentum: float = 0.0,
                   epsilon: float = 1e-7, centered: bool = False):
    """``keras.optimizers.RMSprop``: v <- rho v + (1 - rho) g^2; step lr g / sqrt(v - [centered] m^2 + epsilon), with momentum b."""
    return _rmsprop(params, grads, state, learning_rate, rho, momentum, epsilon, centered, epsilon_inside=True)


def rmsprop_epsilon_outside_update(params: list, grads: list, state: list, learning_rate: float, rho: float = 0.9,
                                   momentum: float = 0.0, epsilon: float = 1e-7, centered: bool = False):
    """RMSprop with epsilon outside the square root (PyTorch's form): lr g / (sqrt(v) + epsilon)."""
    return _rmsprop(params, grads, state, learning_rate, rho, momentum, epsilon, centered, epsilon_inside=False)


# ----------------------------------------------------------------------------- Adam and AdamW


def adam_init(params: list) -> dict:
    """Adam's state: the update count t (0) and per parameter the moments m, v and AMSGrad's running maximum of v."""
    return {"t": 0, "moments": [(np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)) for p in params]}


def _adam_step(p, g, m, v, v_max, lr, t, beta_1, beta_2, epsilon, amsgrad, form, float32_beta_powers):
    """One Adam step on one tensor; the bias corrections raise float32 betas (Keras) or the exact ones; returns (p, m, v, v_max)."""
    g = np.asarray(g, dtype=p.dtype)
    rounded = _float32 if float32_beta_powers else float
    b1t, b2t = _as_dtype(rounded(beta_1), p) ** t, _as_dtype(rounded(beta_2), p) ** t
    if form == "float32_corrections":  # np.float32(beta) ** t: the powers, and 1 - beta^t, stay float32
        b1t, b2t = np.float32(beta_1) ** t, np.float32(beta_2) ** t
    m = m + (g - m) * _as_dtype(1 - beta_1, p)
    v = v + (g * g - v) * _as_dtype(1 - beta_2, p)
    if amsgrad:
        v_max = np.maximum(v_max, v)
    second = v_max if amsgrad else v
    lr, epsilon = _as_dtype(lr, p), _as_dtype(epsilon, p)
    if form == "no_bias_correction":
        step = lr * m / (np.sqrt(second) + epsilon)
    elif form == "paper":
        step = lr * (m / (1 - b1t)) / (np.sqrt(second / (1 - b2t)) + epsilon)
    else:
        step = lr * np.sqrt(1 - b2t) / (1 - b1t) * m / (np.sqrt(second) + epsilon)
    return p - step, m, v, v_max


def _adam(params, grads, state, learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, form, float32_beta_powers,
          decay_after=False):
    t = state["t"] + 1
    new_params, moments = [], []
    for p, g, (m, v, v_max) in zip(params, grads, state["moments"]):
        decay = _as_dtype(weight_decay, p) * _as_dtype(learning_rate, p) if weight_decay else None
        if decay is not None and not decay_after:
            p = p - p * decay
        p, m, v, v_max = _adam_step(p, g, m, v, v_max, learning_rate, t, beta_1, beta_2, epsilon, amsgrad, form, float32_beta_powers)
        if decay is not None and decay_after:
            p = p - p * decay
        new_params.append(p)
        moments.append((m, v, v_max))
    return new_params, {"t": t, "moments": moments}


def adam_update(params: list, grads: list, state: dict, learning_rate: float, beta_1: float = 0.9, beta_2: float = 0.999,
                epsilon: float = 1e-7, amsgrad: bool = False, float32_beta_powers: bool = True):
    """``keras.optimizers.Adam``: theta <- theta - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + epsilon), t = 1 first."""
    return _adam(params, grads, state, learning_rate, beta_1, beta_2, epsilon, amsgrad, 0.0, "keras", float32_beta_powers)


def adam_paper_update(params: list, grads: list, state: dict, learning_rate: float, beta_1: float = 0.9, beta_2: float = 0.999,
                      epsilon: float = 1e-7, amsgrad: bool = False, float32_beta_powers: bool = True):
    """The paper's Adam: epsilon added to sqrt(v_hat), theta <- theta - lr m_hat / (sqrt(v_hat) + epsilon)."""
    return _adam(params, grads, state, learning_rate, beta_1, beta_2, epsilon, amsgrad, 0.0, "paper", float32_beta_powers)


def adam_no_bias_correction_update(params: list, grads: list, state: dict, learning_rate: float, beta_1: float = 0.9,
                                   beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, float32_beta_powers: bool = True):
    """Adam without bias correction: theta <- theta - lr m / (sqrt(v) + epsilon)."""
    return _adam(params, grads, state, learning_rate, beta_1, beta_2, epsilon, amsgrad, 0.0, "no_bias_correction", float32_beta_powers)


def adam_float32_corrections_update(params: list, grads: list, state: dict, learning_rate: float, beta_1: float = 0.9,
                                    beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, float32_beta_powers: bool = True):
    """Keras's Adam with the bias corrections computed in float32 (``np.float32(beta) ** t``) for any parameters."""
    return _adam(params, grads, state, learning_rate, beta_1, beta_2, epsilon, amsgrad, 0.0, "float32_corrections", float32_beta_powers)


def adamw_update(params: list, grads: list, state: dict, learning_rate: float, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, float32_beta_powers: bool = True):
    """``keras.optimizers.AdamW``: theta <- theta - theta weight_decay lr, then the Adam step (same state as Adam)."""
    return _adam(params, grads, state, learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, "keras", float32_beta_powers)


def adamw_decay_after_update(params: list, grads: list, state: dict, learning_rate: float, weight_decay: float = 0.004,
                             beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                             float32_beta_powers: bool = True):
    """AdamW with the decay applied after the Adam step instead of before it."""
    return _adam(params, grads, state, learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, "keras", float32_beta_powers, decay_after=True)
