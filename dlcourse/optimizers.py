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

import contextlib
from collections.abc import Iterator

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


# ----------------------------------------------------------------------------- Lion, Lamb, Adafactor and Muon
#
# Keras 3.15's optimizers of the 2020s. Two roundings decide the last bits, as for Adam above: a constant Keras
# passes through ``ops.cast(constant, variable.dtype)`` (Lion's betas, the betas of Lamb's and Muon's bias corrections,
# Adafactor's epsilon_2, every weight decay) is first made a float32 tensor, so it is the float32 number even for
# float64 variables; these functions round it so themselves (:func:`_keras_cast`; rounding a float32 number again
# changes nothing; inside :func:`exact_constants` they use it as given instead). A constant Keras combines with a
# tensor as a plain Python number (``1 - beta_1`` in Lamb, epsilons, Muon's momentum and coefficients) is used as
# given, in the dtype of the parameter. The learning rate is the caller's, as everywhere in this module: Keras stores
# it in float32, pass ``float(np.float32(lr))``.
# Keras's update counter starts at 0 and its update step uses ``t = iterations + 1``: t = 1 on the first update.
# Keras's ``clipnorm``/``clipvalue``/``global_clipnorm``, EMA, gradient accumulation and loss scaling, which act
# before or around these updates, are not part of them (clip the gradients first, e.g. :func:`clip_by_global_norm`).


# the kinds of constants used as given rather than rounded to float32 (innermost exact_constants block last)
_EXACT_CONSTANTS: list[frozenset] = [frozenset()]


@contextlib.contextmanager
def exact_constants(*kinds: str) -> Iterator[None]:
    """While the block runs, the constants Keras casts through float32 are used as given, in the parameter's dtype.

    ``kinds`` limits it to some of them: ``"decay"`` (the weight decays) and ``"other"`` (betas, epsilons, ...);
    none: all. The other correct forms of a formula: what an implementation with Python-float hyperparameters
    computes (the checks accept them, as for Adam's ``float32_beta_powers``).
    """
    _EXACT_CONSTANTS.append(frozenset(kinds or ("decay", "other")))
    try:
        yield
    finally:
        _EXACT_CONSTANTS.pop()


def _keras_cast(value: float, like: np.ndarray, kind: str = "other"):
    """``ops.cast(value, like.dtype)`` of a Python float: rounded to float32 first, then in ``like``'s dtype (0.9 -> 0.8999999761...);
    inside :func:`exact_constants` of its ``kind``, ``value`` in ``like``'s dtype."""
    return like.dtype.type(value if kind in _EXACT_CONSTANTS[-1] else np.float32(value))


def _keras_weight_decay(p: np.ndarray, weight_decay: float | None, learning_rate: float) -> np.ndarray:
    """Keras's decoupled weight decay, applied to every variable before its update: p - p * wd * lr (wd in float32; None: none)."""
    if weight_decay is None:
        return p
    return p - p * _keras_cast(weight_decay, p, "decay") * _as_dtype(learning_rate, p)


def _rms(x: np.ndarray):
    """sqrt(mean(x^2)) over the whole tensor (Adafactor's RMS)."""
    return np.sqrt(np.mean(np.square(x)))


def lion_init(params: list) -> list:
    """Lion's state: the momentum m of every parameter, 0 (Lion needs no step counter)."""
    return zeros_init(params)


def lion_update(params: list, grads: list, state: list, learning_rate: float, beta_1: float = 0.9, beta_2: float = 0.99,
                weight_decay: float | None = None):
    """``keras.optimizers.Lion``: theta <- theta - lr sign(beta_1 m + (1 - beta_1) g); then m <- beta_2 m + (1 - beta_2) g.

    beta_1 interpolates the direction of this step, beta_2 (0.99) is the decay of the momentum that is kept. Both betas
    are the float32 numbers (``ops.cast``) and 1 - beta is computed from them in the dtype of the parameter; sign(0) = 0.
    ``weight_decay`` (Keras default None): theta <- theta - theta wd lr before the step (decoupled, wd in float32).
    """
    new_params, new_state = [], []
    for p, g, m in zip(params, grads, state):
        g = np.asarray(g, dtype=p.dtype)
        lr, b1, b2 = _as_dtype(learning_rate, p), _keras_cast(beta_1, p), _keras_cast(beta_2, p)
        p = _keras_weight_decay(p, weight_decay, learning_rate)
        new_params.append(p - lr * np.sign(m * b1 + g * (1 - b1)))
        new_state.append(m * b2 + g * (1 - b2))
    return new_params, new_state


