"""Chapter 3's exercise through the grader: solution, blank, and the classic wrong versions of each optimizer."""
from __future__ import annotations

from conftest import chapter_grading_tests, understanding_catalogue, variant_notebook
from conftest import mutate as mutate_cell

CHAPTER = "03_adaptive_optimizers"
CELLS = {"test_adagrad": 2, "test_rmsprop": 3, "test_adam": 3, "test_adamw": 2}

CELLS["test_bias_correction"] = 2

# the derivation's honest variants
UNDERSTANDING = understanding_catalogue(CHAPTER, {"bias_correction": ['''
def bias_correction(step, beta):
    return (1 - beta) * sum(beta**k for k in range(step))
''', '''
def bias_correction(step, beta):
    factor = 0.0
    for _ in range(step):
        factor = beta * factor + (1 - beta)     # the moment's own recursion with g = 1
    return factor
''', '''
def bias_correction(step, beta):
    return float(-np.expm1(step * np.log(beta)))
'''], "adam_fix": ['adam_fix = {"learning_rate": 0.01}', 'adam_fix = {"learning_rate": 0.005}', 'adam_fix = dict(learning_rate=2e-3)']})
CELLS["test_adam_fix"] = 2
CELLS.update(UNDERSTANDING["cells"])



def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


# student -> (cell, source, graded cells that must score 0); AdamW is checked with the course's Adam, so Adam's mistakes cost test_adam only
WRONG_ANSWERS = {
    # the derivation of Adam's bias correction
    "bias_correction_one_power_too_few": ("bias_correction", mutate("bias_correction", "beta**step", "beta ** (step - 1)"),
                                          {"test_bias_correction"}),
    "bias_correction_weight_of_zero": ("bias_correction", mutate("bias_correction", "1.0 - beta**step", "beta**step"),
                                       {"test_bias_correction"}),
    "bias_correction_first_order": ("bias_correction", mutate("bias_correction", "1.0 - beta**step", "(1.0 - beta) * step"),
                                    {"test_bias_correction"}),
    # the experiment
    "adam_fix_too_large": ("adam_fix", 'adam_fix = {"learning_rate": 0.1}', {"test_adam_fix"}),
    "adam_fix_too_small": ("adam_fix", 'adam_fix = {"learning_rate": 0.0003}', {"test_adam_fix"}),
    "adam_fix_negative": ("adam_fix", 'adam_fix = {"learning_rate": -0.01}', {"test_adam_fix"}),
    **UNDERSTANDING["wrong_answers"],
    "adagrad_epsilon_outside": ("adagrad", mutate("adagrad", "np.sqrt(a + dtype(epsilon))", "(np.sqrt(a) + dtype(epsilon))"), {"test_adagrad"}),
    "adagrad_accumulator_from_zero": ("adagrad", mutate("adagrad", "np.full_like(p, initial_accumulator_value)", "np.zeros_like(p)"),
                                      {"test_adagrad"}),
    "rmsprop_epsilon_outside": ("rmsprop", mutate("rmsprop", "increment = dtype(learning_rate) * g / np.sqrt(denominator)",
                                                  "increment = dtype(learning_rate) * g / (np.sqrt(denominator - dtype(epsilon)) + "
                                                  "dtype(epsilon))"), {"test_rmsprop"}),
    "rmsprop_not_centered": ("rmsprop", mutate("rmsprop", "        if centered:\n", "        if False:\n"), {"test_rmsprop"}),
    "adam_without_bias_correction": ("adam", mutate("adam", "alpha = dtype(learning_rate) * np.sqrt(dtype(1) - dtype(np.float32(beta_2)) ** "
                                                            "t) / (dtype(1) - dtype(np.float32(beta_1)) ** t)",
                                                    "alpha = dtype(learning_rate)"), {"test_adam"}),
    # the float32 trap: np.float32(beta) ** t and 1 - beta**t computed in float32 for float64 parameters
    "adam_float32_corrections": ("adam", mutate("adam", "np.sqrt(dtype(1) - dtype(np.float32(beta_2)) ** t) / "
                                                        "(dtype(1) - dtype(np.float32(beta_1)) ** t)",
                                                "np.sqrt(1 - np.float32(beta_2) ** t) / (1 - np.float32(beta_1) ** t)"), {"test_adam"}),
    "adam_t_from_zero": ("adam", mutate("adam", 't = state["t"] + 1\n', 't = state["t"] + 2\n'), {"test_adam"}),
    "adam_paper_epsilon": ("adam", mutate("adam", "new_params.append(p - alpha * m / (np.sqrt(v_max if amsgrad else v) + dtype(epsilon)))",
                                          "new_params.append(p - alpha * m / (np.sqrt(v_max if amsgrad else v) + dtype(epsilon) * "
                                          "np.sqrt(dtype(1) - dtype(np.float32(beta_2)) ** t)))"),
                           {"test_adam"}),
    # without epsilon a zero gradient gives 0/0: only the hidden zero-gradient test sees it
    "adam_without_epsilon": ("adam", mutate("adam", "new_params.append(p - alpha * m / (np.sqrt(v_max if amsgrad else v) + dtype(epsilon)))",
                                            "new_params.append(p - alpha * m / np.sqrt(v_max if amsgrad else v))"), {"test_adam"}),
    "adamw_decay_after_step": ("adamw", '''
def adamw_update(params, grads, state, learning_rate, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    params, state = adam_update(params, grads, state, learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad)
    return [p - p * weight_decay * learning_rate for p in params], state
''', {"test_adamw"}),
    "adamw_as_l2": ("adamw", '''
def adamw_update(params, grads, state, learning_rate, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    grads = [g + weight_decay * p for g, p in zip(grads, params)]
    return adam_update(params, grads, state, learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad)
''', {"test_adamw"}),
    # the accumulator sums g instead of g**2 (it can turn negative: NaN from the square root)
    "adagrad_accumulates_g": ("adagrad", mutate("adagrad", "a = a + g * g", "a = a + g"), {"test_adagrad"}),
    # the tutorials' sqrt(1 + sum of g^2): the accumulator starts at 1
    "adagrad_accumulator_from_one": ("adagrad", mutate("adagrad", "np.full_like(p, initial_accumulator_value)", "np.ones_like(p)"),
                                     {"test_adagrad"}),
    # the step divides by the accumulator of the previous update: g**2 added after the step
    "adagrad_step_before_accumulating": ("adagrad", mutate("adagrad", "        a = a + g * g\n        new_params.append(p - dtype(learning_rate) * g "
                                                                      "/ np.sqrt(a + dtype(epsilon)))\n",
                                                           "        new_params.append(p - dtype(learning_rate) * g / np.sqrt(a + dtype(epsilon)))\n"
                                                           "        a = a + g * g\n"), {"test_adagrad"}),
    # rho weighs the new values and 1 - rho the old averages (in both moving averages)
    "rmsprop_rho_swapped": ("rmsprop", mutate("rmsprop", "v = dtype(rho) * v + dtype(1 - rho) * g * g", "v = dtype(1 - rho) * v + dtype(rho) * g * g")
                            .replace("mean_g = dtype(rho) * mean_g + dtype(1 - rho) * g", "mean_g = dtype(1 - rho) * mean_g + dtype(rho) * g"),
                            {"test_rmsprop"}),
    # centered: the moving average of g subtracted without squaring it
    "rmsprop_centered_mean_not_squared": ("rmsprop", mutate("rmsprop", "denominator = v - mean_g * mean_g + dtype(epsilon)",
                                                            "denominator = v - mean_g + dtype(epsilon)"), {"test_rmsprop"}),
    "rmsprop_momentum_ignored": ("rmsprop", mutate("rmsprop", "        if momentum > 0:\n", "        if False:\n"), {"test_rmsprop"}),
    # PyTorch's momentum: the buffer accumulates g / sqrt(d), the learning rate multiplies it (only a schedule tells them apart)
    "rmsprop_pytorch_momentum": ("rmsprop", mutate("rmsprop", """        increment = dtype(learning_rate) * g / np.sqrt(denominator)
        if momentum > 0:
            b = dtype(momentum) * b + increment
            new_params.append(p - b)
        else:
            new_params.append(p - increment)""", """        increment = g / np.sqrt(denominator)
        if momentum > 0:
            b = dtype(momentum) * b + increment
            new_params.append(p - dtype(learning_rate) * b)
        else:
            new_params.append(p - dtype(learning_rate) * increment)"""), {"test_rmsprop"}),
    # AMSGrad's mistakes break only test_adam: AdamW's check never asks for amsgrad
    # the running maximum of the bias-corrected v / (1 - beta_2**t) instead of v
    "adam_amsgrad_max_of_corrected_v": ("adam", mutate("adam", "v_max = np.maximum(v_max, v)",
                                                       "v_max = np.maximum(v_max, v / (dtype(1) - dtype(np.float32(beta_2)) ** t))"), {"test_adam"}),
    # the same in the paper's form, written from scratch: m_hat / (sqrt(max of v_hat) + epsilon)
    "adam_amsgrad_max_of_v_hat_paper_form": ("adam", '''
def adam_init(params):
    return {"t": 0, "m": [0 * p for p in params], "v": [0 * p for p in params], "v_hat_max": [0 * p for p in params]}

def adam_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    t = state["t"] + 1
    m = [beta_1 * m + (1 - beta_1) * g for m, g in zip(state["m"], grads)]
    v = [beta_2 * v + (1 - beta_2) * g * g for v, g in zip(state["v"], grads)]
    m_hat = [mi / (1 - beta_1 ** t) for mi in m]
    v_hat = [vi / (1 - beta_2 ** t) for vi in v]
    v_hat_max = [np.maximum(a, b) for a, b in zip(state["v_hat_max"], v_hat)] if amsgrad else state["v_hat_max"]
    if amsgrad:
        steps = [learning_rate * mh / (np.sqrt(vm) + epsilon) for mh, vm in zip(m_hat, v_hat_max)]
    else:
        steps = [learning_rate * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t) * mi / (np.sqrt(vi) + epsilon) for mi, vi in zip(m, v)]
    return [p - s for p, s in zip(params, steps)], {"t": t, "m": m, "v": v, "v_hat_max": v_hat_max}
''', {"test_adam"}),
    # the running maximum taken of m instead of v (a one-letter slip)
    "adam_amsgrad_max_of_m": ("adam", mutate("adam", "v_max = np.maximum(v_max, v)", "v_max = np.maximum(v_max, m)"), {"test_adam"}),
    # the maximum kept in the state but the denominator still uses v
    "adam_amsgrad_maximum_unused": ("adam", mutate("adam", "np.sqrt(v_max if amsgrad else v)", "np.sqrt(v)"), {"test_adam"}),
    # the decay without the learning rate: theta - theta * weight_decay
    "adamw_decay_without_learning_rate": ("adamw", mutate("adamw", "p - p * p.dtype.type(np.float32(weight_decay)) * p.dtype.type(learning_rate)",
                                                          "p - p * p.dtype.type(np.float32(weight_decay))"), {"test_adamw"}),
    # the decayed parameters computed, then the undecayed ones passed on to Adam
    "adamw_decay_not_passed_on": ("adamw", mutate("adamw", "return adam_update(decayed, grads", "return adam_update(params, grads"),
                                  {"test_adamw"}),
}


