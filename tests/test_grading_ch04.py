"""Chapter 4's exercise through the grader: solution, blank, and the classic wrong versions of each part."""
from __future__ import annotations

from conftest import chapter_grading_tests, variant_notebook
from conftest import mutate as mutate_cell

CHAPTER = "04_initialization"
CELLS = {"test_compute_fans": 1, "test_variance_scaling_parameter": 2, "test_variance_scaling_sample": 2, "test_initialize": 1,
         "test_forward_statistics": 2, "test_clip_by_value": 1, "test_clip_by_norm": 1, "test_clip_by_global_norm": 2, "test_clipped_sgd": 2}
INITIALIZERS = {"test_compute_fans", "test_variance_scaling_parameter", "test_variance_scaling_sample", "test_initialize"}


def mutate(cell: str, old: str, new: str) -> str:
    return mutate_cell(CHAPTER, cell, old, new)


# student -> (cell, source, graded cells that must score 0); later parts call earlier functions, so a mistake reaches them too
WRONG_ANSWERS = {
    "fans_without_receptive_field": ("fans", mutate("fans", "receptive_field = int(np.prod(shape[:-2]))", "receptive_field = 1"), INITIALIZERS),
    "fans_swapped": ("fans", mutate("fans", "return shape[0], shape[1]", "return shape[1], shape[0]"), INITIALIZERS),
    "truncation_not_corrected": ("parameter", mutate("parameter", "return np.sqrt(variance) / 0.87962566103423978", "return np.sqrt(variance)"),
                                 {"test_variance_scaling_parameter", "test_variance_scaling_sample", "test_initialize"}),
    "fan_avg_as_sum": ("parameter", mutate("parameter", '"fan_avg": (fan_in + fan_out) / 2', '"fan_avg": fan_in + fan_out'),
                       {"test_variance_scaling_parameter", "test_variance_scaling_sample", "test_initialize"}),
    "truncation_by_clipping": ("sample", mutate("sample", '''        outside = np.abs(sample) > 2 * parameter
        while outside.any():
            sample[outside] = rng.normal(0.0, parameter, size=int(outside.sum()))
            outside = np.abs(sample) > 2 * parameter''', "        sample = np.clip(sample, -2 * parameter, 2 * parameter)"),
                               {"test_variance_scaling_sample", "test_initialize"}),
    "normal_not_truncated": ("sample", mutate("sample", 'if distribution == "truncated_normal":', "if False:"),
                             {"test_variance_scaling_sample", "test_initialize"}),
    "glorot_with_fan_in": ("initialize", mutate("initialize", '"glorot": (1.0, "fan_avg")', '"glorot": (1.0, "fan_in")'), {"test_initialize"}),
    "he_with_scale_1": ("initialize", mutate("initialize", '"he": (2.0, "fan_in")', '"he": (1.0, "fan_in")'), {"test_initialize"}),
    "glorot_normal_untruncated": ("initialize", mutate("initialize", '"normal": "truncated_normal"', '"normal": "untruncated_normal"'),
                                  {"test_initialize"}),
    "std_with_ddof_1": ("forward", mutate("forward", "stds.append(h.std())", "stds.append(h.std(ddof=1))"), {"test_forward_statistics"}),
    "statistics_before_activation": ("forward", mutate("forward", "        h = f(h @ W + b)\n        means.append(h.mean())\n        "
                                                                  "stds.append(h.std())",
                                                       "        z = h @ W + b\n        means.append(z.mean())\n        "
                                                       "stds.append(z.std())\n        h = f(z)"),
                                     {"test_forward_statistics"}),
    "clip_value_with_np_clip": ("clip_value", mutate("clip_value", "np.maximum(np.minimum(t, clip_value_max), clip_value_min)",
                                                     "np.clip(t, clip_value_min, clip_value_max)"), {"test_clip_by_value"}),
    "clip_norm_always_rescales": ("clip_norm", mutate("clip_norm", "np.maximum(norm, t.dtype.type(clip_norm))", "norm"), {"test_clip_by_norm"}),
    "global_norm_per_tensor": ("clip_global", '''
def clip_by_global_norm(t_list, clip_norm):
    global_norm = np.sqrt(sum(float(np.sum(np.asarray(t, dtype=np.float64) ** 2)) for t in t_list if t is not None))
    clipped = [None if t is None else t * min(1.0, clip_norm / max(np.sqrt(np.sum(t * t)), 1e-300)) for t in t_list]
    return clipped, global_norm
''', {"test_clip_by_global_norm", "test_clipped_sgd"}),
    # only the hidden test with an infinite gradient sees this one
    "global_norm_inf_gives_zeros": ("clip_global", mutate("clip_global", "if np.isfinite(global_norm) else np.nan",
                                                                   "if np.isfinite(global_norm) else 0.0"),
                                    {"test_clip_by_global_norm"}),
    "sgd_without_clipping": ("clipped_sgd", mutate("clipped_sgd", "    grads, _ = clip_by_global_norm(grads, "
                                                                  "global_clipnorm)\n", ""), {"test_clipped_sgd"}),
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
}


DIAGNOSES = [
    ("fans_without_receptive_field", "test_compute_fans", "receptive field is missing"),
    ("truncation_not_corrected", "test_variance_scaling_parameter", "correction is missing"),
    ("truncation_by_clipping", "test_variance_scaling_sample", "re-drawn, not clipped"),
    ("normal_not_truncated", "test_variance_scaling_sample", "a plain normal is not truncated"),
    ("std_with_ddof_1", "test_forward_statistics", "ddof=1"),
    ("clip_value_with_np_clip", "test_clip_by_value", "the minimum wins"),
    ("global_norm_per_tensor", "test_clip_by_global_norm", "its own norm"),
    ("global_norm_inf_gives_zeros", "test_clip_by_global_norm", "every tensor NaN"),
    ("sgd_without_clipping", "test_clipped_sgd", "not clipped"),
    ("glorot_with_fan_in", "test_initialize", "divided by fan_in", ("truncated", "Keras divides sigma")),
    ("he_with_scale_1", "test_initialize", "factor 2 in the variance is missing"),
]

(verdicts, test_solution_full_marks_honest_full_marks_and_blank_zero, test_wrong_answer_loses_the_cells_it_breaks,
 test_the_diagnosis_names_the_mistake, test_the_sandboxed_grader_gives_the_same_verdicts) = \
    chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES,
                          honest={name: variant_notebook(CHAPTER, sources) for name, sources in HONEST.items()})
