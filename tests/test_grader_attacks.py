"""Submissions that try to fool, escape or crash the grader.

One batch, graded once with short time limits; each test asserts the exact
points of every graded cell and that the reason reaches the student.
"""
from __future__ import annotations

import copy
import csv
import socket
import subprocess
import threading

import nbformat
import pytest
from conftest import CHAPTER_1, REPOSITORY, solution_notebook, with_cell_source, write_submission

from dlcourse.grading.grade import grade_submissions
from dlcourse.grading.sandbox import FIRST_UID, Limits

pytestmark = pytest.mark.grading

LIMITS = Limits(cell_seconds=10, call_seconds=8)
WORKERS = 2
FULL = {"test_mse_loss": 1, "test_mse_gradient": 2, "test_numerical_gradient": 2, "test_gradient_descent": 3,
        "test_piecewise_constant_decay": 1, "test_exponential_decay": 1, "test_inverse_time_decay": 1,
        "test_polynomial_decay": 2, "test_cosine_decay": 2, "test_stable_rate": 2, "test_regression_fix": 2,
        "test_answer_feature_scale": 1, "test_answer_difference_step": 1, "test_answer_noise_plateau": 1}

# Every function returns zeros: whatever else the submission does, it deserves 0.
ZEROS = {
    "mse_loss": "def mse_loss(X, y, w, b):\n    return 0.0",
    "mse_gradient": "def mse_gradient(X, y, w, b):\n    return np.zeros(X.shape[1]), 0.0",
    "numerical_gradient": "def numerical_gradient(f, x, h=1e-5):\n    return np.zeros_like(x)",
    "gradient_descent": "def gradient_descent(grad_fn, theta0, learning_rate, num_steps):\n    return np.zeros((num_steps + 1,) + np.shape(theta0))",
    "piecewise_constant_decay": "def piecewise_constant_decay(step, boundaries, values):\n    return np.zeros(np.shape(step))",
    "exponential_decay": "def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):\n"
                         "    return np.zeros(np.shape(step))",
    "inverse_time_decay": "def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):\n"
                          "    return np.zeros(np.shape(step))",
    "polynomial_decay": "def polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):\n"
                        "    return np.zeros(np.shape(step))",
    "cosine_decay": "def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):\n"
                    "    return np.zeros(np.shape(step))",
    "stable_rate": "def largest_stable_learning_rate(X):\n    return 0.0",
    "regression_fix": 'regression_fix = {"learning_rate": 0.01, "standardise": False}',
    "answer_feature_scale": 'answer_feature_scale = "a"',
    "answer_difference_step": 'answer_difference_step = "a"',
    "answer_noise_plateau": 'answer_noise_plateau = "b"',
}


def zeros_with(prelude: str):
    """The all-zeros submission whose first solution cell starts with ``prelude``."""
    notebook = solution_notebook()
    for cell, source in ZEROS.items():
        notebook = with_cell_source(notebook, cell, source)
    first = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mse_loss")
    first.source = prelude + "\n\n" + first.source
    return notebook


def correct_except(cell: str, source: str):
    return with_cell_source(solution_notebook(), cell, source)


def add_cell(notebook, source: str, position: int = -1):
    changed = copy.deepcopy(notebook)
    changed.cells.insert(position if position >= 0 else len(changed.cells), nbformat.v4.new_code_cell(source))
    return changed


