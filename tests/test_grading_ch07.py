"""Chapter 7's exercise through the grader: solution, blank, honest variants and the classic wrong versions of each optimizer."""
from __future__ import annotations

from conftest import chapter_grading_tests, understanding_catalogue, variant_notebook
from conftest import mutate as mutate_cell

CHAPTER = "07_modern_optimizers"
CELLS = {"test_lion": 2, "test_lamb": 3, "test_adafactor": 3, "test_newton_schulz": 2, "test_muon": 3, "test_singular_values": 2,
         "test_lion_fix": 2}

# the derivation's and the experiment's honest variants
UNDERSTANDING = understanding_catalogue(CHAPTER, {"singular_values": ['''
def singular_values_after(s, steps):
    for _ in range(steps):
        s2 = s * s
        s = s * (3.4445 + s2 * (-4.7750 + 2.0315 * s2))      # Horner's form
    return s
''', '''
def singular_values_after(s, steps):
    polynomial = np.polynomial.Polynomial([0, 3.4445, 0, -4.7750, 0, 2.0315])
    values = np.asarray(s, dtype=float)
    for _ in range(steps):
        values = polynomial(values)
    return values
''', '''
def singular_values_after(s, steps):
    out = []
    for value in s:                                          # one singular value at a time, as Python floats
        value = float(value)
        for _ in range(steps):
            value = 3.4445 * value - 4.7750 * value ** 3 + 2.0315 * value ** 5
        out.append(value)
    return np.array(out)
'''], "lion_fix": ['lion_fix = {"learning_rate": 0.002}', 'lion_fix = {"learning_rate": 0.001}', 'lion_fix = dict(learning_rate=3e-3)']})
CELLS.update(UNDERSTANDING["cells"])


def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


