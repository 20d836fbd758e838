"""Grade a folder of submissions: student code in a sandbox, verdicts decided here.

Input: a folder laid out as nbgrader's ``submitted/``:
``<student_id>/<assignment_id>/exercises.ipynb``. Output: an nbgrader course
directory (usable with formgrader) that also holds

- ``grades_by_cell.csv``: one row per student, assignment and graded cell;
- ``grades.csv``: nbgrader's own export, one row per student and assignment;
- ``feedback/<student_id>/<assignment_id>/exercises.html``: the feedback page.

How a submission is graded (see the README, "Grading design"):

1. once per batch, the solution notebook's graded cells are *planned*
   (:mod:`dlcourse.grading.plan`): their check calls are recorded with the
   references live Keras computes, in this process;
2. the student's own code cells, and the recorded calls, run in a fresh
   bubblewrap sandbox (:mod:`dlcourse.grading.sandbox`) that returns plain
   data; a call that hangs or crashes is stopped and the sandbox restarted
   for the next graded cell;
3. the data are judged here; scores go into the gradebook (only
   ``auto_score``: manual grades entered in formgrader stay), the autograded
   notebook and nbgrader's feedback page are written, then a marker that
   makes a re-run skip the submission unless ``regrade`` is asked.

Sandboxes run in parallel worker threads; everything that writes (gradebook,
files) happens in the calling thread, one submission at a time.
"""
from __future__ import annotations

import copy
import csv
import functools
import hashlib
import json
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import Callable

import nbformat

from dlcourse.checks.compare import CheckFailed
from dlcourse.grading.course import NOTEBOOK, GradingError, assignments, make_api, prepare_workspace, use_this_environment
from dlcourse.grading.plan import AssignmentPlan, nbgrader_meta, plan_assignment, student_code
from dlcourse.grading.sandbox import Limits, SandboxUnavailable, check_sandbox, run_job
from dlcourse.grading.wire import decode

CELL_COLUMNS = ["student_id", "assignment_id", "notebook", "cell", "points", "max_points", "status", "message"]
MARKER = ".course-grade.json"
NOTEBOOK_NAME = NOTEBOOK[: -len(".ipynb")]


@dataclass
class CellVerdict:
    """The verdict on one graded cell: points, and the first failure's message."""

    grade_id: str
    points: float
    max_points: float
    message: str = ""


@dataclass
class Outcome:
    """What grading one submission gave."""

    student_id: str
    assignment_id: str
    score: float
    max_score: float
    problem: str = ""                      # why it could not be graded at all
    cells: list[CellVerdict] = field(default_factory=list)
    skipped: bool = False                  # already graded by an earlier run


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


# ----------------------------------------------------------------------------- running and judging


def run_submission(plan: AssignmentPlan, notebook: nbformat.NotebookNode, worker: int, limits: Limits) -> dict[int, dict]:
    """Run the student's code and every planned call; return ``{call number: event}``.

    An event holds the call's ``result`` and ``args_after`` (plain data), or
    ``error`` (the student's exception), or ``reason`` (the grader's: a time
    limit, a crash). After a call that does not come back, the sandbox is
    restarted at the next graded cell's first call.
    """
    cells, probes = student_code(plan, notebook), plan.probes
    names = [name if isinstance(name, str) else " / ".join(name) for cell in plan.graded for name, _ in cell.calls]
    first_call_of_cell, start = [], 0
    for graded in plan.graded:
        first_call_of_cell.append(start)
        start += len(graded.calls)
    results: dict[int, dict] = {}
    cell_error = ""
    offset = 0
    while offset < len(probes):
        run = run_job({"cells": cells, "probes": probes[offset:]}, worker, limits)
        started = [offset + e["n"] for e in run.events if e.get("event") == "probe_start" and isinstance(e.get("n"), int)]
        for event in run.events:
            if event.get("event") == "probe_end" and isinstance(event.get("n"), int):
                results[offset + event["n"]] = event
            elif event.get("event") == "cell_end" and event.get("error") and not cell_error:
                cell_error = f"your cell {event.get('id')} raised:\n{event['error']}"
        if not run.ended:
            break
        output = f"\nlast output:\n{run.stdout.strip()[-1500:]}" if run.stdout.strip() else ""
        if not started:  # the student's cells themselves did not finish: a restart would stop there again
            for n in range(offset, len(probes)):
                results[n] = {"reason": f"your code did not get to this check: {run.ended} (while running {run.stopped_in or 'your cells'}){output}"}
            break
        stuck = started[-1]
        results[stuck] = {"reason": f"your {names[stuck]} did not return: {run.ended} (an endless loop, a long wait, a crash, os._exit?){output}"}
        offset = next((f for f in first_call_of_cell if f > stuck), len(probes))
        for n in range(stuck + 1, offset):
            results[n] = {"reason": "not run: an earlier check of this graded cell failed"}
    if cell_error:
        for event in results.values():
            if str(event.get("error", "")).startswith("NameError"):
                event["error"] += "\n" + cell_error
    return results


