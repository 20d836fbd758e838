"""Benchmark: seconds per notebook for plain nbgrader, the course's grader, and the bare floor.

    .venv/bin/python benchmarks/grading_speed.py [--submissions 24] [--assignment 01_gradient_descent]

Grades the same submissions (half solved, half blank) with

- plain ``nbgrader autograde`` (one kernel per notebook, tests in the student's kernel);
- the course's grader (``dlcourse.grading.grade``) with 1 and with 2 local workers, and
  through Dask ``distributed`` (a ``LocalCluster`` of 2 single-thread worker processes
  on this machine: scheduler, workers and coordinator talk over TCP as on a cluster);

and times the bare floor of kernel-based grading: a fresh kernel executing the
solved notebook with nbclient. For the course's grader it prints the whole batch and
the steady cost per notebook: the time between the first and the last graded
submission divided by the notebooks graded in it (start-up excluded: planning with
Keras, once per process, and the workers' start). From that cost it estimates 10,000
students x 6 notebooks on 16 cores and on 10 such machines. Nothing is asserted (run
it on purpose, not in the test suite).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from dlcourse.grading import grade
from dlcourse.grading.grade import _record, grade_submissions
from dlcourse.grading.plan import plan_assignment
from dlcourse.grading.workspace import CHAPTERS, NOTEBOOK, SOLUTIONS, prepare_workspace, use_this_environment


def make_submissions(folder: Path, assignment: str, count: int) -> None:
    for number in range(count):
        source = SOLUTIONS if number % 2 == 0 else CHAPTERS
        target = folder / f"student_{number:03d}" / assignment
        target.mkdir(parents=True)
        shutil.copy2(source / assignment / NOTEBOOK, target / NOTEBOOK)


def time_plain_nbgrader(scratch: Path, submitted: Path, assignment: str) -> float:
    root = scratch / "nbgrader_plain"
    prepare_workspace(root, [assignment])
    config = root / "nbgrader_config.py"  # the course refuses plain autograde; the benchmark times it all the same
    config.write_text("".join(line for line in config.read_text().splitlines(keepends=True) if "RefusePlainAutograde" not in line))
    shutil.copytree(submitted, root / "submitted")
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    subprocess.run([nbgrader, "generate_assignment", assignment, "--force"], cwd=root, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run([nbgrader, "autograde", assignment, "--force"], cwd=root, check=True, capture_output=True)
    return time.perf_counter() - started


def time_floor(assignment: str, repeats: int = 2) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        notebook = nbformat.read(SOLUTIONS / assignment / NOTEBOOK, as_version=4)
        NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=24)
    parser.add_argument("--assignment", default="01_gradient_descent")
    args = parser.parse_args()
    use_this_environment()
    grade._record = _timed_record  # measures the coordinator's share
    n = args.submissions
    with tempfile.TemporaryDirectory() as name:
        scratch = Path(name)
        submitted = scratch / "submitted"
        make_submissions(submitted, args.assignment, n)
        print(f"{n} submissions of {args.assignment} (half solved, half blank), {os.cpu_count()} CPU(s)\n")
        plain = time_plain_nbgrader(scratch, submitted, args.assignment)
        started = time.perf_counter()
        plan_assignment(args.assignment)
        planning = time.perf_counter() - started
        course = {}
        for workers in (1, 2):
            course[f"course grade, {workers} local worker(s)"] = time_course(submitted, scratch / f"course_{workers}", workers=workers)
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            course["course grade --scheduler (Dask, 2 workers)"] = time_course(submitted, scratch / "course_dask",
                                                                            scheduler=cluster.scheduler_address)
        floor = time_floor(args.assignment)
    print(f"{'grader':48s} {'batch s':>8s} {'s/notebook':>11s} {'steady s/notebook':>18s}")
    print(f"{'plain nbgrader autograde':48s} {plain:8.1f} {plain / n:11.2f}")
    for name, (seconds, steady) in course.items():
        print(f"{name:48s} {seconds:8.1f} {seconds / n:11.2f} {steady:18.3f}")
    print(f"{'bare floor: fresh kernel runs the notebook (nbclient)':48s} {'':8s} {floor:11.2f}")
    print(f"\nonce per process, course grade: planning with Keras references {planning:.1f} s")
    one, two = course["course grade, 1 local worker(s)"][1], course["course grade, 2 local worker(s)"][1]
    print(f"speed-up from 1 to 2 local workers (steady): {one / two:.2f}x; whole batch: "
          f"{course['course grade, 1 local worker(s)'][0] / course['course grade, 2 local worker(s)'][0]:.2f}x")
    print(f"course grade (2 workers) vs plain nbgrader: {plain / course['course grade, 2 local worker(s)'][0]:.1f}x faster per batch")
    notebooks = 10_000 * 6
    per_core = 2 * two  # 2 workers on this machine's 2 cores: the cost per notebook of one core when every core is busy
    writing = sum(WRITING) / len(WRITING)  # the coordinator writes alone: it bounds the rate, however many workers
    print(f"the coordinator's writing (gradebook, files, marker): {writing:.3f} s per notebook, "
          f"at most {1 / writing:.0f} notebooks per second")
    for cores, where in ((16, "16 cores"), (160, "10 machines of 16 cores")):
        hours = max(notebooks * per_core / cores, notebooks * writing) / 3600
        print(f"estimate, {notebooks} notebooks on {where}: {hours:.2f} h (workers {notebooks * per_core / cores / 3600:.2f} h at "
              f"{per_core:.3f} s per notebook per core; the coordinator's writing {notebooks * writing / 3600:.2f} h)")


WRITING: list[float] = []  # seconds the coordinator spent writing each graded submission


def _timed_record(*arguments, **keywords):
    started = time.perf_counter()
    try:
        return _record(*arguments, **keywords)
    finally:
        WRITING.append(time.perf_counter() - started)


def time_course(submitted: Path, output: Path, **options) -> tuple[float, float]:
    """(seconds for the batch, steady seconds per notebook) of ``grade_submissions`` with ``options``."""
    graded = []

    def progress(line: str) -> None:
        if re.search(r": [\d.]+/[\d.]+ \(", line):
            graded.append(time.perf_counter())

    started = time.perf_counter()
    grade_submissions(submitted, output, progress=progress, **options)
    seconds = time.perf_counter() - started
    steady = (graded[-1] - graded[0]) / max(1, len(graded) - 1)
    print(f"  ({options}: {seconds:.1f} s, steady {steady:.3f} s per notebook)", flush=True)
    return seconds, steady


if __name__ == "__main__":
    main()
