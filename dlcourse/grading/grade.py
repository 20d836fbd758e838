"""Grade a folder of submissions with nbgrader and export the results.

Input: a folder laid out as nbgrader's ``submitted/``:
``<student_id>/<assignment_id>/exercises.ipynb``. Output: an nbgrader
workspace (usable with formgrader) that also holds

- ``grades_by_cell.csv``: one row per student, assignment and graded cell
  (points, max points, and the reason when a submission could not be graded);
- ``grades.csv``: nbgrader's own export, one row per student and assignment;
- ``feedback/<student_id>/<assignment_id>/exercises.html``: the feedback page.

A submission that cannot be graded (invalid notebook, missing file) is
reported and scored 0; the batch goes on.
"""
from __future__ import annotations

import csv
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dlcourse.grading.course import NOTEBOOK, GradingError, assignments, make_api, prepare_workspace, use_this_environment

CELL_COLUMNS = ["student_id", "assignment_id", "notebook", "cell", "points", "max_points", "status"]


@dataclass
class Outcome:
    """What grading one submission gave: the score and, if it failed, why."""

    student_id: str
    assignment_id: str
    score: float
    max_score: float
    problem: str = ""


def find_submissions(submitted: Path) -> list[tuple[str, str]]:
    """``(student_id, assignment_id)`` for every ``<student>/<assignment>/`` folder under ``submitted``.

    Folders named after an assignment the course does not have are refused
    with a clear error, before anything is graded.
    """
    if not submitted.is_dir():
        raise GradingError(f"{submitted} is not a folder; expected <student_id>/<assignment_id>/{NOTEBOOK} inside it")
    known = set(assignments())
    pairs, unknown = [], []
    for student in sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for assignment in sorted(p for p in student.iterdir() if p.is_dir() and not p.name.startswith(".")):
            (pairs if assignment.name in known else unknown).append((student.name, assignment.name))
    if unknown:
        listed = ", ".join(f"{s}/{a}" for s, a in unknown[:5])
        raise GradingError(f"{listed}: not an assignment of this course (it has {', '.join(sorted(known))})")
    if not pairs:
        raise GradingError(f"no submissions in {submitted}; expected <student_id>/<assignment_id>/{NOTEBOOK}")
    return pairs


def _problem_with(notebook: Path) -> str:
    """Why a submitted notebook cannot be graded, or '' when it looks gradable."""
    import nbformat

    if not notebook.exists():
        others = sorted(p.name for p in notebook.parent.glob("*.ipynb"))
        return f"no {NOTEBOOK} in the submission" + (f" (found {', '.join(others)}; the notebook must keep its name)" if others else "")
    if notebook.stat().st_size == 0:
        return f"{NOTEBOOK} is an empty file"
    try:
        nb = nbformat.read(notebook, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # any reason nbformat gives is the student's problem, not the batch's
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"{NOTEBOOK} is not a valid Jupyter notebook: {first_line[:300]}"
    return ""


def grade_submissions(submitted: Path, output: Path, progress: Callable[[str], None] = print) -> list[Outcome]:
    """Autograde every submission under ``submitted`` into the workspace ``output``.

    Returns one :class:`Outcome` per submission, in the order graded, after
    writing the CSV files and the feedback pages.
    """
    from sqlalchemy.exc import SAWarning

    # nbgrader's gradebook triggers harmless SQLAlchemy session warnings on every autograde
    warnings.filterwarnings("ignore", category=SAWarning)
    submitted, output = submitted.resolve(), output.resolve()
    pairs = find_submissions(submitted)
    use_this_environment()
    names = sorted({a for _, a in pairs})
    prepare_workspace(output, names)
    workspace_submitted = output / "submitted"
    if workspace_submitted != submitted:
        shutil.copytree(submitted, workspace_submitted, dirs_exist_ok=True)
    api = make_api(output)
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise GradingError(f"could not prepare {name}: {result.get('error') or result.get('log')}")

    outcomes = []
    started = time.perf_counter()
    for number, (student, assignment) in enumerate(pairs, start=1):
        t0 = time.perf_counter()
        problem = _problem_with(workspace_submitted / student / assignment / NOTEBOOK)
        if not problem:
            result = api.autograde(assignment, student, force=True, create=True)
            if not result["success"]:
                problem = "nbgrader could not grade it: " + _last_line(result.get("error") or result.get("log") or "unknown error")
            else:
                feedback = api.generate_feedback(assignment, student, force=True)
                if not feedback["success"]:
                    progress(f"  (feedback page not written: {_last_line(feedback.get('error') or '')})")
        score, max_score = _total(output, student, assignment)
        outcomes.append(Outcome(student, assignment, score if not problem else 0.0, max_score, problem))
        verdict = f"{score:g}/{max_score:g}" if not problem else f"0/{max_score:g}, not graded: {problem}"
        progress(f"[{number}/{len(pairs)}] {student} {assignment}: {verdict} ({time.perf_counter() - t0:.1f} s)")
    write_cell_grades(output, outcomes)
    export_grades(output)
    progress(f"graded {len(pairs)} submission(s) in {time.perf_counter() - started:.1f} s; "
             f"results in {output / 'grades_by_cell.csv'}, feedback in {output / 'feedback'}")
    return outcomes


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown error"


def _max_points(output: Path, assignment: str) -> dict[str, float]:
    """Points of each graded cell of ``assignment``, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{output / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_notebook(NOTEBOOK[: -len(".ipynb")], assignment)
        return {cell.name: float(cell.max_score) for cell in notebook.grade_cells}


def _cell_scores(output: Path, student: str, assignment: str) -> dict[str, float] | None:
    """Score of each graded cell of a graded submission, or None when there is none."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{output / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission_notebook(NOTEBOOK[: -len(".ipynb")], assignment, student)
        except MissingEntry:
            return None
        return {grade.name: float(grade.score) for grade in submission.grades if grade.max_score}


def _total(output: Path, student: str, assignment: str) -> tuple[float, float]:
    maximum = _max_points(output, assignment)
    scores = _cell_scores(output, student, assignment) or {}
    return sum(scores.values()), sum(maximum.values())


def write_cell_grades(output: Path, outcomes: list[Outcome]) -> Path:
    """Write ``grades_by_cell.csv``: one row per student, assignment and graded cell."""
    path = output / "grades_by_cell.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CELL_COLUMNS)
        for outcome in outcomes:
            maximum = _max_points(output, outcome.assignment_id)
            scores = None if outcome.problem else _cell_scores(output, outcome.student_id, outcome.assignment_id)
            for cell, max_points in maximum.items():
                points = (scores or {}).get(cell, 0.0)
                status = "graded" if scores is not None else f"not graded: {outcome.problem or 'no result'}"
                writer.writerow([outcome.student_id, outcome.assignment_id, NOTEBOOK, cell, f"{points:g}", f"{max_points:g}", status])
    return path


def export_grades(output: Path) -> Path:
    """Write nbgrader's own ``grades.csv`` (one row per student and assignment)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    path = output / "grades.csv"
    plugin = CsvExportPlugin()
    plugin.to = str(path)
    with Gradebook(f"sqlite:///{output / 'gradebook.db'}") as gradebook:
        plugin.export(gradebook)
    return path
