"""The checks import with NumPy alone: TensorFlow is imported when a check first computes a reference.

A first step towards students without TensorFlow (issue: student anywhere). Each test runs a fresh interpreter, so
that what this test session has imported does not count.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import environment

IMPORT_EVERY_CHECK = """
import importlib, pkgutil, sys
import dlcourse.checks
names = sorted(m.name for m in pkgutil.iter_modules(dlcourse.checks.__path__))
for name in names:
    importlib.import_module(f"dlcourse.checks.{name}")
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, env=environment())


def test_importing_every_check_module_imports_no_tensorflow():
    result = run(IMPORT_EVERY_CHECK + "print(len(names), sorted({'tensorflow', 'keras'} & set(sys.modules)))")
    assert result.returncode == 0, result.stderr
    count, imported = result.stdout.split(" ", 1)
    assert int(count) >= 10 and imported.strip() == "[]", result.stdout


BLOCK_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = None  # as where TensorFlow is not installed
sys.modules["keras"] = None
"""
CALL_A_CHECK = """
import numpy as np
from dlcourse.checks.gradient_descent import check_mse_loss
try:
    check_mse_loss(lambda X, y, w, b: float(np.mean((X @ w + b - y) ** 2)))
except ImportError as error:
    print("ImportError:", error)
"""


def test_without_tensorflow_the_checks_import_and_a_check_says_what_is_missing():
    result = run(BLOCK_TENSORFLOW + IMPORT_EVERY_CHECK + CALL_A_CHECK)
    assert result.returncode == 0, result.stderr
    assert "ImportError: this check computes its reference with TensorFlow/Keras, which cannot be imported here" in result.stdout
    assert "pip install tensorflow==2.21.0" in result.stdout


def test_with_tensorflow_a_check_imports_it_and_runs():
    result = run("""
        import sys
        import numpy as np
        from dlcourse.checks.gradient_descent import check_mse_loss
        check_mse_loss(lambda X, y, w, b: float(np.mean((X @ w + b - y) ** 2)))
        print("tensorflow" in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("True") and "mse_loss matches TensorFlow" in result.stdout, result.stdout
