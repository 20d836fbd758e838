"""The grading command on one batch: the solution, the blank student notebook,
a wrong answer (its CSV message and feedback page), broken files and
submissions that cannot be placed.

The batch is graded once (module fixture) by the same function as
``course grade``; each test reads its row of the results. Chapter 1's
classic mistakes and honest variants are graded in ``test_grading_ch01``.
"""
from __future__ import annotations

import csv
import os
import re
import shutil

import nbformat
import pytest
from conftest import CHAPTER_1, CHAPTERS, NOTEBOOK, SOLUTIONS, graded_points, solution_notebook, with_cell_source, write_submission
from test_grading_ch01 import WRONG_ANSWERS as CHAPTER_1_MISTAKES

from dlcourse.grading.grade import grade_submissions

pytestmark = pytest.mark.grading

# the wrong answer whose message and feedback page the tests below read (chapter 1's mistakes are all in test_grading_ch01)
EXPLAINED = "gradient_without_2"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the whole batch once; return the per-cell rows and the outcomes by student."""
    root = tmp_path_factory.mktemp("grading")
    submitted = root / "submitted_input"
    master = solution_notebook()
    write_submission(submitted, "solution", master)
    write_submission(submitted, "blank", nbformat.read(CHAPTERS / CHAPTER_1 / NOTEBOOK, as_version=4))
    cell, source, _ = CHAPTER_1_MISTAKES[EXPLAINED]
    write_submission(submitted, EXPLAINED, with_cell_source(master, cell, source))
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
    assert len(points) == len(graded_points())
    assert all(p == m for p, m in points.values()), points
    assert graded["outcomes"]["solution"].score == graded["outcomes"]["solution"].max_score == sum(graded_points().values())


def test_blank_student_notebook_scores_zero(graded):
    points = cell_points(graded, "blank")
    assert len(points) == len(graded_points()) and all(p == 0 for p, _ in points.values()), points
    assert graded["outcomes"]["blank"].problem == ""  # graded, not rejected


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
    assert len(rows) == len(graded_points())
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
    assert len(rows) == (len(graded_points()) if assignment == CHAPTER_1 else 1), rows
    assert all(r["assignment_id"] == assignment and float(r["points"]) == 0 and reason in r["status"] for r in rows), rows
    assert any(student in m and reason in m for m in graded["messages"])
    assert graded["outcomes"]["solution"].score == sum(graded_points().values())


def test_the_output_folder_cannot_be_inside_the_submissions(tmp_path):
    from dlcourse.grading.workspace import GradingError

    write_submission(tmp_path / "submitted", "someone", solution_notebook())
    for output in (tmp_path / "submitted", tmp_path / "submitted" / "grading"):
        with pytest.raises(GradingError, match="inside it"):
            grade_submissions(tmp_path / "submitted", output, progress=lambda m: None)
    assert sorted(p.name for p in (tmp_path / "submitted").iterdir()) == ["someone"]


def test_the_csv_keeps_the_whole_message(graded):
    (cell,) = CHAPTER_1_MISTAKES[EXPLAINED][2]
    message = next(r["message"] for r in graded["rows"] if r["student_id"] == EXPLAINED and r["cell"] == cell)
    verdict = next(v for v in graded["outcomes"][EXPLAINED].cells if v.grade_id == cell)
    assert "Likely cause" in verdict.message and message == verdict.message.strip()


def test_feedback_explains_the_mistake(graded):
    page = graded["output"] / "feedback" / EXPLAINED / CHAPTER_1 / "exercises.html"
    html = page.read_text()
    assert "the factor 2 is missing" in html
    assert "BEGIN HIDDEN TESTS" not in html


def test_grades_csv_has_a_row_per_graded_student(graded):
    with (graded["output"] / "grades.csv").open() as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert float(rows["solution"]["score"]) == sum(graded_points().values()) and float(rows["blank"]["score"]) == 0


def test_the_workers_feedback_pages_are_nbgraders(graded, tmp_path):
    """The pages workers write (no gradebook at hand) are the ones nbgrader's generate_feedback writes from the
    gradebook, a manual score and comment from formgrader included (the course's MathJax aside)."""
    from nbgrader.api import Gradebook

    from dlcourse.grading.records import with_local_mathjax
    from dlcourse.grading.workspace import make_api

    workspace = tmp_path / "workspace"
    shutil.copytree(graded["output"], workspace)
    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}") as gradebook:  # as formgrader writes them
        notebook = gradebook.find_submission_notebook("exercises", CHAPTER_1, EXPLAINED)
        grade = next(g for g in notebook.grades if g.max_score and g.auto_score == 0)
        grade.manual_score, grade.extra_credit = grade.max_score / 2, 0.25
        notebook.comments[0].manual_comment = "Compare with equation (3) of the lesson."
        gradebook.db.commit()
    messages = []
    grade_submissions(workspace / "submitted", workspace, progress=messages.append)
    assert any(EXPLAINED in m and "feedback updated" in m for m in messages), messages
    students = ["solution", "blank", EXPLAINED]
    page = {s: (workspace / "feedback" / s / CHAPTER_1 / "exercises.html").read_text() for s in students}
    assert "Compare with equation (3) of the lesson." in page[EXPLAINED]
    api = make_api(workspace)
    for student in students:
        assert api.generate_feedback(CHAPTER_1, student, force=True)["success"]
        by_nbgrader = with_local_mathjax((workspace / "feedback" / student / CHAPTER_1 / "exercises.html").read_text())
        assert page[student] == by_nbgrader, student


def test_feedback_folders_get_a_regular_timestamp_and_never_what_a_link_points_to(tmp_path):
    """nbgrader's release_feedback reads timestamp.txt in the feedback folder; when the output holds the submissions
    (``output/submitted``), the file is as the student left it, and a link in its place is not followed."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-BYTES-OF-THE-GRADING-MACHINE")
    submitted = tmp_path / "out" / "submitted"
    for student in ("on_time", "linked"):
        write_submission(submitted, student, solution_notebook())
    (submitted / "on_time" / CHAPTER_1 / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    (submitted / "linked" / CHAPTER_1 / "timestamp.txt").symlink_to(secret)
    messages: list[str] = []
    grade_submissions(submitted, tmp_path / "out", progress=messages.append, workers=1)
    assert any(m.startswith("linked 01_gradient_descent: timestamp.txt is a symbolic link") and "time is unknown" in m for m in messages), messages
    feedback = tmp_path / "out" / "feedback"
    assert (feedback / "on_time" / CHAPTER_1 / "timestamp.txt").read_text() == "2026-12-01 10:00:00.000000 UTC"
    assert (feedback / "linked" / CHAPTER_1 / "exercises.html").is_file()
    assert not (feedback / "linked" / CHAPTER_1 / "timestamp.txt").exists()
    assert not any("SECRET-BYTES" in p.read_text(errors="replace") for p in feedback.rglob("*") if p.is_file())


def test_progress_estimates_the_time_left(graded):
    """Each graded submission's line but the last says about how long the batch still needs."""
    ran = [m for m in graded["messages"] if " s)" in m and "/" in m.split(":")[-1]]
    assert len(ran) >= 3, graded["messages"]
    assert all(re.search(r" s\); about \d+(\.\d)? (s|min|h) left$", m) for m in ran[:-1]), ran
    assert ran[-1].endswith(" s)"), ran[-1]
