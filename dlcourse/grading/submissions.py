"""Find the submissions in a folder laid out as nbgrader's ``submitted/``, and read each notebook.

``<student_id>/<assignment_id>/exercises.ipynb``: an unknown assignment
folder or an empty folder is the instructor's problem (:class:`GradingError`);
a notebook that cannot be read is the submission's (graded 0 with the reason).
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from dlcourse.grading.workspace import NOTEBOOK, GradingError, assignments


def find_submissions(submitted: Path) -> list[tuple[str, str]]:
    """``(student_id, assignment_id)`` for every ``<student>/<assignment>/`` folder under ``submitted``."""
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


def read_submission(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The submitted notebook, or None and why it cannot be graded."""
    if not path.exists():
        others = sorted(p.name for p in path.parent.glob("*.ipynb"))
        return None, f"no {NOTEBOOK} in the submission" + (f" (found {', '.join(others)}; the notebook must keep its name)" if others else "")
    if path.stat().st_size == 0:
        return None, f"{NOTEBOOK} is an empty file"
    if path.stat().st_size > 20 * 2**20:
        return None, f"{NOTEBOOK} is larger than 20 MiB"
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # whatever nbformat objects to is the submission's problem, not the batch's
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, f"{NOTEBOOK} is not a valid Jupyter notebook: {first_line[:300]}"
    return notebook, ""
