"""``course``: the instructor's commands.

    course generate [ASSIGNMENT ...]        student notebooks from the solution notebooks
    course grade SUBMITTED [--output DIR]   autograde, feedback pages and grade CSVs
    course assignments                      list the assignments
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from dlcourse.grading.course import REPOSITORY, GradingError, assignments, generate_student_notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Instructor commands of the course (wrapping nbgrader).")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="regenerate chapters/<assignment>/exercises.ipynb from solutions/")
    generate.add_argument("assignment", nargs="*", help="assignments to regenerate (default: all)")
    grade = commands.add_parser("grade", help="grade a folder laid out as <student_id>/<assignment_id>/exercises.ipynb")
    grade.add_argument("submitted", type=Path, help="the submissions folder (nbgrader's submitted/ layout)")
    grade.add_argument("--output", type=Path, default=Path("grading"),
                       help="workspace for the gradebook, feedback and CSVs (default: ./grading)")
    commands.add_parser("assignments", help="list the assignments")
    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            with tempfile.TemporaryDirectory() as scratch:
                for path in generate_student_notebooks(Path(scratch), args.assignment or None):
                    print(f"wrote {path.relative_to(REPOSITORY)}")
        elif args.command == "grade":
            from dlcourse.grading.grade import grade_submissions

            grade_submissions(args.submitted, args.output)
        else:
            print("\n".join(assignments()))
    except GradingError as error:
        print(f"course {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
