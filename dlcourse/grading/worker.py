"""What a worker does for one submission: everything but writing.

A worker is a process of the local pool (``course grade --workers N``) or of a
Dask cluster (``--scheduler``, :mod:`dlcourse.grading.cluster`). It takes a
task of plain data and returns plain data: it runs the submission in the
sandbox, judges the results with the assignment's plan (planned once per
worker process), and builds the autograded notebook and the feedback page.
The coordinator writes them, with the gradebook's scores, and is the only
writer. A worker refuses a task, saying why, when its sandbox does not work
or its course is not the coordinator's.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import socket
import time

import nbformat

from dlcourse.grading.sandbox import Limits, SandboxUnavailable, check_sandbox, sandbox_slot
from dlcourse.grading.workspace import NOTEBOOK, REPOSITORY, SOLUTIONS


class WorkerRefused(RuntimeError):
    """A worker that cannot grade for this coordinator, and why."""


@functools.cache
def course_version() -> str:
    """A digest of everything that decides a grade: the course package's source, the solution notebooks and the pinned
    package versions (16 hexadecimal digits)."""
    digest = hashlib.sha256()
    files = sorted((REPOSITORY / "dlcourse").rglob("*.py")) + sorted(SOLUTIONS.glob(f"*/{NOTEBOOK}"))
    files += [REPOSITORY / "requirements.lock"] if (REPOSITORY / "requirements.lock").exists() else []
    for path in files:
        digest.update(str(path.relative_to(REPOSITORY)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def _sandbox_problem(limits: Limits) -> str:
    try:
        check_sandbox(limits)
    except SandboxUnavailable as error:
        return str(error).splitlines()[0]
    return ""


def worker_problem(version: str, limits: dict) -> str:
    """Why this worker cannot grade for a coordinator whose course is ``version`` ("" when it can)."""
    if version != course_version():
        return (f"its course (version {course_version()}, in {REPOSITORY}) is not the coordinator's ({version}): "
                "install the same commit of the course on every machine")
    return _sandbox_problem(Limits(**limits))


def task(student: str, assignment: str, notebook: nbformat.NotebookNode, limits: Limits, manual: dict, lateness: dict) -> dict:
    """The plain data of one submission's task; ``manual``: its grades entered in formgrader, ``lateness``: how late it
    is and the penalty method (``{"seconds": float, "method": "none" | "zero"}``); the feedback shows both."""
    return {"student": student, "assignment": assignment, "notebook": nbformat.writes(notebook), "version": course_version(),
            "limits": dataclasses.asdict(limits), "manual": manual, "lateness": lateness}


def grade_on_worker(job: dict) -> dict:
    """Run, judge and render one submission (a :func:`task`); return ``{"cells": verdicts as dicts, "late_penalty": float,
    "autograded": notebook JSON text, "feedback": HTML text, "seconds": float}``, or raise :class:`WorkerRefused`."""
    from dlcourse.grading import records
    from dlcourse.grading.plan import plan_assignment
    from dlcourse.grading.run import judge, run_submission

    problem = worker_problem(job["version"], job["limits"])
    if problem:
        raise WorkerRefused(f"worker {socket.gethostname()} refuses to grade: {problem}")
    plan, notebook = plan_assignment(job["assignment"]), nbformat.reads(job["notebook"], as_version=4)
    started = time.perf_counter()
    with sandbox_slot() as slot:
        results = run_submission(plan, notebook, slot, Limits(**job["limits"]))
    verdicts = judge(plan, results)
    autograded = records.autograded_notebook(plan, notebook, verdicts)
    score = sum(records.cell_scores(plan.master, verdicts, job["manual"]).values())
    penalty = records.late_penalty(job["student"], score, job["lateness"])
    page = records.feedback_html(plan.master, autograded, job["student"], job["assignment"], verdicts, job["manual"], penalty)
    return {"cells": [dataclasses.asdict(v) for v in verdicts], "late_penalty": penalty, "autograded": nbformat.writes(autograded),
            "feedback": page, "seconds": time.perf_counter() - started}
