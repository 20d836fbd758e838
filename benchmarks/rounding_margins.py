"""How much of the rounding budget correct optimizers use, and how far outside it the classic mistakes land.

    .venv/bin/python benchmarks/rounding_margins.py

For each optimizer check's default problem, in float64 and float32, prints

- ``correct``: the largest ratio |NumPy - Keras| / budget over every step and element, for
  dlcourse.optimizers' Keras form with Keras's float32 constants (rounding alone; must be < 1);
- ``exact constants``: the same for the exact constants against the Keras run (what the
  alternatives of the check absorb; > 1 means the alternative is needed);
- ``rearranged``: the same for a correct implementation in another order (Keras's constants;
  must be < 1);
- ``mistake``: for each classic mistake, the largest ratio (> 1 means it is caught).

The budget is dlcourse.checks.optimizer_steps.rounding_tolerance of the Keras trajectory.
Nothing is asserted; run it on purpose.
"""
from __future__ import annotations

import numpy as np

from dlcourse import keras_reference as ref
from dlcourse import optimizers as opt
from dlcourse.checks.adaptive_optimizers import tiny_gradient_problem
from dlcourse.checks.optimizer_steps import default_problem, keras_run, learning_rates, numpy_run, rounding_tolerance

keras = ref.keras
f32 = float(np.float32(0.9))


def adam_epsilon_hat_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    """Adam rearranged: bias-corrected moments and epsilon / sqrt(1 - beta_2^t) (the same step on paper)."""
    t = state["t"] + 1
    b1, b2 = float(np.float32(beta_1)), float(np.float32(beta_2))
    new_params, moments = [], []
    for p, g, (m, v, v_max) in zip(params, grads, state["moments"]):
        m, v = beta_1 * m + (1 - beta_1) * g, beta_2 * v + (1 - beta_2) * g * g
        step = learning_rate * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + epsilon / np.sqrt(1 - b2 ** t))
        new_params.append((p - step).astype(p.dtype))
        moments.append((m, v, v_max))
    return new_params, {"t": t, "moments": moments}


def adam_float64_inside_update(params, grads, state, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    """Keras's Adam computed in float64 whatever the parameters' dtype, the result cast back."""
    wide = [np.asarray(p, np.float64) for p in params]
    state = {"t": state["t"], "moments": [tuple(np.asarray(a, np.float64) for a in slot) for slot in state["moments"]]}
    new_params, new_state = opt.adam_update(wide, [np.asarray(g, np.float64) for g in grads], state, learning_rate, beta_1, beta_2, epsilon)
    return [q.astype(p.dtype) for q, p in zip(new_params, params)], new_state


def sgd_rearranged_update(params, grads, state, learning_rate, momentum=0.0):
    """SGD with momentum as p - (lr g - mu v), the velocity kept with the opposite sign."""
    new_state = [momentum * w + learning_rate * g for w, g in zip(state, grads)]   # w = -v
    return [p - w for p, w in zip(params, new_state)], new_state


def ratio(run: list, expected: list) -> float:
    return max(float(np.max(np.abs(a.astype(np.float64) - e) / rounding_tolerance(e))) for a, e in zip(run, expected))


HONEST = {"SGD momentum 0.9": ("velocity negated", opt.sgd_init, sgd_rearranged_update, {"momentum": f32}),
          "Adam": ("epsilon-hat form", opt.adam_init, adam_epsilon_hat_update, {}),
          "Adam, tiny gradients": ("float64 inside", opt.adam_init, adam_float64_inside_update, {})}


def configurations(dtype):
    problem = default_problem(dtype=dtype)
    tiny = tiny_gradient_problem(dtype=dtype)
    yield ("SGD momentum 0.9", problem, 25, keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), 0.05,
           (opt.sgd_init, opt.sgd_update, None, {"momentum": f32}), {"momentum": 0.9},
           {"PyTorch form": (opt.sgd_init, opt.pytorch_momentum_update, None, {"momentum": f32}),
            "moving-average form": (opt.sgd_init, opt.ema_momentum_update, None, {"momentum": f32})})
    yield ("Adagrad", problem, 30, keras.optimizers.Adagrad(learning_rate=0.1), 0.1,
           (opt.adagrad_init, opt.adagrad_update, {"initial_accumulator_value": float(np.float32(0.1))}, {}),
           {"init": {"initial_accumulator_value": 0.1}},
           {"epsilon outside": (opt.adagrad_init, opt.adagrad_epsilon_outside_update, {"initial_accumulator_value": 0.1}, {}),
            "accumulator from 0": (opt.adagrad_init, opt.adagrad_update, {"initial_accumulator_value": 0.0}, {})})
    yield ("RMSprop centered, momentum 0.5", problem, 30, keras.optimizers.RMSprop(learning_rate=0.01, centered=True, momentum=0.5), 0.01,
           (opt.rmsprop_init, opt.rmsprop_update, None, {"centered": True, "momentum": 0.5}), None,
           {"epsilon outside": (opt.rmsprop_init, opt.rmsprop_epsilon_outside_update, None, {"centered": True, "momentum": 0.5})})
    for name, on in (("Adam", problem), ("Adam, tiny gradients", tiny)):
        yield (name, on, 30, keras.optimizers.Adam(learning_rate=0.05), 0.05,
               (opt.adam_init, opt.adam_update, None, {}), {"float32_beta_powers": False},
               {"paper's form": (opt.adam_init, opt.adam_paper_update, None, {}),
                "no bias correction": (opt.adam_init, opt.adam_no_bias_correction_update, None, {})})
    yield ("AdamW", problem, 30, keras.optimizers.AdamW(learning_rate=0.05, weight_decay=0.004), 0.05,
           (opt.adam_init, opt.adamw_update, None, {"weight_decay": float(np.float32(0.004))}),
           {"float32_beta_powers": False, "weight_decay": 0.004},
           {"decay after the step": (opt.adam_init, opt.adamw_decay_after_update, None, {"weight_decay": float(np.float32(0.004))})})


def main() -> None:
    print(f"{'check':34} {'dtype':8} {'correct':>9} {'exact constants':>16}  {'rearranged':>26}  mistakes")
    for dtype in (np.float64, np.float32):
        for name, problem, steps, optimizer, lr, (init, update, init_args, hyper), exact, mistakes in configurations(dtype):
            expected = keras_run(optimizer, problem, steps)
            rates = learning_rates(lr, steps)
            correct = ratio(numpy_run(init, update, problem, rates, init_args, **hyper), expected)
            if exact is None:
                exact_text = "-"
            else:
                init_exact = dict(init_args or {}, **exact.pop("init", {})) if "init" in exact else init_args
                exact_text = f"{ratio(numpy_run(init, update, problem, rates, init_exact, **dict(hyper, **exact)), expected):.3g}"
            rearranged = "-"
            if name in HONEST:
                label, i, u, h = HONEST[name]
                rearranged = f"{label} {ratio(numpy_run(i, u, problem, rates, None, **h), expected):.3g}"
            caught = ", ".join(f"{label} {ratio(numpy_run(i, u, problem, rates, a, **h), expected):.3g}"
                               for label, (i, u, a, h) in mistakes.items())
            print(f"{name:34} {np.dtype(dtype).name:8} {correct:9.3g} {exact_text:>16}  {rearranged:>26}  {caught}")


if __name__ == "__main__":
    main()
