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

from nbconvert.preprocessors import Preprocessor
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool


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