def judge(plan: AssignmentPlan, results: dict[int, dict]) -> list[CellVerdict]:
    """Decide each graded cell from the data the sandbox returned."""
    verdicts, number = [], 0
    for cell in plan.graded:
        message = ""
        for names, case in cell.calls:
            name = names if isinstance(names, str) else " / ".join(names)
            event, number = results.get(number, {"reason": "not run: the grader got no result for this check"}), number + 1
            if message:
                continue
            if event.get("reason"):
                message = event["reason"]
                continue
            if event.get("error"):
                lines = [line for line in str(event["error"]).splitlines() if line.strip()]
                message = f"your {name} raised {lines[-1].strip() if lines else 'an exception'}\n{event['error']}"
                continue
            try:
                args_after = decode(event.get("args_after"))
                case.judge(decode(event.get("result")), tuple(args_after) if isinstance(args_after, (list, tuple)) else ())
            except CheckFailed as failure:
                message = str(failure)
            except Exception as error:  # data the judge cannot read: the student's result, so their points
                message = f"the result of your {name} could not be checked: {type(error).__name__}: {error}"
        verdicts.append(CellVerdict(cell.grade_id, 0.0 if message else cell.points, cell.points, message))
    return verdicts


# ----------------------------------------------------------------------------- recording


def autograded_notebook(plan: AssignmentPlan, submission: nbformat.NotebookNode, verdicts: list[CellVerdict]) -> nbformat.NotebookNode:
    """The solution notebook's structure with the student's cells in place and verdicts as test outputs."""
    student_sources: dict[str, list[str]] = {}
    for cell in submission.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if cell.get("cell_type") == "code" and grade_id in plan.solution_ids:
            student_sources.setdefault(grade_id, []).append(str(cell.get("source", "")))
    by_id = {v.grade_id: v for v in verdicts}
    result = copy.deepcopy(plan.master)
    for cell in result.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if meta.get("solution"):
            cell.source = "\n\n".join(student_sources.get(meta["grade_id"], ["# (this cell is missing from the submission)"]))
        verdict = by_id.get(meta.get("grade_id"))
        if verdict and verdict.message:
            cell.outputs = [nbformat.v4.new_output("error", ename="CheckFailed", evalue=verdict.message, traceback=[verdict.message])]
        elif verdict:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"OK: every check of {verdict.grade_id} passed.\n")]
    return result


