"""Grade a folder of submissions: student code in a sandbox, everything else per submission in workers.

Input: a folder laid out as nbgrader's ``submitted/``:
``<student_id>/<assignment_id>/exercises.ipynb`` (what cannot be placed there is
reported, not graded: :mod:`dlcourse.grading.submissions`). Output: an nbgrader course
directory (usable with formgrader) that also holds

- ``grades_by_cell.csv``: one row per student, assignment and graded cell;
- ``grades.csv``: nbgrader's own export, one row per student and assignment;
- ``feedback/<student_id>/<assignment_id>/exercises.html``: the feedback page.

How a batch is graded (see the README, "Grading design"):

1. the solution notebook's graded cells are *planned* (:mod:`dlcourse.grading.plan`):
   their check calls are recorded with the references live Keras computes, once
   per process that grades;
2. a worker (:mod:`dlcourse.grading.worker`; a process of a local pool of
   ``workers``, or of a Dask cluster: :mod:`dlcourse.grading.cluster`) runs the
   student's own code cells and the recorded calls in a fresh bubblewrap sandbox
   (:mod:`dlcourse.grading.run`, :mod:`dlcourse.grading.sandbox`) that returns
   plain data, judges the data, and builds the autograded notebook and nbgrader's
   feedback page; it returns them as plain data;
3. this process alone writes (:mod:`dlcourse.grading.records`), one submission
   at a time: the gradebook's automatic scores, the autograded notebook, the
   feedback page, then a marker that makes a re-run skip the submission unless
   ``regrade`` is asked (a skipped submission whose manual grades or comments
   changed in formgrader gets its feedback page written again).
"""
from __future__ import annotations

import functools
import hashlib
import multiprocessing
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlcourse.grading import records, worker
from dlcourse.grading.cluster import connect
from dlcourse.grading.plan import AssignmentPlan, plan_assignment
from dlcourse.grading.records import Outcome
from dlcourse.grading.run import CellVerdict
from dlcourse.grading.sandbox import Limits, SandboxUnavailable, check_sandbox
from dlcourse.grading.submissions import find_submissions, read_regular_file, read_submission
from dlcourse.grading.workspace import NOTEBOOK, GradingError, make_api, prepare_workspace, use_this_environment


@dataclass
class Submission:
    """One submission to grade: who, which assignment, the notebook and where its marker goes."""

    student: str
    assignment: str
    notebook: nbformat.NotebookNode
    fingerprint: str
    marker: Path


def _prepare(submitted: Path, output: Path, names: list[str], limits: Limits, sandbox_here: bool = True,
             db_url: str | None = None):
    """The workspace (gradebook at ``db_url``, see :func:`prepare_workspace`) with each assignment's master, a working
    sandbox (``sandbox_here``), and each assignment's plan and its version."""
    use_this_environment()
    prepare_workspace(output, names, db_url)
    try:
        if sandbox_here:
            check_sandbox(limits)
    except SandboxUnavailable as error:
        raise GradingError(str(error)) from error
    api = make_api(output)
    records.copy_feedback_mathjax(output)
    plans, plan_hashes = {}, {}
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise GradingError(f"could not prepare {name}: {result.get('error') or result.get('log')}")
        plans[name] = plan_assignment(name)
        plan_hashes[name] = hashlib.sha256((output / "source" / name / NOTEBOOK).read_bytes()).hexdigest()[:16]
    return plans, plan_hashes


def _graded_by_workers(to_run: list[Submission], executor: Executor, limits: Limits, manual: dict[str, dict]):
    """Each submission graded by a worker of ``executor`` (:func:`dlcourse.grading.worker.grade_on_worker`); yield
    (submission, its result or the grader's error) as they come. ``manual``: each marker's manual grades."""
    futures = {executor.submit(worker.grade_on_worker, worker.task(s.student, s.assignment, s.notebook, limits, manual[str(s.marker)])): s
               for s in to_run}
    for future in as_completed(futures):
        try:
            yield futures[future], future.result()
        except Exception as error:  # a fault of the grader's, not the student's
            yield futures[future], error