def submissions(port: int, output_dir) -> dict:
    """student -> (notebook or raw text, {cell: expected points}, phrase expected in a failed cell's message)."""
    solutions = REPOSITORY / "solutions" / CHAPTER_1 / "exercises.ipynb"
    zero = {cell: 0 for cell in FULL}
    deleted_tests = solution_notebook()
    deleted_tests.cells = [c for c in deleted_tests.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    retagged = zeros_with("")
    for cell in retagged.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            cell.source = "pass  # test removed"
            meta.update(grade=False, points=0, solution=True)
    shuffled = solution_notebook()
    tests = [c for c in shuffled.cells if c.metadata.get("nbgrader", {}).get("grade")]
    shuffled.cells = copy.deepcopy(tests) + [c for c in shuffled.cells if c not in tests] + copy.deepcopy(tests)
    return {
        # --- forging the verdict from inside the submission
        "patches_numpy": (zeros_with("import numpy, numpy.testing\n"
                                     "numpy.allclose = lambda *a, **k: True\nnumpy.isclose = lambda a, b, **k: numpy.ones(numpy.shape(a), bool)\n"
                                     "numpy.array_equal = lambda *a, **k: True\nnumpy.testing.assert_allclose = lambda *a, **k: None\n"
                                     "numpy.testing.assert_array_equal = lambda *a, **k: None"), zero, "does not match"),
        "patches_builtins_and_ipython": (zeros_with(
            "import ast, builtins, sys\nbuiltins.isinstance = lambda *a: True\nsys.excepthook = lambda *a: None\n"
            "class NoAsserts(ast.NodeTransformer):\n    def visit_Assert(self, node):\n        return ast.Pass()\n"
            "ip = get_ipython()\nip.ast_transformers.append(NoAsserts())\nip.showtraceback = lambda *a, **k: None\n"
            "ip.input_transformers_post.append(lambda lines: ['pass\\n'])"), zero, ""),  # it breaks its own runner: any reason
        "patches_the_course_package": (zeros_with(
            "import dlcourse.checks.compare as c, dlcourse.checks.cases as k\n"
            "c.assert_matches = lambda *a, **kw: None\nc.fail = lambda *a, **kw: None\nk.run_check = lambda *a, **kw: None"), zero, "does not match"),
        "equal_to_everything": (with_cell_source(zeros_with(""), "mse_loss",
                                                 "class Same:\n    def __eq__(self, other): return True\n    def __array__(self, *a, **k): "
                                                 "raise TypeError\n"
                                                 "def mse_loss(X, y, w, b):\n    return Same()"), zero, "__main__.Same"),
        "lenient_ndarray_subclass": (with_cell_source(zeros_with(""), "mse_gradient",
                                                      "class Lenient(np.ndarray):\n    def __eq__(self, other): return np.ones(self.shape, bool)\n"
                                                      "def mse_gradient(X, y, w, b):\n    return np.zeros(X.shape[1]).view(Lenient), 0.0"),
            zero, "does not match"),
        "wrong_dtype_and_shape": (with_cell_source(zeros_with(""), "mse_gradient",
                                                   "def mse_gradient(X, y, w, b):\n    return np.array(['1'] * X.shape[1]), "
                                                   "np.zeros(3)"), zero, "dtype <U1"),
        "deleted_test_cells": (deleted_tests, FULL, ""),
        "retagged_test_cells": (retagged, zero, "does not match"),
        "moved_and_duplicated_test_cells": (shuffled, FULL, ""),
        "hides_exceptions": (zeros_with("import sys, builtins\nsys.exit = lambda *a: None\nbuiltins.BaseException = object"), zero, "does not match"),
        # --- reaching what is not the submission
        "searches_disk_for_solutions": (zeros_with(
            "import os, json\n"
            f"for path in [{str(solutions)!r}, {str(REPOSITORY / 'tests')!r}]:\n"
            "    try:\n        open(path).read()\n        raise SystemExit('read ' + path)\n    except FileNotFoundError:\n        pass\n"
            "for root, dirs, files in os.walk('/'):\n"
            "    dirs[:] = [d for d in dirs if d not in ('proc', 'sys', 'dev')]\n"
            "    for name in files:\n        if name.endswith('.ipynb'):\n"
            "            try:\n                nb = json.load(open(os.path.join(root, name)))\n"
            "                for c in nb.get('cells', []):\n"
            "                    if 'BEGIN SOLUTION' in ''.join(c.get('source', '')) and 'def mse_loss' in ''.join(c.get('source', '')):\n"
            "                        exec(''.join(c['source']))\n"
            "            except Exception:\n                pass"), zero, "does not match"),
        "uses_the_network": (with_cell_source(solution_notebook(), "mse_loss",
                                              "import socket\ndef mse_loss(X, y, w, b):\n"
                                              f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'leak')\n"
                                              "    return float(np.mean((X @ w + b - y) ** 2))"),
            dict(FULL, test_mse_loss=0), "ConnectionRefusedError"),
        "writes_the_gradebook": (with_cell_source(solution_notebook(), "mse_loss",
                                                  "import sqlite3\ndef mse_loss(X, y, w, b):\n"
                                                  f"    db = sqlite3.connect({str(output_dir / 'gradebook.db')!r})\n"
                                                  "    db.execute('update grade set auto_score = 1000')\n    db.commit()\n"
                                                  "    return float(np.mean((X @ w + b - y) ** 2))"),
            dict(FULL, test_mse_loss=0), "OperationalError"),
        "imports_tensorflow": (with_cell_source(solution_notebook(), "mse_loss",
                                                "def mse_loss(X, y, w, b):\n    import tensorflow as tf\n"
                                                "    return float(tf.reduce_mean((X @ w + b - y) ** 2))"),
            dict(FULL, test_mse_loss=0), "not available while grading"),
        "imports_the_reference_optimizers": (with_cell_source(solution_notebook(), "mse_loss",
                                                              "def mse_loss(X, y, w, b):\n    from dlcourse import optimizers\n"
                                                              "    return float(np.mean((X @ w + b - y) ** 2))"),
            dict(FULL, test_mse_loss=0), "write the exercise's functions yourself"),
        "imports_the_numpy_reference": (with_cell_source(solution_notebook(), "mse_loss",
                                                         "def mse_loss(X, y, w, b):\n    from dlcourse import numpy_reference\n"
                                                         "    return float(np.mean((X @ w + b - y) ** 2))"),
            dict(FULL, test_mse_loss=0), "write the exercise's functions yourself"),
        "reads_the_reference_optimizers": (with_cell_source(solution_notebook(), "mse_loss",
                                                            "import os, dlcourse\ndef mse_loss(X, y, w, b):\n"
                                                            "    for name in ('optimizers.py', 'numpy_reference.py'):\n"
                                                            "        path = os.path.join(os.path.dirname(dlcourse.__file__), name)\n"
                                                            "        try:\n            source = open(path).read()\n        except OSError:\n"
                                                            "            source = ''\n"
                                                            "        if 'def ' in source:\n            raise RuntimeError('read ' + name)\n"
                                                            "    return float(np.mean((X @ w + b - y) ** 2))"),
            FULL, ""),
        # --- submissions that do not end, or end everything
        "endless_loop_ignoring_sigint": (correct_except("mse_gradient", "import signal\ndef mse_gradient(X, y, w, b):\n"
                                                        "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass"),
                                         dict(FULL, test_mse_gradient=0), "did not return"),
        "sleeps_forever": (correct_except("numerical_gradient", "import time\ndef numerical_gradient(f, x, h=1e-5):\n    time.sleep(10**6)"),
                           dict(FULL, test_numerical_gradient=0), "did not return"),
        "memory_bomb": (correct_except("gradient_descent", "def gradient_descent(grad_fn, theta0, learning_rate, num_steps):\n"
                                       "    hoard = []\n    while True:\n        hoard.append(bytearray(10**8))"),
                        dict(FULL, test_gradient_descent=0), "MemoryError"),
        "fork_bomb": (correct_except("piecewise_constant_decay", "import os\ndef piecewise_constant_decay(step, boundaries, values):\n"
                                     "    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass"),
                      dict(FULL, test_piecewise_constant_decay=0), "did not return"),
        "crashes_the_interpreter": (correct_except("exponential_decay", "import ctypes\ndef exponential_decay(step, initial_learning_rate, "
                                                                        "decay_steps, decay_rate, staircase=False):\n"
                                                   "    return ctypes.string_at(0)"), dict(FULL, test_exponential_decay=0), "SIGSEGV"),
        "exits_in_a_function": (correct_except("inverse_time_decay", "import os\ndef inverse_time_decay(step, initial_learning_rate, "
                                                                     "decay_steps, decay_rate, staircase=False):\n"
                                               "    os._exit(0)"), dict(FULL, test_inverse_time_decay=0), "did not return"),
        "exits_at_top_level": (add_cell(solution_notebook(), "import os\nos._exit(3)"), zero, "status 3"),
        "leaves_a_daemon": (correct_except("polynomial_decay", "import subprocess\ndef polynomial_decay(step, initial_learning_rate, "
                                                               "decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):\n"
                                           "    subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
                                           "    raise RuntimeError('left a process behind')"),
                            dict(FULL, test_polynomial_decay=0), "left a process behind"),
        "huge_output": (correct_except("cosine_decay", solution_cell("cosine_decay").replace('    """', '    print("x" * 10**6)\n    """', 1)),
                        FULL, ""),
        # --- notebooks that are not what they should be
        "invalid_json": ('{"cells": [', zero, "not a valid Jupyter notebook"),
        "empty_file": ("", zero, "empty file"),
        "wrong_nbformat": ('{"nbformat": 99, "nbformat_minor": 0, "cells": [], "metadata": {}}', zero, "not a valid Jupyter notebook"),
        "no_cells": (nbformat.v4.new_notebook(), zero, "mse_loss is not defined"),
    }


