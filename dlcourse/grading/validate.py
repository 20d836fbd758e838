"""``course validate``: nbgrader's validation from a terminal, with whole diagnoses and an exit status.

``nbgrader validate`` runs the notebook in a fresh kernel like the Validate
button, but cuts every line at 90 characters (mid-diagnosis) and exits 0
when checks fail. This runs nbgrader's own validator, prints every line
whole, and exits 1 when a cell failed or a locked cell was changed.
"""
from __future__ import annotations

import sys
from pathlib import Path

from nbconvert.filters import strip_ansi
from nbgrader.validator import Validator

from dlcourse.grading.workspace import use_this_environment


class WholeLineValidator(Validator):
    """nbgrader's validator, printing lines whole and keeping the results of the last notebook."""

    results: dict = {}

    def _indent(self, val: str) -> str:
        return "\n".join(self.indent + strip_ansi(line) for line in val.split("\n"))

    def validate(self, filename: str) -> dict:
        self.results = super().validate(filename)
        return self.results


def validate_notebooks(paths: list[Path]) -> int:
    """Validate each notebook and print the outcome; 0 when every one passes, 1 otherwise, 2 for a missing file."""
    use_this_environment()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"course validate: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    validator, status = WholeLineValidator(), 0
    for path in paths:
        print(f"{path}:")
        validator.validate_and_print(str(path))
        results = validator.results
        if results.get("failed") or results.get("changed") or results.get("type_changed"):
            status = 1
    return status