# Correct implementations written differently from the solution: each notebook must keep full marks.
HONEST = {
    # the formulas as the lessons write them, with Python-float hyperparameters and tuple or list state
    "textbook": {
        "adagrad": '''
def adagrad_init(params, initial_accumulator_value=0.1):
    return [np.full(p.shape, initial_accumulator_value, dtype=p.dtype) for p in params]

def adagrad_update(params, grads, state, learning_rate, epsilon=1e-7):
    accumulators = [a + g ** 2 for a, g in zip(state, grads)]
    return [p - learning_rate * g / np.sqrt(a + epsilon) for p, g, a in zip(params, grads, accumulators)], accumulators
''',
        "rmsprop": '''
def rmsprop_init(params):
    return tuple((np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)) for p in params)

def rmsprop_update(params, grads, state, learning_rate, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    new_params, new_state = [], []
    for p, g, (v, mean_g, b) in zip(params, grads, state):
        v = rho * v + (1 - rho) * g ** 2
        mean_g = rho * mean_g + (1 - rho) * g if centered else mean_g
        step = learning_rate * g / np.sqrt(v - mean_g ** 2 + epsilon if centered else v + epsilon)
        b = momentum * b + step if momentum else step
        new_params.append(p - b)
        new_state.append((v, mean_g, b))
    return new_params, tuple(new_state)
''',
        "adam": '''
import math

def adam_init(params):
    return {"t": 0, "m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params],
            "v_max": [np.zeros_like(p) for p in params]}

def adam_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    t = state["t"] + 1
    alpha = learning_rate * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)      # Python floats throughout
    m = [beta_1 * m + (1 - beta_1) * g for m, g in zip(state["m"], grads)]
    v = [beta_2 * v + (1 - beta_2) * g * g for v, g in zip(state["v"], grads)]
    v_max = [np.maximum(a, b) for a, b in zip(state["v_max"], v)] if amsgrad else state["v_max"]
    denominators = [np.sqrt(s) + epsilon for s in (v_max if amsgrad else v)]
    new_params = [p - alpha * mi / d for p, mi, d in zip(params, m, denominators)]
    return new_params, {"t": t, "m": m, "v": v, "v_max": v_max}
''',
        "adamw": '''
def adamw_update(params, grads, state, learning_rate, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    decayed = [p * (1 - weight_decay * learning_rate) for p in params]
    return adam_update(decayed, grads, state, learning_rate, beta_1, beta_2, epsilon, amsgrad)
''',
    },
    # rearranged algebra: Adam with bias-corrected moments and epsilon-hat, an explicit loop over elements in Adagrad
    "rearranged": {
        "adagrad": '''
def adagrad_init(params, initial_accumulator_value=0.1):
    return {"sum": [np.zeros_like(p) + np.float32(initial_accumulator_value) for p in params]}

def adagrad_update(params, grads, state, learning_rate, epsilon=1e-7):
    new_params, sums = [], []
    for p, g, a in zip(params, grads, state["sum"]):
        a, q = a.copy(), p.copy()
        for i in np.ndindex(p.shape):
            a[i] += g[i] * g[i]
            q[i] -= learning_rate * g[i] * (a[i] + epsilon) ** -0.5
        new_params.append(q)
        sums.append(a)
    return new_params, {"sum": sums}
''',
        "adam": '''
def adam_init(params):
    return [0, [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]]

def adam_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    t, ms, vs, maxima = state
    t += 1
    b1, b2 = float(np.float32(beta_1)), float(np.float32(beta_2))     # Keras's float32 betas, as Python floats
    new_params, new_ms, new_vs, new_maxima = [], [], [], []
    for p, g, m, v, v_max in zip(params, grads, ms, vs, maxima):
        m = m + (1 - beta_1) * (g - m)
        v = v + (1 - beta_2) * (g * g - v)
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - b1 ** t)
        v_hat = (v_max if amsgrad else v) / (1 - b2 ** t)
        epsilon_hat = epsilon / np.sqrt(1 - b2 ** t)   # Keras's epsilon, moved inside the corrections
        new_params.append(p - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon_hat))
        new_ms.append(m), new_vs.append(v), new_maxima.append(v_max)
    return new_params, [t, new_ms, new_vs, new_maxima]
''',
        "adamw": '''
def adamw_update(params, grads, state, learning_rate, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    decayed = [p - weight_decay * learning_rate * p for p in params]
    return adam_update(decayed, grads, state, learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad)
''',
    },
    # other containers for the state (a dataclass, namedtuples), float64 arithmetic inside for float32 parameters
    "containers": {
        "rmsprop": '''
from collections import namedtuple
Slot = namedtuple("Slot", "v mean_g b")

def rmsprop_init(params):
    return [Slot(np.zeros(p.shape), np.zeros(p.shape), np.zeros(p.shape)) for p in params]

def rmsprop_update(params, grads, state, learning_rate, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    new_params, new_state = [], []
    for p, g, slot in zip(params, grads, state):
        g64 = np.asarray(g, dtype=np.float64)
        v = rho * slot.v + (1 - rho) * g64 * g64
        mean_g = rho * slot.mean_g + (1 - rho) * g64 if centered else slot.mean_g
        increment = learning_rate * g64 / np.sqrt((v - mean_g * mean_g if centered else v) + epsilon)
        b = momentum * slot.b + increment if momentum > 0 else increment
        new_params.append((p - b).astype(p.dtype))
        new_state.append(Slot(v, mean_g, b))
    return new_params, new_state
''',
        "adam": '''
from dataclasses import dataclass, field

@dataclass
class AdamState:
    m: list
    v: list
    v_max: list
    t: int = 0

def adam_init(params):
    return AdamState([np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params])

def adam_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    t = state.t + 1
    correction = np.sqrt(1.0 - np.float64(np.float32(beta_2)) ** t) / (1.0 - np.float64(np.float32(beta_1)) ** t)
    new = AdamState([], [], [], t)
    new_params = []
    for p, g, m, v, v_max in zip(params, grads, state.m, state.v, state.v_max):
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        v_max = np.maximum(v_max, v) if amsgrad else v_max
        new_params.append(p - learning_rate * correction * m / (np.sqrt(v_max if amsgrad else v) + epsilon))
        new.m.append(m), new.v.append(v), new.v_max.append(v_max)
    return new_params, new
''',
    },
    # float64 arithmetic and state for any parameters (cast back to the parameters' dtype), the moving averages written as
    # v + (1 - rho) (g^2 - v), the momentum buffer always updated (momentum 0 makes it the increment), math.pow for beta^t
    "float64_inside": {
        "adagrad": '''
def adagrad_init(params, initial_accumulator_value=0.1):
    return tuple(np.full(p.shape, float(np.float32(initial_accumulator_value))) for p in params)   # Keras's float32 value, in float64

def adagrad_update(params, grads, state, learning_rate, epsilon=1e-7):
    accumulators = tuple(a + np.square(np.asarray(g, dtype=np.float64)) for a, g in zip(state, grads))
    steps = [learning_rate * np.divide(g, np.sqrt(a + epsilon)) for g, a in zip(grads, accumulators)]
    return [(p - s).astype(p.dtype) for p, s in zip(params, steps)], accumulators
''',
        "rmsprop": '''
def rmsprop_init(params):
    return [{"ms": np.zeros(p.shape), "mg": np.zeros(p.shape), "mom": np.zeros(p.shape)} for p in params]

def rmsprop_update(params, grads, state, learning_rate, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    new_params, new_state = [], []
    for p, g, slot in zip(params, grads, state):
        g = np.asarray(g, dtype=np.float64)
        ms = slot["ms"] + (1 - rho) * (g * g - slot["ms"])
        mg = slot["mg"] + (1 - rho) * (g - slot["mg"]) if centered else slot["mg"]
        d = ms - np.square(mg) + epsilon if centered else ms + epsilon
        mom = momentum * slot["mom"] + learning_rate * g / np.sqrt(d)        # momentum = 0: the increment itself
        new_params.append((p - mom).astype(p.dtype))
        new_state.append({"ms": ms, "mg": mg, "mom": mom})
    return new_params, new_state
''',
        "adam": '''
import math

def adam_init(params):
    return {"step": 0, "slots": [[np.zeros(p.shape)] * 3 for p in params]}

def adam_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    t = state["step"] + 1
    bias_1, bias_2 = 1 - math.pow(beta_1, t), 1 - math.pow(beta_2, t)
    new_params, slots = [], []
    for p, g, (m, v, v_max) in zip(params, grads, state["slots"]):
        g = np.asarray(g, dtype=np.float64)
        m = m * beta_1 + g * (1 - beta_1)
        v = v * beta_2 + g * g * (1 - beta_2)
        v_max = np.fmax(v_max, v)
        root = np.sqrt(v_max if amsgrad else v)
        new_params.append((p - learning_rate / bias_1 * m / (root / math.sqrt(bias_2) + epsilon / math.sqrt(bias_2))).astype(p.dtype))
        slots.append([m, v, v_max])
    return new_params, {"step": t, "slots": slots}
''',
        "adamw": '''
def adamw_update(params, grads, state, learning_rate, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    shrink = 1.0 - learning_rate * weight_decay
    decayed = [(np.asarray(p, dtype=np.float64) * shrink).astype(p.dtype) for p in params]
    return adam_update(decayed, grads, state, learning_rate, beta_1, beta_2, epsilon, amsgrad)
''',
    },
    # the betas rounded to float32 everywhere as the task allows (then Python floats), AdamW subtracting the old theta's decay
    # after the Adam step (the same update), other association orders: lr / sqrt(a + eps) * g, (v + eps) - mean_g^2, d ** -0.5
    "other_orders": {
        "adagrad": '''
def adagrad_init(params, initial_accumulator_value=0.1):
    return {i: np.full_like(p, initial_accumulator_value) for i, p in enumerate(params)}

def adagrad_update(params, grads, state, learning_rate, epsilon=1e-7):
    new_state = {i: state[i] + np.power(g, 2) for i, g in enumerate(grads)}
    return [p - learning_rate / np.sqrt(new_state[i] + epsilon) * g for i, (p, g) in enumerate(zip(params, grads))], new_state
''',
        "rmsprop": '''
def rmsprop_init(params):
    return [[np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)] for p in params]

def rmsprop_update(params, grads, state, learning_rate, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    out, new_state = [], []
    for p, g, (v, mean_g, b) in zip(params, grads, state):
        v = rho * v + (1 - rho) * np.square(g)
        if centered:
            mean_g = rho * mean_g + (1 - rho) * g
        d = (v + epsilon) - (np.square(mean_g) if centered else 0)
        increment = learning_rate * g * d ** -0.5
        b = momentum * b + increment
        out.append(p - (b if momentum > 0 else increment))
        new_state.append([v, mean_g, b])
    return out, new_state
''',
        "adam": '''
def adam_init(params):
    return {"t": 0, "m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params],
            "v_max": [np.zeros_like(p) for p in params]}

def adam_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    beta_1, beta_2 = float(np.float32(beta_1)), float(np.float32(beta_2))    # rounded as Keras stores them, back to Python floats
    t = state["t"] + 1
    alpha = learning_rate * (1 - beta_2 ** t) ** 0.5 / (1 - beta_1 ** t)
    new = {"t": t, "m": [], "v": [], "v_max": []}
    out = []
    for p, g, m, v, v_max in zip(params, grads, state["m"], state["v"], state["v_max"]):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        v_max = np.maximum(v_max, v)
        out.append(p - alpha * m / (np.sqrt(v_max if amsgrad else v) + epsilon))
        new["m"].append(m), new["v"].append(v), new["v_max"].append(v_max)
    return out, new
''',
        "adamw": '''
def adamw_update(params, grads, state, learning_rate, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    stepped, state = adam_update(params, grads, state, learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad)
    return [n - p * (weight_decay * learning_rate) for n, p in zip(stepped, params)], state     # the decay of the old theta
''',
    },
}