# student -> (cell, source, graded cells that must score 0); Muon is checked with the course's newton_schulz5 and Adam, so
# the iteration's mistakes cost test_newton_schulz only
WRONG_ANSWERS = {
    **UNDERSTANDING["wrong_answers"],
    "lion_momentum_first": ("lion", '''
def lion_init(params):
    return [np.zeros_like(p) for p in params]

def lion_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.99, weight_decay=None):
    new_params, new_state = [], []
    for p, g, m in zip(params, grads, state):
        if weight_decay is not None:
            p = p - p * weight_decay * learning_rate
        m = beta_2 * m + (1 - beta_2) * g
        new_params.append(p - learning_rate * np.sign(beta_1 * m + (1 - beta_1) * g))
        new_state.append(m)
    return new_params, new_state
''', {"test_lion"}),
    "lion_no_sign": ("lion", mutate("lion", "np.sign(dtype(beta_1) * m + dtype(1 - beta_1) * g)", "(dtype(beta_1) * m + dtype(1 - beta_1) * g)"),
                     {"test_lion"}),
    "lion_betas_swapped": ("lion", mutate("lion", "np.sign(dtype(beta_1) * m + dtype(1 - beta_1) * g)",
                                          "np.sign(dtype(beta_2) * m + dtype(1 - beta_2) * g)")
                           .replace("new_state.append(dtype(beta_2) * m + dtype(1 - beta_2) * g)",
                                    "new_state.append(dtype(beta_1) * m + dtype(1 - beta_1) * g)"), {"test_lion"}),
    "lion_decay_ignored": ("lion", mutate("lion", "        if weight_decay is not None:\n", "        if False:\n"), {"test_lion"}),
    "lamb_no_trust_ratio": ("lamb", mutate("lamb", "new_params.append(p - ratio * dtype(learning_rate) * u)",
                                           "new_params.append(p - dtype(learning_rate) * u)"), {"test_lamb"}),
    "lamb_gradient_norm": ("lamb", mutate("lamb", "np.linalg.norm(u)", "np.linalg.norm(g)"), {"test_lamb"}),
    # Keras's Adam epsilon on the uncorrected sqrt(v): only the hidden test with a large epsilon sees it
    "lamb_adam_epsilon": ("lamb", mutate("lamb", "u = (m / dtype(1 - beta_1**t)) / (np.sqrt(v / dtype(1 - beta_2**t)) + dtype(epsilon))",
                                         "u = np.sqrt(dtype(1 - beta_2**t)) / dtype(1 - beta_1**t) * m / (np.sqrt(v) + dtype(epsilon))"),
                          {"test_lamb"}),
    "lamb_no_bias_correction": ("lamb", mutate("lamb", "u = (m / dtype(1 - beta_1**t)) / (np.sqrt(v / dtype(1 - beta_2**t)) + dtype(epsilon))",
                                               "u = m / (np.sqrt(v) + dtype(epsilon))"), {"test_lamb"}),
    # the paper's weight decay, added to the direction
    "lamb_decay_in_direction": ("lamb", mutate("lamb", "        if weight_decay is not None:\n            p = p - p * dtype(weight_decay) * "
                                                       "dtype(learning_rate)\n", "")
                                .replace("        p_norm, u_norm",
                                         "        if weight_decay is not None:\n            u = u + dtype(weight_decay) * p\n        p_norm, u_norm"),
                                {"test_lamb"}),
    "adafactor_unfactored": ("adafactor", '''
def adafactor_init(params):
    return {"t": 0, "v": [np.zeros_like(p) for p in params]}

def adafactor_update(params, grads, state, learning_rate, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                     weight_decay=None):
    t = state["t"] + 1
    new_params, vs = [], []
    for p, g, v in zip(params, grads, state["v"]):
        if weight_decay is not None:
            p = p - p * weight_decay * learning_rate
        alpha = max(epsilon_2, np.sqrt(np.mean(p * p))) * min(learning_rate, 1 / np.sqrt(t))
        beta = 1 - t ** beta_2_decay
        v = beta * v + (1 - beta) * (g * g + epsilon_1)
        u = g / np.sqrt(v)
        u = u / max(1.0, np.sqrt(np.mean(u * u)) / clip_threshold)
        new_params.append(p - alpha * u)
        vs.append(v)
    return new_params, {"t": t, "v": vs}
''', {"test_adafactor"}),
    "adafactor_not_normalised": ("adafactor", mutate("adafactor", "(r / r.mean(axis=-1, keepdims=True))[..., :, None]", "r[..., :, None]"),
                                 {"test_adafactor"}),
    "adafactor_without_rms": ("adafactor", mutate("adafactor", "alpha = max(dtype(epsilon_2), np.sqrt(np.mean(p * p))) * rho", "alpha = rho"),
                              {"test_adafactor"}),
    "adafactor_not_clipped": ("adafactor", mutate("adafactor", "        u = u / max(dtype(1), np.sqrt(np.mean(u * u)) / "
                                                               "dtype(clip_threshold))\n", ""), {"test_adafactor"}),
    # the relative step without its cap 1 / sqrt(t): only the hidden test at learning rate 0.25 sees it
    "adafactor_uncapped": ("adafactor", mutate("adafactor", "rho = min(dtype(learning_rate), dtype(1 / np.sqrt(t)))", "rho = dtype(learning_rate)"),
                           {"test_adafactor"}),
    "newton_schulz_cubic": ("newton_schulz", mutate("newton_schulz", "a, b, c = 3.4445, -4.7750, 2.0315", "a, b, c = 1.5, -0.5, 0.0"),
                            {"test_newton_schulz"}),
    "newton_schulz_one_step_too_few": ("newton_schulz", mutate("newton_schulz", "for _step in range(steps):", "for _step in range(steps - 1):"),
                                       {"test_newton_schulz"}),
    "newton_schulz_not_normalised": ("newton_schulz", mutate("newton_schulz", "    x = x / (np.linalg.norm(x, axis=(-2, -1), keepdims=True) + "
                                                                              "1e-7)\n", ""), {"test_newton_schulz"}),
    "muon_average_momentum": ("muon", mutate("muon", "m = dtype(momentum) * m + g", "m = dtype(momentum) * m + dtype(1 - momentum) * g"),
                              {"test_muon"}),
    "muon_nesterov_ignored": ("muon", mutate("muon", "if nesterov else m", "if False else m"), {"test_muon"}),
    "muon_not_scaled": ("muon", mutate("muon", "scale = 1.0 if rms_rate is None else np.sqrt(max(p.shape)) * rms_rate", "scale = 1.0"),
                        {"test_muon"}),
    "muon_original_scale": ("muon", mutate("muon", "scale = 1.0 if rms_rate is None else np.sqrt(max(p.shape)) * rms_rate",
                                           "scale = np.sqrt(max(1.0, p.shape[0] / p.shape[1]))"), {"test_muon"}),
    "muon_matrices_not_decayed": ("muon", mutate("muon", "decay = weight_decay if matrix else adam_weight_decay",
                                                 "decay = None if matrix else adam_weight_decay"), {"test_muon"}),
    "singular_values_linear": ("singular_values", mutate("singular_values", "s = a * s + b * s**3 + c * s**5", "s = a * s"),
                               {"test_singular_values"}),
    "singular_values_once": ("singular_values", mutate("singular_values", "    for _step in range(steps):\n        s = a * s + b * s**3 + c * s**5\n",
                                                       "    s = a * s + b * s**3 + c * s**5\n"), {"test_singular_values"}),
    "lion_fix_adam_rate": ("lion_fix", 'lion_fix = {"learning_rate": 0.03}', {"test_lion_fix"}),
    "lion_fix_too_small": ("lion_fix", 'lion_fix = {"learning_rate": 0.0001}', {"test_lion_fix"}),
    "lion_fix_negative": ("lion_fix", 'lion_fix = {"learning_rate": -0.003}', {"test_lion_fix"}),
}