def lamb_init(params: list) -> dict:
    """Lamb's state: the update count t (0) and per parameter the moments (m, v), 0."""
    return {"t": 0, "moments": [(np.zeros_like(p), np.zeros_like(p)) for p in params]}


def lamb_update(params: list, grads: list, state: dict, learning_rate: float, beta_1: float = 0.9, beta_2: float = 0.999,
                epsilon: float = 1e-7, weight_decay: float | None = None):
    """``keras.optimizers.Lamb``: Adam's direction u, rescaled per tensor by the trust ratio ||theta|| / ||u||.

    m <- m + (g - m)(1 - beta_1); v <- v + (g^2 - v)(1 - beta_2) (1 - beta exact); with t = 1 on the first update,
    u = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + epsilon): epsilon added to the square root of the
    *bias-corrected* v (unlike Keras's Adam), the betas of the powers in float32.
    ratio = ||theta|| / ||u|| (Frobenius norms of the whole tensor, biases included), 1 if either norm is 0, not
    clipped; theta <- theta - ratio lr u. ``weight_decay`` (default None) is Keras's decoupled decay, applied to
    theta before everything else (so ||theta|| is the decayed one); it is not added to u as in the paper.
    """
    t = state["t"] + 1
    new_params, moments = [], []
    for p, g, (m, v) in zip(params, grads, state["moments"]):
        g = np.asarray(g, dtype=p.dtype)
        lr, step = _as_dtype(learning_rate, p), _as_dtype(t, p)
        one = _as_dtype(1, p)
        beta_1_power, beta_2_power = _keras_cast(beta_1, p) ** step, _keras_cast(beta_2, p) ** step
        p = _keras_weight_decay(p, weight_decay, learning_rate)
        m = m + (g - m) * _as_dtype(1 - beta_1, p)
        v = v + (g * g - v) * _as_dtype(1 - beta_2, p)
        update = (m / (one - beta_1_power)) / (np.sqrt(v / (one - beta_2_power)) + _as_dtype(epsilon, p))
        w_norm, u_norm = np.sqrt(np.sum(p * p)), np.sqrt(np.sum(update * update))
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else one
        new_params.append(p - ratio * lr * update)
        moments.append((m, v))
    return new_params, {"t": t, "moments": moments}


def adafactor_init(params: list) -> dict:
    """Adafactor's state: the update count t (0) and per parameter (r, c, v), 0.

    A parameter with ndim >= 2 is factored over its last two axes: r has shape ``p.shape[:-1]`` (the row means),
    c ``p.shape[:-2] + p.shape[-1:]`` (the column means); one with ndim < 2 has r = c = None. Keras also keeps v,
    shaped like the parameter, for every parameter (for a factored one it only stores the product of r and c).
    """
    def factors(p):
        if p.ndim < 2:
            return None, None
        return np.zeros(p.shape[:-1], dtype=p.dtype), np.zeros(p.shape[:-2] + p.shape[-1:], dtype=p.dtype)

    return {"t": 0, "moments": [(*factors(p), np.zeros_like(p)) for p in params]}


