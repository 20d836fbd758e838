"""Grading on a Dask ``distributed`` cluster: ``course grade SUBMITTED --scheduler tcp://HOST:PORT``.

The cluster's workers do what the local pool's processes do
(:mod:`dlcourse.grading.worker`): plain data in (the notebook as JSON text, the
course's version, the limits), plain data out (verdicts, the autograded
notebook, the feedback page). The coordinator (the process of ``course
grade``) stays the only writer of the gradebook and of the files. Workers
whose sandbox does not work or whose course differs from the coordinator's
are left out, saying why. When a worker dies, Dask's scheduler runs its tasks
again on another worker; the coordinator records each submission once, when
its result arrives. When every worker that could grade has left, the batch
stops with a :class:`GradingError` (Dask would wait for them forever); what
was recorded is kept, and the same command resumes.

Workers are started from the course's environment on each machine:
``.venv/bin/dask worker tcp://HOST:PORT --nthreads 1`` (one sandbox at a time
per worker process; ``--nworkers N`` for N of them).
"""
from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from dataclasses import dataclass

from dlcourse.grading import worker
from dlcourse.grading.sandbox import Limits
from dlcourse.grading.workspace import GradingError


@dataclass
class Cluster:
    """A connection to a scheduler; ``executor`` (``concurrent.futures``) runs tasks on the ``workers`` that passed the
    check."""

    address: str
    client: object
    executor: Executor
    workers: list[str]

    def close(self) -> None:
        self.client.close()

    def problem(self) -> str:
        """Why the batch cannot go on ("" while one of :attr:`workers` is still connected to the scheduler)."""
        if self.client.status == "closed":
            return (f"the connection to the scheduler {self.address} is lost; start it again and run the same command again: the "
                    "submissions graded so far are kept and skipped")
        if set(self.client.scheduler_info()["workers"]) & set(self.workers):
            return ""
        return (f"every worker of {self.address} that could grade ({', '.join(self.workers)}) has left the cluster; start workers "
                "and run the same command again: the submissions graded so far are kept and skipped")


def connect(address: str, limits: Limits, progress) -> Cluster:
    """Connect to the scheduler at ``address`` and ask every worker whether it can grade; a worker that cannot is left
    out (``progress`` says why). A :class:`GradingError` when the scheduler is unreachable or no worker can grade."""
    from distributed import Client

    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as error:
        raise GradingError(f"cannot reach the Dask scheduler at {address}: {error}") from error
    try:
        answers = client.run(worker.worker_problem, worker.course_version(), dataclasses.asdict(limits))
    except Exception as error:
        client.close()
        raise GradingError(f"could not ask the workers of {address} whether they can grade: {error}") from error
    for name, problem in sorted(answers.items()):
        if problem:
            progress(f"worker {name} left out: {problem}")
    workers = sorted(name for name, problem in answers.items() if not problem)
    if not workers:
        client.close()
        reasons = "; ".join(f"{w}: {p}" for w, p in sorted(answers.items())) or "the scheduler has no worker"
        raise GradingError(f"no worker of the cluster at {address} can grade ({reasons})")
    executor = client.get_executor(workers=workers, allow_other_workers=False, pure=False)
    return Cluster(address, client, executor, workers)