DIAGNOSES = [
    *UNDERSTANDING["diagnoses"],
    ("lion_momentum_first", "test_lion", "yours updates m before the step", ("swapped", "interpolation itself")),
    ("lion_no_sign", "test_lion", "yours steps by the interpolation itself", ("swapped", "before the step")),
    ("lion_betas_swapped", "test_lion", "beta_1 and beta_2 are swapped", ("interpolation itself", "yours updates m")),
    ("lion_decay_ignored", "test_lion", "weight_decay is ignored", ("swapped", "interpolation itself")),
    ("lamb_no_trust_ratio", "test_lamb", "the trust ratio is missing", ("not of the gradient", "bias correction")),
    ("lamb_gradient_norm", "test_lamb", "not of the gradient", ("is missing",)),
    ("lamb_adam_epsilon", "test_lamb", "yours adds it to the uncorrected sqrt(v)", ("trust ratio is missing",)),
    ("lamb_no_bias_correction", "test_lamb", "yours adds it to the uncorrected sqrt(v)", ("trust ratio is missing",)),
    ("lamb_decay_in_direction", "test_lamb", "that is the paper's decay", ("weight_decay is ignored",)),
    ("adafactor_unfactored", "test_adafactor", "yours keeps the full v", ("divide the row statistics", "rho_t alone")),
    ("adafactor_not_normalised", "test_adafactor", "divide the row statistics by their mean", ("full v",)),
    ("adafactor_without_rms", "test_adafactor", "yours uses rho_t alone", ("not clipped", "full v")),
    ("adafactor_not_clipped", "test_adafactor", "the update is not clipped", ("rho_t alone", "full v")),
    ("adafactor_uncapped", "test_adafactor", "yours uses the learning rate alone", ("not clipped", "rho_t alone")),
    ("newton_schulz_cubic", "test_newton_schulz", "classical cubic iteration", ("swapped", "iteration too")),
    ("newton_schulz_one_step_too_few", "test_newton_schulz", "one iteration too few", ("cubic", "swapped")),
    ("newton_schulz_not_normalised", "test_newton_schulz", "normalise X first", ("cubic", "iteration too")),
    ("muon_average_momentum", "test_muon", "moving average", ("nesterov=True is ignored", "original Muon")),
    ("muon_nesterov_ignored", "test_muon", "nesterov=True is ignored", ("moving average",)),
    ("muon_not_scaled", "test_muon", "scaled by sqrt(max(rows, cols)) * rms_rate", ("original Muon", "nesterov=True is ignored")),
    # on the visible check's (2, 3) kernel the original scale is 1: the check says the scale is missing
    ("muon_original_scale", "test_muon", "scaled by sqrt(max(rows, cols)) * rms_rate", ("nesterov=True is ignored",)),
    ("muon_matrices_not_decayed", "test_muon", "the 2-D parameters are decayed too", ("nesterov=True is ignored", "scaled by")),
    ("singular_values_linear", "test_singular_values", "keeps only the linear term", ("compose it",)),
    ("singular_values_once", "test_singular_values", "compose it", ("linear term",)),
    ("lion_fix_adam_rate", "test_lion_fix", "moves every weight by exactly the learning rate"),
    ("lion_fix_too_small", "test_lion_fix", "the bar is 90%"),
    ("lion_fix_negative", "test_lion_fix", "must be a positive number"),
]


