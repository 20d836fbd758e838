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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from dlcourse.grading.plan import AssignmentPlan, nbgrader_meta
from dlcourse.grading.run import CellVerdict
from dlcourse.grading.workspace import NOTEBOOK, GradingError, database_url
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


def read_marker(marker: Path, expected_fingerprint: str) -> tuple[list[CellVerdict], dict] | None:
    """The verdicts an earlier run recorded for this very submission and plan, and the manual grades then; or None."""
    if not marker.exists():
        return None
    recorded = json.loads(marker.read_text())
    if recorded.get("fingerprint") != expected_fingerprint:
        return None
    return [CellVerdict(**cell) for cell in recorded["cells"]], recorded.get("manual", {})


def write_marker(marker: Path, submission_fingerprint: str, verdicts: list[CellVerdict], manual: dict) -> None:
    """Record that this submission was graded, with its verdicts and the manual grades its feedback shows (written last)."""
    marker.write_text(json.dumps({"fingerprint": submission_fingerprint, "cells": [asdict(v) for v in verdicts], "manual": manual}))


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


def feedback_html(plan: AssignmentPlan, autograded: nbformat.NotebookNode, student: str, assignment: str,
                  verdicts: list[CellVerdict], manual: dict) -> str:
    """The submission's feedback page: nbgrader's, with the scores the gradebook holds once ``verdicts`` are recorded
    beside the ``manual`` grades (:func:`manual_grades`), without reading the gradebook (a worker can write it)."""
    from dlcourse.grading.feedback import feedback_page

    automatic = {v.grade_id: v.points for v in verdicts}
    entered = manual.get("scores", {})
    grades = {}
    for cell in plan.master.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") or meta.get("task"):
            manual_score, extra_credit = entered.get(meta["grade_id"], [None, None])
            score = manual_score if manual_score is not None else automatic.get(meta["grade_id"], 0.0)
            grades[meta["grade_id"]] = float(score) + float(extra_credit or 0.0)
    return with_local_mathjax(feedback_page(autograded, student, assignment, grades, manual.get("comments", {})))


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
    """The submission's score in the gradebook (manual scores where entered, extra credit included)."""
    return sum(_scores(output, student, assignment).values())


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


def write_cell_grades(output: Path, outcomes: list[Outcome], plans: dict[str, AssignmentPlan]) -> Path:
    """Write ``grades_by_cell.csv``: one row per student, assignment and graded cell (the whole message);
    one row, without a cell, for what could not be placed in an assignment."""
    path = output / "grades_by_cell.csv"
    names = _names(output)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CELL_COLUMNS)
        for outcome in outcomes:
            student = [outcome.student_id, *names.get(outcome.student_id, ("", ""))]
            if outcome.assignment_id not in plans:
                writer.writerow([*student, outcome.assignment_id, "", "", "0", "0", f"not graded: {outcome.problem}", ""])
                continue
            scores = {} if outcome.problem else _scores(output, outcome.student_id, outcome.assignment_id)
            messages = {c.grade_id: c.message for c in outcome.cells}
            for cell in plans[outcome.assignment_id].graded:
                status = f"not graded: {outcome.problem}" if outcome.problem else "graded"
                writer.writerow([*student, outcome.assignment_id, NOTEBOOK, cell.grade_id,
                                 f"{scores.get(cell.grade_id, 0.0):g}", f"{cell.points:g}", status, messages.get(cell.grade_id, "").strip()])
    return path


def export_grades(output: Path) -> Path:
    """Write nbgrader's own ``grades.csv`` (one row per student and assignment), sorted by assignment and student (the
    database's own order, with ties among students' names, differs between SQLite and PostgreSQL)."""
    from nbgrader.plugins import CsvExportPlugin

    path = output / "grades.csv"
    plugin = CsvExportPlugin()
    plugin.to = str(path)
    with _gradebook(output) as gradebook:
        plugin.export(gradebook)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, sorted(reader, key=lambda row: (row["assignment"], row["student_id"]))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
