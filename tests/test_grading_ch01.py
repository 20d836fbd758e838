"""Chapter 1's exercise through the grader: solution, blank, realistic mistakes, honest variants."""
from __future__ import annotations

import nbformat
from conftest import chapter_grading_tests, understanding_catalogue, variant_notebook
from conftest import mutate as mutate_cell

CHAPTER = "01_gradient_descent"
CELLS = {"test_mse_loss": 1, "test_mse_gradient": 2, "test_numerical_gradient": 2, "test_gradient_descent": 3,
         "test_piecewise_constant_decay": 1, "test_exponential_decay": 1, "test_inverse_time_decay": 1, "test_polynomial_decay": 2,
         "test_cosine_decay": 2, "test_stable_rate": 2}

# the derivation's honest variants: the SVD's largest singular value, a general eigensolver, a Hessian summed row by row
UNDERSTANDING = understanding_catalogue(CHAPTER, {"stable_rate": ['''
def largest_stable_learning_rate(X):
    design = np.c_[X, np.ones(len(X))]
    return len(X) / np.linalg.norm(design, 2) ** 2          # 2 / lambda_max((2/n) A^T A) = n / sigma_max(A)^2
''', '''
def largest_stable_learning_rate(X):
    n, d = X.shape
    design = np.concatenate([X, np.ones((n, 1))], axis=1)
    eigenvalues = np.linalg.eigvals(2 * design.T.dot(design) / n)
    return 2 / max(abs(eigenvalues))
''', '''
def largest_stable_learning_rate(X):
    hessian = 0.0
    for row in X:
        a = np.append(row, 1.0)
        hessian = hessian + 2.0 * np.outer(a, a) / X.shape[0]
    return 2.0 / np.linalg.eigh(hessian)[0][-1]
'''],
    "regression_fix": ['regression_fix = {"learning_rate": 0.9, "standardise": True}',
                   'regression_fix = {"standardise": True, "learning_rate": 0.05}',
                   'regression_fix = dict(learning_rate=1 / 3, standardise=True)']})
CELLS["test_regression_fix"] = 2
CELLS.update(UNDERSTANDING["cells"])


def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