# Correct implementations written differently from the solution: each notebook must keep full marks.
HONEST = {
    # the formulas as the lessons write them, with Python-float hyperparameters and list or tuple state
    "textbook": {
        "lion": '''
def lion_init(params):
    return tuple(np.zeros(p.shape, dtype=p.dtype) for p in params)

def lion_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.99, weight_decay=None):
    if weight_decay:
        params = [p * (1 - weight_decay * learning_rate) for p in params]
    steps = [np.sign(beta_1 * m + (1 - beta_1) * g) for m, g in zip(state, grads)]
    momenta = tuple(beta_2 * m + (1 - beta_2) * g for m, g in zip(state, grads))
    return [p - learning_rate * s for p, s in zip(params, steps)], momenta
''',
        "lamb": '''
def lamb_init(params):
    return [0, [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]]

def lamb_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
    t, ms, vs = state
    t += 1
    out, new_ms, new_vs = [], [], []
    for p, g, m, v in zip(params, grads, ms, vs):
        if weight_decay is not None:
            p = p - weight_decay * learning_rate * p
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g ** 2
        m_hat, v_hat = m / (1 - beta_1 ** t), v / (1 - beta_2 ** t)
        u = m_hat / (np.sqrt(v_hat) + epsilon)
        trust = np.linalg.norm(p) / np.linalg.norm(u) if np.any(p) and np.any(u) else 1.0
        out.append(p - learning_rate * trust * u)
        new_ms.append(m)
        new_vs.append(v)
    return out, [t, new_ms, new_vs]
''',
        "adafactor": '''
import math

def adafactor_init(params):
    slots = []
    for p in params:
        if p.ndim >= 2:
            slots.append({"row": np.zeros(p.shape[:-1], p.dtype), "col": np.zeros(p.shape[:-2] + p.shape[-1:], p.dtype)})
        else:
            slots.append({"v": np.zeros_like(p)})
    return {"step": 0, "slots": slots}

def adafactor_update(params, grads, state, learning_rate, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                     weight_decay=None):
    t = state["step"] + 1
    beta = 1 - math.pow(t, beta_2_decay)
    rho = min(learning_rate, 1 / math.sqrt(t))
    new_params, slots = [], []
    for p, g, slot in zip(params, grads, state["slots"]):
        if weight_decay is not None:
            p = p - p * weight_decay * learning_rate
        alpha = max(epsilon_2, np.sqrt(np.mean(np.square(p)))) * rho
        G = np.square(g) + epsilon_1
        if "row" in slot:
            row = beta * slot["row"] + (1 - beta) * np.mean(G, axis=-1)
            col = beta * slot["col"] + (1 - beta) * np.mean(G, axis=-2)
            v = np.einsum("...i,...j->...ij", row / np.mean(row, axis=-1, keepdims=True), col)
            slot = {"row": row, "col": col}
        else:
            v = beta * slot["v"] + (1 - beta) * G
            slot = {"v": v}
        u = g / np.sqrt(v)
        u = u / max(1.0, np.sqrt(np.mean(u ** 2)) / clip_threshold)
        new_params.append(p - alpha * u)
        slots.append(slot)
    return new_params, {"step": t, "slots": slots}
''',
        # no transposition of a tall matrix: the same polynomial of X, with the larger Gram matrix
        "newton_schulz": '''
def newton_schulz5(x, steps=5):
    x = x / (np.linalg.norm(x, axis=(-2, -1), keepdims=True) + 1e-7)
    for _ in range(steps):
        A = x @ np.swapaxes(x, -1, -2)
        x = 3.4445 * x + (-4.7750 * A + 2.0315 * A @ A) @ x
    return x
''',
        # Adam written inline for the other parameters, Python floats throughout
        "muon": '''
def muon_init(params):
    return {"t": 0, "m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params]}

def muon_update(params, grads, state, learning_rate, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2, weight_decay=0.004,
                adam_weight_decay=0.004):
    t = state["t"] + 1
    out, ms, vs = [], [], []
    for p, g, m, v in zip(params, grads, state["m"], state["v"]):
        if p.ndim == 2:
            if weight_decay is not None:
                p = p - p * weight_decay * learning_rate
            m = momentum * m + g
            o = newton_schulz5(g + momentum * m if nesterov else m, ns_steps)
            if rms_rate is not None:
                o = o * (float(np.sqrt(max(p.shape))) * rms_rate)
            p = p - learning_rate * o
        else:
            if adam_weight_decay is not None:
                p = p - p * adam_weight_decay * learning_rate
            m = m + (g - m) * (1 - 0.9)
            v = v + (g * g - v) * (1 - 0.999)
            alpha = learning_rate * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            p = p - alpha * m / (np.sqrt(v) + 1e-7)
        out.append(p)
        ms.append(m)
        vs.append(v)
    return out, {"t": t, "m": ms, "v": vs}
''',
    },
    # rearranged algebra: moving averages as m + (1 - beta)(g - m), explicit square roots of sums, Keras's float32 betas
    "rearranged": {
        "lion": '''
def lion_init(params):
    return {"momentum": [np.zeros_like(p) for p in params]}

def lion_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.99, weight_decay=None):
    new_params, momenta = [], []
    for p, g, m in zip(params, grads, state["momentum"]):
        q = p.copy()
        if weight_decay is not None:
            q -= learning_rate * weight_decay * p
        q -= learning_rate * np.sign(m + (1 - beta_1) * (g - m))
        new_params.append(q)
        momenta.append(m + (1 - beta_2) * (g - m))
    return new_params, {"momentum": momenta}
''',
        "lamb": '''
def lamb_init(params):
    return {"t": 0, "slots": [(np.zeros_like(p), np.zeros_like(p)) for p in params]}

def lamb_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
    t = state["t"] + 1
    b1, b2 = float(np.float32(beta_1)), float(np.float32(beta_2))     # Keras's float32 betas in the corrections
    new_params, slots = [], []
    for p, g, (m, v) in zip(params, grads, state["slots"]):
        if weight_decay is not None:
            p = p - p * (weight_decay * learning_rate)
        m = m + (1 - beta_1) * (g - m)
        v = v + (1 - beta_2) * (g * g - v)
        u = m / (1 - b1 ** t) / ((v / (1 - b2 ** t)) ** 0.5 + epsilon)
        p_norm, u_norm = np.sqrt(np.sum(p * p)), np.sqrt(np.sum(u * u))
        step = learning_rate * u if p_norm == 0 or u_norm == 0 else (learning_rate * p_norm) * (u / u_norm)
        new_params.append(p - step)
        slots.append((m, v))
    return new_params, {"t": t, "slots": slots}
''',
        "adafactor": '''
def adafactor_init(params):
    return [0] + [[np.zeros(p.shape[:-1], p.dtype), np.zeros(p.shape[:-2] + p.shape[-1:], p.dtype)] if p.ndim > 1 else [np.zeros_like(p)]
                  for p in params]

def adafactor_update(params, grads, state, learning_rate, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                     weight_decay=None):
    t, slots = state[0] + 1, state[1:]
    beta = 1.0 - t ** beta_2_decay
    new_params, new_slots = [], []
    for p, g, slot in zip(params, grads, slots):
        if weight_decay is not None:
            p = p - weight_decay * learning_rate * p
        scale = max(epsilon_2, np.sqrt(np.mean(p ** 2)))
        G = g ** 2 + epsilon_1
        if len(slot) == 2:
            r = slot[0] + (1 - beta) * (G.mean(axis=-1) - slot[0])
            c = slot[1] + (1 - beta) * (G.mean(axis=-2) - slot[1])
            v = r[..., :, None] * c[..., None, :] / r.mean(axis=-1)[..., None, None]
            new_slots.append([r, c])
        else:
            v = slot[0] + (1 - beta) * (G - slot[0])
            new_slots.append([v])
        u = g / np.sqrt(v)
        rms_u = np.sqrt(np.mean(u ** 2))
        if rms_u > clip_threshold:
            u = u * (clip_threshold / rms_u)
        new_params.append(p - scale * min(learning_rate, t ** -0.5) * u)
    return new_params, [t] + new_slots
''',
        # the polynomial expanded into matrix products with X, the norm as a square root of a sum
        "newton_schulz": '''
def newton_schulz5(x, steps=5):
    transposed = x.shape[-2] > x.shape[-1]
    X = np.swapaxes(x, -1, -2) if transposed else x
    X = X / (np.sqrt(np.sum(X ** 2, axis=(-2, -1), keepdims=True)) + 1e-7)
    for _ in range(steps):
        A = X @ np.swapaxes(X, -1, -2)
        AX = A @ X
        X = 3.4445 * X - 4.7750 * AX + 2.0315 * (A @ AX)
    return np.swapaxes(X, -1, -2) if transposed else X
''',
        # Keras's own momentum form, a list state, the routing by len(shape)
        "muon": '''
def muon_init(params):
    return [[np.zeros_like(p) for p in params], adam_init([p for p in params if len(p.shape) != 2])]

def muon_update(params, grads, state, learning_rate, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2, weight_decay=0.004,
                adam_weight_decay=0.004):
    momenta, adam_state = state
    others = [i for i, p in enumerate(params) if len(p.shape) != 2]
    new_params, new_momenta = list(params), list(momenta)
    shrink = [p * (1 - (adam_weight_decay or 0.0) * learning_rate) for p in params]
    stepped, adam_state = adam_update([shrink[i] for i in others], [grads[i] for i in others], adam_state, learning_rate)
    for i, p in zip(others, stepped):
        new_params[i] = p
    for i, (p, g, m) in enumerate(zip(params, grads, momenta)):
        if i in others:
            continue
        if weight_decay is not None:
            p = p - p * weight_decay * learning_rate
        m = m + (g + m * (momentum - 1))
        step = learning_rate * newton_schulz5(g + momentum * m if nesterov else m, ns_steps)
        if rms_rate is not None:
            step = step * np.sqrt(np.float32(max(p.shape[0], p.shape[1]))) * np.float32(rms_rate)
        new_params[i], new_momenta[i] = (p - step).astype(p.dtype), m
    return new_params, [new_momenta, adam_state]
''',
    },
    # float64 arithmetic and state for any parameters, cast back to the parameters' dtype
    "float64_inside": {
        "lion": '''
def lion_init(params):
    return [np.zeros(p.shape) for p in params]

def lion_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.99, weight_decay=None):
    out, new_state = [], []
    for p, g, m in zip(params, grads, state):
        p64, g64 = p.astype(np.float64), np.asarray(g, dtype=np.float64)
        if weight_decay is not None:
            p64 = p64 - p64 * weight_decay * learning_rate
        out.append((p64 - learning_rate * np.sign(beta_1 * m + (1 - beta_1) * g64)).astype(p.dtype))
        new_state.append(beta_2 * m + (1 - beta_2) * g64)
    return out, new_state
''',
        "lamb": '''
from dataclasses import dataclass

@dataclass
class LambState:
    t: int
    m: list
    v: list

def lamb_init(params):
    return LambState(0, [np.zeros(p.shape) for p in params], [np.zeros(p.shape) for p in params])

def lamb_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
    t = state.t + 1
    new = LambState(t, [], [])
    out = []
    for p, g, m, v in zip(params, grads, state.m, state.v):
        p64, g64 = p.astype(np.float64), np.asarray(g, dtype=np.float64)
        if weight_decay is not None:
            p64 = p64 * (1.0 - weight_decay * learning_rate)
        m = beta_1 * m + (1 - beta_1) * g64
        v = beta_2 * v + (1 - beta_2) * g64 * g64
        u = (m / (1 - beta_1 ** t)) / (np.sqrt(v / (1 - beta_2 ** t)) + epsilon)
        norms = np.linalg.norm(p64), np.linalg.norm(u)
        ratio = norms[0] / norms[1] if min(norms) > 0 else 1.0
        out.append((p64 - ratio * learning_rate * u).astype(p.dtype))
        new.m.append(m)
        new.v.append(v)
    return out, new
''',
        "adafactor": '''
def adafactor_init(params):
    state = {"t": 0}
    for i, p in enumerate(params):
        if p.ndim >= 2:
            state[f"r{i}"], state[f"c{i}"] = np.zeros(p.shape[:-1]), np.zeros(p.shape[:-2] + p.shape[-1:])
        else:
            state[f"v{i}"] = np.zeros(p.shape)
    return state

def adafactor_update(params, grads, state, learning_rate, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                     weight_decay=None):
    t = state["t"] + 1
    new = {"t": t}
    beta = 1.0 - float(t) ** beta_2_decay
    out = []
    for i, (p, g) in enumerate(zip(params, grads)):
        p64, g64 = p.astype(np.float64), np.asarray(g, dtype=np.float64)
        if weight_decay is not None:
            p64 = p64 - p64 * weight_decay * learning_rate
        alpha = max(epsilon_2, float(np.sqrt(np.mean(p64 ** 2)))) * min(learning_rate, 1.0 / np.sqrt(t))
        G = g64 * g64 + epsilon_1
        if p.ndim >= 2:
            r = beta * state[f"r{i}"] + (1 - beta) * G.mean(axis=-1)
            c = beta * state[f"c{i}"] + (1 - beta) * G.mean(axis=-2)
            new[f"r{i}"], new[f"c{i}"] = r, c
            v = np.expand_dims(r / r.mean(axis=-1, keepdims=True), -1) * np.expand_dims(c, -2)
        else:
            v = new[f"v{i}"] = beta * state[f"v{i}"] + (1 - beta) * G
        u = g64 / np.sqrt(v)
        u /= max(1.0, np.sqrt(np.mean(u * u)) / clip_threshold)
        out.append((p64 - alpha * u).astype(p.dtype))
    return out, new
''',
        "newton_schulz": '''
def newton_schulz5(x, steps=5):
    a, b, c = 3.4445, -4.7750, 2.0315
    X = np.array(x, dtype=np.float64)
    tall = X.shape[-2] > X.shape[-1]
    if tall:
        X = np.swapaxes(X, -1, -2)
    X = X / (np.sqrt(np.einsum("...ij,...ij->...", X, X))[..., None, None] + 1e-7)
    for _ in range(steps):
        A = np.einsum("...ik,...jk->...ij", X, X)
        X = a * X + np.einsum("...ij,...jk->...ik", b * A + c * A @ A, X)
    if tall:
        X = np.swapaxes(X, -1, -2)
    return X.astype(x.dtype)
''',
        "muon": '''
def muon_init(params):
    return {"momentum": [np.zeros(p.shape) for p in params], "adam": adam_init([p for p in params if p.ndim != 2])}

def muon_update(params, grads, state, learning_rate, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2, weight_decay=0.004,
                adam_weight_decay=0.004):
    rest = [(p if adam_weight_decay is None else p - p * p.dtype.type(adam_weight_decay * learning_rate), g)
            for p, g in zip(params, grads) if p.ndim != 2]
    rest_params, adam_state = adam_update([p for p, _ in rest], [g for _, g in rest], state["adam"], learning_rate)
    rest_params = list(rest_params)
    out, momenta = [], []
    for p, g, m in zip(params, grads, state["momentum"]):
        if p.ndim != 2:
            out.append(rest_params.pop(0))
            momenta.append(m)
            continue
        p64, g64 = p.astype(np.float64), np.asarray(g, dtype=np.float64)
        if weight_decay is not None:
            p64 = p64 - p64 * weight_decay * learning_rate
        m = momentum * m + g64
        o = newton_schulz5((g64 + momentum * m if nesterov else m).astype(p.dtype), ns_steps).astype(np.float64)
        factor = 1.0 if rms_rate is None else max(p.shape) ** 0.5 * rms_rate
        out.append((p64 - learning_rate * factor * o).astype(p.dtype))
        momenta.append(m)
    return out, {"momentum": momenta, "adam": adam_state}
''',
    },
}

globals().update(chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES,
                                       honest={name: variant_notebook(CHAPTER, sources)
                                               for name, sources in {**HONEST, **UNDERSTANDING["honest"]}.items()}))
