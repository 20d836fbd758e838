"""Chapter 4's exercise through the grader: solution, blank, and the classic wrong versions of each part."""
from __future__ import annotations

from conftest import chapter_grading_tests, understanding_catalogue, variant_notebook
from conftest import mutate as mutate_cell

CHAPTER = "04_initialization"
CELLS = {"test_compute_fans": 1, "test_variance_scaling_parameter": 2, "test_variance_scaling_sample": 2, "test_initialize": 1,
         "test_forward_statistics": 2, "test_clip_by_value": 1, "test_clip_by_norm": 1, "test_clip_by_global_norm": 2, "test_clipped_sgd": 2}

CELLS["test_leaky_relu_scale"] = 2

# the derivation's honest variants
UNDERSTANDING = understanding_catalogue(CHAPTER, {"leaky_relu_scale": ['''
def leaky_relu_scale(negative_slope):
    second_moment_factor = 0.5 * 1.0 + 0.5 * negative_slope * negative_slope    # E[phi(z)^2] / q, half of z on each side
    return 1.0 / second_moment_factor
''', '''
def leaky_relu_scale(negative_slope):
    return 2 / (1 + np.square(negative_slope))
''', '''
def leaky_relu_scale(negative_slope):
    a = float(negative_slope)
    return (2.0 / (1.0 + a * a)) if a != 0 else 2.0
'''], "init_fix": ['init_fix = {"scale": 2}', 'init_fix = {"scale": 2.5}', 'init_fix = dict(scale=1.5)']})
CELLS["test_init_fix"] = 2
CELLS.update(UNDERSTANDING["cells"])



def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


