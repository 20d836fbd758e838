"""Grading on a Dask ``distributed`` cluster: ``course grade SUBMITTED --scheduler tcp://HOST:PORT``.

The coordinator (the process of ``course grade``) plans, judges and writes,
as in local grading, and stays the only writer of the gradebook; only the
sandboxed runs go to the cluster's workers. A task carries plain data (the
assignment's name, the notebook as JSON text, the course's version and the
limits) and returns plain data (the run's events as JSON text). A worker runs
the same sandbox as local grading, and refuses work, saying why, when its
sandbox does not work or its course differs from the coordinator's. When a
worker dies, Dask's scheduler runs its tasks again on another worker; the
coordinator records each submission once, when its result arrives.

Workers are started from the course's environment on each machine:
``.venv/bin/dask worker tcp://HOST:PORT --nthreads 1`` (one sandbox at a time
per worker process; ``--nworkers N`` for N of them).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import socket
import time
from concurrent.futures import Executor
from dataclasses import dataclass

import nbformat

from dlcourse.grading.sandbox import Limits, SandboxUnavailable, check_sandbox, sandbox_slot
from dlcourse.grading.workspace import NOTEBOOK, REPOSITORY, SOLUTIONS, GradingError


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


def run_on_worker(assignment: str, notebook_text: str, version: str, limits: dict) -> str:
    """The task a worker runs: the submission's sandboxed run (what :func:`dlcourse.grading.run.run_submission` returns)
    and its seconds, as JSON text; or :class:`WorkerRefused`."""
    from dlcourse.grading.plan import plan_assignment
    from dlcourse.grading.run import run_submission

    problem = worker_problem(version, limits)
    if problem:
        raise WorkerRefused(f"worker {socket.gethostname()} refuses to grade: {problem}")
    notebook, plan = nbformat.reads(notebook_text, as_version=4), plan_assignment(assignment)
    started = time.perf_counter()
    with sandbox_slot() as slot:
        results = run_submission(plan, notebook, slot, Limits(**limits))
    return json.dumps({"seconds": time.perf_counter() - started, "calls": {str(n): event for n, event in results.items()}})


def results_from_text(text: str) -> tuple[dict[int, dict], float]:
    """The run's events (keyed by call number again) and its seconds, from :func:`run_on_worker`'s JSON text."""
    data = json.loads(text)
    return {int(number): event for number, event in data["calls"].items()}, float(data["seconds"])


@dataclass
class Cluster:
    """A connection to a scheduler; ``executor`` runs tasks on the ``workers`` that passed the check."""

    address: str
    client: object
    executor: Executor
    workers: list[str]

    def submit(self, assignment: str, notebook: nbformat.NotebookNode, limits: Limits):
        """A ``concurrent.futures`` future of the submission's run on a worker (JSON text; see :func:`results_from_text`)."""
        return self.executor.submit(run_on_worker, assignment, nbformat.writes(notebook), course_version(),
                                    dataclasses.asdict(limits))

    def close(self) -> None:
        self.client.close()


def connect(address: str, limits: Limits, progress) -> Cluster:
    """Connect to the scheduler at ``address`` and ask every worker whether it can grade; a worker that cannot is left
    out (``progress`` says why). A :class:`GradingError` when the scheduler is unreachable or no worker can grade."""
    from distributed import Client

    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as error:
        raise GradingError(f"cannot reach the Dask scheduler at {address}: {error}") from error
    try:
        answers = client.run(worker_problem, course_version(), dataclasses.asdict(limits))
    except Exception as error:
        client.close()
        raise GradingError(f"could not ask the workers of {address} whether they can grade: {error}") from error
    for worker, problem in sorted(answers.items()):
        if problem:
            progress(f"worker {worker} left out: {problem}")
    workers = sorted(worker for worker, problem in answers.items() if not problem)
    if not workers:
        client.close()
        reasons = "; ".join(f"{w}: {p}" for w, p in sorted(answers.items())) or "the scheduler has no worker"
        raise GradingError(f"no worker of the cluster at {address} can grade ({reasons})")
    executor = client.get_executor(workers=workers, allow_other_workers=False, pure=False)
    return Cluster(address, client, executor, workers)
