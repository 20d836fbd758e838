"""Benchmark: seconds per notebook for plain nbgrader, the course's grader, and the bare floor.

    .venv/bin/python benchmarks/grading_speed.py [--submissions 8] [--assignment 01_gradient_descent]

Grades the same submissions (half solved, half blank) with

- plain ``nbgrader autograde`` (one kernel per notebook, tests in the student's kernel);
- the course's grader (``dlcourse.grading.grade``) with 1 and with 2 workers;

and times the bare floor of kernel-based grading: a fresh kernel executing the
solved notebook with nbclient. Prints a table; nothing is asserted (run it on
purpose, not in the test suite).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from dlcourse.grading.grade import grade_submissions
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
    parser.add_argument("--submissions", type=int, default=8)
    parser.add_argument("--assignment", default="01_gradient_descent")
    args = parser.parse_args()
    use_this_environment()
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
            started = time.perf_counter()
            grade_submissions(submitted, scratch / f"course_{workers}", progress=lambda message: None, workers=workers)
            course[workers] = time.perf_counter() - started
        floor = time_floor(args.assignment)
    print(f"{'grader':52s} {'total s':>8s} {'s/notebook':>11s}")
    print(f"{'plain nbgrader autograde':52s} {plain:8.1f} {plain / n:11.2f}")
    for workers, seconds in course.items():
        print(f"{f'course grade, {workers} worker(s) (incl. feedback pages)':52s} {seconds:8.1f} {seconds / n:11.2f}")
    print(f"{'bare floor: fresh kernel runs the notebook (nbclient)':52s} {'':8s} {floor:11.2f}")
    print(f"\nonce per batch, course grade: planning with Keras references {planning:.1f} s (not included above)")
    print(f"speed-up from 1 to 2 workers: {course[1] / course[2]:.2f}x")
    print(f"course grade (2 workers) vs plain nbgrader: {plain / course[2]:.1f}x faster per batch")


if __name__ == "__main__":
    main()