# student -> (cell, source, graded cells that must score 0): each mistake breaks its own function's cell only
WRONG_ANSWERS = {
    # the derivation of the largest stable learning rate
    "stable_rate_hessian_without_2": ("stable_rate", mutate("stable_rate", "(2.0 / rows)", "(1.0 / rows)"), {"test_stable_rate"}),
    "stable_rate_one_over_lambda": ("stable_rate", mutate("stable_rate", "return float(2.0 / curvature.max())",
                                                          "return float(1.0 / curvature.max())"), {"test_stable_rate"}),
    "stable_rate_without_bias": ("stable_rate", mutate("stable_rate", "np.hstack([X, np.ones((rows, 1))])", "X"), {"test_stable_rate"}),
    "stable_rate_smallest_eigenvalue": ("stable_rate", mutate("stable_rate", "curvature.max()", "curvature.min()"), {"test_stable_rate"}),
    # the experiment
    "regression_fix_raw_diverges": ("regression_fix", 'regression_fix = {"learning_rate": 0.01, "standardise": False}', {"test_regression_fix"}),
    "regression_fix_raw_slow": ("regression_fix", 'regression_fix = {"learning_rate": 0.001, "standardise": False}', {"test_regression_fix"}),
    "regression_fix_standardised_too_fast": ("regression_fix", 'regression_fix = {"learning_rate": 1.5, "standardise": True}',
                          {"test_regression_fix"}),
    "regression_fix_standardised_too_slow": ("regression_fix", 'regression_fix = {"learning_rate": 0.002, "standardise": True}',
                          {"test_regression_fix"}),
    "regression_fix_standardise_as_text": ("regression_fix", 'regression_fix = {"learning_rate": 0.5, "standardise": "yes"}',
                          {"test_regression_fix"}),
    **UNDERSTANDING["wrong_answers"],
    # mse_loss
    "sum_not_mean": ("mse_loss", mutate("mse_loss", "float(np.mean(residual**2))", "float(np.sum(residual**2))"), {"test_mse_loss"}),
    "half_mse": ("mse_loss", mutate("mse_loss", "float(np.mean(residual**2))", "float(0.5 * np.mean(residual**2))"), {"test_mse_loss"}),
    "loss_without_bias": ("mse_loss", mutate("mse_loss", "residual = X @ w + b - y", "residual = X @ w - y"), {"test_mse_loss"}),
    # mse_gradient
    "gradient_without_2": ("mse_gradient", """
def mse_gradient(X, y, w, b):
    r = X @ w + b - y
    return X.T @ r / len(y), float(np.mean(r))
""", {"test_mse_gradient"}),
    "gradient_summed": ("mse_gradient", mutate("mse_gradient", "n = X.shape[0]", "n = 1"), {"test_mse_gradient"}),
    # the residual written y - prediction: both gradients change sign
    "gradient_sign_flipped": ("mse_gradient", mutate("mse_gradient", "residual = X @ w + b - y", "residual = y - (X @ w + b)"),
                              {"test_mse_gradient"}),
    # numerical_gradient
    "forward_difference": ("numerical_gradient", """
def numerical_gradient(f, x, h=1e-5):
    g = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        z = x.astype(float).copy(); z[i] += h
        g[i] = (f(z) - f(x)) / h
    return g
""", {"test_numerical_gradient"}),
    # passes the visible check (default h) and is caught by a hidden test
    "ignores_h": ("numerical_gradient", """
def numerical_gradient(f, x, h=1e-5):
    g = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        p = x.astype(float).copy(); p[i] += 1e-5
        m = x.astype(float).copy(); m[i] -= 1e-5
        g[i] = (f(p) - f(m)) / 2e-5
    return g
""", {"test_numerical_gradient"}),
    "divides_by_h": ("numerical_gradient", mutate("numerical_gradient", "(f_plus - f_minus) / (2 * h)", "(f_plus - f_minus) / h"),
                     {"test_numerical_gradient"}),
    # x + h moves every element at once: each entry is the derivative along the all-ones direction
    "perturbs_every_element": ("numerical_gradient", """
def numerical_gradient(f, x, h=1e-5):
    gradient = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        gradient[index] = (f(x + h) - f(x - h)) / (2 * h)
    return gradient
""", {"test_numerical_gradient"}),
    # no copy, and x "restored" by arithmetic: x + h - 2h + h is not always x in floating point
    "restores_x_by_arithmetic": ("numerical_gradient", """
def numerical_gradient(f, x, h=1e-5):
    gradient = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        x[index] += h
        f_plus = f(x)
        x[index] -= 2 * h
        f_minus = f(x)
        x[index] += h
        gradient[index] = (f_plus - f_minus) / (2 * h)
    return gradient
""", {"test_numerical_gradient"}),
    # gradient_descent
    "schedule_one_step_late": ("gradient_descent", """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    theta = np.array(theta0, dtype=float)
    out = [theta]
    for k in range(num_steps):
        lr = learning_rate(k + 1) if callable(learning_rate) else learning_rate
        theta = theta - lr * grad_fn(theta)
        out.append(theta)
    return np.stack(out)
""", {"test_gradient_descent"}),
    "aliased_trajectory": ("gradient_descent", """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    theta = np.array(theta0, dtype=float)
    out = [theta]
    for k in range(num_steps):
        lr = learning_rate(k) if callable(learning_rate) else learning_rate
        theta -= lr * grad_fn(theta)
        out.append(theta)
    return np.array(out)
""", {"test_gradient_descent"}),
    # np.asarray makes no copy of a float64 theta0: the in-place update changes the caller's array
    "modifies_theta0": ("gradient_descent", """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    theta = np.asarray(theta0, dtype=np.float64)
    out = [theta.copy()]
    for k in range(num_steps):
        theta -= (learning_rate(k) if callable(learning_rate) else learning_rate) * grad_fn(theta)
        out.append(theta.copy())
    return np.array(out)
""", {"test_gradient_descent"}),
    # the trajectory collects the points after each update: row 0 (theta0) is missing
    "trajectory_without_start": ("gradient_descent", """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    theta, out = np.array(theta0, dtype=np.float64), []
    for k in range(num_steps):
        theta = theta - (learning_rate(k) if callable(learning_rate) else learning_rate) * grad_fn(theta)
        out.append(theta)
    return np.array(out).reshape((num_steps,) + np.shape(theta0))
""", {"test_gradient_descent"}),
    # range(1, num_steps): one update too few
    "one_update_missing": ("gradient_descent", mutate("gradient_descent", "for step in range(num_steps):",
                                                      "for step in range(max(num_steps - 1, 0)):"), {"test_gradient_descent"}),
    # schedules
    "boundary_strict": ("piecewise_constant_decay", mutate("piecewise_constant_decay", 'side="left"', 'side="right"'),
                        {"test_piecewise_constant_decay"}),
    "staircase_ignored": ("exponential_decay", """
def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    return initial_learning_rate * decay_rate ** (np.asarray(step, dtype=float) / decay_steps)
""", {"test_exponential_decay"}),
    # ** binds tighter than /: decay_rate ** step / decay_steps is (decay_rate ** step) / decay_steps
    "exponent_precedence": ("exponential_decay", """
def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    s = np.asarray(step, dtype=np.float64)
    if staircase:
        return initial_learning_rate * decay_rate ** np.floor(s / decay_steps)
    return initial_learning_rate * decay_rate ** s / decay_steps
""", {"test_exponential_decay"}),
    # the visible check has no staircase: only the hidden tests see it
    "inverse_staircase_ignored": ("inverse_time_decay", """
def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    return initial_learning_rate / (1 + decay_rate * np.asarray(step, dtype=float) / decay_steps)
""", {"test_inverse_time_decay"}),
    "polynomial_unclamped": ("polynomial_decay", """
def polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
    s = np.asarray(step, dtype=float)
    d = decay_steps * np.where(s == 0, 1.0, np.ceil(s / decay_steps)) if cycle else decay_steps
    return (initial_learning_rate - end_learning_rate) * np.abs(1 - s / d) ** power + end_learning_rate
""", {"test_polynomial_decay"}),
    # floor + 1 instead of ceil: at a multiple of decay_steps a new cycle starts one step early
    "cycle_floor_plus_one": ("polynomial_decay", mutate("polynomial_decay", "np.where(s == 0, 1.0, np.ceil(s / decay_steps))",
                                                        "np.floor(s / decay_steps) + 1"), {"test_polynomial_decay"}),
    # ceil(0 / decay_steps) = 0: D' = 0 and 0/0 at step 0
    "cycle_zero_at_step_0": ("polynomial_decay", mutate("polynomial_decay", "np.where(s == 0, 1.0, np.ceil(s / decay_steps))",
                                                        "np.ceil(s / decay_steps)"), {"test_polynomial_decay"}),
    "cosine_ignores_warmup": ("cosine_decay", """
def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    u = np.minimum(np.asarray(step, dtype=np.float64), decay_steps)
    return initial_learning_rate * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * u / decay_steps)) + alpha)
""", {"test_cosine_decay"}),
    "cosine_ignores_warmup_offset": ("cosine_decay", """
def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    s = np.asarray(step, dtype=float)
    top = initial_learning_rate if warmup_target is None else warmup_target
    cos = top * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * np.minimum(s, decay_steps) / decay_steps)) + alpha)
    if warmup_target is None:
        return cos
    with np.errstate(all="ignore"):
        ramp = initial_learning_rate + (warmup_target - initial_learning_rate) * s / warmup_steps
    return np.where(s < warmup_steps, ramp, cos)
""", {"test_cosine_decay"}),
    # past decay_steps the cosine rises again
    "cosine_unclamped": ("cosine_decay", mutate("cosine_decay", "return cosine(np.minimum(s, decay_steps), initial_learning_rate)",
                                                "return cosine(s, initial_learning_rate)").replace(
                                                    "    s = np.minimum(s, warmup_steps + decay_steps)\n", ""), {"test_cosine_decay"}),
    # alpha added as a learning rate, not as a fraction of the rate the cosine starts from
    "cosine_alpha_unscaled": ("cosine_decay", mutate("cosine_decay", "start * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * u / decay_steps)) + alpha)",
                                                     "start * (1 - alpha) * 0.5 * (1 + np.cos(np.pi * u / decay_steps)) + alpha"),
                              {"test_cosine_decay"}),
}