# student -> (cell, source, graded cells that must score 0); a part that calls an earlier function is checked with the course's
# version of it (dlcourse.numpy_reference), so each mistake costs its own cell only
WRONG_ANSWERS = {
    # the derivation of the leaky ReLU's variance-preserving scale
    "leaky_scale_slope_not_squared": ("leaky_relu_scale", mutate("leaky_relu_scale", "negative_slope**2", "negative_slope"),
                                      {"test_leaky_relu_scale"}),
    "leaky_scale_as_gain": ("leaky_relu_scale", mutate("leaky_relu_scale", "return 2.0 / (1.0 + negative_slope**2)",
                                                       "return np.sqrt(2.0 / (1.0 + negative_slope**2))"), {"test_leaky_relu_scale"}),
    "leaky_scale_he": ("leaky_relu_scale", mutate("leaky_relu_scale", "return 2.0 / (1.0 + negative_slope**2)", "return 2.0"),
                       {"test_leaky_relu_scale"}),
    # the experiment
    "init_fix_tiny": ("init_fix", 'init_fix = {"scale": 0.01}', {"test_init_fix"}),
    "init_fix_too_large": ("init_fix", 'init_fix = {"scale": 4.0}', {"test_init_fix"}),
    "init_fix_as_text": ("init_fix", 'init_fix = {"scale": "he_normal"}', {"test_init_fix"}),
    **UNDERSTANDING["wrong_answers"],
    # compute_fans: a convolution's receptive field left out; the two axes read the wrong way round
    "fans_without_receptive_field": ("fans", mutate("fans", "receptive_field = int(np.prod(shape[:-2]))", "receptive_field = 1"),
                                     {"test_compute_fans"}),
    "fans_swapped": ("fans", mutate("fans", "return shape[0], shape[1]", "return shape[1], shape[0]"), {"test_compute_fans"}),
    # variance_scaling_parameter: no truncation correction; the correction multiplied; fan_avg as a sum; the uniform's limit
    # sqrt(variance), without the 3
    "truncation_not_corrected": ("parameter", mutate("parameter", "return np.sqrt(variance) / 0.87962566103423978", "return np.sqrt(variance)"),
                                 {"test_variance_scaling_parameter"}),
    "truncation_correction_multiplied": ("parameter", mutate("parameter", "np.sqrt(variance) / 0.87962566103423978",
                                                             "np.sqrt(variance) * 0.87962566103423978"), {"test_variance_scaling_parameter"}),
    "fan_avg_as_sum": ("parameter", mutate("parameter", '"fan_avg": (fan_in + fan_out) / 2', '"fan_avg": fan_in + fan_out'),
                       {"test_variance_scaling_parameter"}),
    "uniform_limit_without_3": ("parameter", mutate("parameter", "return np.sqrt(3.0 * variance)", "return np.sqrt(variance)"),
                                {"test_variance_scaling_parameter"}),
    # variance_scaling_sample: the tails clipped instead of re-drawn; not truncated at all; re-drawn beyond 3 sigma, not 2
    "truncation_by_clipping": ("sample", mutate("sample", '''        outside = np.abs(sample) > 2 * parameter
        while outside.any():
            sample[outside] = rng.normal(0.0, parameter, size=int(outside.sum()))
            outside = np.abs(sample) > 2 * parameter''', "        sample = np.clip(sample, -2 * parameter, 2 * parameter)"),
                               {"test_variance_scaling_sample"}),
    "normal_not_truncated": ("sample", mutate("sample", 'if distribution == "truncated_normal":', "if False:"),
                             {"test_variance_scaling_sample"}),
    "truncation_at_3_sigma": ("sample", mutate("sample", "> 2 * parameter", "> 3 * parameter"), {"test_variance_scaling_sample"}),
    # initialize: Glorot with fan_in; He with scale 1; He with fan_out; the "normal" initializers untruncated
    "glorot_with_fan_in": ("initialize", mutate("initialize", '"glorot": (1.0, "fan_avg")', '"glorot": (1.0, "fan_in")'), {"test_initialize"}),
    "he_with_scale_1": ("initialize", mutate("initialize", '"he": (2.0, "fan_in")', '"he": (1.0, "fan_in")'), {"test_initialize"}),
    "he_with_fan_out": ("initialize", mutate("initialize", '"he": (2.0, "fan_in")', '"he": (2.0, "fan_out")'), {"test_initialize"}),
    "glorot_normal_untruncated": ("initialize", mutate("initialize", '"normal": "truncated_normal"', '"normal": "untruncated_normal"'),
                                  {"test_initialize"}),
    # forward_statistics: the sample std (ddof=1); the statistics of x @ W + b; each unit's std averaged; a linear last layer
    "std_with_ddof_1": ("forward", mutate("forward", "stds.append(h.std())", "stds.append(h.std(ddof=1))"), {"test_forward_statistics"}),
    "statistics_before_activation": ("forward", mutate("forward", "        h = f(h @ W + b)\n        means.append(h.mean())\n        "
                                                                  "stds.append(h.std())",
                                                       "        z = h @ W + b\n        means.append(z.mean())\n        "
                                                       "stds.append(z.std())\n        h = f(z)"),
                                     {"test_forward_statistics"}),
    "std_per_unit": ("forward", mutate("forward", "stds.append(h.std())", "stds.append(h.std(axis=0).mean())"), {"test_forward_statistics"}),
    "last_layer_without_activation": ("forward", mutate("forward", "    for W, b in zip(weights, biases):\n        h = f(h @ W + b)",
                                                        "    for i, (W, b) in enumerate(zip(weights, biases)):\n"
                                                        "        h = h @ W + b if i == len(weights) - 1 else f(h @ W + b)"),
                                      {"test_forward_statistics"}),
    # clip_by_value: np.clip, where the upper bound wins when the bounds cross
    "clip_value_with_np_clip": ("clip_value", mutate("clip_value", "np.maximum(np.minimum(t, clip_value_max), clip_value_min)",
                                                     "np.clip(t, clip_value_min, clip_value_max)"), {"test_clip_by_value"}),
    # clip_by_norm: rescaled to the threshold even when below it; the max norm; the L1 norm
    "clip_norm_always_rescales": ("clip_norm", mutate("clip_norm", "np.maximum(norm, t.dtype.type(clip_norm))", "norm"), {"test_clip_by_norm"}),
    "clip_norm_max_abs": ("clip_norm", mutate("clip_norm", "norm = np.sqrt(np.sum(t * t))", "norm = np.max(np.abs(t))"), {"test_clip_by_norm"}),
    "clip_norm_l1": ("clip_norm", mutate("clip_norm", "norm = np.sqrt(np.sum(t * t))", "norm = np.sum(np.abs(t))"), {"test_clip_by_norm"}),
    # clip_by_global_norm: each tensor by its own norm; the norms added instead of the squares; zeros, not NaN, for an infinite norm
    # (only the hidden test with an infinite gradient sees the last one)
    "global_norm_per_tensor": ("clip_global", '''
def clip_by_global_norm(t_list, clip_norm):
    global_norm = np.sqrt(sum(float(np.sum(np.asarray(t, dtype=np.float64) ** 2)) for t in t_list if t is not None))
    clipped = [None if t is None else t * min(1.0, clip_norm / max(np.sqrt(np.sum(t * t)), 1e-300)) for t in t_list]
    return clipped, global_norm
''', {"test_clip_by_global_norm"}),
    "global_norm_sum_of_norms": ("clip_global", mutate("clip_global", "np.sqrt(sum(float(np.sum(np.asarray(t, dtype=np.float64) ** 2)) "
                                                                     "for t in t_list if t is not None))",
                                                       "sum(np.sqrt(float(np.sum(np.asarray(t, dtype=np.float64) ** 2))) "
                                                       "for t in t_list if t is not None)"),
                                 {"test_clip_by_global_norm"}),
    "global_norm_inf_gives_zeros": ("clip_global", mutate("clip_global", "if np.isfinite(global_norm) else np.nan",
                                                                   "if np.isfinite(global_norm) else 0.0"),
                                    {"test_clip_by_global_norm"}),
    # clipped SGD: the gradients not clipped; the step (the new velocity) clipped after the momentum update
    "sgd_without_clipping": ("clipped_sgd", mutate("clipped_sgd", "    grads, _ = clip_by_global_norm(grads, "
                                                                  "global_clipnorm)\n", ""), {"test_clipped_sgd"}),
    "clipping_after_momentum": ("clipped_sgd", '''
def clipped_sgd_init(params):
    return [np.zeros_like(p) for p in params]

def clipped_sgd_update(params, grads, state, learning_rate, momentum=0.0, global_clipnorm=1.0):
    velocities = [momentum * v - learning_rate * g for v, g in zip(state, grads)]
    velocities, _ = clip_by_global_norm(velocities, global_clipnorm)     # clips the step, not the gradients
    return [p + v for p, v in zip(params, velocities)], velocities
''', {"test_clipped_sgd"}),
}