def _record(output: Path, plan: AssignmentPlan, submission: Submission, result, manual: dict, done: Callable, left: str) -> None:
    """Write what a worker returned: the gradebook scores, the autograded notebook, the feedback page and, last, the
    marker; or report the grader's error. ``done(outcome, text, kind)`` reports the submission, ending with ``left``
    (the estimate of the time left)."""
    if isinstance(result, Exception):  # say so, keep going
        done(Outcome(submission.student, submission.assignment, 0.0, plan.max_score,
                     problem=f"internal grader error: {type(result).__name__}: {result}"),
             f"not graded, internal grader error: {result}{left}", "not graded")
        return
    verdicts = [CellVerdict(**cell) for cell in result["cells"]]
    records.record_scores(output, submission.student, submission.assignment, verdicts)
    submission.marker.parent.mkdir(parents=True, exist_ok=True)
    (submission.marker.parent / NOTEBOOK).write_text(result["autograded"], encoding="utf-8")
    _write_feedback(output, submission, result["feedback"])
    records.write_marker(submission.marker, submission.fingerprint, verdicts, manual)
    outcome = Outcome(submission.student, submission.assignment, records.total_score(output, submission.student, submission.assignment),
                      plan.max_score, cells=verdicts)
    done(outcome, f"{outcome.score:g}/{outcome.max_score:g} ({result['seconds']:.1f} s){left}", "graded")


def _duration(seconds: float) -> str:
    """``seconds`` for a person: "40 s", "12 min", "3.5 h"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _write_feedback(output: Path, submission: Submission, page: str) -> None:
    """The feedback page where nbgrader puts it (``feedback/<student>/<assignment>/``), with the submission's
    ``timestamp.txt`` that nbgrader's ``release_feedback`` reads there."""
    folder = output / "feedback" / submission.student / submission.assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / Path(NOTEBOOK).with_suffix(".html")).write_text(page, encoding="utf-8")
    # a regular file only: when the output holds the submissions, this one is as the student left it
    timestamp, _ = read_regular_file(output / "submitted" / submission.student / submission.assignment / "timestamp.txt", limit=1024)
    if timestamp is not None:
        (folder / "timestamp.txt").write_bytes(timestamp)


def _check_folders(submitted: Path, output: Path) -> None:
    """The output folder may hold the submissions (nbgrader's own layout, ``output/submitted``) but not lie inside them."""
    if output == submitted or submitted in output.parents:
        raise GradingError(f"the output folder {output} is the submissions folder or inside it; choose another one "
                           "(the output holds the assignments' masters, with their solutions)")


def _copy_into_workspace(data: bytes, submitted: Path, output: Path, student: str, assignment: str) -> Path:
    """Write the submission's notebook (and its ``timestamp.txt``, if a regular file) into ``output/submitted``."""
    source, target = submitted / student / assignment, output / "submitted" / student / assignment
    if source != target:
        target.mkdir(parents=True, exist_ok=True)
        (target / NOTEBOOK).write_bytes(data)
        timestamp, _ = read_regular_file(source / "timestamp.txt", limit=1024)
        if timestamp is not None:
            (target / "timestamp.txt").write_bytes(timestamp)
    return target / NOTEBOOK


