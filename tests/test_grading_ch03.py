"""Chapter 3's exercise through the grader: solution, blank, and the classic wrong versions of each optimizer."""
from __future__ import annotations

from conftest import chapter_grading_tests, variant_notebook
from conftest import mutate as mutate_cell

CHAPTER = "03_adaptive_optimizers"
CELLS = {"test_adagrad": 2, "test_rmsprop": 3, "test_adam": 3, "test_adamw": 2}


def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


# student -> (cell, source, graded cells that must score 0); adamw uses adam_update, so Adam's mistakes reach it too
WRONG_ANSWERS = {
    "adagrad_epsilon_outside": ("adagrad", mutate("adagrad", "np.sqrt(a + dtype(epsilon))", "(np.sqrt(a) + dtype(epsilon))"), {"test_adagrad"}),
    "adagrad_accumulator_from_zero": ("adagrad", mutate("adagrad", "np.full_like(p, initial_accumulator_value)", "np.zeros_like(p)"),
                                      {"test_adagrad"}),
    "rmsprop_epsilon_outside": ("rmsprop", mutate("rmsprop", "increment = dtype(learning_rate) * g / np.sqrt(denominator)",
                                                  "increment = dtype(learning_rate) * g / (np.sqrt(denominator - dtype(epsilon)) + "
                                                  "dtype(epsilon))"), {"test_rmsprop"}),
    "rmsprop_not_centered": ("rmsprop", mutate("rmsprop", "        if centered:\n", "        if False:\n"), {"test_rmsprop"}),
    "adam_without_bias_correction": ("adam", mutate("adam", "alpha = dtype(learning_rate) * np.sqrt(dtype(1) - dtype(np.float32(beta_2)) ** "
                                                            "t) / (dtype(1) - dtype(np.float32(beta_1)) ** t)",
                                                    "alpha = dtype(learning_rate)"), {"test_adam", "test_adamw"}),
    # the float32 trap: np.float32(beta) ** t and 1 - beta**t computed in float32 for float64 parameters
    "adam_float32_corrections": ("adam", mutate("adam", "np.sqrt(dtype(1) - dtype(np.float32(beta_2)) ** t) / "
                                                        "(dtype(1) - dtype(np.float32(beta_1)) ** t)",
                                                "np.sqrt(1 - np.float32(beta_2) ** t) / (1 - np.float32(beta_1) ** t)"), {"test_adam", "test_adamw"}),
    "adam_t_from_zero": ("adam", mutate("adam", 't = state["t"] + 1\n', 't = state["t"] + 2\n'), {"test_adam", "test_adamw"}),
    "adam_paper_epsilon": ("adam", mutate("adam", "new_params.append(p - alpha * m / (np.sqrt(v_max if amsgrad else v) + dtype(epsilon)))",
                                          "new_params.append(p - alpha * m / (np.sqrt(v_max if amsgrad else v) + dtype(epsilon) * "
                                          "np.sqrt(dtype(1) - dtype(np.float32(beta_2)) ** t)))"),
                           {"test_adam", "test_adamw"}),
    # without epsilon a zero gradient gives 0/0: only the hidden zero-gradient test sees it
    "adam_without_epsilon": ("adam", mutate("adam", "new_params.append(p - alpha * m / (np.sqrt(v_max if amsgrad else v) + dtype(epsilon)))",
                                            "new_params.append(p - alpha * m / np.sqrt(v_max if amsgrad else v))"), {"test_adam", "test_adamw"}),
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
}


DIAGNOSES = [
    ("adagrad_epsilon_outside", "test_adagrad", "inside the square root"),
    ("adagrad_accumulator_from_zero", "test_adagrad", "not at 0"),
    ("adam_without_bias_correction", "test_adam", "bias correction is missing"),
    ("adam_float32_corrections", "test_adam", "computed in float32", ("paper's form", "bias correction is missing")),
    ("adam_without_epsilon", "test_adam", "epsilon is missing", ("paper's form",)),
    ("adam_t_from_zero", "test_adam", "t must be 1 on the first update"),
    ("adam_paper_epsilon", "test_adam", "the paper's form", ("epsilon is missing",)),
    ("rmsprop_epsilon_outside", "test_rmsprop", "inside the square root: sqrt(v + epsilon)"),
    ("rmsprop_not_centered", "test_rmsprop", "centered=True is ignored"),
    ("adamw_decay_after_step", "test_adamw", "before the Adam step"),
    ("adamw_as_l2", "test_adamw", "L2 regularisation"),
]

(verdicts, test_solution_full_marks_honest_full_marks_and_blank_zero, test_wrong_answer_loses_the_cells_it_breaks,
 test_the_diagnosis_names_the_mistake, test_the_sandboxed_grader_gives_the_same_verdicts) = \
    chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES,
                          honest={name: variant_notebook(CHAPTER, sources) for name, sources in HONEST.items()})