def record_scores(output: Path, student: str, assignment: str, verdicts: list[CellVerdict]) -> None:
    """Store the automatic scores; manual scores entered in formgrader are left as they are."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{output / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_student(student)
        try:
            gradebook.find_submission(assignment, student)
        except MissingEntry:
            gradebook.add_submission(assignment, student)
        notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, assignment, student)
        points = {v.grade_id: v.points for v in verdicts}
        for grade in notebook.grades:
            if grade.name in points:
                grade.auto_score = points[grade.name]
        gradebook.db.commit()


def _fingerprint(path: Path, plan_hash: str) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() + ":" + plan_hash


# ----------------------------------------------------------------------------- the batch


def grade_submissions(submitted: Path, output: Path, progress: Callable[[str], None] = functools.partial(print, flush=True), workers: int = 2,
                      regrade: bool = False, limits: Limits = Limits()) -> list[Outcome]:
    """Grade every submission under ``submitted`` into the workspace ``output``; see the module doc."""
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's gradebook session warnings, harmless
    submitted, output = submitted.resolve(), output.resolve()
    pairs = find_submissions(submitted)
    use_this_environment()
    names = sorted({a for _, a in pairs})
    prepare_workspace(output, names)
    workspace_submitted = output / "submitted"
    if workspace_submitted != submitted:
        shutil.copytree(submitted, workspace_submitted, dirs_exist_ok=True)
    try:
        check_sandbox(limits)
    except SandboxUnavailable as error:
        raise GradingError(str(error)) from error
    api = make_api(output)
    plans, plan_hashes = {}, {}
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise GradingError(f"could not prepare {name}: {result.get('error') or result.get('log')}")
        plans[name] = plan_assignment(name)
        plan_hashes[name] = hashlib.sha256((output / "source" / name / NOTEBOOK).read_bytes()).hexdigest()[:16]

    started = time.perf_counter()
    outcomes: list[Outcome] = []
    to_run = []
    for student, assignment in pairs:
        path = workspace_submitted / student / assignment / NOTEBOOK
        marker = output / "autograded" / student / assignment / MARKER
        notebook, problem = read_submission(path)
        plan = plans[assignment]
        if notebook is not None and not regrade and marker.exists() and \
                json.loads(marker.read_text()).get("fingerprint") == _fingerprint(path, plan_hashes[assignment]):
            outcome = Outcome(student, assignment, 0.0, plan.max_score, skipped=True)
            outcome.cells = [CellVerdict(**c) for c in json.loads(marker.read_text())["cells"]]
            outcome.score = sum(c.points for c in outcome.cells)
            outcomes.append(outcome)
            progress(f"[{len(outcomes)}/{len(pairs)}] {student} {assignment}: already graded ({outcome.score:g}/{plan.max_score:g}); skipped")
        elif notebook is None:
            outcomes.append(Outcome(student, assignment, 0.0, plan.max_score, problem=problem))
            progress(f"[{len(outcomes)}/{len(pairs)}] {student} {assignment}: 0/{plan.max_score:g}, not graded: {problem}")
        else:
            to_run.append((student, assignment, notebook, path, marker))

    slots: Queue = Queue()
    for worker in range(max(1, workers)):
        slots.put(worker)

    def sandboxed(plan, notebook):
        worker = slots.get()
        try:
            t0 = time.perf_counter()
            return run_submission(plan, notebook, worker, limits), time.perf_counter() - t0
        finally:
            slots.put(worker)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(sandboxed, plans[a], nb): (s, a, nb, p, m) for s, a, nb, p, m in to_run}
        for future in as_completed(futures):
            student, assignment, notebook, path, marker = futures[future]
            plan = plans[assignment]
            try:
                results, seconds = future.result()
                verdicts = judge(plan, results)
            except Exception as error:  # a fault of the grader's, not the student's: say so, keep going
                outcomes.append(Outcome(student, assignment, 0.0, plan.max_score, problem=f"internal grader error: {type(error).__name__}: {error}"))
                progress(f"[{len(outcomes)}/{len(pairs)}] {student} {assignment}: not graded, internal grader error: {error}")
                continue
            record_scores(output, student, assignment, verdicts)
            marker.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(autograded_notebook(plan, notebook, verdicts), marker.parent / NOTEBOOK)
            feedback = api.generate_feedback(assignment, student, force=True)
            if not feedback["success"]:
                progress(f"  (feedback page for {student} not written: {(feedback.get('error') or '').strip()[-300:]})")
            marker.write_text(json.dumps({"fingerprint": _fingerprint(path, plan_hashes[assignment]),
                                          "cells": [v.__dict__ for v in verdicts]}))
            outcome = Outcome(student, assignment, sum(v.points for v in verdicts), plan.max_score, cells=verdicts)
            outcomes.append(outcome)
            progress(f"[{len(outcomes)}/{len(pairs)}] {student} {assignment}: {outcome.score:g}/{outcome.max_score:g} ({seconds:.1f} s)")
    outcomes.sort(key=lambda o: (o.student_id, o.assignment_id))
    write_cell_grades(output, outcomes, plans)
    export_grades(output)
    progress(f"graded {len(pairs)} submission(s) in {time.perf_counter() - started:.1f} s with {workers} worker(s); "
             f"results in {output / 'grades_by_cell.csv'}, feedback in {output / 'feedback'}")
    return outcomes


def _scores(output: Path, student: str, assignment: str) -> dict[str, float]:
    """Each graded cell's score in the gradebook (the manual score where one was entered)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{output / 'gradebook.db'}") as gradebook:
        try:
            notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, assignment, student)
        except MissingEntry:
            return {}
        return {grade.name: float(grade.score) for grade in notebook.grades if grade.max_score}


def write_cell_grades(output: Path, outcomes: list[Outcome], plans: dict[str, AssignmentPlan]) -> Path:
    """Write ``grades_by_cell.csv``: one row per student, assignment and graded cell."""
    path = output / "grades_by_cell.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CELL_COLUMNS)
        for outcome in outcomes:
            scores = {} if outcome.problem else _scores(output, outcome.student_id, outcome.assignment_id)
            messages = {c.grade_id: c.message for c in outcome.cells}
            for cell in plans[outcome.assignment_id].graded:
                status = f"not graded: {outcome.problem}" if outcome.problem else "graded"
                first_line = messages.get(cell.grade_id, "").strip().splitlines()[:1]
                writer.writerow([outcome.student_id, outcome.assignment_id, NOTEBOOK, cell.grade_id,
                                 f"{scores.get(cell.grade_id, 0.0):g}", f"{cell.points:g}", status, first_line[0] if first_line else ""])
    return path


def export_grades(output: Path) -> Path:
    """Write nbgrader's own ``grades.csv`` (one row per student and assignment)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    path = output / "grades.csv"
    plugin = CsvExportPlugin()
    plugin.to = str(path)
    with Gradebook(f"sqlite:///{output / 'gradebook.db'}") as gradebook:
        plugin.export(gradebook)
    return path