def grade_submissions(submitted: Path, output: Path, progress: Callable[[str], None] = functools.partial(print, flush=True), workers: int = 2,
                      regrade: bool = False, limits: Limits = Limits(), roster: Path | None = None,
                      scheduler: str | None = None, db_url: str | None = None) -> list[Outcome]:
    """Grade every submission under ``submitted`` into the workspace ``output``; see the module doc.

    ``roster``: a CSV in nbgrader's student import format, whose names go into the gradebook and the CSVs.
    ``scheduler``: the address of a Dask scheduler (``tcp://HOST:PORT``) whose workers grade
    (:mod:`dlcourse.grading.cluster`); without it, ``workers`` local processes do. They are spawned: a script that
    calls this function needs the ``if __name__ == "__main__":`` idiom of :mod:`multiprocessing`.
    ``db_url``: the gradebook's SQLAlchemy URL (PostgreSQL) for a new workspace; by default the workspace keeps its
    own (``output/gradebook.db`` for a new one).
    """
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's gradebook session warnings, harmless
    started = time.perf_counter()
    submitted, output = submitted.resolve(), output.resolve()
    _check_folders(submitted, output)
    students = records.read_roster(roster) if roster else []
    pairs, misplaced = find_submissions(submitted)
    plans, plan_hashes = _prepare(submitted, output, sorted({a for _, a in pairs}), limits, sandbox_here=scheduler is None,
                                  db_url=db_url)
    cluster = connect(scheduler, limits, progress) if scheduler else None
    where = f"{workers} worker(s)" if cluster is None else f"the {len(cluster.workers)} worker(s) of {scheduler}"
    with records.open_gradebook(output):  # one connection for the batch
        records.record_roster(output, students)
        outcomes: list[Outcome] = []
        total = len(pairs) + len(misplaced)
        counts = {"graded": 0, "skipped": 0, "not graded": 0}

        def done(outcome: Outcome, text: str, kind: str) -> None:
            outcomes.append(outcome)
            counts[kind] += 1
            progress(f"[{len(outcomes)}/{total}] {outcome.student_id} {outcome.assignment_id or '-'}: {text}")

        for item in misplaced:
            done(Outcome(item.student_id, item.assignment_id, 0.0, 0.0, problem=item.problem), f"not graded: {item.problem}", "not graded")
        to_run = []
        for student, assignment in pairs:
            notebook, data, problem = read_submission(submitted / student / assignment / NOTEBOOK)
            max_score = plans[assignment].max_score
            if notebook is None:
                done(Outcome(student, assignment, 0.0, max_score, problem=problem), f"0/{max_score:g}, not graded: {problem}", "not graded")
                continue
            _copy_into_workspace(data, submitted, output, student, assignment)
            submission = Submission(student, assignment, notebook, records.fingerprint(data, plan_hashes[assignment]),
                                    output / "autograded" / student / assignment / records.MARKER)
            earlier = None if regrade else records.read_marker(submission.marker, submission.fingerprint)
            if earlier is None:
                to_run.append(submission)
                continue
            verdicts, manual = earlier
            score, manual_now = records.total_score(output, student, assignment), records.manual_grades(output, student, assignment)
            if manual != manual_now:  # formgrader changed a grade or a comment since
                autograded = nbformat.read(submission.marker.parent / NOTEBOOK, as_version=4)
                _write_feedback(output, submission, records.feedback_html(plans[assignment], autograded, student, assignment, verdicts, manual_now))
                records.write_marker(submission.marker, submission.fingerprint, verdicts, manual_now)
                done(Outcome(student, assignment, score, max_score, cells=verdicts),
                     f"already graded; manual grades or comments changed: feedback updated ({score:g}/{max_score:g})", "skipped")
                continue
            done(Outcome(student, assignment, score, max_score, cells=verdicts), f"already graded ({score:g}/{max_score:g}); skipped", "skipped")

        manual = {str(s.marker): records.manual_grades(output, s.student, s.assignment) for s in to_run}
        executor = ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("spawn")) if cluster is None else cluster.executor
        try:
            dispatched = time.perf_counter()
            for finished, (submission, result) in enumerate(_graded_by_workers(to_run, executor, limits, manual), start=1):
                rate = (time.perf_counter() - dispatched) / finished
                left = f"; about {_duration(rate * (len(to_run) - finished))} left" if finished < len(to_run) else ""
                _record(output, plans[submission.assignment], submission, result, manual[str(submission.marker)], done, left)
        finally:
            if cluster is None:
                executor.shutdown(cancel_futures=True)
            else:
                cluster.close()
        outcomes.sort(key=lambda o: (o.student_id, o.assignment_id))
        records.write_cell_grades(output, outcomes, plans)
        records.export_grades(output)
        progress(f"{counts['graded']} graded, {counts['skipped']} skipped (graded before), {counts['not graded']} not gradable, "
                 f"in {time.perf_counter() - started:.1f} s with {where}; "
                 f"results in {output / 'grades_by_cell.csv'}, feedback in {output / 'feedback'}")
        return outcomes