DIAGNOSES = [
    ("bias_correction_one_power_too_few", "test_bias_correction", "one power too few"),
    ("bias_correction_weight_of_zero", "test_bias_correction", "the weight left on the zero"),
    ("bias_correction_first_order", "test_bias_correction", "first-order expansion"),
    ("adam_fix_too_large", "test_adam_fix", 'up to about 7.6 per weight'),
    ("adam_fix_too_small", "test_adam_fix", 'the bar is 88%'),
    ("adam_fix_negative", "test_adam_fix", 'must be a positive number'),
    *UNDERSTANDING["diagnoses"],
    ("adagrad_epsilon_outside", "test_adagrad", "inside the square root", ("not at 0", "previous update")),
    ("adagrad_accumulator_from_zero", "test_adagrad", "not at 0", ("inside the square root", "sqrt(1 + sum of g^2)")),
    ("adagrad_accumulator_from_one", "test_adagrad", "sqrt(1 + sum of g^2)", ("not at 0", "previous update")),
    ("adagrad_accumulates_g", "test_adagrad", "yours adds g itself", ("inside the square root", "not at 0", "previous update")),
    ("adagrad_step_before_accumulating", "test_adagrad", "accumulator of the previous update",
     ("inside the square root", "not at 0", "adds g itself")),
    ("adam_without_bias_correction", "test_adam", "bias correction is missing", ("paper's form", "one ahead")),
    ("adam_float32_corrections", "test_adam", "computed in float32", ("paper's form", "bias correction is missing")),
    ("adam_without_epsilon", "test_adam", "epsilon is missing", ("paper's form",)),
    ("adam_t_from_zero", "test_adam", "t must be 1 on the first update", ("bias correction is missing",)),
    ("adam_paper_epsilon", "test_adam", "the paper's form", ("epsilon is missing",)),
    ("adam_amsgrad_max_of_corrected_v", "test_adam", "maximum of the bias-corrected v",
     ("amsgrad=True is ignored", "takes it of m", "paper's form")),
    ("adam_amsgrad_max_of_v_hat_paper_form", "test_adam", "maximum of the bias-corrected v",
     ("amsgrad=True is ignored", "takes it of m", "paper's form")),
    ("adam_amsgrad_max_of_m", "test_adam", "yours takes it of m", ("amsgrad=True is ignored", "bias-corrected v")),
    ("adam_amsgrad_maximum_unused", "test_adam", "amsgrad=True is ignored", ("takes it of m", "bias-corrected v")),
    ("rmsprop_epsilon_outside", "test_rmsprop", "inside the square root: sqrt(v + epsilon)", ("swapped",)),
    ("rmsprop_not_centered", "test_rmsprop", "centered=True is ignored", ("subtracts mean_g itself", "swapped")),
    ("rmsprop_rho_swapped", "test_rmsprop", "rho and 1 - rho are swapped", ("centered=True is ignored", "momentum is ignored", "inside the square")),
    ("rmsprop_centered_mean_not_squared", "test_rmsprop", "yours subtracts mean_g itself", ("centered=True is ignored",)),
    ("rmsprop_momentum_ignored", "test_rmsprop", "momentum is ignored", ("PyTorch's momentum",)),
    ("rmsprop_pytorch_momentum", "test_rmsprop", "that is PyTorch's momentum", ("momentum is ignored",)),
    ("adamw_decay_after_step", "test_adamw", "before the Adam step", ("L2 regularisation", "no weight decay at all", "subtracts theta")),
    ("adamw_as_l2", "test_adamw", "L2 regularisation", ("must come before", "no weight decay at all")),
    ("adamw_decay_without_learning_rate", "test_adamw", "yours subtracts theta * weight_decay",
     ("must come before", "no weight decay at all", "L2 regularisation")),
    ("adamw_decay_not_passed_on", "test_adamw", "no weight decay at all", ("must come before", "L2 regularisation", "subtracts theta")),
]

globals().update(chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES,
                          honest={name: variant_notebook(CHAPTER, sources) for name, sources in {**HONEST, **UNDERSTANDING["honest"]}.items()}))
