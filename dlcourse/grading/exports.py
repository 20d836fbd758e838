"""Grades in the CSV files that learning-management systems import: Canvas and Moodle.

Both are built from the gradebook's grade export (:func:`records.grade_rows`,
the rows of ``grades.csv``): one row per student, one column per assignment,
the score after the late penalty (a student without a submission scores 0, as
in nbgrader's export). The course's student id is nbgrader's, the name a
student has on the notebook server; the LMS must know the same id.

- **Canvas** (Gradebook, Import): the columns of Canvas's own gradebook
  export, ``Student`` ("Last, First"), ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then one column per assignment, and a second
  row ``Points Possible``. Canvas matches a row to a student by one of its
  identifier columns; the student id goes into ``SIS Login ID`` (Canvas's own
  ``ID`` is not known here and stays empty).
- **Moodle** (Grades, Import, CSV file): the columns of Moodle's own
  plain-text grade export, ``First name``, ``Last name``, ``ID number``,
  ``Institution``, ``Department``, ``Email address``, then one column
  ``<assignment> (Real)`` per assignment. On import, map "ID number" to
  ``useridnumber`` (the student id is there) or "Email address" to
  ``useremail``, and each assignment column to a grade item.
"""
from __future__ import annotations

import csv
from pathlib import Path

from dlcourse.grading.workspace import GradingError

LMS_FORMATS = ("canvas", "moodle")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["First name", "Last name", "ID number", "Institution", "Department", "Email address"]


def _lms_table(rows: list[dict], lms: str) -> list[list[str]]:
    """The CSV rows (header first) of ``lms``'s grade import (one of :data:`LMS_FORMATS`), from the rows of nbgrader's
    grade export."""
    assignments = sorted({row["assignment"] for row in rows})
    students: dict[str, dict] = {}
    for row in rows:
        students.setdefault(row["student_id"], {"row": row, "scores": {}})["scores"][row["assignment"]] = f"{float(row['score']):g}"
    max_scores = {row["assignment"]: f"{float(row['max_score'] or 0):g}" for row in rows}
    if lms == "canvas":
        table = [CANVAS_COLUMNS + assignments, ["Points Possible", "", "", "", ""] + [max_scores[a] for a in assignments]]
        for student_id, student in sorted(students.items()):
            first, last = student["row"]["first_name"], student["row"]["last_name"]
            name = f"{last}, {first}" if first and last else (last or first or student_id)
            table.append([name, "", "", student_id, ""] + [student["scores"].get(a, "") for a in assignments])
        return table
    table = [MOODLE_COLUMNS + [f"{a} (Real)" for a in assignments]]
    for student_id, student in sorted(students.items()):
        row = student["row"]
        table.append([row["first_name"], row["last_name"], student_id, "", "", row["email"]] + [student["scores"].get(a, "") for a in assignments])
    return table


def export_for_lms(output: Path, lms: str, destination: Path | None = None) -> Path:
    """Write the grade import file of ``lms`` for the workspace ``output`` (default ``output/grades_<lms>.csv``), from
    its gradebook as it is now (manual grades entered in formgrader included); refresh ``grades.csv`` too."""
    from dlcourse.grading import records  # the gradebook's modules, only for this command (the CLI imports this module)

    if not (output / "nbgrader_config.py").is_file():
        raise GradingError(f"{output} is not a grading workspace (no nbgrader_config.py): run `course grade` into it first")
    if lms not in LMS_FORMATS:
        raise GradingError(f"unknown LMS {lms!r}; the exports are: {', '.join(LMS_FORMATS)}")
    table = _lms_table(records.export_grades(output), lms)
    destination = destination or output / f"grades_{lms}.csv"
    with destination.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(table)
    return destination
