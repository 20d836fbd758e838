"""Checks for the exercises of chapter 7 (Lion, Lamb, Adafactor, Newton–Schulz and Muon).

The optimizers follow the course's interface (:mod:`dlcourse.optimizers`) and
are compared at every step with the Keras optimizer (:func:`check_optimizer`),
in float64 and float32; the classic wrong versions are trajectories of the
same problem (a Keras optimizer with other arguments, or a wrong update
below). Constants Keras rounds to float32 (Lion's betas, the betas of Lamb's
bias corrections, Adafactor's epsilon_2, the weight decays) are accepted as
given too, all of them or some (:func:`keras_and_exact`). The Newton–Schulz
iteration is compared with Keras's ``Muon.zeropower_via_newtonschulz5``.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from dlcourse import LazyReference, optimizers
from dlcourse.checks.cases import Case, run_check
from dlcourse.checks.compare import Mistake, assert_matches
from dlcourse.checks.optimizer_steps import check_optimizer, default_problem, keras_run, learning_rates, numpy_run, optimizer_label
from dlcourse.checks.recording import recorded
from dlcourse.checks.understanding import check_digits_learning_rate, derivation_case

ref, keras = LazyReference(), LazyReference("keras")


def tensor_problem(seed: int = 1, dtype=np.float64):
    """A diagonal quadratic on a tall (5, 3) kernel, a (3,) bias and a (2, 4, 3) kernel: curvatures, minima, starts."""
    return default_problem(seed, dtype, shapes=((5, 3), (3,), (2, 4, 3)))


def variable_names(problem) -> list[str]:
    """Names for Keras's variables of ``problem``: ``kernel_<i>`` for ndim >= 2, else ``bias_<i>`` (none holds "embedding")."""
    return [f"kernel_{i}" if np.ndim(p) >= 2 else f"bias_{i}" for i, p in enumerate(problem[2])]


def keras_and_exact(run: Callable[[], list]) -> list[list]:
    """``run()`` with the constants Keras rounds to float32, with them as given, and with either the weight decay or the
    others as given (all are right)."""
    forms = [run()]
    for kinds in (("decay", "other"), ("decay",), ("other",)):
        with optimizers.exact_constants(*kinds):
            forms.append(run())
    return forms


def _decayed(p: np.ndarray, weight_decay, learning_rate) -> np.ndarray:
    """Keras's decoupled weight decay (None: none), the decay as given."""
    return p if weight_decay is None else p - p * p.dtype.type(weight_decay) * p.dtype.type(learning_rate)


# ----------------------------------------------------------------------------- classic wrong versions, in the course's interface


def _lion_wrong_update(mistake: str) -> Callable:
    """Lion done wrong: the momentum updated before the direction is taken from it ("momentum_first"), or the step
    without the sign ("no_sign")."""

    def update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.99, weight_decay=None):
        new_params, new_state = [], []
        for p, g, m in zip(params, grads, state):
            g, dtype = np.asarray(g, dtype=p.dtype), p.dtype.type
            p = _decayed(p, weight_decay, learning_rate)
            kept = dtype(beta_2) * m + dtype(1 - beta_2) * g
            direction = dtype(beta_1) * (kept if mistake == "momentum_first" else m) + dtype(1 - beta_1) * g
            new_params.append(p - dtype(learning_rate) * (direction if mistake == "no_sign" else np.sign(direction)))
            new_state.append(kept)
        return new_params, new_state

    return update


def _lamb_wrong_update(mistake: str) -> Callable:
    """Lamb done wrong: no trust ratio ("no_ratio"), ||theta|| / ||g|| ("gradient_norm"), the ratio per element
    ("elementwise"), Keras's Adam epsilon on the uncorrected sqrt(v) ("adam_epsilon"), no bias correction
    ("no_bias_correction"), or the paper's weight decay added to the direction ("decay_in_direction")."""

    def update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
        t = state["t"] + 1
        new_params, moments = [], []
        for p, g, (m, v) in zip(params, grads, state["moments"]):
            g, dtype = np.asarray(g, dtype=p.dtype), p.dtype.type
            if mistake != "decay_in_direction":
                p = _decayed(p, weight_decay, learning_rate)
            m = dtype(beta_1) * m + dtype(1 - beta_1) * g
            v = dtype(beta_2) * v + dtype(1 - beta_2) * g * g
            first, second = (dtype(1), dtype(1)) if mistake == "no_bias_correction" else (dtype(1 - beta_1**t), dtype(1 - beta_2**t))
            if mistake == "adam_epsilon":
                u = np.sqrt(second) / first * m / (np.sqrt(v) + dtype(epsilon))
            else:
                u = (m / first) / (np.sqrt(v / second) + dtype(epsilon))
            if mistake == "decay_in_direction" and weight_decay is not None:
                u = u + dtype(weight_decay) * p
            with np.errstate(divide="ignore", invalid="ignore"):
                if mistake == "no_ratio":
                    ratio = dtype(1)
                elif mistake == "elementwise":
                    ratio = np.where((p != 0) & (u != 0), np.abs(p) / np.abs(u), dtype(1))
                else:
                    other = g if mistake == "gradient_norm" else u
                    norms = np.linalg.norm(p), np.linalg.norm(other)
                    ratio = norms[0] / norms[1] if min(norms) > 0 else dtype(1)
            new_params.append(p - ratio * dtype(learning_rate) * u)
            moments.append((m, v))
        return new_params, {"t": t, "moments": moments}

    return update


