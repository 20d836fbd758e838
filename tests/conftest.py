"""Shared fixtures: the repository's paths and one grading batch shared by the grading tests."""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dlcourse.grading.course import CHAPTERS, NOTEBOOK, REPOSITORY, SOLUTIONS, assignments

CHAPTER_1 = "01_gradient_descent"
TOC_FILES = re.findall(r"file:\s*(\S+)", (REPOSITORY / "_toc.yml").read_text())


def solution_notebook(assignment: str = CHAPTER_1) -> nbformat.NotebookNode:
    """The instructor's master notebook of ``assignment``."""
    return nbformat.read(SOLUTIONS / assignment / NOTEBOOK, as_version=4)


def with_cell_source(notebook: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose cell ``grade_id`` holds ``source`` (a student's answer)."""
    changed = copy.deepcopy(notebook)
    cells = [c for c in changed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(cells) == 1, f"no single cell {grade_id}"
    cells[0].source = source
    return changed


def write_submission(submitted: Path, student: str, notebook, assignment: str = CHAPTER_1, name: str = NOTEBOOK) -> Path:
    """Write ``notebook`` (a NotebookNode, or raw text) as ``student``'s submission."""
    path = submitted / student / assignment / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, str):
        path.write_text(notebook)
    else:
        nbformat.write(notebook, path)
    return path


__all__ = ["CHAPTERS", "CHAPTER_1", "NOTEBOOK", "REPOSITORY", "SOLUTIONS", "assignments", "json"]


def secret_lines(notebook: nbformat.NotebookNode, regions: tuple[str, ...] = ("SOLUTION", "HIDDEN TESTS")) -> set[str]:
    """Stripped lines that stand only inside the ``regions`` (solution, hidden tests) of ``notebook``.

    A line that the task statement itself quotes (in a markdown cell) is public.
    """
    secret, public = set(), set()
    statements = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    begins, ends = tuple(f"### BEGIN {r}" for r in regions), tuple(f"### END {r}" for r in regions)
    for cell in notebook.cells:
        in_secret = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith(begins):
                in_secret = True
            elif stripped.startswith(ends):
                in_secret = False
            elif stripped:
                (secret if in_secret else public).add(stripped)
    return {line for line in secret - public if line not in statements}


def grade_and_read(submitted: Path, output: Path) -> dict:
    """Grade ``submitted`` into ``output``: {"rows": grades_by_cell.csv rows, "outcomes": {student: Outcome}}."""
    import csv

    from dlcourse.grading.grade import grade_submissions

    outcomes = grade_submissions(submitted, output, progress=lambda message: None)
    with (output / "grades_by_cell.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return {"rows": rows, "outcomes": {o.student_id: o for o in outcomes}}


def points(graded: dict, student: str) -> dict[str, float]:
    """Points of each graded cell of ``student`` in a :func:`grade_and_read` result."""
    return {r["cell"]: float(r["points"]) for r in graded["rows"] if r["student_id"] == student}


def environment() -> dict:
    """The environment of a child process: this interpreter's bin/ first on PATH."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def all_secret_lines(regions: tuple[str, ...] = ("SOLUTION", "HIDDEN TESTS")) -> set[str]:
    """Lines of every chapter's solutions and hidden tests (or only ``regions``) that no student-facing page may show."""
    secrets = set()
    for path in SOLUTIONS.glob("*/exercises.ipynb"):
        secrets |= secret_lines(solution_notebook(path.parent.name), regions)
    return secrets


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The book built with warnings as errors into a scratch folder (once per test session); the HTML folder.

    ``COURSE_SITE=_build/html`` reuses a site already built by ``make site`` (while working on the site tests).
    """
    if os.environ.get("COURSE_SITE"):
        site = Path(os.environ["COURSE_SITE"]).resolve()
        assert (site / "intro.html").is_file(), f"COURSE_SITE={site} holds no built site"
        return site
    output = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPOSITORY), "--path-output", str(output), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, env=environment(), timeout=3000,
    )
    assert result.returncode == 0, f"jupyter-book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return output / "_build" / "html"


def solution_cell_source(chapter: str, grade_id: str) -> str:
    """The source of cell ``grade_id`` in the solution notebook of ``chapter``."""
    return next(c.source for c in solution_notebook(chapter).cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def mutate(chapter: str, grade_id: str, old: str, new: str) -> str:
    """The solution cell ``grade_id`` of ``chapter`` with ``old`` replaced by ``new`` (a classic wrong answer)."""
    source = solution_cell_source(chapter, grade_id)
    assert old in source, old
    return source.replace(old, new)


def grade_wrong_answers(root: Path, chapter: str, wrong_answers: dict, extra: dict | None = None) -> dict:
    """Grade, in one batch, ``chapter``'s solution ("solution"), its blank student notebook ("blank"), one submission per
    wrong answer ({student: (grade_id, source, broken cells)}) and the ``extra`` notebooks ({student: notebook});
    returns :func:`grade_and_read`'s result."""
    submitted = root / "submitted"
    master = solution_notebook(chapter)
    write_submission(submitted, "solution", master, assignment=chapter)
    write_submission(submitted, "blank", nbformat.read(CHAPTERS / chapter / NOTEBOOK, as_version=4), assignment=chapter)
    for student, (cell, source, _) in wrong_answers.items():
        write_submission(submitted, student, with_cell_source(master, cell, source), assignment=chapter)
    for student, notebook in (extra or {}).items():
        write_submission(submitted, student, notebook, assignment=chapter)
    return grade_and_read(submitted, root / "out")


def expected_points(cells: dict[str, int], broken=()) -> dict[str, float]:
    """Full points for every graded cell of ``cells`` ({grade_id: points}) except the ``broken`` ones, which get 0."""
    return {c: 0.0 if c in broken else float(p) for c, p in cells.items()}


def message(graded: dict, student: str, cell: str) -> str:
    """The grader's message for ``student``'s graded cell ``cell``."""
    return {v.grade_id: v.message for v in graded["outcomes"][student].cells}[cell]


def chapter_grading_tests(chapter: str, cells: dict[str, int], wrong_answers: dict, diagnoses: list[tuple[str, str, str]],
                          honest: dict | None = None) -> tuple:
    """The grading tests every chapter has, for a test module to assign to its globals.

    One batch grades the solution, the blank notebook, each wrong answer
    ({student: (grade_id, source, broken cells)}) and the ``honest`` variants
    ({student: notebook}, which keep full marks). The tests: solution full, blank
    0, honest full; each wrong answer loses exactly its broken cells; each
    (student, cell, phrase) of ``diagnoses`` finds the phrase in the grader's message.
    """
    @pytest.fixture(scope="module")
    def graded(tmp_path_factory):
        return grade_wrong_answers(tmp_path_factory.mktemp(f"grading_{chapter}"), chapter, wrong_answers, extra=honest)

    def test_solution_full_marks_honest_full_marks_and_blank_zero(graded):
        assert points(graded, "solution") == expected_points(cells)
        assert points(graded, "blank") == expected_points(cells, broken=cells)
        for student in honest or {}:
            assert points(graded, student) == expected_points(cells), student

    @pytest.mark.parametrize("student", sorted(wrong_answers))
    def test_wrong_answer_loses_the_cells_it_breaks(graded, student):
        assert points(graded, student) == expected_points(cells, wrong_answers[student][2])

    @pytest.mark.parametrize("student, cell, phrase", diagnoses)
    def test_the_diagnosis_names_the_mistake(graded, student, cell, phrase):
        assert phrase in message(graded, student, cell), message(graded, student, cell)[:1500]

    return graded, test_solution_full_marks_honest_full_marks_and_blank_zero, test_wrong_answer_loses_the_cells_it_breaks, test_the_diagnosis_names_the_mistake
