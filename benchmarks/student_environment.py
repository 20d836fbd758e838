"""Benchmark: the size of a student's environment and the time from a fresh start to the first check's answer.

    .venv/bin/python benchmarks/student_environment.py [--repeat 5]

Builds the course's wheel from this checkout and installs it, with the student's pins (binder/requirements.txt), into a
new virtual environment without TensorFlow; then a Jupyter kernel (ipykernel) into the same environment, as a plain
``pip install`` set-up needs one (Colab and Binder bring theirs). Prints the size of each, beside the instructor's
environment (.venv) and the share of TensorFlow and Keras in it.

Then the time from a fresh start to the answer of chapter 1's first check (``check_mse_loss`` on the solution), each
the median of ``--repeat`` runs:

- a new Python process runs the exercise's first cells (set-up, imports, checks, the solution) and the check; the
  clock stops when the check's answer is printed;
- a new Jupyter kernel (nbclient) is started (timed apart), then executes the same cells.

with TensorFlow (.venv, live Keras references), and without (the student's environment, recorded references). Nothing
is asserted (run it on purpose, not in the test suite).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from dlcourse.grading.plan import nbgrader_meta, visible_master
from dlcourse.grading.workspace import REPOSITORY

CHAPTER = "01_gradient_descent"
FIRST_CELLS = ("setup", "imports", "checks", "mse_loss", "test_mse_loss")


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def first_cells() -> list[str]:
    """The sources of the first cells a student runs, up to and including the first check, as the student notebook has them."""
    sources = {nbgrader_meta(c).get("grade_id"): c.source for c in visible_master(CHAPTER).cells}
    return [sources[grade_id] for grade_id in FIRST_CELLS]


def pip(python: Path, *arguments: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *arguments], check=True)


def student_environment(root: Path) -> tuple[Path, float, float]:
    """A new environment with the course's wheel and the student's pins; its python, and its size (MB) before and after ipykernel."""
    sys.path.insert(0, str(REPOSITORY / "tests"))
    from conftest import copy_of_the_working_tree

    copy_of_the_working_tree(root / "course")  # setuptools builds in the source tree
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "--wheel-dir",
                    str(root / "wheel"), str(root / "course")], check=True)
    wheel = next((root / "wheel").glob("dlcourse-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    lock = str(REPOSITORY / "requirements.lock")
    pip(python, "-r", str(REPOSITORY / "binder" / "requirements.txt"), "-c", lock, str(wheel))
    without_kernel = size_mb(root / "venv")
    pip(python, "-c", lock, "ipykernel")
    with_kernel = size_mb(root / "venv")
    pip(python, "-c", lock, "nbclient", "nbformat")  # what this benchmark drives the kernel with
    return python, without_kernel, with_kernel


def time_interpreter(python: Path, env: dict, folder: Path) -> float:
    script = folder / "first_check.py"
    script.write_text("\n".join(first_cells()) + "\n")
    start = time.perf_counter()
    result = subprocess.run([str(python), str(script)], capture_output=True, text=True, env=env, cwd=folder)
    elapsed = time.perf_counter() - start
    assert "OK: mse_loss matches" in result.stdout, result.stdout + result.stderr
    return elapsed


def time_kernel(python: Path, env: dict, folder: Path) -> tuple[float, float]:
    """(seconds to start a new Jupyter kernel, seconds from the started kernel to the first check's answer)."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in first_cells()])
    path = folder / "first_check.ipynb"
    nbformat.write(notebook, path)
    code = ("import sys, time, nbformat\nfrom nbclient import NotebookClient\nnotebook = nbformat.read(sys.argv[1], as_version=4)\n"
            "client = NotebookClient(notebook, kernel_name='python3', timeout=600)\nstart = time.perf_counter()\n"
            "with client.setup_kernel():\n    started = time.perf_counter()\n"
            "    for index, cell in enumerate(notebook.cells):\n        client.execute_cell(cell, index)\n"
            "    answered = time.perf_counter()\n"
            "text = ''.join(o.get('text', '') for o in notebook.cells[-1].outputs)\nassert 'OK: mse_loss matches' in text, text\n"
            "print(started - start, answered - started)\n")
    result = subprocess.run([str(python), "-c", code, str(path)], capture_output=True, text=True, env=env, cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    start, answer = map(float, result.stdout.strip().splitlines()[-1].split())
    return start, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    instructor = REPOSITORY / ".venv"
    site_packages = next((instructor / "lib").glob("python3*/site-packages"))
    tensorflow = sum(size_mb(p) for p in site_packages.iterdir() if p.is_dir() and p.name.split("-")[0] in ("tensorflow", "keras"))
    with tempfile.TemporaryDirectory(prefix="student-environment-") as scratch:
        root = Path(scratch)
        python, without_kernel, with_kernel = student_environment(root)
        print(f"student's environment (course wheel + binder/requirements.txt): {without_kernel:7.0f} MB")
        print(f"  and a Jupyter kernel (ipykernel):                              {with_kernel:7.0f} MB")
        print(f"instructor's environment (.venv):                                {size_mb(instructor):7.0f} MB, "
              f"TensorFlow and Keras {tensorflow:.0f} MB of it")
        base = {k: v for k, v in os.environ.items() if k not in ("DLCOURSE_REFERENCES", "PYTHONPATH", "VIRTUAL_ENV")}
        setups = {"with TensorFlow (live Keras)": (instructor / "bin" / "python", dict(base, DLCOURSE_REFERENCES="live")),
                  "without TensorFlow (recorded)": (python, base)}
        print(f"\ntime from a fresh start to the first check's answer (median of {args.repeat}):")
        for label, (interpreter, env) in setups.items():
            alone = [time_interpreter(interpreter, env, root) for _ in range(args.repeat)]
            kernel = [time_kernel(interpreter, env, root) for _ in range(args.repeat)]
            for kind, times in (("a new interpreter, to the answer", alone), ("a new kernel: its start", [k[0] for k in kernel]),
                                ("  then from the started kernel to the answer", [k[1] for k in kernel])):
                print(f"  {label:30s} {kind:45s} {statistics.median(times):6.2f} s  (min {min(times):.2f}, max {max(times):.2f})")


if __name__ == "__main__":
    main()