def solution_cell(grade_id: str) -> str:
    return next(c.source for c in solution_notebook().cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    output = root / "out"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections = []

    def accept():
        while not stop.is_set():
            try:
                connections.append(server.accept())
            except OSError:
                pass

    stop = threading.Event()
    listener = threading.Thread(target=accept, daemon=True)
    listener.start()
    cases = submissions(server.getsockname()[1], output)
    submitted = root / "submitted"
    write_submission(submitted, "honest", solution_notebook())
    for student, (notebook, _, _) in cases.items():
        write_submission(submitted, student, notebook)
    messages = []
    outcomes = grade_submissions(submitted, output, progress=messages.append, workers=WORKERS, limits=LIMITS)
    stop.set()
    listener.join()
    server.close()
    with (output / "grades_by_cell.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    leftovers = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout.splitlines()
    return {"cases": cases, "rows": rows, "outcomes": {o.student_id: o for o in outcomes}, "connections": connections,
            "leftovers": [line for line in leftovers if FIRST_UID <= int(line.split()[0]) < FIRST_UID + WORKERS],
            "output": output, "messages": messages}


STUDENTS = ["patches_numpy", "patches_builtins_and_ipython", "patches_the_course_package", "equal_to_everything",
            "lenient_ndarray_subclass", "wrong_dtype_and_shape", "deleted_test_cells", "retagged_test_cells",
            "moved_and_duplicated_test_cells", "hides_exceptions",
            "searches_disk_for_solutions", "uses_the_network", "writes_the_gradebook", "imports_tensorflow",
            "imports_the_reference_optimizers", "imports_the_numpy_reference", "reads_the_reference_optimizers",
            "endless_loop_ignoring_sigint", "sleeps_forever", "memory_bomb", "fork_bomb", "crashes_the_interpreter",
            "exits_in_a_function", "exits_at_top_level", "leaves_a_daemon", "huge_output", "invalid_json", "empty_file",
            "wrong_nbformat", "no_cells"]


@pytest.mark.parametrize("student", STUDENTS)
def test_attack_gets_exactly_its_grade_and_a_reason(attacked, student):
    _, expected, phrase = attacked["cases"][student]
    rows = {r["cell"]: r for r in attacked["rows"] if r["student_id"] == student}
    assert {cell: float(r["points"]) for cell, r in rows.items()} == {c: float(p) for c, p in expected.items()}
    failed = [c for c, p in expected.items() if p == 0]
    if failed:
        outcome = attacked["outcomes"][student]
        reasons = outcome.problem or "\n".join(v.message for v in outcome.cells if v.grade_id in failed)
        assert reasons.strip() and phrase in reasons, reasons[:2000]


def test_the_honest_submission_in_the_same_batch_keeps_full_marks(attacked):
    assert attacked["outcomes"]["honest"].score == sum(FULL.values())


def test_no_submission_reached_the_network(attacked):
    assert attacked["connections"] == []


def test_no_process_outlives_the_grading(attacked):
    assert attacked["leftovers"] == []


def test_the_gradebook_was_not_written_by_a_submission(attacked):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{attacked['output'] / 'gradebook.db'}") as gradebook:
        scores = [grade.auto_score for submission in gradebook.assignment_submissions(CHAPTER_1)
                  for notebook in submission.notebooks for grade in notebook.grades]
    assert scores and max(scores) <= 3


def test_a_fork_bomb_or_a_hang_costs_only_its_time_limit(attacked):
    # each hang is stopped after LIMITS.call_seconds; the batch as a whole went on
    assert any("fork_bomb" in m and f"/{sum(FULL.values()):g}" in m for m in attacked["messages"])
    assert len([m for m in attacked["messages"] if m.startswith("[")]) == len(STUDENTS) + 1
