"""Chapter 4's exercise through the grader: solution, blank, and the classic wrong versions of each part."""
from __future__ import annotations

import nbformat
import pytest

from conftest import CHAPTERS, NOTEBOOK, grade_and_read, points, solution_notebook, with_cell_source, write_submission

CHAPTER = "04_initialization"
CELLS = {"test_compute_fans": 1, "test_variance_scaling_parameter": 2, "test_variance_scaling_sample": 2, "test_initialize": 1,
         "test_forward_statistics": 2, "test_clip_by_value": 1, "test_clip_by_norm": 1, "test_clip_by_global_norm": 2, "test_clipped_sgd": 2}
INITIALIZERS = {"test_compute_fans", "test_variance_scaling_parameter", "test_variance_scaling_sample", "test_initialize"}


def mutate(cell: str, old: str, new: str) -> str:
    source = next(c.source for c in solution_notebook(CHAPTER).cells if c.metadata.get("nbgrader", {}).get("grade_id") == cell)
    assert old in source, old
    return source.replace(old, new)


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
    "glorot_normal_untruncated": ("initialize", mutate("initialize", '"normal": "truncated_normal"', '"normal": "untruncated_normal"'), {"test_initialize"}),
    "std_with_ddof_1": ("forward", mutate("forward", "stds.append(h.std())", "stds.append(h.std(ddof=1))"), {"test_forward_statistics"}),
    "statistics_before_activation": ("forward", mutate("forward", "        h = f(h @ W + b)\n        means.append(h.mean())\n        stds.append(h.std())",
                                                       "        z = h @ W + b\n        means.append(z.mean())\n        stds.append(z.std())\n        h = f(z)"),
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
    "global_norm_inf_gives_zeros": ("clip_global", mutate("clip_global", "if np.isfinite(global_norm) else np.nan", "if np.isfinite(global_norm) else 0.0"),
                                    {"test_clip_by_global_norm"}),
    "sgd_without_clipping": ("clipped_sgd", mutate("clipped_sgd", "    grads, _ = clip_by_global_norm(grads, global_clipnorm)\n", ""), {"test_clipped_sgd"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading_ch04")
    submitted = root / "submitted"
    master = solution_notebook(CHAPTER)
    write_submission(submitted, "solution", master, assignment=CHAPTER)
    write_submission(submitted, "blank", nbformat.read(CHAPTERS / CHAPTER / NOTEBOOK, as_version=4), assignment=CHAPTER)
    for student, (cell, source, _) in WRONG_ANSWERS.items():
        write_submission(submitted, student, with_cell_source(master, cell, source), assignment=CHAPTER)
    return grade_and_read(submitted, root / "out")


def test_solution_full_marks_and_blank_zero(graded):
    assert points(graded, "solution") == {c: float(p) for c, p in CELLS.items()}
    assert points(graded, "blank") == {c: 0.0 for c in CELLS}


@pytest.mark.parametrize("student", sorted(WRONG_ANSWERS))
def test_wrong_answer_loses_the_cells_it_breaks(graded, student):
    _, _, broken = WRONG_ANSWERS[student]
    assert points(graded, student) == {c: 0.0 if c in broken else float(p) for c, p in CELLS.items()}


@pytest.mark.parametrize("student, cell, phrase", [
    ("fans_without_receptive_field", "test_compute_fans", "receptive field is missing"),
    ("truncation_not_corrected", "test_variance_scaling_parameter", "correction is missing"),
    ("truncation_by_clipping", "test_variance_scaling_sample", "re-drawn, not clipped"),
    ("normal_not_truncated", "test_variance_scaling_sample", "a plain normal is not truncated"),
    ("std_with_ddof_1", "test_forward_statistics", "ddof=1"),
    ("clip_value_with_np_clip", "test_clip_by_value", "the minimum wins"),
    ("global_norm_per_tensor", "test_clip_by_global_norm", "its own norm"),
    ("global_norm_inf_gives_zeros", "test_clip_by_global_norm", "every tensor NaN"),
    ("sgd_without_clipping", "test_clipped_sgd", "not clipped"),
])
def test_the_diagnosis_names_the_mistake(graded, student, cell, phrase):
    messages = {v.grade_id: v.message for v in graded["outcomes"][student].cells}
    assert phrase in messages[cell], messages[cell][:1500]


def test_samples_of_keras_itself_pass_the_statistical_tests():
    """The judge accepts Keras's own draws: the tests test the distribution, not NumPy's stream."""
    from dlcourse import keras_reference as ref
    from dlcourse.checks.initialization import NAMED_INITIALIZERS, judge_sample

    keras = ref.keras
    for seed in range(3):
        for name in NAMED_INITIALIZERS:
            initializer = keras.initializers.get({"class_name": name, "config": {"seed": seed}})
            shape = (256, 128)
            sample = ref.keras.ops.convert_to_numpy(initializer(shape))
            judge_sample(sample, shape, initializer.distribution, ref.initializer_parameter(initializer, shape), name, "Keras")
