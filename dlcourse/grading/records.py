"""What grading writes: the gradebook's scores, the autograded notebook, the re-run marker and the CSVs.

The grading workspace is an ordinary nbgrader course directory; this module
only writes automatic scores (``auto_score``), so manual grades entered in
formgrader stay. A marker beside each autograded notebook records the
submission's fingerprint and verdicts: a later run skips an unchanged
submission unless asked to regrade.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from dlcourse.grading.plan import AssignmentPlan, graded_points, nbgrader_meta
from dlcourse.grading.run import CellVerdict
from dlcourse.grading.workspace import NOTEBOOK, SOLUTIONS, GradingError, assignments, database_url
from dlcourse.offline_site import copy_mathjax

CELL_COLUMNS = ["student_id", "first_name", "last_name", "assignment_id", "notebook", "cell", "points", "max_points", "status", "message"]
ROSTER_COLUMNS = ("id", "first_name", "last_name", "email")
MARKER = ".course-grade.json"
NOTEBOOK_NAME = NOTEBOOK[: -len(".ipynb")]


@dataclass
class Outcome:
    """What grading one submission gave."""

    student_id: str
    assignment_id: str
    score: float
    max_score: float
    problem: str = ""                      # why it could not be graded at all
    cells: list[CellVerdict] = field(default_factory=list)


def fingerprint(data: bytes, plan_hash: str) -> str:
    """The submission's content and the plan's version: what a marker must match to skip a re-run."""
    return hashlib.sha256(data).hexdigest() + ":" + plan_hash


@dataclass
class Marker:
    """What an earlier run recorded for a graded submission: its verdicts, and the manual grades and late penalty its
    feedback page shows."""

    verdicts: list[CellVerdict]
    manual: dict
    late_penalty: float


def read_marker(marker: Path, expected_fingerprint: str | None) -> Marker | None:
    """What an earlier run recorded for this very submission and plan (any, if ``expected_fingerprint`` is None); or None."""
    if not marker.exists():
        return None
    recorded = json.loads(marker.read_text())
    if expected_fingerprint is not None and recorded.get("fingerprint") != expected_fingerprint:
        return None
    return Marker([CellVerdict(**cell) for cell in recorded["cells"]], recorded.get("manual", {}), recorded.get("late_penalty", 0.0))


def write_marker(marker: Path, submission_fingerprint: str, recorded: Marker) -> None:
    """Record that this submission was graded, with its verdicts, manual grades and late penalty (written last)."""
    marker.write_text(json.dumps({"fingerprint": submission_fingerprint, "cells": [asdict(v) for v in recorded.verdicts],
                                  "manual": recorded.manual, "late_penalty": recorded.late_penalty}))


def autograded_notebook(plan: AssignmentPlan, submission: nbformat.NotebookNode, verdicts: list[CellVerdict]) -> nbformat.NotebookNode:
    """The solution notebook's structure with the student's cells in place and verdicts as test outputs."""
    student_sources: dict[str, list[str]] = {}
    for cell in submission.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if cell.get("cell_type") == "code" and grade_id in plan.solution_ids:
            student_sources.setdefault(grade_id, []).append(str(cell.get("source", "")))
    by_id = {v.grade_id: v for v in verdicts}
    result = copy.deepcopy(plan.master)
    for cell in result.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if meta.get("solution"):
            cell.source = "\n\n".join(student_sources.get(meta["grade_id"], ["# (this cell is missing from the submission)"]))
        verdict = by_id.get(meta.get("grade_id"))
        if verdict and verdict.message:
            cell.outputs = [nbformat.v4.new_output("error", ename="CheckFailed", evalue=verdict.message, traceback=[verdict.message])]
        elif verdict:
            remark = f"{verdict.remark}\n" if verdict.remark else ""
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"OK: every check of {verdict.grade_id} passed.\n{remark}")]
    return result


# Feedback pages typeset their math with the course's own MathJax 3 (SVG output: no font files, so the
# pages also work opened from disk), copied once into feedback/_mathjax; nbgrader's template loads MathJax 2
# from a CDN. A page handed out without that folder (nbgrader's release_feedback sends each student their own
# feedback/<student>/<assignment>/ only) falls back to the same MathJax 3 from a CDN, so it typesets when online.
FEEDBACK_MATHJAX = "_mathjax"
FEEDBACK_MATHJAX_PARTS = ("tex-svg.js", "input", "ui", "a11y", "adaptors")
FEEDBACK_MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-svg.js"
_CDN_MATHJAX = re.compile(r'<script src="https?://[^"]*mathjax[^"]*">\s*</script>', re.IGNORECASE)


def copy_feedback_mathjax(output: Path) -> None:
    """MathJax for the feedback pages of the workspace ``output`` (``feedback/_mathjax``), unless already there."""
    destination = output / "feedback" / FEEDBACK_MATHJAX
    if not (destination / FEEDBACK_MATHJAX_PARTS[0]).is_file():
        copy_mathjax(destination, FEEDBACK_MATHJAX_PARTS)


def with_local_mathjax(html: str) -> str:
    """A feedback page (``feedback/<student>/<assignment>/*.html``) pointed at ``feedback/_mathjax`` (the CDN only when that
    is missing)."""
    local = ("<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true}};</script>\n"
             f'<script src="../../{FEEDBACK_MATHJAX}/{FEEDBACK_MATHJAX_PARTS[0]}" onerror="var s = document.createElement(\'script\'); '
             f's.src = \'{FEEDBACK_MATHJAX_CDN}\'; document.head.appendChild(s);"></script>')
    return _CDN_MATHJAX.sub(lambda _: local, html)


def cell_scores(master: nbformat.NotebookNode, verdicts: list[CellVerdict], manual: dict) -> dict[str, float]:
    """Each graded cell of the assignment's ``master`` notebook with its score as the gradebook holds it once
    ``verdicts`` are recorded beside the ``manual`` grades (:func:`manual_grades`): nbgrader's ``Grade.score``, the manual
    score where one was entered, extra credit added."""
    automatic = {v.grade_id: v.points for v in verdicts}
    entered = manual.get("scores", {})
    scores = {}
    for cell in master.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") or meta.get("task"):
            manual_score, extra_credit = entered.get(meta["grade_id"], [None, None])
            score = manual_score if manual_score is not None else automatic.get(meta["grade_id"], 0.0)
            scores[meta["grade_id"]] = float(score) + float(extra_credit or 0.0)
    return scores


def late_penalty(student: str, score: float, lateness: dict) -> float:
    """The late-submission penalty of a notebook with ``score``, as nbgrader's autograde assigns it: nbgrader's
    ``LateSubmissionPlugin`` with ``lateness["method"]`` ("none": no penalty, "zero": the whole score) when the
    submission is ``lateness["seconds"]`` late (beyond the due date and any extension), kept within [0, score]."""
    from nbgrader.plugins import LateSubmissionPlugin

    if lateness["seconds"] <= 0:
        return 0.0
    penalty = LateSubmissionPlugin(penalty_method=lateness["method"]).late_submission_penalty(student, score, lateness["seconds"])
    return 0.0 if penalty is None else min(max(float(penalty), 0.0), score)


def feedback_html(master: nbformat.NotebookNode, autograded: nbformat.NotebookNode, student: str, assignment: str,
                  verdicts: list[CellVerdict], manual: dict, penalty: float = 0.0) -> str:
    """The submission's feedback page: nbgrader's, with the scores the gradebook holds once ``verdicts`` are recorded
    beside the ``manual`` grades (:func:`cell_scores`) and the late ``penalty``, without reading the gradebook (a
    worker can write it)."""
    from dlcourse.grading.feedback import feedback_page

    return with_local_mathjax(feedback_page(autograded, student, assignment, cell_scores(master, verdicts, manual),
                                            manual.get("comments", {}), penalty))


_OPEN_GRADEBOOKS: dict[Path, object] = {}


@contextlib.contextmanager
def open_gradebook(output: Path) -> Iterator[None]:
    """Keep one connection to the workspace ``output``'s gradebook while the block runs (a batch), instead of one per
    query: every use below still ends its own transaction, so it reads what formgrader wrote meanwhile."""
    from nbgrader.api import Gradebook

    with Gradebook(database_url(output)) as gradebook:
        _OPEN_GRADEBOOKS[output] = gradebook
        try:
            yield
        finally:
            del _OPEN_GRADEBOOKS[output]


@contextlib.contextmanager
def _gradebook(output: Path):
    from nbgrader.api import Gradebook

    gradebook = _OPEN_GRADEBOOKS.get(output)
    if gradebook is None:
        with Gradebook(database_url(output)) as gradebook:
            yield gradebook
        return
    try:
        yield gradebook
    except BaseException:
        gradebook.db.rollback()
        raise
    gradebook.db.commit()


def record_submission_time(output: Path, student: str, assignment: str, timestamp) -> float:
    """Store when the submission was made (``timestamp``: UTC datetime, or None to keep what the gradebook has, as
    nbgrader's autograde does); return how many seconds late it is (nbgrader's ``total_seconds_late``: after the
    assignment's due date plus the student's extension; 0 without a due date or a timestamp)."""
    with _gradebook(output) as gradebook:
        gradebook.update_or_create_student(student)
        extra = {"timestamp": timestamp} if timestamp is not None else {}
        return float(gradebook.update_or_create_submission(assignment, student, **extra).total_seconds_late)


def set_due_dates(output: Path, due_dates: dict) -> None:
    """Store each assignment's due date (``{assignment: UTC datetime}``) in the gradebook, where nbgrader keeps it."""
    with _gradebook(output) as gradebook:
        for assignment, due in due_dates.items():
            gradebook.update_or_create_assignment(assignment, duedate=due)


def record_late_penalty(output: Path, student: str, assignment: str, penalty: float) -> None:
    """Store the notebook's late-submission penalty (:func:`late_penalty`) where nbgrader's autograde puts it."""
    with _gradebook(output) as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, assignment, student)
        notebook.late_submission_penalty = penalty or None
        gradebook.db.commit()


def record_scores(output: Path, student: str, assignment: str, verdicts: list[CellVerdict]) -> None:
    """Store the automatic scores; manual scores entered in formgrader are left as they are."""
    from nbgrader.api import MissingEntry

    with _gradebook(output) as gradebook:
        gradebook.update_or_create_student(student)
        try:
            gradebook.find_submission(assignment, student)
        except MissingEntry:
            gradebook.add_submission(assignment, student)
        notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, assignment, student)
        points = {v.grade_id: v.points for v in verdicts}
        for grade in notebook.grades:
            if grade.name in points:
                grade.auto_score = points[grade.name]
                # as nbgrader's own autograde: review is needed only where a manual score overrides the automatic one
                grade.needs_manual_grade = grade.manual_score is not None
        gradebook.db.commit()


def manual_grades(output: Path, student: str, assignment: str) -> dict:
    """What the instructor entered in formgrader for the submission: manual scores, extra credit and comments, per cell."""
    from nbgrader.api import MissingEntry

    with _gradebook(output) as gradebook:
        try:
            notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, assignment, student)
        except MissingEntry:
            return {}
        scores = {g.name: [g.manual_score, g.extra_credit] for g in notebook.grades if g.manual_score is not None or g.extra_credit}
        comments = {c.name: c.manual_comment for c in notebook.comments if c.manual_comment}
        return {"scores": scores, "comments": comments} if scores or comments else {}


def total_score(output: Path, student: str, assignment: str) -> float:
    """The submission's score in the gradebook (manual scores where entered, extra credit included, less the late
    penalty)."""
    from nbgrader.api import MissingEntry

    with _gradebook(output) as gradebook:
        try:
            penalty = gradebook.find_submission_notebook(NOTEBOOK_NAME, assignment, student).late_submission_penalty or 0.0
        except MissingEntry:
            penalty = 0.0
    return sum(_scores(output, student, assignment).values()) - penalty


def _scores(output: Path, student: str, assignment: str) -> dict[str, float]:
    """Each graded cell's score in the gradebook (the manual score where one was entered)."""
    from nbgrader.api import MissingEntry

    with _gradebook(output) as gradebook:
        try:
            notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, assignment, student)
        except MissingEntry:
            return {}
        return {grade.name: float(grade.score) for grade in notebook.grades if grade.max_score}


def read_roster(path: Path) -> list[dict]:
    """The students of a roster in nbgrader's import format (CSV: ``id`` and optionally ``first_name``, ``last_name``, ``email``)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise GradingError(f"the roster {path} cannot be read: {error}") from error
    if not rows or "id" not in rows[0]:
        raise GradingError(f"the roster {path} needs a header with an 'id' column (nbgrader's format: {', '.join(ROSTER_COLUMNS)})")
    missing = [n + 2 for n, row in enumerate(rows) if not (row.get("id") or "").strip()]
    if missing:
        raise GradingError(f"the roster {path} has rows without an id (lines {', '.join(map(str, missing[:5]))})")
    return [{key: (row.get(key) or "").strip() or None for key in ROSTER_COLUMNS} for row in rows]


def record_roster(output: Path, students: list[dict]) -> None:
    """Put the roster's names and emails in the gradebook (what formgrader and the CSVs show)."""
    with _gradebook(output) as gradebook:
        for student in students:
            gradebook.update_or_create_student(student["id"], **{k: v for k, v in student.items() if k != "id" and v})


def _names(output: Path) -> dict[str, tuple[str, str]]:
    with _gradebook(output) as gradebook:
        return {s.id: (s.first_name or "", s.last_name or "") for s in gradebook.students}


def earlier_cell_grades(output: Path, keep: Callable[[str, str], bool]) -> list[dict]:
    """The rows of the workspace's ``grades_by_cell.csv`` whose (student, assignment) ``keep`` accepts (none if there
    is no such file yet)."""
    path = output / "grades_by_cell.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if keep(row["student_id"], row["assignment_id"])]


def write_cell_grades(output: Path, outcomes: list[Outcome], kept: list[dict] = ()) -> Path:
    """Write ``grades_by_cell.csv``: one row per student, assignment and graded cell (the whole message);
    one row, without a cell, for what could not be placed in an assignment; and the ``kept`` rows (of submissions this
    run left alone, :func:`earlier_cell_grades`), all in the order of student and assignment."""
    names = _names(output)
    graded = {name: graded_points(nbformat.read(SOLUTIONS / name / NOTEBOOK, as_version=4))
              for name in {o.assignment_id for o in outcomes} & set(assignments())}
    rows = [dict(row) for row in kept]
    for outcome in outcomes:
        first, last = names.get(outcome.student_id, ("", ""))
        student = {"student_id": outcome.student_id, "first_name": first, "last_name": last, "assignment_id": outcome.assignment_id}
        if outcome.assignment_id not in graded:
            rows.append({**student, "notebook": "", "cell": "", "points": "0", "max_points": "0", "status": f"not graded: {outcome.problem}",
                         "message": ""})
            continue
        scores = {} if outcome.problem else _scores(output, outcome.student_id, outcome.assignment_id)
        messages = {c.grade_id: c.message for c in outcome.cells}
        for grade_id, points in graded[outcome.assignment_id].items():
            rows.append({**student, "notebook": NOTEBOOK, "cell": grade_id, "points": f"{scores.get(grade_id, 0.0):g}", "max_points": f"{points:g}",
                         "status": f"not graded: {outcome.problem}" if outcome.problem else "graded",
                         "message": messages.get(grade_id, "").strip()})
    path = output / "grades_by_cell.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CELL_COLUMNS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda row: (row["student_id"], row["assignment_id"])))
    return path


GRADE_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email", "raw_score",
                 "late_submission_penalty", "score", "max_score"]


def grade_rows(output: Path) -> list[dict]:
    """The rows of nbgrader's grade export (``nbgrader export``), from the workspace ``output``'s gradebook: one per
    assignment and student, with nbgrader's values (a student without a submission scores 0; ``score`` is the raw
    score less the late penalty, at least 0), sorted by assignment and student id."""
    from nbgrader.api import MissingEntry

    rows = []
    with _gradebook(output) as gradebook:
        for assignment in gradebook.assignments:
            for student in gradebook.students:
                row = {"assignment": assignment.name, "duedate": assignment.duedate, "timestamp": "", "student_id": student.id,
                       "last_name": student.last_name, "first_name": student.first_name, "email": student.email,
                       "raw_score": 0.0, "late_submission_penalty": 0.0, "score": 0.0, "max_score": assignment.max_score}
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    pass
                else:
                    penalty = submission.late_submission_penalty
                    row.update(timestamp=submission.timestamp, raw_score=submission.score, late_submission_penalty=penalty,
                               score=max(0.0, submission.score - penalty))
                rows.append({key: "" if value is None else str(value) for key, value in row.items()})
    return sorted(rows, key=lambda row: (row["assignment"], row["student_id"]))


def export_grades(output: Path) -> list[dict]:
    """Write ``grades.csv``: nbgrader's grade export (:func:`grade_rows`; nbgrader's own ``CsvExportPlugin`` writes the
    same columns and values but does not quote them, so a name or a student id with a comma would shift the columns).
    Return its rows."""
    rows = grade_rows(output)
    with (output / "grades.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=GRADE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows
