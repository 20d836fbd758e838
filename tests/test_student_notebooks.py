"""The committed student notebooks are exactly what nbgrader generates from the solutions."""
from __future__ import annotations

import json

import nbformat
import pytest
from conftest import CHAPTERS, NOTEBOOK, assignments, secret_lines, solution_notebook

from dlcourse.grading.workspace import generate_student_notebooks

SECRETS = ["BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Student notebooks generated now into a scratch folder: {assignment: path}."""
    root = tmp_path_factory.mktemp("generate")
    paths = generate_student_notebooks(root / "workspace", destination=root / "chapters")
    return {p.parent.name: p for p in paths}


def test_every_solution_has_a_chapter_folder():
    assert assignments(), "no solutions/<chapter>/exercises.ipynb found"
    for name in assignments():
        assert (CHAPTERS / name / NOTEBOOK).exists(), f"chapters/{name}/{NOTEBOOK} is missing: run `make exercises`"


@pytest.mark.parametrize("assignment", assignments())
def test_committed_student_notebook_equals_fresh_generation(fresh, assignment):
    committed = json.loads((CHAPTERS / assignment / NOTEBOOK).read_text())
    generated = json.loads(fresh[assignment].read_text())
    assert committed == generated, f"chapters/{assignment}/{NOTEBOOK} differs from a fresh generation: run `make exercises`"


@pytest.mark.parametrize("assignment", assignments())
def test_student_notebook_holds_no_solution_or_hidden_test(assignment):
    text = (CHAPTERS / assignment / NOTEBOOK).read_text()
    for secret in SECRETS:
        assert secret not in text
    student = nbformat.read(CHAPTERS / assignment / NOTEBOOK, as_version=4)
    master = solution_notebook(assignment)
    student_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    leaked = sorted(secret_lines(master) & student_lines)
    assert not leaked, f"solution or hidden-test lines in the student notebook: {leaked}"
    stubs = sum("raise NotImplementedError()" in c.source for c in student.cells if c.cell_type == "code")
    solutions = sum(c.metadata.get("nbgrader", {}).get("solution", False) for c in master.cells)
    assert stubs == solutions > 0


@pytest.mark.parametrize("assignment", assignments())
def test_notebooks_are_committed_without_outputs(assignment):
    for path in (CHAPTERS / assignment).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"
    for cell in solution_notebook(assignment).cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
