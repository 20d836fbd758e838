"""Chapter 4's exercise through the grader: solution, blank, and the classic wrong versions of each part."""
from __future__ import annotations

from conftest import chapter_grading_tests
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
]

(verdicts, test_solution_full_marks_honest_full_marks_and_blank_zero, test_wrong_answer_loses_the_cells_it_breaks,
 test_the_diagnosis_names_the_mistake, test_the_sandboxed_grader_gives_the_same_verdicts) = \
    chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES)
