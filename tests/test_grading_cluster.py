"""Grading on a Dask cluster: a real scheduler and two worker processes on the loopback address.

A worker killed in the middle of a batch costs nothing: every submission is
graded exactly once, with the grades of a local serial run. Workers whose
course differs from the coordinator's are left out, saying why.
"""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import environment, solution_notebook, with_cell_source, write_submission

from dlcourse.grading import cluster, worker
from dlcourse.grading.grade import grade_submissions
from dlcourse.grading.sandbox import Limits
from dlcourse.grading.workspace import GradingError

pytestmark = pytest.mark.grading

DASK = str(Path(sys.executable).parent / "dask")
WRONG = ("def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):\n"
         "    return initial_learning_rate * decay_rate ** (step / decay_steps + 1)")


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler on 127.0.0.1 and two single-thread worker processes without nannies (a killed worker stays dead);
    yields (address, {name: worker process}, scheduler file)."""
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(scheduler_file)], env=environment(),
                                  stdout=(logs / "scheduler.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)]
    workers = {}
    try:
        address = wait_for(lambda: scheduler_file.exists() and json.loads(scheduler_file.read_text() or "{}").get("address"),
                           60, "the scheduler")
        for name in ("a", "b"):
            workers[name] = subprocess.Popen(
                [DASK, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1"], env=environment(), stdout=(logs / f"worker-{name}.log").open("w"),
                stderr=subprocess.STDOUT, start_new_session=True)
            processes.append(workers[name])
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    """Eight submissions: six correct and two with one wrong cell."""
    folder = tmp_path_factory.mktemp("cluster") / "submitted"
    for number in range(6):
        write_submission(folder, f"correct_{number}", solution_notebook())
    for number in range(2):
        write_submission(folder, f"wrong_{number}", with_cell_source(solution_notebook(), "exponential_decay", WRONG))
    return folder


def rows(output: Path) -> list[dict]:
    with (output / "grades_by_cell.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_a_worker_killed_mid_batch_costs_nothing(dask_cluster, submitted, tmp_path):
    address, workers = dask_cluster
    lines: list[str] = []
    killed = threading.Event()

    def progress(line: str) -> None:
        lines.append(line)
        if re.search(r": [\d.]+/[\d.]+ \(", line) and not killed.is_set():  # the first graded submission: both are busy
            os.kill(workers["a"].pid, signal.SIGKILL)
            killed.set()

    outcomes = grade_submissions(submitted, tmp_path / "cluster", progress=progress, scheduler=address)
    assert killed.is_set() and workers["a"].wait(timeout=10) == -signal.SIGKILL
    graded = re.findall(r"^\[\d+/\d+\] (\S+) \S+: [\d.]+/[\d.]+ \(", "\n".join(lines), flags=re.M)
    assert sorted(graded) == sorted(p.name for p in submitted.iterdir()), lines
    assert "with the 2 worker(s) of " + address in lines[-1], lines[-1]
    serial = grade_submissions(submitted, tmp_path / "serial", progress=lambda m: None, workers=1)
    assert rows(tmp_path / "cluster") == rows(tmp_path / "serial")
    assert [(o.student_id, o.score, [c.__dict__ for c in o.cells]) for o in outcomes] == \
           [(o.student_id, o.score, [c.__dict__ for c in o.cells]) for o in serial]
    assert {o.score for o in outcomes if o.student_id.startswith("wrong")} == {outcomes[0].max_score - 1}


def test_workers_of_another_course_version_are_left_out_with_the_reason(dask_cluster, monkeypatch):
    address, _ = dask_cluster
    monkeypatch.setattr(worker, "course_version", lambda: "0123456789abcdef")  # the coordinator's course differs
    seen: list[str] = []
    with pytest.raises(GradingError) as refused:
        cluster.connect(address, Limits(), seen.append)
    assert f"no worker of the cluster at {address} can grade" in str(refused.value)
    assert len(seen) == 2 and all("is not the coordinator's (0123456789abcdef)" in line for line in seen), seen


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, submitted):
    with pytest.raises(GradingError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        cluster.connect("tcp://127.0.0.1:9", Limits(), print)


def test_a_coordinator_killed_mid_batch_resumes_on_the_cluster(dask_cluster, submitted, tmp_path):
    """The coordinator's records make a second run skip what the first one wrote, as in local grading."""
    address, _ = dask_cluster
    command = [str(Path(sys.executable).parent / "course"), "grade", str(submitted), "--output", str(tmp_path / "out"), "--scheduler", address]
    graded = re.compile(r"^\[\d+/\d+\] (\S+) \S+: [\d.]+/[\d.]+ \(", flags=re.M)
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment())
    seen = ""
    for line in first.stdout:
        seen += line
        if len(graded.findall(seen)) == 2:
            first.kill()
            break
    assert first.wait(timeout=30) != 0
    second = subprocess.run(command, capture_output=True, text=True, timeout=900, env=environment())
    assert second.returncode == 0, second.stdout + second.stderr
    before, after = graded.findall(seen), graded.findall(second.stdout)
    skipped = re.findall(r"^\[\d+/\d+\] (\S+) \S+: already graded", second.stdout, flags=re.M)
    assert len(before) == 2 and set(before) <= set(skipped) and not set(after) & set(skipped), second.stdout
    assert sorted(after + skipped) == sorted(p.name for p in submitted.iterdir()), second.stdout


def test_a_batch_whose_workers_all_left_stops_and_says_so(dask_cluster, submitted, tmp_path):
    """Dask would wait for workers forever: the coordinator stops, keeps what it recorded, and a new run resumes."""
    address, workers = dask_cluster
    command = [str(Path(sys.executable).parent / "course"), "grade", str(submitted), "--output", str(tmp_path / "out"), "--scheduler", address]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment())
    graded = []
    for line in run.stdout:
        if re.search(r": [\d.]+/[\d.]+ \(", line):
            graded.append(line.split()[1])
            if len(graded) == 1:
                for process in workers.values():
                    os.kill(process.pid, signal.SIGKILL)
    assert run.wait(timeout=300) == 2
    error = run.stderr.read()
    assert "every worker of " + address in error and "has left the cluster" in error and "submission(s) not graded" in error, error
    assert graded and all((tmp_path / "out" / "autograded" / student / "01_gradient_descent" / ".course-grade.json").is_file()
                          for student in graded)
