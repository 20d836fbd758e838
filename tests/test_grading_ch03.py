"""Chapter 3's exercise through the grader: solution, blank, and the classic wrong versions of each optimizer."""
from __future__ import annotations

from conftest import chapter_grading_tests
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


DIAGNOSES = [
    ("adagrad_epsilon_outside", "test_adagrad", "inside the square root"),
    ("adagrad_accumulator_from_zero", "test_adagrad", "not at 0"),
    ("adam_without_bias_correction", "test_adam", "bias correction is missing"),
    ("adamw_decay_after_step", "test_adamw", "before the Adam step"),
    ("adamw_as_l2", "test_adamw", "L2 regularisation"),
]

(verdicts, test_solution_full_marks_honest_full_marks_and_blank_zero, test_wrong_answer_loses_the_cells_it_breaks,
 test_the_diagnosis_names_the_mistake, test_the_sandboxed_grader_gives_the_same_verdicts) = \
    chapter_grading_tests(CHAPTER, CELLS, WRONG_ANSWERS, DIAGNOSES)