# Correct implementations written differently from the solution and from each other: each notebook keeps full marks.
HONEST = {
    # explicit Python loops and math functions, Python floats throughout
    "loops": {
        "mse_loss": """
def mse_loss(X, y, w, b):
    total = 0.0
    for xi, yi in zip(X, y):          # a loop instead of vectorised code
        total += (xi @ w + b - yi) ** 2
    return total / len(y)
""",
        # a loop over the features (not the examples): one partial derivative at a time
        "mse_gradient": """
def mse_gradient(X, y, w, b):
    residual = X @ w + b - y
    grad_w = np.array([2 * np.mean(residual * X[:, j]) for j in range(X.shape[1])])
    return grad_w, 2 * float(np.mean(residual))
""",
        "numerical_gradient": """
def _bump(x, flat_index, delta):
    z = x.astype(np.float64).ravel().copy()
    z[flat_index] += delta
    return z.reshape(x.shape)

def numerical_gradient(f, x, h=1e-5):
    flat = [(f(_bump(x, i, h)) - f(_bump(x, i, -h))) / (2 * h) for i in range(x.size)]
    return np.array(flat).reshape(x.shape)
""",
        "gradient_descent": """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    out = np.empty((num_steps + 1,) + np.shape(theta0))
    out[0] = theta0
    for k in range(num_steps):
        lr = learning_rate(k) if callable(learning_rate) else learning_rate
        out[k + 1] = out[k] - lr * grad_fn(out[k])
    return out
""",
        "piecewise_constant_decay": """
def piecewise_constant_decay(step, boundaries, values):
    def one(s):
        for boundary, value in zip(boundaries, values):
            if s <= boundary:
                return float(value)
        return float(values[-1])
    return np.vectorize(one, otypes=[float])(step)
""",
        "exponential_decay": """
import math

def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    def one(s):
        p = s / decay_steps
        return initial_learning_rate * decay_rate ** (math.floor(p) if staircase else p)
    return np.vectorize(one, otypes=[float])(step)
""",
        "inverse_time_decay": """
import math

def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    rates = []
    for s in np.ravel(step):
        p = math.floor(s / decay_steps) if staircase else s / decay_steps
        rates.append(initial_learning_rate / (1 + decay_rate * p))
    return np.reshape(rates, np.shape(step))
""",
        "polynomial_decay": """
import math

def polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
    def one(s):
        s = float(s)
        if cycle:
            d = decay_steps * max(math.ceil(s / decay_steps), 1)
        else:
            s, d = min(s, decay_steps), decay_steps
        return (initial_learning_rate - end_learning_rate) * (1 - s / d) ** power + end_learning_rate
    return np.vectorize(one, otypes=[float])(step)
""",
        "cosine_decay": """
import math

def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    def decayed(u, top):
        return top * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * u / decay_steps)) + alpha)

    def one(s):
        if warmup_target is None:
            return decayed(min(s, decay_steps), initial_learning_rate)
        s = min(s, warmup_steps + decay_steps)
        if s < warmup_steps:
            return initial_learning_rate + (warmup_target - initial_learning_rate) * s / warmup_steps
        return decayed(s - warmup_steps, warmup_target)
    return np.vectorize(one, otypes=[float])(step)
""",
    },
    # algebra rearranged: expanded normal equations, exp/log powers, the half-angle cosine, a generator of iterates
    "rearranged": {
        "mse_loss": """
def mse_loss(X, y, w, b):
    r = y - (X @ w + b)               # the residual with the other sign: squared, it is the same
    return r @ r / len(y)
""",
        "mse_gradient": """
def mse_gradient(X, y, w, b):
    n = len(y)
    grad_w = 2 * (X.T @ (X @ w) + b * X.sum(axis=0) - X.T @ y) / n      # the normal equations' form
    grad_b = 2 * (X.mean(axis=0) @ w + b - y.mean())
    return grad_w, grad_b
""",
        "numerical_gradient": """
def numerical_gradient(f, x, h=1e-5):
    basis = np.eye(x.size).reshape((x.size,) + x.shape)       # e_j for every element j
    values = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in basis]
    return np.array(values, dtype=np.float64).reshape(x.shape)
""",
        "gradient_descent": """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    def iterates():
        theta = np.asarray(theta0, dtype=np.float64)
        yield theta
        for k in range(num_steps):
            eta = learning_rate(k) if callable(learning_rate) else learning_rate
            theta = theta - eta * grad_fn(theta)
            yield theta
    return np.array(list(iterates()))
""",
        "piecewise_constant_decay": """
def piecewise_constant_decay(step, boundaries, values):
    return np.asarray(values, dtype=np.float64)[np.digitize(step, boundaries, right=True)]
""",
        "exponential_decay": """
def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    p = np.asarray(step) / decay_steps
    p = np.floor(p) if staircase else p
    return initial_learning_rate * np.exp(p * np.log(decay_rate))
""",
        "inverse_time_decay": """
def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    s = np.asarray(step, dtype=np.float64)
    if staircase:
        return initial_learning_rate / (1 + decay_rate * np.floor(s / decay_steps))
    return initial_learning_rate * decay_steps / (decay_steps + decay_rate * s)     # multiplied through by decay_steps
""",
        "polynomial_decay": """
def polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
    s = np.asarray(step, dtype=np.float64)
    if cycle:
        d = decay_steps * np.maximum(np.ceil(s / decay_steps), 1.0)     # ceil(0) = 0 lifted to one cycle
    else:
        s, d = np.clip(s, 0, decay_steps), decay_steps
    fraction_left = (d - s) / d
    return end_learning_rate + (initial_learning_rate - end_learning_rate) * np.power(fraction_left, power)
""",
        "cosine_decay": """
def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    s = np.asarray(step, dtype=np.float64)
    def decayed(u, top):               # (1 + cos t) / 2 = cos(t / 2)**2
        return top * (alpha + (1 - alpha) * np.cos(np.pi * u / (2 * decay_steps)) ** 2)
    if warmup_target is None:
        return decayed(np.minimum(s, decay_steps), initial_learning_rate)
    s = np.minimum(s, warmup_steps + decay_steps)
    fraction = np.divide(s, warmup_steps, out=np.zeros_like(s), where=s < warmup_steps)
    return np.where(s < warmup_steps, (1 - fraction) * initial_learning_rate + fraction * warmup_target, decayed(s - warmup_steps, warmup_target))
""",
    },
    # Keras's float32 (a constant learning rate, the whole polynomial schedule), warnings and prints on stderr, other NumPy tools
    "keras_like": {
        "mse_loss": """
def mse_loss(X, y, w, b):
    return float(np.linalg.norm(X @ w + b - y) ** 2 / X.shape[0])
""",
        "mse_gradient": """
import warnings

def mse_gradient(X, y, w, b):
    warnings.warn("a warning on stderr must cost nothing")
    import sys; print("so must a print to stderr", file=sys.stderr)
    residual = np.einsum("ij,j->i", X, w) + b - y
    return np.mean(2 * residual[:, None] * X, axis=0), np.mean(2 * residual)
""",
        # the caller's x perturbed in place and put back exactly (the task allows it); divided by the step actually taken
        "numerical_gradient": """
def numerical_gradient(f, x, h=1e-5):
    gradient = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        up, f_up = x[index], f(x)
        x[index] = original - h
        down, f_down = x[index], f(x)
        x[index] = original
        gradient[index] = (f_up - f_down) / (up - down)
    return gradient
""",
        "gradient_descent": """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    theta = np.array(theta0, dtype=np.float64, copy=True)
    rows = [theta.copy()]
    for k in range(num_steps):
        eta = learning_rate(k) if callable(learning_rate) else np.float32(learning_rate)   # Keras's float32 rate
        theta -= eta * grad_fn(theta)
        rows.append(theta.copy())
    return np.array(rows)
""",
        "piecewise_constant_decay": """
def piecewise_constant_decay(step, boundaries, values):
    step = np.asarray(step)
    return np.select([step <= b for b in boundaries], values[:-1], default=values[-1]).astype(np.float64)
""",
        "exponential_decay": """
def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    step = np.asarray(step)
    p = step // decay_steps if staircase else step / decay_steps       # integer floor division
    return initial_learning_rate * np.power(float(decay_rate), p)
""",
        "polynomial_decay": """
def polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
    # computed in float32, as Keras does
    s = np.asarray(step, dtype=np.float32)
    d = np.float32(decay_steps)
    if cycle:
        d = d * np.where(s == 0, np.float32(1), np.ceil(s / d))
    else:
        s = np.minimum(s, d)
    lr0, end = np.float32(initial_learning_rate), np.float32(end_learning_rate)
    return (lr0 - end) * (np.float32(1) - s / d) ** np.float32(power) + end
""",
        "cosine_decay": """
def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    s = np.array(step, dtype=np.float64)
    if warmup_target is None:
        warmup_steps, warmup_target = 0, initial_learning_rate
    s = np.minimum(s, warmup_steps + decay_steps)
    rate = np.empty_like(s)
    warming = s < warmup_steps
    rate[warming] = initial_learning_rate + (warmup_target - initial_learning_rate) * s[warming] / warmup_steps
    u = s[~warming] - warmup_steps
    rate[~warming] = warmup_target * ((1 - alpha) * (1 + np.cos(np.pi * u / decay_steps)) / 2 + alpha)
    return rate
""",
    },
}