def _adafactor_wrong_update(mistake: str) -> Callable:
    """Adafactor done wrong: the full second moment for every parameter ("unfactored"), r c^T without the division by
    mean(r) ("not_normalised"), the step without the scale max(epsilon_2, RMS(theta)) ("without_rms"), or the relative
    step without the cap 1 / sqrt(t) ("uncapped")."""

    def update(params, grads, state, learning_rate, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
               weight_decay=None):
        t = state["t"] + 1
        new_params, moments = [], []
        for p, g, (r, c, v) in zip(params, grads, state["moments"]):
            g, dtype = np.asarray(g, dtype=p.dtype), p.dtype.type
            p = _decayed(p, weight_decay, learning_rate)
            rho = dtype(learning_rate) if mistake == "uncapped" else min(dtype(learning_rate), dtype(1 / np.sqrt(t)))
            alpha = rho if mistake == "without_rms" else max(dtype(epsilon_2), np.sqrt(np.mean(p * p))) * rho
            regulated = g * g + dtype(epsilon_1)
            beta = dtype(1 - t**beta_2_decay)
            if p.ndim >= 2 and mistake != "unfactored":
                r = beta * r + (1 - beta) * regulated.mean(axis=-1)
                c = beta * c + (1 - beta) * regulated.mean(axis=-2)
                row_scale = r if mistake == "not_normalised" else r / r.mean(axis=-1, keepdims=True)
                v = row_scale[..., :, None] * c[..., None, :]
            else:
                v = beta * v + (1 - beta) * regulated
            u = g / np.sqrt(v)
            u = u / max(dtype(1), np.sqrt(np.mean(u * u)) / dtype(clip_threshold))
            new_params.append(p - alpha * u)
            moments.append((r, c, v))
        return new_params, {"t": t, "moments": moments}

    return update


def _muon_wrong_update(mistake: str) -> Callable:
    """Muon done wrong on its 2-D parameters (the others take Keras's AdamW step): the moving-average momentum
    m <- momentum m + (1 - momentum) g ("average_momentum"), or the original Muon's scale sqrt(max(1, rows / cols)) in
    place of Keras's sqrt(max(rows, cols)) rms_rate ("original_scale")."""

    def update(params, grads, state, learning_rate, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2, weight_decay=0.004,
               adam_weight_decay=0.004):
        new_params, new_state = optimizers.muon_update(params, grads, state, learning_rate, momentum=momentum, ns_steps=ns_steps,
                                                       nesterov=nesterov, rms_rate=rms_rate, weight_decay=weight_decay,
                                                       adam_weight_decay=adam_weight_decay)
        for i, (p, g, (m, v)) in enumerate(zip(params, grads, state["moments"])):
            if p.ndim != 2:
                continue
            g, dtype = np.asarray(g, dtype=p.dtype), p.dtype.type
            p = _decayed(p, weight_decay, learning_rate)
            m = dtype(momentum) * m + (dtype(1 - momentum) * g if mistake == "average_momentum" else g)
            direction = optimizers.newton_schulz5(g + dtype(momentum) * m if nesterov else m, ns_steps)
            if mistake == "original_scale":
                scale = dtype(np.sqrt(max(1.0, p.shape[0] / p.shape[1])))
            else:
                scale = dtype(1) if rms_rate is None else dtype(np.sqrt(max(p.shape))) * dtype(rms_rate)
            new_params[i], new_state["moments"][i] = p - dtype(learning_rate) * direction * scale, (m, v)
        return new_params, new_state

    return update