# Correct implementations written differently from the solution: each notebook must keep full marks.
HONEST = {
    # Python-float hyperparameters, NumPy's own helpers, another order of the operations
    "textbook": {
        "fans": '''
import math

def compute_fans(shape):
    shape = list(shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field
''',
        "clip_value": '''
def clip_by_value(t, clip_value_min, clip_value_max):
    t = np.array(t)                       # a copy, clipped in place: the upper bound first, as TensorFlow
    np.minimum(t, clip_value_max, out=t, casting="unsafe")
    np.maximum(t, clip_value_min, out=t, casting="unsafe")
    return t
''',
        "clip_norm": '''
def clip_by_norm(t, clip_norm):
    t = np.asarray(t)
    norm = np.linalg.norm(t.ravel())
    return t if norm <= clip_norm else (t * (clip_norm / norm)).astype(t.dtype)
''',
        "clipped_sgd": '''
def clipped_sgd_init(params):
    return {"velocity": [np.zeros(p.shape, p.dtype) for p in params]}

def clipped_sgd_update(params, grads, state, learning_rate, momentum=0.0, global_clipnorm=1.0):
    grads, _ = clip_by_global_norm(grads, global_clipnorm)
    velocity = [momentum * v - learning_rate * g for v, g in zip(state["velocity"], grads)]   # Python-float momentum
    return [p + v for p, v in zip(params, velocity)], {"velocity": velocity}
''',
    },
    # the samplers and the forward pass written another way: inverse-CDF draws, a rejection loop per value, moments by hand
    "samplers": {
        "sample": '''
def variance_scaling_sample(shape, scale, mode, distribution, rng):
    parameter = variance_scaling_parameter(shape, scale, mode, distribution)
    size = int(np.prod(shape))
    if distribution == "uniform":
        return (parameter * (2 * rng.random(size) - 1)).reshape(shape)      # uniform on [-limit, limit)
    values = []
    while len(values) < size:                                               # one value at a time, re-drawn beyond 2 sigma
        z = rng.standard_normal()
        if distribution != "truncated_normal" or abs(z) <= 2:
            values.append(parameter * z)
    return np.array(values).reshape(shape)
''',
        "initialize": '''
INITIALIZERS = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"), "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"), "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"), "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}

def initialize(name, shape, rng):
    return variance_scaling_sample(shape, *INITIALIZERS[name], rng)
''',
        "forward": '''
def forward_statistics(x, weights, biases, activation):
    h, means, stds = np.asarray(x, dtype=np.float64), [], []
    for W, b in zip(weights, biases):
        z = h @ W + b
        if activation == "relu":
            h = np.where(z > 0, z, 0.0)
        elif activation == "tanh":
            h = np.tanh(z)
        elif activation == "sigmoid":
            h = 1 / (1 + np.exp(-z))
        else:
            h = z
        mean = h.sum() / h.size
        means.append(mean)
        stds.append(np.sqrt(((h - mean) ** 2).sum() / h.size))
    return np.array(means), np.array(stds)
''',
        "clip_norm": '''
def clip_by_norm(t, clip_norm):
    t = np.asarray(t)
    norm = float(np.sqrt(np.sum(np.square(t, dtype=np.float64))))
    return (t * min(1.0, clip_norm / norm)).astype(t.dtype) if norm > 0 else t.copy()
''',
    },
    # loops and other containers
    "loops": {
        "fans": '''
from collections import namedtuple
Fans = namedtuple("Fans", "fan_in fan_out")     # a tuple subclass: the grader sends it as a tuple

def compute_fans(shape):
    if len(shape) < 1:
        return Fans(1, 1)
    if len(shape) == 1:
        return Fans(shape[0], shape[0])
    receptive_field = 1
    for size in shape[:-2]:
        receptive_field *= size
    return Fans(shape[-2] * receptive_field, shape[-1] * receptive_field)
''',
        "parameter": '''
def variance_scaling_parameter(shape, scale, mode, distribution):
    fan_in, fan_out = compute_fans(shape)
    if mode == "fan_in":
        n = fan_in
    elif mode == "fan_out":
        n = fan_out
    else:
        n = 0.5 * (fan_in + fan_out)
    std = (scale / max(n, 1.0)) ** 0.5
    if distribution == "uniform":
        return std * 3 ** 0.5
    return std / 0.87962566103423978 if distribution == "truncated_normal" else std
''',
        "clip_global": '''
def clip_by_global_norm(t_list, clip_norm):
    total = 0.0
    for t in t_list:
        if t is not None:
            total += float(np.sum(np.square(np.asarray(t, dtype=np.float64))))
    global_norm = total ** 0.5
    if not np.isfinite(global_norm):
        return [None if t is None else np.full_like(np.asarray(t), np.nan) for t in t_list], global_norm
    scale = clip_norm / max(global_norm, clip_norm)
    return [None if t is None else np.asarray(t) * np.asarray(t).dtype.type(scale) for t in t_list], global_norm
''',
        "clipped_sgd": '''
def clipped_sgd_init(params):
    return tuple(np.zeros_like(p) for p in params)

def clipped_sgd_update(params, grads, state, learning_rate, momentum=0.0, global_clipnorm=1.0):
    clipped, _ = clip_by_global_norm(grads, global_clipnorm)
    new_params, new_state = [], []
    for p, g, v in zip(params, clipped, state):
        v = np.float32(momentum) * v - np.float32(learning_rate) * g if p.dtype == np.float32 else momentum * v - learning_rate * g
        new_params.append(p + v)
        new_state.append(v)
    return new_params, tuple(new_state)
''',
    },
    # float64 and Python floats inside for any input dtype: the exact truncation constant from math.erf, Box-Muller normals
    # re-drawn in batches, a dataclass state, np.where and math.fsum
    "float64_inside": {
        "fans": '''
import functools
import operator

def compute_fans(shape):
    dims = [int(d) for d in shape]
    if len(dims) < 2:
        n = dims[0] if dims else 1
        return n, n
    *kernel, inputs, outputs = dims                               # (k1, ..., kd, inputs, outputs)
    receptive_field = functools.reduce(operator.mul, kernel, 1)
    return inputs * receptive_field, outputs * receptive_field
''',
        "parameter": '''
import math

# the std of N(0, 1) truncated to [-2, 2]: 1 - 2 * 2 * pdf(2) / (cdf(2) - cdf(-2)), computed instead of copied
TRUNCATED_STD = math.sqrt(1 - 4 * math.exp(-2.0) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2)))

def variance_scaling_parameter(shape, scale, mode, distribution):
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    sigma = math.sqrt(scale / max(1.0, n))
    return sigma * {"uniform": math.sqrt(3.0), "truncated_normal": 1 / TRUNCATED_STD, "untruncated_normal": 1.0}[distribution]
''',
        "sample": '''
def standard_normals(count, rng):
    """count N(0, 1) values by the Box-Muller transform of uniform pairs."""
    pairs = (count + 1) // 2
    radius = np.sqrt(-2.0 * np.log(1.0 - rng.random(pairs)))     # 1 - U lies in (0, 1]: no log(0)
    angle = 2 * np.pi * rng.random(pairs)
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:count]

def variance_scaling_sample(shape, scale, mode, distribution, rng):
    parameter = variance_scaling_parameter(shape, scale, mode, distribution)
    count = math.prod(shape)
    if distribution == "uniform":
        unit = rng.choice([-1.0, 1.0], size=count) * rng.random(count)   # a random sign times a uniform magnitude
    elif distribution == "truncated_normal":
        kept = np.empty(0)
        while kept.size < count:                                          # whole batches, keeping the values within 2 sigma
            batch = standard_normals(2 * count, rng)
            kept = np.concatenate([kept, batch[np.abs(batch) <= 2.0]])
        unit = kept[:count]
    else:
        unit = standard_normals(count, rng)
    return parameter * unit.reshape(shape)
''',
        "initialize": '''
from dataclasses import dataclass

@dataclass(frozen=True)
class Recipe:
    scale: float
    mode: str

RECIPES = {"glorot": Recipe(1.0, "fan_avg"), "he": Recipe(2.0, "fan_in"), "lecun": Recipe(1.0, "fan_in")}

def initialize(name, shape, rng):
    family, _, form = name.partition("_")
    recipe = RECIPES[family]
    return variance_scaling_sample(shape=shape, scale=recipe.scale, mode=recipe.mode, rng=rng,
                                   distribution="uniform" if form == "uniform" else "truncated_normal")
''',
        "forward": '''
ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.where(z > 0.0, z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: np.exp(-np.logaddexp(0.0, -z)),      # 1 / (1 + exp(-z)) = exp(-log(1 + exp(-z))), no overflow
}

def forward_statistics(x, weights, biases, activation):
    f, h, outputs = ACTIVATIONS[activation], np.asarray(x, dtype=np.float64), []
    for W, b in zip(weights, biases):
        h = f(np.dot(h, W) + b)
        outputs.append(h)
    return np.array([np.average(o) for o in outputs]), np.sqrt([np.var(o) for o in outputs])
''',
        "clip_value": '''
def clip_by_value(t, clip_value_min, clip_value_max):
    t = np.asarray(t)
    below_max = np.where(t > clip_value_max, clip_value_max, t)              # the upper bound first, as TensorFlow
    return np.where(below_max < clip_value_min, clip_value_min, below_max).astype(t.dtype)
''',
        "clip_norm": '''
def clip_by_norm(t, clip_norm):
    t = np.asarray(t)
    norm = math.sqrt(math.fsum(float(v) ** 2 for v in t.ravel()))          # an exactly rounded sum of squares
    if norm <= clip_norm:
        return t.copy()
    return (t.astype(np.float64) * (clip_norm / norm)).astype(t.dtype)
''',
        "clip_global": '''
def clip_by_global_norm(t_list, clip_norm):
    present = [np.asarray(t, dtype=np.float64).ravel() for t in t_list if t is not None]
    global_norm = float(np.linalg.norm(np.concatenate(present))) if present else 0.0
    if not math.isfinite(global_norm):
        factor = math.nan                                                     # TensorFlow's signal of an overflow
    else:
        factor = 1.0 if global_norm <= clip_norm else clip_norm / global_norm
    return [None if t is None else (np.asarray(t, dtype=np.float64) * factor).astype(np.asarray(t).dtype) for t in t_list], global_norm
''',
        "clipped_sgd": '''
from dataclasses import dataclass

@dataclass
class MomentumState:
    velocities: list            # float64, whatever the parameters' dtype
    steps: int = 0

def clipped_sgd_init(params):
    return MomentumState([np.zeros(np.shape(p)) for p in params])

def clipped_sgd_update(params, grads, state, learning_rate, momentum=0.0, global_clipnorm=1.0):
    clipped, _ = clip_by_global_norm(grads, global_clipnorm)
    velocities = [momentum * v - learning_rate * np.asarray(g, dtype=np.float64) for v, g in zip(state.velocities, clipped)]
    new_params = [(np.asarray(p, dtype=np.float64) + v).astype(p.dtype) for p, v in zip(params, velocities)]
    return new_params, MomentumState(velocities, state.steps + 1)
''',
    },
    # loops, if-chains and sums by hand: NumPy integer fans, Glorot's 2 / (fan_in + fan_out), a truncated normal by
    # rejection from a uniform proposal, moments from running sums, an element-by-element clip, TensorFlow's own formula
    "by_hand": {
        "fans": '''
def compute_fans(shape):
    dims = np.asarray(shape, dtype=np.int64).reshape(-1)
    if dims.size == 0:
        return 1, 1
    if dims.size == 1:
        return int(dims[0]), int(dims[0])
    receptive_field = np.prod(dims[:-2])                         # 1 for a Dense kernel (an empty product)
    return dims[-2] * receptive_field, dims[-1] * receptive_field      # NumPy integers
''',
        "parameter": '''
def variance_scaling_parameter(shape, scale, mode, distribution):
    fan_in, fan_out = compute_fans(shape)
    if mode == "fan_avg":
        inverse_n = min(2.0 / (fan_in + fan_out), 1.0)         # 1 / max(1, (fan_in + fan_out) / 2), as in Glorot's 6 / (fan_in + fan_out)
    elif mode == "fan_in":
        inverse_n = 1.0 / max(fan_in, 1)
    else:
        inverse_n = 1.0 / max(fan_out, 1)
    variance = scale * inverse_n
    if distribution == "uniform":
        return (3.0 * variance) ** 0.5
    if distribution == "truncated_normal":
        return variance ** 0.5 * (1.0 / 0.87962566103423978)
    return variance ** 0.5
''',
        "sample": '''
def variance_scaling_sample(shape, scale, mode, distribution, rng):
    parameter = variance_scaling_parameter(shape, scale, mode, distribution)
    size = int(np.prod(shape))
    if distribution == "uniform":
        unit = rng.uniform(-1.0, 1.0, size=size)
    elif distribution == "truncated_normal":
        unit, filled = np.empty(size), 0
        while filled < size:        # propose uniformly on [-2, 2], accept with probability exp(-x^2 / 2): N(0, 1) within 2 sigma
            proposal = rng.uniform(-2.0, 2.0, size=size - filled)
            accepted = proposal[rng.random(size - filled) < np.exp(-0.5 * proposal**2)]
            unit[filled:filled + accepted.size] = accepted
            filled += accepted.size
    else:
        unit = rng.standard_normal(size)
    return parameter * unit.reshape(shape)
''',
        "initialize": '''
def initialize(name, shape, rng):
    if name.startswith("glorot"):
        scale, mode = 1.0, "fan_avg"
    elif name.startswith("he"):
        scale, mode = 2.0, "fan_in"
    elif name.startswith("lecun"):
        scale, mode = 1.0, "fan_in"
    else:
        raise ValueError(f"unknown initializer {name!r}")
    return variance_scaling_sample(shape, scale, mode, "uniform" if name.endswith("_uniform") else "truncated_normal", rng)
''',
        "forward": '''
def forward_statistics(x, weights, biases, activation):
    means, stds = np.zeros(len(weights)), np.zeros(len(weights))
    h = x
    for layer in range(len(weights)):
        z = h @ weights[layer] + biases[layer]
        if activation == "relu":
            h = z * (z > 0)
        elif activation == "tanh":
            h = np.tanh(z)
        elif activation == "sigmoid":
            e = np.exp(-np.abs(z))                                # never overflows
            h = np.where(z >= 0, 1.0, e) / (1.0 + e)
        else:
            h = z
        mean = np.sum(h) / h.size
        means[layer] = mean
        stds[layer] = np.sqrt(max(np.sum(h * h) / h.size - mean * mean, 0.0))     # E[h^2] - E[h]^2
    return means, stds
''',
        "clip_value": '''
def clip_by_value(t, clip_value_min, clip_value_max):
    t = np.asarray(t)
    values, low, high = np.broadcast_arrays(t, clip_value_min, clip_value_max)
    clipped = np.empty(values.shape, dtype=t.dtype)
    for index in np.ndindex(clipped.shape):                   # element by element: the upper bound, then the lower one
        value = values[index]
        if value > high[index]:
            value = high[index]
        if value < low[index]:
            value = low[index]
        clipped[index] = value
    return clipped
''',
        "clip_norm": '''
def clip_by_norm(t, clip_norm):
    t = np.asarray(t)
    norm = np.hypot.reduce(t.ravel()) if t.size else 0.0      # sqrt(a^2 + b^2 + ...) one hypot at a time, in t's dtype
    return t * t.dtype.type(clip_norm / norm if norm > clip_norm else 1.0)
''',
        "clip_global": '''
def clip_by_global_norm(t_list, clip_norm):
    arrays = [None if t is None else np.asarray(t) for t in t_list]
    global_norm = np.sqrt(np.sum([float(np.vdot(a, a)) for a in arrays if a is not None]))
    with np.errstate(divide="ignore", invalid="ignore"):       # TensorFlow's formula: NaN when the norm is inf or NaN
        factor = clip_norm * np.minimum(1.0 / global_norm, 1.0 / clip_norm) + (global_norm - global_norm)
    return [None if a is None else a * a.dtype.type(factor) for a in arrays], global_norm
''',
        "clipped_sgd": '''
def clipped_sgd_init(params):
    return {i: np.zeros_like(p) for i, p in enumerate(params)}

def clipped_sgd_update(params, grads, state, learning_rate, momentum=0.0, global_clipnorm=1.0):
    grads = clip_by_global_norm(list(grads), global_clipnorm)[0]
    new_params, new_state = [], {}
    for i, (p, g) in enumerate(zip(params, grads)):
        step = -learning_rate * g + momentum * state[i]            # the same sum in the other order
        new_state[i] = step.astype(p.dtype)
        new_params.append((p + step).astype(p.dtype))
    return new_params, new_state
''',
    },
}


