"""What a student's feedback page shows of the graded cells.

:class:`HideHiddenTests` is added to nbgrader's ``GenerateFeedback``
preprocessors by ``autograder/nbgrader_config.py``: it removes the hidden-test
region from each graded cell (nbgrader's own ``ClearHiddenTests``) and cuts
each error in a graded cell down to its message. The message is the check's
diagnosis; the traceback would repeat the hidden test's code and inputs.
"""
from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests


class HideHiddenTests(ClearHiddenTests):
    """Feedback preprocessor: no hidden-test code, errors shown as ``Name: message``."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
