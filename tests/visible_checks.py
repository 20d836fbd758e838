"""A notebook's visible checks, run as a student's kernel runs them: every code cell in order, each graded cell as the student
notebook has it (no hidden tests). Imported by the tests (live, with Keras), and run as a script in an interpreter where
TensorFlow cannot be imported (the checks then replay the recorded references):

    python tests/visible_checks.py CHAPTER NOTEBOOKS.json   ->  {student: {graded cell: verdict}} as JSON on stdout

This module imports neither TensorFlow nor pytest.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys

import nbformat

from dlcourse.grading.plan import nbgrader_meta
from dlcourse.grading.workspace import CHAPTERS, NOTEBOOK


def visible_verdicts(chapter: str, notebook: nbformat.NotebookNode) -> dict[str, str]:
    """{graded cell: verdict} of ``notebook`` (a solution or a variant of it): ``""`` when its visible checks pass, the
    check's message when one fails, ``"raised <type>"`` when the student's code (or a missing function) raises another
    exception, and ``"ImportError: ..."`` in full, so that a check that could not find its reference says so."""
    from dlcourse.checks.compare import CheckFailed

    student = {nbgrader_meta(c).get("grade_id"): c.source for c in nbformat.read(CHAPTERS / chapter / NOTEBOOK, as_version=4).cells}
    namespace: dict = {}
    verdicts = {}
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") != "code":
            continue
        graded = bool(meta.get("grade")) and not meta.get("solution")
        source = student[meta["grade_id"]] if graded else cell.source
        verdict = ""
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(source, f"<{meta.get('grade_id', 'cell')}>", "exec"), namespace)
            except CheckFailed as failure:
                verdict = str(failure)
            except ImportError as error:
                verdict = f"ImportError: {error}"
            except Exception as error:  # the student's exception, or a function the student's cell did not define
                verdict = f"raised {type(error).__name__}"
        if graded:
            verdicts[meta["grade_id"]] = verdict
    return verdicts


def main(chapter: str, notebooks_file: str) -> None:
    notebooks = json.loads(open(notebooks_file).read())
    verdicts = {student: visible_verdicts(chapter, nbformat.from_dict(notebook)) for student, notebook in notebooks.items()}
    sys.stdout.write(json.dumps(verdicts))


if __name__ == "__main__":
    main(*sys.argv[1:])
