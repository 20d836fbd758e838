"""Turn a solution notebook into a grading plan, and a submission into a sandbox job.

Conventions of a solution notebook (``solutions/<assignment>/exercises.ipynb``):

- solution cells (nbgrader ``solution: true``) define the student's functions,
  and the answers a student gives as values (``answer_warmup = "b"``);
- locked cells whose ``grade_id`` starts with ``imports`` hold the imports the
  student's code may use: they also run in the sandbox, before the student's
  cells;
- locked cells whose ``grade_id`` starts with ``checks`` import the checks;
- each graded cell calls checks from ``dlcourse.checks`` (visible part, then
  the ``### BEGIN HIDDEN TESTS`` region).

The grader executes the imports, checks and graded cells here, in its own
process, with every student function replaced by a
:class:`~dlcourse.checks.cases.StudentFunction`: this records each graded
cell's cases (inputs, and judges holding the Keras references) without
running any student code.
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dlcourse.checks.cases import Case, StudentFunction
from dlcourse.grading.wire import encode
from dlcourse.grading.workspace import CHAPTERS, NOTEBOOK, SOLUTIONS, GradingError, assignments


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


@dataclass
class GradedCell:
    """A graded cell of the solution notebook and the calls it makes."""

    grade_id: str
    points: float
    calls: list[tuple[str | tuple, Case]] = field(default_factory=list)  # recorded calls: (student function(s), case)


@dataclass
class AssignmentPlan:
    """Everything the grader needs to grade one assignment, built once per batch."""

    master: nbformat.NotebookNode
    solution_ids: list[str]
    graded: list[GradedCell]

    @property
    def imports(self) -> list[dict]:
        return [{"id": nbgrader_meta(c)["grade_id"], "source": c.source} for c in self.master.cells
                if c.cell_type == "code" and str(nbgrader_meta(c).get("grade_id", "")).startswith("imports")]

    @property
    def encoded_calls(self) -> list[dict]:
        """Every call of every graded cell, in order, as plain data for the sandbox."""
        return [{"function": name, "args": encode(case.args), "kwargs": encode(case.kwargs), "driver": case.driver,
                 "substitutes": list(case.substitutes)} for cell in self.graded for name, case in cell.calls]

    @property
    def first_call_of_each_cell(self) -> list[int]:
        """The number of each graded cell's first call in :attr:`encoded_calls`."""
        starts, start = [], 0
        for cell in self.graded:
            starts.append(start)
            start += len(cell.calls)
        return starts

    @property
    def call_names(self) -> list[str]:
        """The student function(s) of each call, for messages (``"adam_init / adam_update"``)."""
        return [call_name(name) for cell in self.graded for name, _ in cell.calls]

    @property
    def max_score(self) -> float:
        return sum(cell.points for cell in self.graded)


