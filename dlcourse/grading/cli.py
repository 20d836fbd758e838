"""``course``: the course's commands (``validate`` is the students' one).

    course generate [ASSIGNMENT ...]        student notebooks from the solution notebooks, and the recorded
                                            references of their visible checks (dlcourse/data)
    course grade SUBMITTED [--output DIR] [--workers N | --scheduler tcp://HOST:PORT] [--db-url URL] [--regrade]
                 [--student ID ...] [--assignment NAME ...] [--due NAME=WHEN ...] [--late-penalty none|zero]
                 [--roster CSV]
                                            grade in sandboxes (here, or on a Dask cluster's workers); feedback pages
                                            and grade CSVs
    course report [DIR]                     the item-analysis page of a grading workspace (DIR/item_analysis.html)
    course export {canvas,moodle} [DIR] [--to FILE]
                                            the grades as the LMS imports them (DIR/grades_<lms>.csv)
    course assignments                      list the assignments
    course validate NOTEBOOK ...            run a notebook as nbgrader's Validate does; exit 1 if a check fails
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from dlcourse.grading.exports import LMS_FORMATS, export_for_lms
from dlcourse.grading.workspace import LATE_PENALTY_METHODS, REPOSITORY, GradingError, assignments, generate_student_notebooks

CHAPTER_EXAMPLE = "01_gradient_descent"


def _due_date(text: str) -> tuple[str, str]:
    """``NAME=WHEN`` of ``--due`` as (assignment, date text); the date is read when grading starts."""
    name, equals, when = text.partition("=")
    if not equals or not name.strip() or not when.strip():
        raise argparse.ArgumentTypeError(f"expected ASSIGNMENT=WHEN (e.g. {CHAPTER_EXAMPLE}=2026-12-01T17:00:00+01:00), got {text!r}")
    return name.strip(), when.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="The course's commands (wrapping nbgrader).")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="regenerate chapters/<assignment>/exercises.ipynb from solutions/, and record "
                                                    "their visible checks' references")
    generate.add_argument("assignment", nargs="*", help="assignments to regenerate (default: all)")
    grade = commands.add_parser("grade", help="grade a folder laid out as <student_id>/<assignment_id>/exercises.ipynb")
    grade.add_argument("submitted", type=Path, help="the submissions folder (nbgrader's submitted/ layout)")
    grade.add_argument("--output", type=Path, default=Path("grading"),
                       help="workspace for the gradebook, feedback and CSVs (default: ./grading)")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="local worker processes, each grading one submission at a time in its own sandbox (default: the number of CPUs)")
    grade.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run the sandboxes on the workers of this Dask scheduler (see the README, For instructors); "
                            "the gradebook and the files are written here")
    grade.add_argument("--db-url", metavar="URL",
                       help="the gradebook of a new output folder: an SQLAlchemy URL, postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
                            "(default: the SQLite file gradebook.db in the output folder; an existing folder keeps its own)")
    grade.add_argument("--regrade", action="store_true",
                       help="grade again submissions that an earlier run already graded (default: skip them)")
    grade.add_argument("--roster", type=Path, help="students' names: a CSV in nbgrader's import format (id, first_name, last_name, email)")
    grade.add_argument("--student", action="append", metavar="ID",
                       help="grade (with --regrade: regrade) only this student's submissions; repeat for several (default: all)")
    grade.add_argument("--assignment", action="append", metavar="NAME",
                       help="grade (with --regrade: regrade) only this assignment's submissions; repeat for several (default: all)")
    grade.add_argument("--due", action="append", metavar="NAME=WHEN", type=_due_date,
                       help="the due date of an assignment, stored in the gradebook as nbgrader's (e.g. "
                            f"{CHAPTER_EXAMPLE}=2026-12-01T17:00:00+01:00; no time zone means UTC); a submission is late by "
                            "its timestamp.txt; repeat for several")
    grade.add_argument("--late-penalty", choices=LATE_PENALTY_METHODS,
                       help="nbgrader's penalty for a late submission: none (recorded only) or zero (the notebook scores 0); "
                            "the workspace keeps it (default: the workspace's, none for a new one)")
    report = commands.add_parser("report", help="write the item-analysis page of a grading workspace: per graded cell, who passed and why not")
    report.add_argument("output", type=Path, nargs="?", default=Path("grading"), help="the grading workspace (default: ./grading)")
    export = commands.add_parser("export", help="write the grades as Canvas or Moodle import them (a CSV file)")
    export.add_argument("lms", choices=LMS_FORMATS, help="the learning-management system")
    export.add_argument("output", type=Path, nargs="?", default=Path("grading"), help="the grading workspace (default: ./grading)")
    export.add_argument("--to", type=Path, help="the file to write (default: grades_<lms>.csv in the workspace)")
    commands.add_parser("assignments", help="list the assignments")
    validate = commands.add_parser("validate", help="run notebooks as the Validate button does and print every failed check in full")
    validate.add_argument("notebook", nargs="+", type=Path, help="the notebook(s) to validate")
    args = parser.parse_args(argv)
    if args.command == "validate":
        from dlcourse.grading.validate import validate_notebooks

        return validate_notebooks(args.notebook)
    try:
        if args.command == "generate":
            with tempfile.TemporaryDirectory() as scratch:
                for path in generate_student_notebooks(Path(scratch), args.assignment or None):
                    print(f"wrote {path.relative_to(REPOSITORY)}")
            from dlcourse.checks.recording import RECORDING
            from dlcourse.grading.plan import record_visible_checks, write_recording

            written = write_recording(record_visible_checks(), RECORDING)
            print(f"{'wrote' if written else 'unchanged:'} {RECORDING.relative_to(REPOSITORY)} (the visible checks' references)")
        elif args.command == "grade":
            from dlcourse.grading.grade import grade_submissions

            grade_submissions(args.submitted, args.output, workers=args.workers, regrade=args.regrade, roster=args.roster,
                              scheduler=args.scheduler, db_url=args.db_url, students=set(args.student) if args.student else None,
                              assignments=set(args.assignment) if args.assignment else None, due=dict(args.due or []),
                              late_penalty=args.late_penalty)
        elif args.command == "report":
            from dlcourse.grading.report import write_report

            print(f"wrote {write_report(args.output.resolve())}")
        elif args.command == "export":
            print(f"wrote {export_for_lms(args.output.resolve(), args.lms, args.to)}")
        else:
            print("\n".join(assignments()))
    except GradingError as error:
        print(f"course {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