# a cell the student added, with a helper that the next solution uses; the others rewritten again
EXTRA_CELL = ("def _exponent(step, decay_steps, staircase):\n    p = np.asarray(step, dtype=float) / decay_steps\n"
              "    return np.floor(p) if staircase else p")
HELPERS = {
    "inverse_time_decay": """
def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    return initial_learning_rate / (1 + decay_rate * _exponent(step, decay_steps, staircase))
""",
    "mse_loss": """
def mse_loss(X, y, w, b):
    return float(np.mean(np.square(np.dot(X, w) - y + b)))
""",
    "mse_gradient": """
def mse_gradient(X, y, w, b):
    r = y - X @ w - b                     # the residual with the other sign, and the minus signs outside
    return -2 * (r @ X) / len(y), -2 * float(r.sum()) / len(y)
""",
    "numerical_gradient": """
def numerical_gradient(f, x, h=1e-5):
    g = np.zeros(x.shape)
    flat = x.astype(np.float64).reshape(-1)          # a copy, perturbed through a flat view of it
    grid = flat.reshape(x.shape)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + h; f_plus = f(grid)
        flat[i] = keep - h; f_minus = f(grid)
        flat[i] = keep
        g.reshape(-1)[i] = 0.5 * (f_plus - f_minus) / h
    return g
""",
    "gradient_descent": """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    schedule = learning_rate if callable(learning_rate) else (lambda step: learning_rate)
    trajectory = [np.asarray(theta0, dtype=np.float64)]
    while len(trajectory) <= num_steps:
        theta = trajectory[-1]
        trajectory.append(theta + (-schedule(len(trajectory) - 1)) * grad_fn(theta))
    return np.stack(trajectory)
""",
    "piecewise_constant_decay": """
def piecewise_constant_decay(step, boundaries, values):
    passed = (np.asarray(step)[..., None] > np.asarray(boundaries)).sum(axis=-1)   # how many boundaries lie behind
    return np.take(np.asarray(values, dtype=np.float64), passed)
""",
    "exponential_decay": """
def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    return initial_learning_rate * decay_rate ** _exponent(step, decay_steps, staircase)
""",
    "polynomial_decay": """
def polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
    s = np.asarray(step, dtype=np.float64)
    cycles = np.ceil(s / decay_steps)
    d = decay_steps * np.where(cycles > 0, cycles, 1) if cycle else decay_steps
    s = s if cycle else np.where(s > decay_steps, decay_steps, s)
    return end_learning_rate + (initial_learning_rate - end_learning_rate) * (1 - s / d) ** power
""",
    "cosine_decay": """
def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    s = np.asarray(step, dtype=np.float64)
    if warmup_target is None:
        progress = np.clip(s / decay_steps, 0.0, 1.0)
        return initial_learning_rate * (alpha + (1 - alpha) * (1 + np.cos(np.pi * progress)) / 2)
    s = np.clip(s, 0, warmup_steps + decay_steps)
    progress = np.clip((s - warmup_steps) / decay_steps, 0.0, 1.0)
    cosine = warmup_target * (alpha + (1 - alpha) * (1 + np.cos(np.pi * progress)) / 2)
    if warmup_steps == 0:
        return cosine
    return np.where(s < warmup_steps, initial_learning_rate + (s / warmup_steps) * (warmup_target - initial_learning_rate), cosine)
""",
}


