"""Grade a folder of submissions: student code in a sandbox, verdicts decided here.

Input: a folder laid out as nbgrader's ``submitted/``:
``<student_id>/<assignment_id>/exercises.ipynb`` (what cannot be placed there is
reported, not graded: :mod:`dlcourse.grading.submissions`). Output: an nbgrader course
directory (usable with formgrader) that also holds

- ``grades_by_cell.csv``: one row per student, assignment and graded cell;
- ``grades.csv``: nbgrader's own export, one row per student and assignment;
- ``feedback/<student_id>/<assignment_id>/exercises.html``: the feedback page.

How a batch is graded (see the README, "Grading design"):

1. once per batch, the solution notebook's graded cells are *planned*
   (:mod:`dlcourse.grading.plan`): their check calls are recorded with the
   references live Keras computes, in this process;
2. the student's own code cells, and the recorded calls, run in a fresh
   bubblewrap sandbox (:mod:`dlcourse.grading.run`, :mod:`dlcourse.grading.sandbox`)
   that returns plain data, and the data are judged here;
3. what the verdicts give is written (:mod:`dlcourse.grading.records`):
   the gradebook's automatic scores, the autograded notebook, nbgrader's
   feedback page, then a marker that makes a re-run skip the submission
   unless ``regrade`` is asked (a skipped submission whose manual grades or
   comments changed in formgrader gets its feedback page written again).

Sandboxes run in parallel worker threads, or on the workers of a Dask cluster
(:mod:`dlcourse.grading.cluster`); everything that writes (gradebook, files)
happens in the calling thread, one submission at a time.
"""
from __future__ import annotations

import functools
import hashlib
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlcourse.grading import records
from dlcourse.grading.cluster import Cluster, connect, results_from_text
from dlcourse.grading.plan import AssignmentPlan, plan_assignment
from dlcourse.grading.records import Outcome
from dlcourse.grading.run import judge, run_submission
from dlcourse.grading.sandbox import Limits, SandboxUnavailable, check_sandbox, sandbox_slot
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
    """The workspace (gradebook at ``db_url``, see :func:`prepare_workspace`), a working sandbox (``sandbox_here``),
    nbgrader's API and each assignment's plan."""
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
    return api, plans, plan_hashes


def _sandboxed_runs(to_run: list[Submission], plans: dict[str, AssignmentPlan], workers: int, limits: Limits,
                    cluster: Cluster | None = None):
    """Run each submission in a sandbox, ``workers`` at once here or on the ``cluster``'s workers; yield (submission,
    results or the grader's error, seconds)."""

    def sandboxed(submission: Submission):
        started = time.perf_counter()
        with sandbox_slot() as slot:
            return run_submission(plans[submission.assignment], submission.notebook, slot, limits), time.perf_counter() - started

    pool = ThreadPoolExecutor(max_workers=max(1, workers)) if cluster is None else None
    try:
        if cluster is None:
            futures = {pool.submit(sandboxed, submission): submission for submission in to_run}
        else:
            futures = {cluster.submit(submission.assignment, submission.notebook, limits): submission for submission in to_run}
        for future in as_completed(futures):
            try:
                results, seconds = future.result() if cluster is None else results_from_text(future.result())
            except Exception as error:  # a fault of the grader's, not the student's
                yield futures[future], error, 0.0
                continue
            yield futures[future], results, seconds
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _record(api, output: Path, plan: AssignmentPlan, submission: Submission, verdicts, progress) -> None:
    """Write the gradebook scores, the autograded notebook, the feedback page and, last, the marker."""
    records.record_scores(output, submission.student, submission.assignment, verdicts)
    submission.marker.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(records.autograded_notebook(plan, submission.notebook, verdicts), submission.marker.parent / NOTEBOOK)
    _write_feedback(api, output, submission, progress)
    records.write_marker(submission.marker, submission.fingerprint, verdicts,
                         records.manual_grades(output, submission.student, submission.assignment))


def _record_run(api, output: Path, plan: AssignmentPlan, submission: Submission, results, seconds: float, progress,
                done: Callable) -> None:
    """Judge a run's results (or the grader's error) and record them; ``done(outcome, text, kind)`` reports it."""
    try:
        if isinstance(results, Exception):
            raise results
        verdicts = judge(plan, results)
    except Exception as error:  # a fault of the grader's, not the student's: say so, keep going
        done(Outcome(submission.student, submission.assignment, 0.0, plan.max_score,
                     problem=f"internal grader error: {type(error).__name__}: {error}"), f"not graded, internal grader error: {error}",
             "not graded")
        return
    _record(api, output, plan, submission, verdicts, progress)
    outcome = Outcome(submission.student, submission.assignment, records.total_score(output, submission.student, submission.assignment),
                      plan.max_score, cells=verdicts)
    done(outcome, f"{outcome.score:g}/{outcome.max_score:g} ({seconds:.1f} s)", "graded")


def _write_feedback(api, output: Path, submission: Submission, progress) -> None:
    """nbgrader's feedback page of the submission (its scores and comments from the gradebook), with the course's MathJax."""
    feedback = api.generate_feedback(submission.assignment, submission.student, force=True)
    if not feedback["success"]:
        progress(f"  (feedback page for {submission.student} not written: {(feedback.get('error') or '').strip()[-300:]})")
    else:
        records.serve_mathjax_locally(output / "feedback" / submission.student / submission.assignment / Path(NOTEBOOK).with_suffix(".html"))


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
    ``scheduler``: the address of a Dask scheduler (``tcp://HOST:PORT``) whose workers run the sandboxes
    (:mod:`dlcourse.grading.cluster`); without it, ``workers`` threads run them here.
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
    api, plans, plan_hashes = _prepare(submitted, output, sorted({a for _, a in pairs}), limits, sandbox_here=scheduler is None,
                                       db_url=db_url)
    cluster = connect(scheduler, limits, progress) if scheduler else None
    where = f"{workers} worker(s)" if cluster is None else f"the {len(cluster.workers)} worker(s) of {scheduler}"
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
            _write_feedback(api, output, submission, progress)
            records.write_marker(submission.marker, submission.fingerprint, verdicts, manual_now)
            done(Outcome(student, assignment, score, max_score, cells=verdicts),
                 f"already graded; manual grades or comments changed: feedback updated ({score:g}/{max_score:g})", "skipped")
            continue
        done(Outcome(student, assignment, score, max_score, cells=verdicts), f"already graded ({score:g}/{max_score:g}); skipped", "skipped")

    try:
        for submission, results, seconds in _sandboxed_runs(to_run, plans, workers, limits, cluster):
            _record_run(api, output, plans[submission.assignment], submission, results, seconds, progress, done)
    finally:
        if cluster is not None:
            cluster.close()
    outcomes.sort(key=lambda o: (o.student_id, o.assignment_id))
    records.write_cell_grades(output, outcomes, plans)
    records.export_grades(output)
    progress(f"{counts['graded']} graded, {counts['skipped']} skipped (graded before), {counts['not graded']} not gradable, "
             f"in {time.perf_counter() - started:.1f} s with {where}; "
             f"results in {output / 'grades_by_cell.csv'}, feedback in {output / 'feedback'}")
    return outcomes