def adafactor_update(params: list, grads: list, state: dict, learning_rate: float, beta_2_decay: float = -0.8,
                     epsilon_1: float = 1e-30, epsilon_2: float = 1e-3, clip_threshold: float = 1.0, relative_step: bool = True,
                     weight_decay: float | None = None):
    """``keras.optimizers.Adafactor`` (no first moment): theta <- theta - alpha_t u / max(1, RMS(u) / clip_threshold).

    With t = 1 on the first update: rho_t = min(lr, 1 / sqrt(t)) (the learning rate caps the paper's relative step
    1 / sqrt(t), in place of the paper's 1e-2; Keras's ``relative_step`` flag changes nothing, the minimum is taken
    either way); alpha_t = max(epsilon_2, RMS(theta)) rho_t (epsilon_2 in float32, RMS over the whole tensor, of
    theta before this step); beta_2_t = 1 - t^beta_2_decay (0 at t = 1); G = g^2 + epsilon_1 (epsilon_1 added to
    every squared gradient, before any average). ndim >= 2, factored over the last two axes:
    r <- beta_2_t r + (1 - beta_2_t) mean(G, axis=-1), c <- beta_2_t c + (1 - beta_2_t) mean(G, axis=-2) and
    v = (r / mean(r, axis=-1))[..., :, None] c[..., None, :], recomputed each step (not a moving average);
    ndim < 2: v <- beta_2_t v + (1 - beta_2_t) G. u = g / sqrt(v). ``weight_decay`` (default None): Keras's
    decoupled decay theta <- theta - theta wd lr, before the step.
    """
    del relative_step  # min(lr, 1 / sqrt(t)) is taken with and without it, as in Keras
    t = state["t"] + 1
    new_params, moments = [], []
    for p, g, (r, c, v) in zip(params, grads, state["moments"]):
        g = np.asarray(g, dtype=p.dtype)
        lr, step, one = _as_dtype(learning_rate, p), _as_dtype(t, p), _as_dtype(1, p)
        p = _keras_weight_decay(p, weight_decay, learning_rate)
        rho = np.minimum(lr, one / np.sqrt(step))
        alpha = np.maximum(_keras_cast(epsilon_2, p), _rms(p)) * rho
        regulated = g * g + _as_dtype(epsilon_1, p)
        beta = one - step ** _as_dtype(beta_2_decay, p)
        if p.ndim >= 2:
            r = beta * r + (one - beta) * np.mean(regulated, axis=-1)
            c = beta * c + (one - beta) * np.mean(regulated, axis=-2)
            v = (r / np.mean(r, axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v = beta * v + (one - beta) * regulated
        u = g / np.sqrt(v)
        u = u / np.maximum(one, _rms(u) / _as_dtype(clip_threshold, p))
        new_params.append(p - alpha * u)
        moments.append((r, c, v))
    return new_params, {"t": t, "moments": moments}


def newton_schulz5(x: np.ndarray, steps: int = 5, a: float = 3.4445, b: float = -4.7750, c: float = 2.0315,
                   normalise: bool = True) -> np.ndarray:
    """Keras's ``Muon.zeropower_via_newtonschulz5``: an approximate U V^T of the matrix (or stack of matrices) ``x``.

    A tall matrix is transposed first (and back at the end), so X X^T is the smaller Gram matrix;
    X <- X / (||X||_F + 1e-7) (Frobenius, so the spectral norm is at most 1); then ``steps`` times
    A = X X^T, B = b A + (c A) A, X <- a X + B X: each singular value s becomes a s + b s^3 + c s^5.
    ``normalise=False`` skips the division (the mistake the lessons show: the iteration then diverges).
    """
    a, b, c = (_as_dtype(value, x) for value in (a, b, c))
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = np.swapaxes(x, -1, -2)
    if normalise:
        x = x / (np.sqrt(np.sum(x * x, axis=(-2, -1), keepdims=True)) + _as_dtype(1e-7, x))
    for _ in range(steps):
        gram = x @ np.swapaxes(x, -1, -2)
        x = a * x + (b * gram + (c * gram) @ gram) @ x
    return np.swapaxes(x, -1, -2) if tall else x


def muon_init(params: list) -> dict:
    """Muon's state: the update count t (0) and per parameter (m, v), 0; v is used only by the AdamW path."""
    return {"t": 0, "moments": [(np.zeros_like(p), np.zeros_like(p)) for p in params]}


def muon_update(params: list, grads: list, state: dict, learning_rate: float, adam_beta_1: float = 0.9, adam_beta_2: float = 0.999,
                adam_weight_decay: float | None = 0.004, epsilon: float = 1e-7, weight_decay: float | None = 0.004,
                muon_a: float = 3.4445, muon_b: float = -4.7750, muon_c: float = 2.0315, adam_lr_ratio: float = 1,
                momentum: float = 0.95, ns_steps: int = 5, nesterov: bool = True, rms_rate: float | None = 0.2,
                use_adamw: list | None = None, float32_beta_powers: bool = True):
    """``keras.optimizers.Muon``: 2-D parameters take the Muon step, all others Keras's AdamW step.

    ``use_adamw`` (one bool per parameter) says which take AdamW; None: Keras's rule from the array alone, ndim != 2
    (biases, scalars, and also conv kernels of ndim 3 to 5, which are not flattened). Keras also sends a 2-D variable
    whose path contains "embedding" (``exclude_embeddings=True``, the default) or matches a regex of ``exclude_layers``
    to AdamW: an array has no path, pass ``use_adamw`` for those. First, weight decay on every parameter:
    theta <- theta - theta wd lr with wd = ``weight_decay`` (Muon path) or ``adam_weight_decay`` (AdamW path), both
    0.004 by default, in float32, and the unscaled lr. Muon step: m <- m + (g + (momentum - 1) m), i.e. momentum m + g
    (no 1 - momentum); G = g + momentum m (Nesterov) or m; O = :func:`newton_schulz5` (G, ns_steps, muon_a, muon_b,
    muon_c); theta <- theta - ((lr O) sqrt(max(rows, cols))) rms_rate, the square root computed in float32
    (rms_rate None: theta - lr O). AdamW step, t = 1 on the first update (counted over all updates): Keras's Adam
    (:func:`adam_update`) with beta_1, beta_2 = adam_beta_1, adam_beta_2 and the learning rate lr adam_lr_ratio
    (a product Keras computes in float32); ``float32_beta_powers=False``: its bias corrections raise the exact betas.
    """
    t = state["t"] + 1
    adamw = [p.ndim != 2 for p in params] if use_adamw is None else list(use_adamw)
    adam_rate = learning_rate if adam_lr_ratio == 1 else float(np.float32(learning_rate) * np.float32(adam_lr_ratio))
    new_params, moments = [], []
    for p, g, (m, v), to_adamw in zip(params, grads, state["moments"], adamw):
        g = np.asarray(g, dtype=p.dtype)
        p = _keras_weight_decay(p, adam_weight_decay if to_adamw else weight_decay, learning_rate)
        if to_adamw:
            p, m, v, _ = _adam_step(p, g, m, v, v, adam_rate, t, adam_beta_1, adam_beta_2, epsilon, amsgrad=False, form="keras",
                                    float32_beta_powers=float32_beta_powers)
        else:
            m = m + (g + m * _as_dtype(momentum - 1, p))
            direction = newton_schulz5(g + _as_dtype(momentum, p) * m if nesterov else m, ns_steps, muon_a, muon_b, muon_c)
            step = _as_dtype(learning_rate, p) * direction
            if rms_rate is not None:
                step = step * _as_dtype(np.sqrt(np.float32(max(p.shape[0], p.shape[1]))), p) * _as_dtype(rms_rate, p)
            p = p - step
        new_params.append(p)
        moments.append((m, v))
    return new_params, {"t": t, "moments": moments}


# ----------------------------------------------------------------------------- Schedule-free AdamW
#
# Keras 3.15's ``ScheduleFreeAdamW`` (keras/src/optimizers/schedule_free_adamw.py) keeps two slots per variable,
# ``momentum`` (the paper's z, the sequence the normalised gradient steps move; it starts as a copy of the variable)
# and ``velocity`` (Adam's v, 0), and trains the variable itself; it stores no average x and has no evaluation mode
# (no ``finalize_variable_values`` of its own, nothing swaps the variable): ``model.evaluate`` and ``predict`` use the
# trained variable. Its code means to recover the average from the variable y and the momentum *before* this step,
# x = (y - (1 - beta_1) z_old) / beta_1, but it reads ``momentum.value``, on TensorFlow the live ``tf.Variable``, after
# it has subtracted this step from it: it uses the new z. The interpolation then cancels (see
# :func:`schedule_free_adamw_update`): the variable becomes the running mean of the z's and beta_1 has no effect
# beyond rounding. :func:`schedule_free_adamw_update` computes that, as Keras does on its TensorFlow backend;
# :func:`schedule_free_adamw_intended_update` computes what the comments of Keras's code describe (the old z), and
# :func:`schedule_free_adamw_paper_update` the reference implementation of Defazio et al. (2024). The roundings are
# those of the block above: beta_1, beta_2, epsilon, the warmup length and the weight decay pass through
# ``ops.cast`` (float32 numbers, :func:`_keras_cast`), t = 1 on the first update, the learning rate is the caller's.


def schedule_free_adamw_init(params: list) -> dict:
    """Keras's ScheduleFreeAdamW state: the update count t (0) and per parameter (z, v): z a copy of the parameter, v 0."""
    return {"t": 0, "slots": [(np.array(p, copy=True), np.zeros_like(p)) for p in params]}


def _schedule_free_keras(params, grads, state, learning_rate, beta_1, beta_2, epsilon, warmup_steps, weight_decay,
                         old_momentum):
    t = state["t"] + 1
    new_params, slots = [], []
    for p, g, (z, v) in zip(params, grads, state["slots"]):
        g = np.asarray(g, dtype=p.dtype)
        p = _keras_weight_decay(p, weight_decay, learning_rate)
        lr, step, one = _as_dtype(learning_rate, p), _as_dtype(t, p), _as_dtype(1, p)
        b1, b2, eps = _keras_cast(beta_1, p), _keras_cast(beta_2, p), _keras_cast(epsilon, p)
        if warmup_steps > 0:
            lr = lr * np.minimum(step / _keras_cast(warmup_steps, p), one)
        z_old = z
        bias_correction_2 = one - b2**step
        v = v + (g * g - v) * (one - b2)
        z = z - (lr * g) / (np.sqrt(v / bias_correction_2) + eps)
        weight = one / step
        x_old = (p - (one - b1) * (z_old if old_momentum else z)) / b1
        x_new = (one - weight) * x_old + weight * z
        new_params.append((one - b1) * z + b1 * x_new)
        slots.append((z, v))
    return new_params, {"t": t, "slots": slots}


def schedule_free_adamw_update(params: list, grads: list, state: dict, learning_rate: float, beta_1: float = 0.9,
                               beta_2: float = 0.999, epsilon: float = 1e-8, warmup_steps: int = 0,
                               weight_decay: float | None = None):
    """``keras.optimizers.ScheduleFreeAdamW`` (Keras 3.15.1, TensorFlow backend): theta is the running mean of the z's.

    With t = 1 on the first update: ``weight_decay`` (default None) first, theta <- theta - theta wd lr (decoupled,
    wd in float32, the learning rate without warmup); eta_t = lr min(t / warmup_steps, 1) (lr if warmup_steps = 0);
    v <- v + (g^2 - v)(1 - beta_2); z <- z - (eta_t g) / (sqrt(v / (1 - beta_2^t)) + epsilon) (epsilon outside the
    root of the bias-corrected v, no first moment); then, as Keras's code computes it with the *new* z (it reads the
    momentum slot after updating it): x = (theta - (1 - beta_1) z) / beta_1, x <- (1 - 1/t) x + z / t,
    theta <- (1 - beta_1) z + beta_1 x. Algebraically theta <- (1 - 1/t) theta + z / t: theta is the uniform average
    of z_1, ..., z_t (plus the weight decay's pull), the gradient is taken at that average, and beta_1 changes only
    the roundings. Keras evaluates theta itself (no evaluation point is swapped in): evaluate ``params``.
    """
    return _schedule_free_keras(params, grads, state, learning_rate, beta_1, beta_2, epsilon, warmup_steps, weight_decay,
                                old_momentum=False)


def schedule_free_adamw_intended_update(params: list, grads: list, state: dict, learning_rate: float, beta_1: float = 0.9,
                                        beta_2: float = 0.999, epsilon: float = 1e-8, warmup_steps: int = 0,
                                        weight_decay: float | None = None):
    """What the comments of Keras's ScheduleFreeAdamW describe: :func:`schedule_free_adamw_update` with the z of before this step.

    x = (theta - (1 - beta_1) z_old) / beta_1 recovers the average; x <- (1 - 1/t) x + z / t (uniform weights, also
    during warmup); theta <- (1 - beta_1) z + beta_1 x: the gradient is taken at the interpolation theta (the paper's y),
    and the point to evaluate is x (:func:`schedule_free_adamw_average`). Same state, constants and roundings.
    """
    return _schedule_free_keras(params, grads, state, learning_rate, beta_1, beta_2, epsilon, warmup_steps, weight_decay,
                                old_momentum=True)


def schedule_free_adamw_average(params: list, state: dict, beta_1: float = 0.9) -> list:
    """The average x of the interpolation theta = (1 - beta_1) z + beta_1 x: the point to evaluate after the intended or paper update.

    From a paper state (:func:`schedule_free_adamw_paper_init`) its stored x; from a Keras state, recovered as Keras's code
    does, x = (theta - (1 - beta_1) z) / beta_1 (beta_1 in float32). After :func:`schedule_free_adamw_update` (Keras as it
    computes) theta itself is the average and Keras evaluates it: evaluate ``params``, not this.
    """
    if "x" in state:
        return [np.array(x, copy=True) for x in state["x"]]
    averages = []
    for p, (z, _) in zip(params, state["slots"]):
        b1 = _keras_cast(beta_1, p)
        averages.append((p - (_as_dtype(1, p) - b1) * z) / b1)
    return averages


def schedule_free_adamw_paper_init(params: list) -> dict:
    """The paper's state: t (0), the sum of the averaging weights (0), the largest learning rate so far (-1), per parameter
    (z, v) (z a copy, v 0, as for Keras) and the average x (a copy)."""
    return {"t": 0, "weight_sum": 0.0, "lr_max": -1.0, "slots": [(np.array(p, copy=True), np.zeros_like(p)) for p in params],
            "x": [np.array(p, copy=True) for p in params]}


def schedule_free_adamw_paper_update(params: list, grads: list, state: dict, learning_rate: float, beta_1: float = 0.9,
                                     beta_2: float = 0.999, epsilon: float = 1e-8, warmup_steps: int = 0,
                                     weight_decay: float = 0.0, weight_lr_power: float = 2.0, r: float = 0.0):
    """Schedule-free AdamW as the reference implementation of Defazio et al. (2024) computes it (``AdamWScheduleFreeReference``).

    With t = 1 on the first update: eta_t = lr min(t / warmup_steps, 1) sqrt(1 - beta_2^t) (the bias correction in the
    rate); the averaging weight c_t = w_t / (w_1 + ... + w_t), w_t = t^r max(eta_1, ..., eta_t)^weight_lr_power (the
    squared largest rate so far: later iterates weigh more while the rate grows); z <- z - eta_t wd theta (weight decay
    at theta, the paper's y); v <- beta_2 v + (1 - beta_2) g^2; z <- z - eta_t g / (sqrt(v) + epsilon);
    x <- (1 - c_t) x + c_t z; theta <- (1 - beta_1) z + beta_1 x. Train (take gradients) at ``params``, evaluate x
    (:func:`schedule_free_adamw_average`). Constants as given, in the dtype of the parameters.
    """
    t = state["t"] + 1
    sched = min(t / warmup_steps, 1.0) if warmup_steps > 0 else 1.0
    rate = learning_rate * sched * np.sqrt(1 - beta_2**t)
    lr_max = max(rate, state["lr_max"])
    weight = t**r * lr_max**weight_lr_power
    weight_sum = state["weight_sum"] + weight
    c = weight / weight_sum if weight_sum > 0 else 0.0
    new_params, slots, averages = [], [], []
    for p, g, (z, v), x in zip(params, grads, state["slots"], state["x"]):
        g = np.asarray(g, dtype=p.dtype)
        if weight_decay:
            z = z - _as_dtype(rate * weight_decay, p) * p
        v = _as_dtype(beta_2, p) * v + _as_dtype(1 - beta_2, p) * (g * g)
        z = z - _as_dtype(rate, p) * g / (np.sqrt(v) + _as_dtype(epsilon, p))
        x = _as_dtype(1 - c, p) * x + _as_dtype(c, p) * z
        new_params.append(_as_dtype(beta_1, p) * x + _as_dtype(1 - beta_1, p) * z)
        slots.append((z, v))
        averages.append(x)
    return new_params, {"t": t, "weight_sum": weight_sum, "lr_max": lr_max, "slots": slots, "x": averages}
