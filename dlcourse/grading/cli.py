"""``course``: the course's commands (``validate`` is the students' one).

    course generate [ASSIGNMENT ...]        student notebooks from the solution notebooks
    course grade SUBMITTED [--output DIR] [--workers N | --scheduler tcp://HOST:PORT] [--db-url URL] [--regrade]
                 [--roster CSV]
                                            grade in sandboxes (here, or on a Dask cluster's workers); feedback pages
                                            and grade CSVs
    course assignments                      list the assignments
    course validate NOTEBOOK ...            run a notebook as nbgrader's Validate does; exit 1 if a check fails
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from dlcourse.grading.workspace import REPOSITORY, GradingError, assignments, generate_student_notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="The course's commands (wrapping nbgrader).")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="regenerate chapters/<assignment>/exercises.ipynb from solutions/")
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
        elif args.command == "grade":
            from dlcourse.grading.grade import grade_submissions

            grade_submissions(args.submitted, args.output, workers=args.workers, regrade=args.regrade, roster=args.roster,
                              scheduler=args.scheduler, db_url=args.db_url)
        else:
            print("\n".join(assignments()))
    except GradingError as error:
        print(f"course {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