# ----------------------------------------------------------------------------- the checks


@recorded
def check_lion(lion_init: Callable, lion_update: Callable, learning_rate=0.01, beta_1: float = 0.9, beta_2: float = 0.99,
               weight_decay: float | None = None, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """Lion as ``keras.optimizers.Lion``: theta -= lr sign(beta_1 m + (1 - beta_1) g), then m = beta_2 m + (1 - beta_2) g."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(dtype=dtype)
    rates = learning_rates(learning_rate, num_steps)
    hyper = {"beta_1": beta_1, "beta_2": beta_2, "weight_decay": weight_decay}

    def lion(**changes):
        return keras.optimizers.Lion(learning_rate=learning_rate, **dict(hyper, **changes))

    mistakes = [(numpy_run(optimizers.lion_init, _lion_wrong_update("momentum_first"), problem, rates, **hyper),
                 "the step's direction comes from the momentum of the previous update: take sign(beta_1 m + (1 - beta_1) g) "
                 "first, then update m = beta_2 m + (1 - beta_2) g (yours updates m before the step)."),
                (numpy_run(optimizers.lion_init, _lion_wrong_update("no_sign"), problem, rates, **hyper),
                 "Lion steps by the sign of the interpolation: every coordinate moves by exactly the learning rate "
                 "(yours steps by the interpolation itself)."),
                (keras_run(lion(beta_1=beta_2, beta_2=beta_1), problem, num_steps),
                 "beta_1 and beta_2 are swapped: beta_1 interpolates the direction of this step, beta_2 decays the momentum kept.")]
    if weight_decay is not None:
        mistakes.append((keras_run(lion(weight_decay=None), problem, num_steps),
                         "weight_decay is ignored: theta = theta - theta * weight_decay * learning_rate, before the step."))
    check_optimizer((lion_init, lion_update), names=("lion_init", "lion_update"), keras_optimizer=lion,
                    label=optimizer_label("Lion", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters=hyper, mistakes=mistakes,
                    alternatives=keras_and_exact(lambda: numpy_run(optimizers.lion_init, optimizers.lion_update, problem, rates, **hyper)))


@recorded
def check_lamb(lamb_init: Callable, lamb_update: Callable, learning_rate=0.01, beta_1: float = 0.9, beta_2: float = 0.999,
               epsilon: float = 1e-7, weight_decay: float | None = None, num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """Lamb as ``keras.optimizers.Lamb``: Adam's direction with epsilon on sqrt(v_hat), times the trust ratio ||theta|| / ||u||."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(dtype=dtype)
    rates = learning_rates(learning_rate, num_steps)
    hyper = {"beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon, "weight_decay": weight_decay}

    def wrong(mistake):
        return numpy_run(optimizers.lamb_init, _lamb_wrong_update(mistake), problem, rates, **hyper)

    mistakes = [(wrong("no_ratio"), "the trust ratio is missing: multiply the step by ||theta|| / ||u||, the norms of the whole "
                                    "tensor (that is Adam with epsilon on sqrt(v_hat))."),
                (wrong("gradient_norm"), "the trust ratio divides by the norm of the Adam direction u = m_hat / (sqrt(v_hat) + "
                                         "epsilon), not of the gradient: ||theta|| / ||u||."),
                (wrong("elementwise"), "the trust ratio is one number per tensor, ||theta|| / ||u|| with the norms of the whole "
                                       "tensor (yours divides element by element)."),
                # without the corrections, or with Keras's Adam epsilon, u = c m / (sqrt(v) + epsilon) for a number c that the
                # trust ratio cancels: one mistake
                (wrong("adam_epsilon"), "epsilon goes to the square root of the bias-corrected v: u = m_hat / (sqrt(v_hat) + "
                                        "epsilon), with m_hat = m / (1 - beta_1**t), v_hat = v / (1 - beta_2**t); yours adds it to "
                                        "the uncorrected sqrt(v) (Keras's Adam form, or no bias correction: under the trust ratio "
                                        "both are the same step).")]
    if weight_decay is not None:
        mistakes += [(wrong("decay_in_direction"), "that is the paper's decay, weight_decay * theta added to the direction; "
                                                   "Keras's is decoupled: theta = theta - theta * weight_decay * learning_rate, "
                                                   "before everything else (so ||theta|| is the decayed one)."),
                     (keras_run(keras.optimizers.Lamb(learning_rate=learning_rate, **dict(hyper, weight_decay=None)), problem,
                                num_steps), "weight_decay is ignored: theta = theta - theta * weight_decay * learning_rate, "
                                            "before the step.")]
    check_optimizer((lamb_init, lamb_update), names=("lamb_init", "lamb_update"),
                    keras_optimizer=lambda: keras.optimizers.Lamb(learning_rate=learning_rate, **hyper),
                    label=optimizer_label("Lamb", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters=hyper, mistakes=mistakes,
                    alternatives=keras_and_exact(lambda: numpy_run(optimizers.lamb_init, optimizers.lamb_update, problem, rates, **hyper)))


@recorded
def check_adafactor(adafactor_init: Callable, adafactor_update: Callable, learning_rate=0.1, beta_2_decay: float = -0.8,
                    epsilon_1: float = 1e-30, epsilon_2: float = 1e-3, clip_threshold: float = 1.0, weight_decay: float | None = None,
                    num_steps: int = 30, problem=None, dtype=np.float64) -> None:
    """Adafactor as ``keras.optimizers.Adafactor``: factored second moments over the last two axes, relative step, clipping."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(dtype=dtype)
    rates = learning_rates(learning_rate, num_steps)
    hyper = {"beta_2_decay": beta_2_decay, "epsilon_1": epsilon_1, "epsilon_2": epsilon_2, "clip_threshold": clip_threshold,
             "weight_decay": weight_decay}

    def adafactor(**changes):
        return keras.optimizers.Adafactor(learning_rate=learning_rate, **dict(hyper, **changes))

    def wrong(mistake):
        return numpy_run(optimizers.adafactor_init, _adafactor_wrong_update(mistake), problem, rates, **hyper)

    mistakes = [(wrong("unfactored"), "a parameter with two or more axes keeps factored statistics: the row means r and the "
                                      "column means c of g**2 + epsilon_1, and v = (r / mean(r)) c (yours keeps the full v)."),
                (wrong("not_normalised"), "the factored second moment is v = r c / mean(r): divide the row statistics by their "
                                          "mean (yours multiplies r and c as they are)."),
                (wrong("without_rms"), "the step is relative to the parameter's size: alpha_t = max(epsilon_2, RMS(theta)) * "
                                       "rho_t (yours uses rho_t alone)."),
                (keras_run(adafactor(clip_threshold=1e30), problem, num_steps),
                 "the update is not clipped: u = u / max(1, RMS(u) / clip_threshold).")]
    if max(rates) > 1 / np.sqrt(num_steps):
        mistakes.append((wrong("uncapped"), "the relative step is capped by 1 / sqrt(t): rho_t = min(learning_rate, "
                                            "1 / sqrt(t)), with t = 1 on the first update (yours uses the learning rate alone)."))
    check_optimizer((adafactor_init, adafactor_update), names=("adafactor_init", "adafactor_update"), keras_optimizer=adafactor,
                    label=optimizer_label("Adafactor", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps,
                    problem=problem, hyperparameters=hyper, mistakes=mistakes,
                    alternatives=keras_and_exact(lambda: numpy_run(optimizers.adafactor_init, optimizers.adafactor_update, problem, rates,
                                                                   **hyper)))


def keras_newton_schulz(x: np.ndarray, steps: int, coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)) -> np.ndarray:
    """Keras's ``Muon.zeropower_via_newtonschulz5(x, steps)`` with the given (a, b, c), in ``x``'s dtype."""
    a, b, c = coefficients
    muon = keras.optimizers.Muon(muon_a=a, muon_b=b, muon_c=c)
    return np.asarray(muon.zeropower_via_newtonschulz5(ref.tf.constant(x), steps))


# Rounding analysis of the Newton–Schulz iteration: each step forms products of matrices of at most n = max(rows, cols)
# columns (a relative error of about n eps on entries of size at most about 1.2, the top of the band the singular values
# are pushed into) and the polynomial does not amplify the errors of the values near that band; so 4 n eps per step.
NEWTON_SCHULZ_SLACK = 4


def matrix_case(shape: tuple, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """A normal random matrix (or stack of matrices) of ``shape`` and ``dtype``."""
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _unnormalised_newton_schulz(x: np.ndarray, steps: int) -> np.ndarray:
    """Keras's iteration on x as given, without the division by its Frobenius norm (it overflows for a large x)."""
    with np.errstate(all="ignore"):
        return optimizers.newton_schulz5(x, steps, normalise=False)


@recorded
def check_newton_schulz(newton_schulz5: Callable, x=None, steps: int = 5) -> None:
    """``newton_schulz5(x, steps)`` as Keras's ``Muon.zeropower_via_newtonschulz5``: normalise by the Frobenius norm, then
    ``steps`` times X <- a X + (b A + c A A) X with A = X X^T (the smaller Gram matrix)."""
    __tracebackhide__ = True
    x = x if x is not None else matrix_case((3, 5))
    expected = keras_newton_schulz(x, steps)
    eps = float(np.finfo(x.dtype).eps)
    tolerance = NEWTON_SCHULZ_SLACK * max(steps, 1) * max(x.shape[-2:]) * eps
    mistakes = [Mistake(optimizers.newton_schulz5(x, steps - 1), f"one iteration too few: run the step {steps} times."),
                Mistake(optimizers.newton_schulz5(x, steps + 1), f"one iteration too many: run the step {steps} times."),
                Mistake(keras_newton_schulz(x, steps, (1.5, -0.5, 0.0)),
                        "that is the classical cubic iteration (1.5 X - 0.5 X X^T X); Keras's quintic uses a = 3.4445, "
                        "b = -4.7750, c = 2.0315."),
                Mistake(keras_newton_schulz(x, steps, (3.4445, 2.0315, -4.7750)),
                        "b and c are swapped: X <- a X + (b A + c A A) X with b = -4.7750, c = 2.0315."),
                Mistake(_unnormalised_newton_schulz(x, steps),
                        "normalise X first, X / (||X||_F + 1e-7) with the Frobenius norm of the whole matrix, so that every "
                        "singular value is at most 1 (yours does not).")]

    def judge(result, args_after):
        __tracebackhide__ = True
        if args_after[0] is not None and not np.array_equal(args_after[0], x):
            assert_matches(args_after[0], x, what="the matrix x after the call (it must not change)", reference="x as given",
                           rtol=0.0, atol=0.0)
        assert_matches(result, expected, what=f"newton_schulz5(x, {steps}) on a {x.shape} {x.dtype} x",
                       reference="keras.optimizers.Muon().zeropower_via_newtonschulz5", rtol=0.0, atol=tolerance, mistakes=mistakes,
                       dtype=x.dtype)

    run_check(newton_schulz5, [Case((x, steps), judge)], f"newton_schulz5 matches Keras on a {x.shape} {x.dtype} matrix, {steps} steps.")


@recorded
def check_muon(muon_init: Callable, muon_update: Callable, learning_rate=0.01, momentum: float = 0.95, ns_steps: int = 5,
               nesterov: bool = True, rms_rate: float | None = 0.2, weight_decay: float | None = 0.004,
               adam_weight_decay: float | None = 0.004, num_steps: int = 30, problem=None, dtype=np.float32) -> None:
    """Muon as ``keras.optimizers.Muon``: 2-D parameters take the orthogonalised momentum step, the others Keras's AdamW step."""
    __tracebackhide__ = True
    problem = problem if problem is not None else default_problem(dtype=dtype)
    rates = learning_rates(learning_rate, num_steps)
    hyper = {"momentum": momentum, "ns_steps": ns_steps, "nesterov": nesterov, "rms_rate": rms_rate, "weight_decay": weight_decay,
             "adam_weight_decay": adam_weight_decay}
    names = variable_names(problem)

    def muon(**changes):
        return keras.optimizers.Muon(learning_rate=learning_rate, **dict(hyper, **changes))

    def muon_run(**changes):
        return keras_run(muon(**changes), problem, num_steps, names)

    def wrong(mistake):
        return numpy_run(optimizers.muon_init, _muon_wrong_update(mistake), problem, rates, **hyper)

    mistakes = [(wrong("average_momentum"), "Keras's Muon keeps m = momentum * m + g (no 1 - momentum): yours keeps the moving "
                                            "average momentum * m + (1 - momentum) * g."),
                (keras_run(keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=adam_weight_decay or 0.0), problem,
                           num_steps), "the 2-D parameters take the Muon step (yours gives them the AdamW step): "
                                       "theta -= lr * newton_schulz5(G) * sqrt(max(rows, cols)) * rms_rate.")]
    if rms_rate is not None:
        mistakes += [(muon_run(rms_rate=None), "the Muon step is scaled by sqrt(max(rows, cols)) * rms_rate, which gives it "
                                               "about the size of an AdamW step: lr * O * sqrt(max(rows, cols)) * rms_rate."),
                     (wrong("original_scale"), "that is the original Muon's scale, sqrt(max(1, rows / cols)); Keras's is "
                                               "sqrt(max(rows, cols)) * rms_rate.")]
        if all(p.shape[0] <= p.shape[1] for p in problem[2] if p.ndim == 2):   # then the original scale is 1: no scale at all
            mistakes.pop()
    if nesterov:
        mistakes.append((muon_run(nesterov=False), "nesterov=True is ignored: orthogonalise G = g + momentum * m (with the "
                                                   "updated m), not m itself."))
    if weight_decay is not None:
        mistakes.append((muon_run(weight_decay=None), "the 2-D parameters are decayed too: theta = theta - theta * weight_decay "
                                                      "* learning_rate, before the Muon step."))
    check_optimizer((muon_init, muon_update), names=("muon_init", "muon_update"), keras_optimizer=muon,
                    label=optimizer_label("Muon", learning_rate, **hyper), learning_rate=learning_rate, num_steps=num_steps, problem=problem,
                    hyperparameters=hyper, mistakes=mistakes, variable_names=names,
                    alternatives=[form for powers in (True, False) for form in keras_and_exact(
                        partial(numpy_run, optimizers.muon_init, optimizers.muon_update, problem, rates, float32_beta_powers=powers, **hyper))],
                    substitutes=("newton_schulz5", "adam_init", "adam_update"))


# ----------------------------------------------------------------------------- understanding


@recorded
def check_singular_values_after(singular_values_after: Callable, steps: int = 5, shape: tuple = (6, 10), seed: int = 0) -> None:
    """``singular_values_after(s, steps)``: the singular values of Keras's ``zeropower_via_newtonschulz5(x, steps)`` from the
    singular values ``s`` of the normalised x = x / ||x||_F (a (k,) float64 array, largest first), in the same order."""
    __tracebackhide__ = True
    x = matrix_case(shape, seed)
    # a spread of singular values, from about 1e-3 of the largest to the largest: where the iteration is interesting
    u, _, vt = np.linalg.svd(x, full_matrices=False)
    x = (u * np.geomspace(1.0, 1e-3, u.shape[1])) @ vt
    s = np.linalg.svd(x / (np.linalg.norm(x) + 1e-7), compute_uv=False)
    # the result is U diag(s') V^T with x's own singular vectors: s'_i = u_i^T result v_i, in the order of s
    expected = np.einsum("ri,rc,ic->i", u, keras_newton_schulz(x, steps), vt)

    def iterate(values, coefficients, times):
        a, b, c = coefficients
        for _ in range(times):
            values = a * values + b * values**3 + c * values**5
        return values

    quintic = (3.4445, -4.7750, 2.0315)
    mistakes = [Mistake(iterate(s, quintic, 1), f"the polynomial is applied once per step: compose it {steps} times."),
                Mistake(quintic[0] ** steps * s, "each step maps s to a s + b s^3 + c s^5: X X^T X has singular values s^3, "
                                                 "not s (yours keeps only the linear term)."),
                Mistake(iterate(s, (1.5, -0.5, 0.0), steps), "that is the cubic iteration's polynomial; Keras's quintic is "
                                                             "a s + b s^3 + c s^5 with a = 3.4445, b = -4.7750, c = 2.0315."),
                Mistake(iterate(s, (quintic[0], quintic[1], 0.0), steps), "A A X has singular values s^5: the step is "
                                                                         "a s + b s^3 + c s^5 (yours drops c s^5).")]
    case = derivation_case((s, steps), expected, mistakes, what=f"singular_values_after(s, {steps}) for the {s.size} singular values "
                                                                  f"of a {shape} matrix",
                           reference="the singular values of keras.optimizers.Muon().zeropower_via_newtonschulz5(x, steps)",
                           rtol=0.0, atol=NEWTON_SCHULZ_SLACK * max(steps, 1) * max(shape) * np.finfo(np.float64).eps)
    run_check(singular_values_after, [case], "your singular values are those of Keras's Newton–Schulz iteration.")


LION_DIGITS = {"sizes": [64, 64, 64, 64, 10], "activation": "relu", "scale": 2.0, "epochs": 2, "bar": 0.90}


@recorded
def check_lion_learning_rate(choice) -> None:
    """``choice = {"learning_rate": ...}``: the course's Lion trains the ReLU MLP of ``LION_DIGITS`` (He initialization) on the
    digits for its epochs; its test accuracy must reach the bar."""
    __tracebackhide__ = True
    check_digits_learning_rate(choice, "lion", LION_DIGITS, "Every Lion step moves every weight by exactly the learning rate "
                                                            "(the sign has size 1)")
