"""The nbgrader preprocessors that ``autograder/nbgrader_config.py`` configures.

:class:`HideHiddenTests` is added to nbgrader's ``GenerateFeedback``
preprocessors: it removes the hidden-test region from each graded cell
(nbgrader's own ``ClearHiddenTests``) and cuts each error in a graded cell
down to its message. The message is the check's diagnosis; the traceback
would repeat the hidden test's code and inputs.

:class:`RefusePlainAutograde` replaces nbgrader's ``Autograde`` pipeline:
nbgrader's autograde (formgrader's per-student button, ``nbgrader autograde``)
runs the student's code in an ordinary kernel, outside the course's sandbox,
so it refuses with the command to use instead.
"""
from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets import Bool, Dict, Float

from dlcourse.grading.workspace import NOTEBOOK


class HideHiddenTests(ClearHiddenTests):
    """Feedback preprocessor: no hidden-test code, errors shown as ``Name: message``."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class RefusePlainAutograde(Preprocessor):
    """Autograde preprocessor that stops nbgrader's own autograding before any student code runs."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        raise RuntimeError(PLAIN_AUTOGRADE_REFUSED)


PLAIN_AUTOGRADE_REFUSED = ("this course grades submissions in a sandbox: run `make grade SUBMISSIONS=<folder>` (course grade) "
                           "instead of nbgrader's autograde, which would run the student's code outside it")


class GradesFromData(Preprocessor):
    """Feedback preprocessor: what nbgrader's ``GetGrades`` reads from the gradebook, given as data instead (so that a
    worker without the gradebook can write the page). ``grades``: ``{grade_id: score}`` (manual score where entered,
    extra credit included, as nbgrader's ``Grade.score``); ``comments``: ``{grade_id: comment}``."""

    grades = Dict()
    comments = Dict()
    late_penalty = Float(0.0)

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        points = [cell.metadata.nbgrader.get("points", 0.0) for cell in nb.cells if utils.is_grade(cell) or utils.is_task(cell)]
        resources["nbgrader"]["score"] = sum(self.grades.values()) - self.late_penalty
        resources["nbgrader"]["max_score"] = float(sum(points))
        resources["nbgrader"]["late_penalty"] = self.late_penalty
        return nb, resources

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if utils.is_solution(cell) or utils.is_task(cell):
            cell.metadata.nbgrader["comment"] = self.comments.get(grade_id)
        if utils.is_grade(cell) or utils.is_task(cell):
            cell.metadata.nbgrader["score"] = float(self.grades.get(grade_id, 0.0))
            cell.metadata.nbgrader["points"] = float(cell.metadata.nbgrader.get("points", 0.0))
        return cell, resources


@functools.cache
def _feedback_converter():
    """nbgrader's ``GenerateFeedback`` with the course's configuration (only its settings are used)."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    from dlcourse.grading.workspace import nbgrader_config

    config = nbgrader_config(Path(tempfile.gettempdir()))
    return GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)


def feedback_page(autograded: NotebookNode, student: str, assignment: str, grades: dict[str, float],
                  comments: dict[str, str], late_penalty: float = 0.0) -> str:
    """The feedback page (HTML text) of an autograded notebook, as nbgrader's ``generate_feedback`` writes it with the
    course's configuration, from the cells' scores and comments given as data (see :class:`GradesFromData`): nbgrader's
    exporter and preprocessors, with :class:`GradesFromData` in place of ``GetGrades``."""
    converter = _feedback_converter()
    exporter = converter.exporter_class(parent=converter, config=converter.config)
    for preprocessor in converter.preprocessors:
        if preprocessor in (CSSHTMLHeaderPreprocessor, "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"):
            continue  # the feedback template's own (Pygments' default style) is the one nbgrader's pages show
        if preprocessor in (GetGrades, "nbgrader.preprocessors.GetGrades"):
            preprocessor = GradesFromData(grades=grades, comments=comments, late_penalty=late_penalty)
        exporter.register_preprocessor(preprocessor, enabled=True)
    name = Path(NOTEBOOK).stem
    resources = {"unique_key": name, "output_files_dir": f"{name}_files", "metadata": {"name": name},
                 "nbgrader": {"student": student, "assignment": assignment, "notebook": name}}
    html, _ = exporter.from_notebook_node(copy.deepcopy(autograded), resources=resources)
    return html