def with_helper_cell() -> nbformat.NotebookNode:
    """The ``HELPERS`` notebook, with the student's own cell (``EXTRA_CELL``) inserted before inverse_time_decay."""
    notebook = variant_notebook(CHAPTER, HELPERS)
    position = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "inverse_time_decay")
    notebook.cells.insert(position, nbformat.v4.new_code_cell(EXTRA_CELL))
    return notebook


# (student, graded cell, the phrase of its own cause[, causes it must not be given])
DIAGNOSES = [
    ("sum_not_mean", "test_mse_loss", "you summed the squared errors", ("factor 1/2", "bias b is missing")),
    ("half_mse", "test_mse_loss", "you included a factor 1/2", ("you summed", "bias b is missing")),
    ("loss_without_bias", "test_mse_loss", "the bias b is missing", ("you summed", "factor 1/2")),
    ("gradient_without_2", "test_mse_gradient", "the factor 2 is missing", ("n times too large", "leaves out the bias")),
    ("gradient_summed", "test_mse_gradient", "grad_w is n times too large", ("factor 2 is missing", "leaves out the bias")),
    ("gradient_sign_flipped", "test_mse_gradient", "opposite sign", ("factor 2 is missing", "n times too large")),
    ("forward_difference", "test_numerical_gradient", "forward difference", ("backward difference", "not the h", "divided by h")),
    ("ignores_h", "test_numerical_gradient", "not the h that was passed", ("forward difference", "divided by h")),
    ("divides_by_h", "test_numerical_gradient", "divided by h instead of 2h", ("forward difference", "not the h", "constant factor")),
    ("perturbs_every_element", "test_numerical_gradient", "every element of x at once", ("forward difference", "divided by h")),
    ("restores_x_by_arithmetic", "test_numerical_gradient", "numerical_gradient changed its input x", ("forward difference",)),
    ("schedule_one_step_late", "test_gradient_descent", "one step late", ("same array object",)),
    ("aliased_trajectory", "test_gradient_descent", "same array object", ("one step late",)),
    ("modifies_theta0", "test_gradient_descent", "modified theta0 in place", ("same array object",)),
    ("trajectory_without_start", "test_gradient_descent", "leaves out the starting point", ("one update is missing",)),
    ("one_update_missing", "test_gradient_descent", "one update is missing", ("leaves out the starting point",)),
    ("boundary_strict", "test_piecewise_constant_decay", "(<=, not <)", ("one step late",)),
    ("staircase_ignored", "test_exponential_decay", "staircase=True is ignored", ("precedence", "one step late")),
    ("exponent_precedence", "test_exponential_decay", "precedence", ("staircase=True is ignored",)),
    ("inverse_staircase_ignored", "test_inverse_time_decay", "staircase=True is ignored", ("one step late",)),
    ("polynomial_unclamped", "test_polynomial_decay", "clamp step to decay_steps", ("ceil", "at step 0")),
    ("cycle_floor_plus_one", "test_polynomial_decay", "ceil(step / decay_steps), not floor", ("clamp step", "at step 0")),
    ("cycle_zero_at_step_0", "test_polynomial_decay", "at step 0", ("clamp step", "not floor")),
    ("cosine_ignores_warmup", "test_cosine_decay", "the warmup is ignored", ("still a stub", "step - warmup_steps")),
    ("cosine_ignores_warmup_offset", "test_cosine_decay", "step - warmup_steps", ("the warmup is ignored",)),
    ("cosine_unclamped", "test_cosine_decay", "rises again", ("the warmup is ignored", "fraction of")),
    ("cosine_alpha_unscaled", "test_cosine_decay", "alpha is a fraction", ("rises again", "the warmup is ignored")),
    ("stable_rate_hessian_without_2", "test_stable_rate", "carries the factor 2"),
    ("stable_rate_one_over_lambda", "test_stable_rate", "eta < 2 / lambda_max"),
    ("stable_rate_without_bias", "test_stable_rate", "the bias b is a parameter too"),
    ("stable_rate_smallest_eigenvalue", "test_stable_rate", "the largest eigenvalue sets the limit"),
    ("regression_fix_raw_diverges", "test_regression_fix", 'above the stable limit'),
    ("regression_fix_raw_slow", "test_regression_fix", 'The condition number lambda_max / lambda_min is'),
    ("regression_fix_standardised_too_fast", "test_regression_fix", 'above the stable limit'),
    ("regression_fix_standardised_too_slow", "test_regression_fix", 'The condition number is only'),
    ("regression_fix_standardise_as_text", "test_regression_fix", 'must be a bool'),
    *UNDERSTANDING["diagnoses"],
]

globals().update(chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES,
                          honest={**{name: variant_notebook(CHAPTER, sources) for name, sources in {**HONEST, **UNDERSTANDING["honest"]}.items()},
                                  "helpers": with_helper_cell()}))
