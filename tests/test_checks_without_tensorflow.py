"""The checks import with NumPy alone: TensorFlow is imported when a check first computes a reference; without it, a
notebook's own check calls replay the recorded references (:mod:`dlcourse.checks.recording`) and any other call says what
is missing. Each test runs a fresh interpreter, so that what this test session has imported does not count.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import WITHOUT_TENSORFLOW, environment

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

CALL_A_CHECK = """
import numpy as np
from dlcourse.checks.gradient_descent import check_mse_loss, regression_case
mse_loss = lambda X, y, w, b: float(np.mean((X @ w + b - y) ** 2))
check_mse_loss(mse_loss)  # the notebook's call: its references were recorded
try:
    check_mse_loss(mse_loss, cases=[regression_case(7)])  # a call the notebook does not make
except ImportError as error:
    print("ImportError:", error)
"""


def test_without_tensorflow_a_visible_check_replays_its_references_and_another_says_what_is_missing():
    result = run(WITHOUT_TENSORFLOW + IMPORT_EVERY_CHECK + CALL_A_CHECK + "print(sys.modules['tensorflow'])")
    assert result.returncode == 0, result.stderr
    assert "mse_loss matches TensorFlow on 3 problems" in result.stdout, result.stdout
    assert "ImportError: check_mse_loss was called with arguments the exercise notebook does not use" in result.stdout, result.stdout
    assert "pip install tensorflow==2.21.0" in result.stdout and result.stdout.strip().endswith("None"), result.stdout


def test_without_tensorflow_a_wrong_function_gets_its_diagnosis():
    result = run(WITHOUT_TENSORFLOW + textwrap.dedent("""
        import numpy as np
        from dlcourse.checks.compare import CheckFailed
        from dlcourse.checks.gradient_descent import check_mse_loss
        try:
            check_mse_loss(lambda X, y, w, b: float(np.sum((X @ w + b - y) ** 2)))
        except CheckFailed as failure:
            print(failure)
    """))
    assert result.returncode == 0, result.stderr
    assert "you summed the squared errors" in result.stdout, result.stdout


def test_the_mode_can_be_chosen_and_a_wrong_choice_is_refused():
    live = run("import os; os.environ['DLCOURSE_REFERENCES'] = 'live'\nfrom dlcourse.checks.recording import replaying; print(replaying())")
    recorded = run("import os; os.environ['DLCOURSE_REFERENCES'] = 'recorded'\nfrom dlcourse.checks.recording import replaying; print(replaying())")
    wrong = run("import os; os.environ['DLCOURSE_REFERENCES'] = 'maybe'\nfrom dlcourse.checks.recording import replaying; replaying()")
    assert live.stdout.strip() == "False" and recorded.stdout.strip() == "True", (live, recorded)
    assert 'DLCOURSE_REFERENCES must be "live" or "recorded"' in wrong.stderr


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