def graded_points(master: nbformat.NotebookNode) -> dict[str, float]:
    """``{grade_id: points}`` of each graded cell of an assignment's ``master`` notebook, in the notebook's order,
    without planning it."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0)) for c in master.cells
            if c.cell_type == "code" and nbgrader_meta(c).get("grade")}


def call_name(names: str | tuple) -> str:
    """The student function(s) a recorded call is made with, as text."""
    return names if isinstance(names, str) else " / ".join(names)


def defined_names(source: str) -> list[str]:
    """Names of the functions a cell defines and of the simple names it assigns, at top level (a student's functions and answers)."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            names += [t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)]
    return names


def plan_assignment(name: str, solutions: Path = SOLUTIONS) -> AssignmentPlan:
    """Read ``solutions/<name>/exercises.ipynb`` and record the calls of every graded cell.

    Planning asks Keras for every reference (seconds); a process that grades
    several batches plans each version of a solution notebook once.
    """
    return _plan(name, (solutions / name / NOTEBOOK).read_text())


@functools.lru_cache(maxsize=8)
def _plan(name: str, notebook_text: str) -> AssignmentPlan:
    master = nbformat.reads(notebook_text, as_version=4)
    solution_ids, functions = [], []
    namespace: dict = {}
    for cell in master.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            solution_ids.append(meta["grade_id"])
            functions += defined_names(cell.source)
        elif str(meta.get("grade_id", "")).startswith(("imports", "checks")):
            exec(compile(cell.source, f"<{name}:{meta['grade_id']}>", "exec"), namespace)
    graded = []
    for cell in master.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        recorded: list = []
        cell_namespace = dict(namespace, **{f: StudentFunction(f, recorded) for f in functions})
        try:
            exec(compile(cell.source, f"<{name}:{meta['grade_id']}>", "exec"), cell_namespace)
        except Exception as error:
            raise GradingError(f"{name}: graded cell {meta['grade_id']} cannot be planned: {type(error).__name__}: {error}") from error
        if not recorded:
            raise GradingError(f"{name}: graded cell {meta['grade_id']} calls no check of a student function")
        graded.append(GradedCell(meta["grade_id"], float(meta.get("points", 0)), recorded))
    _check_substitution_order(name, graded)
    return AssignmentPlan(master, solution_ids, graded)


def visible_master(name: str, solutions: Path = SOLUTIONS, chapters: Path = CHAPTERS) -> nbformat.NotebookNode:
    """The master notebook of ``name`` with each graded cell as the student's notebook ``chapters/<name>`` has it: the visible
    checks, without the hidden tests."""
    master = nbformat.read(solutions / name / NOTEBOOK, as_version=4)
    student = {nbgrader_meta(c).get("grade_id"): c.source for c in nbformat.read(chapters / name / NOTEBOOK, as_version=4).cells}
    for cell in master.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("grade"):
            if meta["grade_id"] not in student:
                raise GradingError(f"{name}: the student notebook has no cell {meta['grade_id']}: regenerate it (course generate)")
            cell.source = student[meta["grade_id"]]
    return master


def record_visible_checks(solutions: Path = SOLUTIONS, chapters: Path = CHAPTERS) -> dict:
    """Plan the visible checks of every assignment (:func:`visible_master`) with live Keras and return what
    :mod:`dlcourse.checks.recording` replays: {check name: [RecordedCall]}."""
    from dlcourse.checks import recording

    with recording.record() as recorded:
        for name in assignments():
            _plan(f"{name} (visible checks)", nbformat.writes(visible_master(name, solutions, chapters)))
    return recorded


def write_recording(recorded: dict, path: Path) -> bool:
    """Write ``recorded`` (:func:`~dlcourse.checks.recording.dumps`) to ``path`` unless the file there already records the
    same calls, judges and references (:func:`~dlcourse.checks.recording.recording_fingerprints`); whether it wrote."""
    from dlcourse.checks.recording import dumps, loads, recording_fingerprints

    if path.is_file():
        try:
            unchanged = recording_fingerprints(loads(path.read_bytes())) == recording_fingerprints(recorded)
        except ImportError:  # the file names a judge the checks no longer have: it is out of date
            unchanged = False
        if unchanged:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dumps(recorded))
    return True


def _check_substitution_order(name: str, graded: list[GradedCell]) -> None:
    """Refuse a plan that checks a function after a call that ran the course's version of it.

    The sandbox receives the course's versions (:mod:`dlcourse.numpy_reference`)
    at the first call that substitutes them; a check of the same function
    afterwards could then be passed with the course's code.
    """
    substituted: set[str] = set()
    for cell in graded:
        for names, case in cell.calls:
            # a function the call replaces with the course's (AdamW's check hands it adam_init) is not checked by it
            checked = ({names} if isinstance(names, str) else set(names)) - set(case.substitutes)
            if checked & substituted:
                raise GradingError(f"{name}: graded cell {cell.grade_id} checks {sorted(checked & substituted)} after a check that "
                                   "substituted the course's version: check a function before the functions that call it")
            substituted |= set(case.substitutes)


def student_code(plan: AssignmentPlan, submission: nbformat.NotebookNode) -> list[dict]:
    """The cells to run for a submission: the course's imports, then the student's own code cells.

    A student's code cell is a solution cell of the assignment (matched by
    ``grade_id``) or a cell the student added. Submitted copies of the
    course's other cells (imports, checks, graded cells, whatever their
    metadata now says) are never run: the verdict comes from the plan.
    """
    course_ids = {nbgrader_meta(c).get("grade_id") for c in plan.master.cells} - {None} - set(plan.solution_ids)
    cells = list(plan.imports)
    for number, cell in enumerate(submission.cells):
        if cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
            continue
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in course_ids:
            continue
        cells.append({"id": grade_id if grade_id in plan.solution_ids else f"cell {number + 1}", "source": cell.source})
    return cells
