"""Grade a folder of submissions: student code in a sandbox, everything else per submission in workers.

Input: a folder laid out as nbgrader's ``submitted/``:
``<student_id>/<assignment_id>/exercises.ipynb`` (what cannot be placed there is
reported, not graded: :mod:`dlcourse.grading.submissions`). Output: an nbgrader course
directory (usable with formgrader) that also holds

- ``grades_by_cell.csv``: one row per student, assignment and graded cell;
- ``grades.csv``: nbgrader's own export, one row per student and assignment;
- ``feedback/<student_id>/<assignment_id>/exercises.html``: the feedback page.

A submission's ``timestamp.txt`` and the assignment's due date in the gradebook
decide, as in nbgrader, whether it is late and its penalty
(:func:`records.late_penalty`). A run can be limited to some students or
assignments; the others are left as they are.

How a batch is graded (see the README, "Grading design"):

1. the solution notebook's graded cells are *planned* (:mod:`dlcourse.grading.plan`):
   their check calls are recorded with the references live Keras computes, once
   per worker process (this process only reads the master notebook: it neither
   plans nor imports TensorFlow);
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
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlcourse.grading import records, worker
from dlcourse.grading.cluster import connect
from dlcourse.grading.plan import graded_points
from dlcourse.grading.records import Outcome
from dlcourse.grading.run import CellVerdict
from dlcourse.grading.sandbox import Limits, SandboxUnavailable, check_sandbox
from dlcourse.grading.submissions import find_submissions, read_regular_file, read_submission, read_timestamp
from dlcourse.grading.workspace import NOTEBOOK, GradingError, late_penalty_method, make_api, prepare_workspace, use_this_environment
from dlcourse.grading.workspace import assignments as workspace_assignments

STALL_CHECK_SECONDS = 10.0


@dataclass
class Submission:
    """One submission to grade: who, which assignment, the notebook, how late it is (``{"seconds": float, "method":
    str}``, see :func:`records.late_penalty`) and where its marker goes."""

    student: str
    assignment: str
    notebook: nbformat.NotebookNode
    fingerprint: str
    marker: Path
    lateness: dict


@dataclass
class Assignment:
    """What the coordinator needs of an assignment: its master notebook, its points and its version (the workers plan
    it: the coordinator neither runs nor judges, and does not import TensorFlow)."""

    master: nbformat.NotebookNode
    max_score: float
    version: str


def _prepare(submitted: Path, output: Path, names: list[str], limits: Limits, sandbox_here: bool = True,
             db_url: str | None = None, late_penalty: str | None = None) -> dict[str, Assignment]:
    """The workspace (gradebook at ``db_url``, late penalty method, see :func:`prepare_workspace`) with each assignment's
    master, a working sandbox (``sandbox_here``), and each :class:`Assignment`."""
    use_this_environment()
    prepare_workspace(output, names, db_url, late_penalty)
    try:
        if sandbox_here:
            check_sandbox(limits)
    except SandboxUnavailable as error:
        raise GradingError(str(error)) from error
    api = make_api(output)
    records.copy_feedback_mathjax(output)
    prepared = {}
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise GradingError(f"could not prepare {name}: {result.get('error') or result.get('log')}")
        source = (output / "source" / name / NOTEBOOK).read_bytes()
        master = nbformat.reads(source.decode("utf-8"), as_version=4)
        prepared[name] = Assignment(master, sum(graded_points(master).values()), hashlib.sha256(source).hexdigest()[:16])
    return prepared


def _graded_by_workers(to_run: list[Submission], executor: Executor, limits: Limits, manual: dict[str, dict],
                       problem: Callable[[], str] = lambda: ""):
    """Each submission graded by a worker of ``executor`` (:func:`dlcourse.grading.worker.grade_on_worker`); yield
    (submission, its result or the grader's error) as they come. ``manual``: each marker's manual grades. While no
    result comes, ``problem()`` is asked every :data:`STALL_CHECK_SECONDS` why the batch cannot go on; an answer stops
    it with a :class:`GradingError`."""
    futures = {executor.submit(worker.grade_on_worker, worker.task(s.student, s.assignment, s.notebook, limits, manual[str(s.marker)],
                                                                   s.lateness)): s
               for s in to_run}
    pending = set(futures)
    while pending:
        finished, pending = wait(pending, timeout=STALL_CHECK_SECONDS, return_when=FIRST_COMPLETED)
        stalled = "" if finished else problem()
        if stalled:
            raise GradingError(f"{stalled} ({len(pending)} submission(s) not graded)")
        for future in finished:
            try:
                yield futures[future], future.result()
            except Exception as error:  # a fault of the grader's, not the student's
                yield futures[future], error


def _record(output: Path, plan: Assignment, submission: Submission, result, manual: dict, done: Callable, left: str) -> None:
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
    records.record_late_penalty(output, submission.student, submission.assignment, result["late_penalty"])
    submission.marker.parent.mkdir(parents=True, exist_ok=True)
    (submission.marker.parent / NOTEBOOK).write_text(result["autograded"], encoding="utf-8")
    _write_feedback(output, submission, result["feedback"])
    records.write_marker(submission.marker, submission.fingerprint, records.Marker(verdicts, manual, result["late_penalty"]))
    outcome = Outcome(submission.student, submission.assignment, records.total_score(output, submission.student, submission.assignment),
                      plan.max_score, cells=verdicts)
    done(outcome, f"{outcome.score:g}/{outcome.max_score:g} ({result['seconds']:.1f} s){_late(submission.lateness, result['late_penalty'])}{left}",
         "graded")


def _late(lateness: dict, penalty: float) -> str:
    """"; late by 3 h, penalty 5" for a progress line ("" for a submission on time)."""
    if lateness["seconds"] <= 0:
        return ""
    return f"; late by {_duration(lateness['seconds'])}" + (f", penalty {penalty:g}" if penalty else f", no penalty ({lateness['method']})")


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


def _due_dates(due: dict[str, str] | None) -> dict:
    """``{assignment: due date as text}`` read as nbgrader reads a due date (UTC, naive), or a :class:`GradingError`."""
    from nbgrader.utils import parse_utc

    dates = {}
    for assignment, text in (due or {}).items():
        try:
            dates[assignment] = parse_utc(text)
        except (ValueError, OverflowError, TypeError) as error:
            raise GradingError(f"the due date of {assignment}, {text!r}, is not a date and time ({error}); "
                               "write e.g. 2026-12-01T17:00:00+01:00 or '2026-12-01 16:00:00 UTC'") from error
    return dates


def grade_submissions(submitted: Path, output: Path, progress: Callable[[str], None] = functools.partial(print, flush=True), workers: int = 2,
                      regrade: bool = False, limits: Limits = Limits(), roster: Path | None = None,
                      scheduler: str | None = None, db_url: str | None = None, students: set[str] | None = None,
                      assignments: set[str] | None = None, due: dict[str, str] | None = None,
                      late_penalty: str | None = None) -> list[Outcome]:
    """Grade every submission under ``submitted`` into the workspace ``output``; see the module doc.

    ``roster``: a CSV in nbgrader's student import format, whose names go into the gradebook and the CSVs.
    ``scheduler``: the address of a Dask scheduler (``tcp://HOST:PORT``) whose workers grade
    (:mod:`dlcourse.grading.cluster`); without it, ``workers`` local processes do. They are spawned: a script that
    calls this function needs the ``if __name__ == "__main__":`` idiom of :mod:`multiprocessing`.
    ``db_url``: the gradebook's SQLAlchemy URL (PostgreSQL) for a new workspace; by default the workspace keeps its
    own (``output/gradebook.db`` for a new one).
    ``students``, ``assignments``: grade only these (with ``regrade``: regrade only these); the others' records,
    feedback and gradebook entries are left as they are, and the CSVs still list them.
    ``due``: ``{assignment: due date}`` to store in the gradebook (text nbgrader reads; UTC without a time zone);
    ``late_penalty``: nbgrader's penalty method for submissions whose ``timestamp.txt`` is past the due date ("none":
    recorded only, "zero": the notebook scores 0), kept by the workspace.
    """
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's gradebook session warnings, harmless
    started = time.perf_counter()
    submitted, output = submitted.resolve(), output.resolve()
    _check_folders(submitted, output)
    roster_students = records.read_roster(roster) if roster else []
    due_dates = _due_dates(due)
    all_pairs, all_misplaced = find_submissions(submitted)

    def in_scope(student: str, assignment: str) -> bool:
        return (students is None or student in students) and (assignments is None or assignment in assignments)

    pairs = [pair for pair in all_pairs if in_scope(*pair)]
    misplaced = [m for m in all_misplaced if in_scope(m.student_id, m.assignment_id)]
    course = workspace_assignments()
    unknown = sorted((assignments or set()) - set(course)) + sorted(set(due_dates) - set(course))
    if unknown:
        raise GradingError(f"unknown assignment(s) {', '.join(unknown)}; the course has: {', '.join(course)}")
    if not pairs and not misplaced:
        raise GradingError(f"no submission of {_scope_text(students, assignments)} in {submitted}")
    undue = sorted(set(due_dates) - {a for _, a in pairs})
    if undue:
        raise GradingError(f"--due names {', '.join(undue)}, which this run does not grade: give a due date with the submissions it applies to")
    plans = _prepare(submitted, output, sorted({a for _, a in pairs}), limits, sandbox_here=scheduler is None,
                                  db_url=db_url, late_penalty=late_penalty)
    method = late_penalty_method(output)
    cluster = connect(scheduler, limits, progress) if scheduler else None
    where = f"{workers} worker(s)" if cluster is None else f"the {len(cluster.workers)} worker(s) of {scheduler}"
    with records.open_gradebook(output):  # one connection for the batch
        records.record_roster(output, roster_students)
        records.set_due_dates(output, due_dates)
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
            folder = submitted / student / assignment
            notebook, data, problem = read_submission(folder / NOTEBOOK)
            time_made = read_timestamp(folder)
            max_score = plans[assignment].max_score
            if notebook is None or time_made.problem:
                problem = problem or time_made.problem
                done(Outcome(student, assignment, 0.0, max_score, problem=problem), f"0/{max_score:g}, not graded: {problem}", "not graded")
                continue
            _copy_into_workspace(data, submitted, output, student, assignment)
            lateness = {"seconds": records.record_submission_time(output, student, assignment, time_made.when), "method": method}
            if time_made.ignored:
                progress(f"{student} {assignment}: {time_made.ignored}")
            submission = Submission(student, assignment, notebook, records.fingerprint(data, plans[assignment].version),
                                    output / "autograded" / student / assignment / records.MARKER, lateness)
            earlier = None if regrade else records.read_marker(submission.marker, submission.fingerprint)
            if earlier is None:
                to_run.append(submission)
                continue
            manual_now = records.manual_grades(output, student, assignment)
            score_now = sum(records.cell_scores(plans[assignment].master, earlier.verdicts, manual_now).values())
            penalty_now = records.late_penalty(student, score_now, lateness)
            if (earlier.manual, earlier.late_penalty) != (manual_now, penalty_now):  # formgrader, or the due date, changed them
                records.record_late_penalty(output, student, assignment, penalty_now)
                autograded = nbformat.read(submission.marker.parent / NOTEBOOK, as_version=4)
                _write_feedback(output, submission, records.feedback_html(plans[assignment].master, autograded, student, assignment, earlier.verdicts,
                                                                          manual_now, penalty_now))
                records.write_marker(submission.marker, submission.fingerprint, records.Marker(earlier.verdicts, manual_now, penalty_now))
                score = records.total_score(output, student, assignment)
                done(Outcome(student, assignment, score, max_score, cells=earlier.verdicts),
                     f"already graded; manual grades, comments or late penalty changed: feedback updated ({score:g}/{max_score:g})"
                     f"{_late(lateness, penalty_now)}", "skipped")
                continue
            score = records.total_score(output, student, assignment)
            done(Outcome(student, assignment, score, max_score, cells=earlier.verdicts), f"already graded ({score:g}/{max_score:g}); skipped",
                 "skipped")

        manual = {str(s.marker): records.manual_grades(output, s.student, s.assignment) for s in to_run}
        executor = ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("spawn")) if cluster is None else cluster.executor
        try:
            dispatched = time.perf_counter()
            graded = _graded_by_workers(to_run, executor, limits, manual, problem=cluster.problem if cluster else lambda: "")
            for finished, (submission, result) in enumerate(graded, start=1):
                rate = (time.perf_counter() - dispatched) / finished
                left = f"; about {_duration(rate * (len(to_run) - finished))} left" if finished < len(to_run) else ""
                _record(output, plans[submission.assignment], submission, result, manual[str(submission.marker)], done, left)
        finally:
            if cluster is None:
                executor.shutdown(cancel_futures=True)
            else:
                cluster.close()
        outcomes.sort(key=lambda o: (o.student_id, o.assignment_id))
        everyone = students is None and assignments is None
        records.write_cell_grades(output, outcomes, [] if everyone else records.earlier_cell_grades(output, lambda s, a: not in_scope(s, a)))
        records.export_grades(output)
        progress(f"{counts['graded']} graded, {counts['skipped']} skipped (graded before), {counts['not graded']} not gradable, "
                 f"in {time.perf_counter() - started:.1f} s with {where}; "
                 f"results in {output / 'grades_by_cell.csv'}, feedback in {output / 'feedback'}")
        return outcomes


def _scope_text(students: set[str] | None, assignments: set[str] | None) -> str:
    """"student(s) a, b in assignment(s) c" for messages."""
    parts = [f"student(s) {', '.join(sorted(students))}" if students is not None else "any student",
             f"assignment(s) {', '.join(sorted(assignments))}" if assignments is not None else "any assignment"]
    return " in ".join(parts)
