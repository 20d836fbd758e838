"""The grading command on one batch: the solution, the blank student notebook,
realistic wrong answers, honest alternatives (loops, float32, extra cells,
warnings on stderr) and broken files.

The batch is graded once (module fixture) by the same function as
``course grade``; each test reads its row of the results.
"""
from __future__ import annotations

import csv
import os

import nbformat
import pytest
from conftest import CHAPTER_1, CHAPTERS, NOTEBOOK, SOLUTIONS, solution_notebook, with_cell_source, write_submission

from dlcourse.grading.grade import grade_submissions

pytestmark = pytest.mark.grading

# A realistic wrong implementation per graded function: (student, cell, source, graded cell that must score 0).
WRONG_ANSWERS = {
    "sum_not_mean": ("mse_loss", """
def mse_loss(X, y, w, b):
    return float(np.sum((X @ w + b - y) ** 2))
""", "test_mse_loss"),
    "gradient_without_2": ("mse_gradient", """
def mse_gradient(X, y, w, b):
    r = X @ w + b - y
    return X.T @ r / len(y), float(np.mean(r))
""", "test_mse_gradient"),
    "forward_difference": ("numerical_gradient", """
def numerical_gradient(f, x, h=1e-5):
    g = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        z = x.astype(float).copy(); z[i] += h
        g[i] = (f(z) - f(x)) / h
    return g
""", "test_numerical_gradient"),
    # passes the visible check (default h) and is caught by a hidden test
    "ignores_h": ("numerical_gradient", """
def numerical_gradient(f, x, h=1e-5):
    g = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        p = x.astype(float).copy(); p[i] += 1e-5
        m = x.astype(float).copy(); m[i] -= 1e-5
        g[i] = (f(p) - f(m)) / 2e-5
    return g
""", "test_numerical_gradient"),
    "cosine_ignores_warmup": ("cosine_decay", """
def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    u = np.minimum(np.asarray(step, dtype=np.float64), decay_steps)
    return initial_learning_rate * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * u / decay_steps)) + alpha)
""", "test_cosine_decay"),
    "schedule_one_step_late": ("gradient_descent", """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    theta = np.array(theta0, dtype=float)
    out = [theta]
    for k in range(num_steps):
        lr = learning_rate(k + 1) if callable(learning_rate) else learning_rate
        theta = theta - lr * grad_fn(theta)
        out.append(theta)
    return np.stack(out)
""", "test_gradient_descent"),
    "aliased_trajectory": ("gradient_descent", """
def gradient_descent(grad_fn, theta0, learning_rate, num_steps):
    theta = np.array(theta0, dtype=float)
    out = [theta]
    for k in range(num_steps):
        lr = learning_rate(k) if callable(learning_rate) else learning_rate
        theta -= lr * grad_fn(theta)
        out.append(theta)
    return np.array(out)
""", "test_gradient_descent"),
    "boundary_strict": ("piecewise_constant_decay", """
def piecewise_constant_decay(step, boundaries, values):
    return np.asarray(values, dtype=float)[np.searchsorted(boundaries, step, side="right")]
""", "test_piecewise_constant_decay"),
    "staircase_ignored": ("exponential_decay", """
def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    return initial_learning_rate * decay_rate ** (np.asarray(step, dtype=float) / decay_steps)
""", "test_exponential_decay"),
    # the visible check has no staircase: only the hidden tests see it
    "inverse_staircase_ignored": ("inverse_time_decay", """
def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    return initial_learning_rate / (1 + decay_rate * np.asarray(step, dtype=float) / decay_steps)
""", "test_inverse_time_decay"),
    "polynomial_unclamped": ("polynomial_decay", """
def polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
    s = np.asarray(step, dtype=float)
    d = decay_steps * np.where(s == 0, 1.0, np.ceil(s / decay_steps)) if cycle else decay_steps
    return (initial_learning_rate - end_learning_rate) * np.abs(1 - s / d) ** power + end_learning_rate
""", "test_polynomial_decay"),
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
""", "test_cosine_decay"),
}

# Correct answers written differently from the solution: they keep full marks.
HONEST_VARIANTS = {
    "mse_loss": """
def mse_loss(X, y, w, b):
    total = 0.0
    for xi, yi in zip(X, y):          # a loop instead of vectorised code
        total += (xi @ w + b - yi) ** 2
    return total / len(y)
""",
    "mse_gradient": """
import warnings

def mse_gradient(X, y, w, b):
    warnings.warn("a warning on stderr must cost nothing")
    import sys; print("so must a print to stderr", file=sys.stderr)
    residual = np.einsum("ij,j->i", X, w) + b - y
    return np.mean(2 * residual[:, None] * X, axis=0), np.mean(2 * residual)
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
    "exponential_decay": """
import math

def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    def one(s):
        p = s / decay_steps
        return initial_learning_rate * decay_rate ** (math.floor(p) if staircase else p)
    return np.vectorize(one, otypes=[float])(step)
""",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the whole batch once; return the per-cell rows and the outcomes by student."""
    root = tmp_path_factory.mktemp("grading")
    submitted = root / "submitted_input"
    master = solution_notebook()
    write_submission(submitted, "solution", master)
    write_submission(submitted, "blank", nbformat.read(CHAPTERS / CHAPTER_1 / NOTEBOOK, as_version=4))
    for student, (cell, source, _) in WRONG_ANSWERS.items():
        write_submission(submitted, student, with_cell_source(master, cell, source))
    honest = master
    for cell, source in HONEST_VARIANTS.items():
        honest = with_cell_source(honest, cell, source)
    # a cell the student added, with a helper that a solution uses
    position = next(i for i, c in enumerate(honest.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "inverse_time_decay")
    honest.cells.insert(position, nbformat.v4.new_code_cell(
        "def _exponent(step, decay_steps, staircase):\n    p = np.asarray(step, dtype=float) / decay_steps\n"
        "    return np.floor(p) if staircase else p"))
    honest = with_cell_source(honest, "inverse_time_decay",
                              "def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):\n"
                              "    return initial_learning_rate / (1 + decay_rate * _exponent(step, decay_steps, staircase))")
    write_submission(submitted, "honest_variants", honest)
    write_submission(submitted, "invalid_json", '{"cells": [')
    write_submission(submitted, "empty_file", "")
    write_submission(submitted, "renamed", master, name="my_exercises.ipynb")
    # what cannot be placed, and a submission's hostile file-system form: each gets a row and a reason, the batch goes on
    misfiled = submitted / "misfiled"
    misfiled.mkdir()
    nbformat.write(master, misfiled / NOTEBOOK)
    write_submission(submitted, "misspelt", master, assignment="01_gradient-descent")
    (submitted / "links_to_the_master" / CHAPTER_1).mkdir(parents=True)
    (submitted / "links_to_the_master" / CHAPTER_1 / NOTEBOOK).symlink_to(SOLUTIONS / CHAPTER_1 / NOTEBOOK)
    secret = root / "secret.txt"
    secret.write_text("SECRET-BYTES-OF-THE-GRADING-MACHINE")
    (submitted / "links_elsewhere" / CHAPTER_1).mkdir(parents=True)
    (submitted / "links_elsewhere" / CHAPTER_1 / NOTEBOOK).symlink_to(secret)
    (submitted / "named_pipe" / CHAPTER_1).mkdir(parents=True)
    os.mkfifo(submitted / "named_pipe" / CHAPTER_1 / NOTEBOOK)
    write_submission(root / "elsewhere", "linked_folder", master)
    (submitted / "linked_folder").symlink_to(root / "elsewhere" / "linked_folder")
    (submitted / "linked_assignment").mkdir()
    (submitted / "linked_assignment" / CHAPTER_1).symlink_to(root / "elsewhere" / "linked_folder" / CHAPTER_1)
    messages = []
    outcomes = grade_submissions(submitted, root / "out", progress=messages.append)
    with (root / "out" / "grades_by_cell.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return {"rows": rows, "outcomes": {o.student_id: o for o in outcomes}, "output": root / "out", "messages": messages}


def cell_points(graded, student):
    return {r["cell"]: (float(r["points"]), float(r["max_points"])) for r in graded["rows"] if r["student_id"] == student}


def test_solution_scores_full_marks(graded):
    points = cell_points(graded, "solution")
    assert len(points) == 9
    assert all(p == m for p, m in points.values()), points
    assert graded["outcomes"]["solution"].score == graded["outcomes"]["solution"].max_score == 15


def test_blank_student_notebook_scores_zero(graded):
    points = cell_points(graded, "blank")
    assert len(points) == 9 and all(p == 0 for p, _ in points.values()), points
    assert graded["outcomes"]["blank"].problem == ""  # graded, not rejected


@pytest.mark.parametrize("student", sorted(WRONG_ANSWERS))
def test_wrong_answer_loses_exactly_its_points(graded, student):
    _, _, failing_cell = WRONG_ANSWERS[student]
    points = cell_points(graded, student)
    assert points[failing_cell][0] == 0, f"{student} was not caught by {failing_cell}"
    others = {c: pm for c, pm in points.items() if c != failing_cell}
    assert all(p == m for p, m in others.values()), others


def test_honest_variants_keep_full_marks(graded):
    points = cell_points(graded, "honest_variants")
    assert all(p == m for p, m in points.values()), points


@pytest.mark.parametrize("student, reason", [
    ("invalid_json", "not a valid Jupyter notebook"),
    ("empty_file", "empty file"),
    ("renamed", "found my_exercises.ipynb"),
    ("links_to_the_master", "is a symbolic link"),
    ("links_elsewhere", "is a symbolic link"),
    ("named_pipe", "is not a regular file"),
])
def test_broken_submissions_get_zero_and_a_reason(graded, student, reason):
    rows = [r for r in graded["rows"] if r["student_id"] == student]
    assert len(rows) == 9
    assert all(float(r["points"]) == 0 and reason in r["status"] for r in rows), rows[:1]
    assert any(student in m and reason in m for m in graded["messages"])


@pytest.mark.parametrize("student", ["links_to_the_master", "links_elsewhere", "named_pipe"])
def test_links_and_special_files_are_never_read_or_copied(graded, student):
    workspace_copy = graded["output"] / "submitted" / student
    assert not workspace_copy.exists(), "nothing of a refused submission is copied into the workspace"
    everything = "".join(p.read_text(errors="replace") for p in graded["output"].rglob("*.csv")) + "".join(graded["messages"])
    assert "SECRET-BYTES" not in everything


@pytest.mark.parametrize("student, assignment, reason", [
    ("misfiled", "", "misfiled/exercises.ipynb is not inside an assignment folder"),
    ("misspelt", "01_gradient-descent", "did you mean 01_gradient_descent?"),
    ("linked_folder", "", "linked_folder is a symbolic link"),
    ("linked_assignment", CHAPTER_1, "is a symbolic link"),
])
def test_what_cannot_be_placed_gets_a_row_and_a_reason_and_the_batch_goes_on(graded, student, assignment, reason):
    rows = [r for r in graded["rows"] if r["student_id"] == student]
    # one row without a cell; a row per graded cell where the assignment folder is known (a link to one)
    assert len(rows) == (9 if assignment == CHAPTER_1 else 1), rows
    assert all(r["assignment_id"] == assignment and float(r["points"]) == 0 and reason in r["status"] for r in rows), rows
    assert any(student in m and reason in m for m in graded["messages"])
    assert graded["outcomes"]["solution"].score == 15


def test_the_output_folder_cannot_be_inside_the_submissions(tmp_path):
    from dlcourse.grading.workspace import GradingError

    write_submission(tmp_path / "submitted", "someone", solution_notebook())
    for output in (tmp_path / "submitted", tmp_path / "submitted" / "grading"):
        with pytest.raises(GradingError, match="inside it"):
            grade_submissions(tmp_path / "submitted", output, progress=lambda m: None)
    assert sorted(p.name for p in (tmp_path / "submitted").iterdir()) == ["someone"]


@pytest.mark.parametrize("student, cause, wrong_cause", [
    ("ignores_h", "not the h that was passed", "forward difference"),
    ("cosine_ignores_warmup", "the warmup is ignored", "still a stub"),
])
def test_the_message_names_the_mistake_and_no_other_cause(graded, student, cause, wrong_cause):
    _, _, cell = WRONG_ANSWERS[student]
    message = next(r["message"] for r in graded["rows"] if r["student_id"] == student and r["cell"] == cell)
    verdict = next(v for v in graded["outcomes"][student].cells if v.grade_id == cell)
    assert cause in verdict.message and wrong_cause not in verdict.message, verdict.message
    assert message == verdict.message.strip()  # the CSV keeps the whole message


def test_feedback_explains_the_mistake(graded):
    page = graded["output"] / "feedback" / "gradient_without_2" / CHAPTER_1 / "exercises.html"
    html = page.read_text()
    assert "the factor 2 is missing" in html
    assert "BEGIN HIDDEN TESTS" not in html


def test_grades_csv_has_a_row_per_graded_student(graded):
    with (graded["output"] / "grades.csv").open() as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert float(rows["solution"]["score"]) == 15 and float(rows["blank"]["score"]) == 0