DIAGNOSES = [
    ("leaky_scale_slope_not_squared", "test_leaky_relu_scale", "the slope is squared"),
    ("leaky_scale_as_gain", "test_leaky_relu_scale", "a gain on the standard deviation"),
    ("leaky_scale_he", "test_leaky_relu_scale", "He's scale 2 holds for ReLU"),
    ("init_fix_tiny", "test_init_fix", 'multiplies it by 9.77e-24'),
    ("init_fix_too_large", "test_init_fix", 'multiplies it by 1.02e+03'),
    ("init_fix_as_text", "test_init_fix", 'must be a float or a int'),
    *UNDERSTANDING["diagnoses"],
    ("fans_without_receptive_field", "test_compute_fans", "receptive field is missing", ("swapped",)),
    ("fans_swapped", "test_compute_fans", "fan_in and fan_out are swapped", ("receptive field",)),
    ("truncation_not_corrected", "test_variance_scaling_parameter", "correction is missing", ("not multiply",)),
    ("truncation_correction_multiplied", "test_variance_scaling_parameter", "not multiply", ("correction is missing",)),
    ("fan_avg_as_sum", "test_variance_scaling_parameter", "not the sum", ("you used fan_in", "you used fan_out")),
    ("uniform_limit_without_3", "test_variance_scaling_parameter", "so limit = sqrt(3 * scale / n)", ("not the sum", "you used")),
    ("truncation_by_clipping", "test_variance_scaling_sample", "re-drawn, not clipped", ("not truncated", "3 sigma")),
    ("normal_not_truncated", "test_variance_scaling_sample", "a plain normal is not truncated", ("3 sigma", "not clipped")),
    ("truncation_at_3_sigma", "test_variance_scaling_sample", "truncated at 3 sigma", ("a plain normal is not truncated", "not clipped")),
    ("glorot_with_fan_in", "test_initialize", "divided by fan_in", ("truncated", "Keras divides sigma")),
    ("he_with_scale_1", "test_initialize", "factor 2 in the variance is missing", ("divided by fan", "truncated")),
    ("he_with_fan_out", "test_initialize", "divided by fan_out", ("factor 2", "twice too large", "truncated")),
    ("glorot_normal_untruncated", "test_initialize", "a plain normal is not truncated", ("3 sigma", "divided by", "not clipped")),
    ("std_with_ddof_1", "test_forward_statistics", "ddof=1", ("pre-activations", "each unit's std")),
    ("statistics_before_activation", "test_forward_statistics", "pre-activations x @ W + b", ("ddof=1", "activation is not applied",
                                                                                             "last layer")),
    ("std_per_unit", "test_forward_statistics", "mean over units of each unit's std", ("ddof=1", "pre-activations")),
    ("last_layer_without_activation", "test_forward_statistics", "last layer's activation is missing", ("pre-activations",
                                                                                                        "activation is not applied")),
    ("clip_value_with_np_clip", "test_clip_by_value", "the minimum wins"),
    ("clip_norm_always_rescales", "test_clip_by_norm", "always rescale", ("clipping by value", "max norm", "L1 norm")),
    ("clip_norm_max_abs", "test_clip_by_norm", "largest |value| (the max norm)", ("L1 norm", "always rescale", "clipping by value")),
    ("clip_norm_l1", "test_clip_by_norm", "sum of |values| (the L1 norm)", ("max norm", "always rescale", "clipping by value")),
    ("global_norm_per_tensor", "test_clip_by_global_norm", "its own norm", ("added the tensors' norms",)),
    ("global_norm_sum_of_norms", "test_clip_by_global_norm", "added the tensors' norms", ("its own norm",)),
    ("global_norm_inf_gives_zeros", "test_clip_by_global_norm", "every tensor NaN"),
    ("sgd_without_clipping", "test_clipped_sgd", "gradients are not clipped", ("after the momentum update", "its own norm", "by value")),
    ("clipping_after_momentum", "test_clipped_sgd", "clipped after the momentum update", ("gradients are not clipped", "its own norm",
                                                                                           "by value")),
]

HONEST.update(UNDERSTANDING["honest"])
globals().update(chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES,
                                       honest={name: variant_notebook(CHAPTER, sources) for name, sources in HONEST.items()}))
