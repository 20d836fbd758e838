"""A student's environment without TensorFlow: the course's wheel, installed by the exercise notebooks' own set-up cell.

The wheel is built from this checkout; a new virtual environment, on each of this machine's Python 3.11 releases
(Debian 12's 3.11.2 among them), gets the student's pins (``binder/requirements.txt``)
and a Jupyter kernel, not the course package and not TensorFlow. Every exercise notebook, its solutions filled in and its
test cells as the student has them, runs there top to bottom in a real kernel: its set-up cell installs the wheel
(``DLCOURSE_PACKAGE``), and every check passes on the recorded references. A wrong answer gets its diagnosis there too.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import REPOSITORY, copy_of_the_working_tree, mutate, with_cell_source

from dlcourse.grading.plan import assignments, visible_master

pytestmark = pytest.mark.install

EXECUTE = """
import json, sys
import nbformat
from nbclient import NotebookClient
results = {}
for path in sys.argv[1:]:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, kernel_name="python3", timeout=600, allow_errors=True).execute()
    results[path] = [{"id": cell.get("id"), "errors": [output.get("ename", "") + ": " + output.get("evalue", "")
                                                      for output in cell.get("outputs", []) if output.get("output_type") == "error"],
                      "text": "".join(output.get("text", "") for output in cell.get("outputs", []) if output.get("output_type") == "stream")}
                     for cell in notebook.cells if cell.cell_type == "code"]
print(json.dumps(results))
"""


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, **kwargs)
    assert result.returncode == 0, f"{command[:4]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


# This machine's two CPython 3.11 releases: the one running the tests, and Debian 12's own (3.11.2).
INTERPRETERS = [pytest.param(Path(sys.executable), id="this-python"), pytest.param(Path("/usr/bin/python3.11"), id="debian-python3.11")]


@pytest.fixture(scope="module", params=INTERPRETERS)
def student_environment(request, tmp_path_factory) -> tuple[Path, Path]:
    """(the new environment's python, the course's wheel), on each of :data:`INTERPRETERS`."""
    assert request.param.exists(), f"{request.param} is missing (Debian's python3.11 and python3.11-venv packages)"
    root = tmp_path_factory.mktemp("student")
    copy_of_the_working_tree(root / "course")  # setuptools builds in the source tree
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "--wheel-dir", str(root / "wheel"),
         str(root / "course")])
    wheel = next((root / "wheel").glob("dlcourse-*.whl"))
    run([str(request.param), "-m", "venv", str(root / "venv")])
    python = root / "venv" / "bin" / "python"
    # the student's pins, and a kernel to execute notebooks with (at the lock's versions)
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REPOSITORY / "binder" / "requirements.txt"),
         "-c", str(REPOSITORY / "requirements.lock"), "ipykernel", "nbclient", "nbformat"])
    return python, wheel


def test_the_wheel_ships_the_recorded_references_and_no_tensorflow(student_environment):
    python, wheel = student_environment
    names = zipfile.ZipFile(wheel).namelist()
    assert "dlcourse/data/visible_checks.pkl" in names and "dlcourse/checks/recording.py" in names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not [line for line in requires if "tensorflow" in line or "nbgrader" in line], requires
    found = run([str(python), "-c", "import importlib.util as u, sys; print([u.find_spec(m) is None for m in ('tensorflow', 'keras', 'dlcourse')], "
                                    "sys.version_info[:2])"], cwd=wheel.parent)
    assert found.stdout.strip() == "[True, True, True] (3, 11)", found.stdout


def test_every_exercise_runs_there_from_its_set_up_cell_and_a_wrong_answer_gets_its_diagnosis(student_environment, tmp_path):
    python, wheel = student_environment
    paths = []
    for name in assignments():
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(visible_master(name), path)
        paths.append(path)
    wrong = with_cell_source(visible_master("01_gradient_descent"), "mse_loss",
                             mutate("01_gradient_descent", "mse_loss", "np.mean(residual**2)", "np.sum(residual**2)"))
    nbformat.write(wrong, tmp_path / "wrong.ipynb")
    env = {key: value for key, value in os.environ.items() if key not in ("DLCOURSE_REFERENCES", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(DLCOURSE_PACKAGE=str(wheel), PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}")
    results = json.loads(run([str(python), "-c", EXECUTE, *map(str, paths), str(tmp_path / "wrong.ipynb")], env=env, cwd=tmp_path).stdout)
    for path in paths:
        cells = results[str(path)]
        errors = {cell["id"]: cell["errors"] for cell in cells if cell["errors"]}
        assert not errors, (path.name, errors)
        assert sum("OK:" in cell["text"] or "matches" in cell["text"] for cell in cells) >= 5, (path.name, [c["text"][:200] for c in cells])
    wrong_cells = {cell["id"]: cell for cell in results[str(tmp_path / "wrong.ipynb")]}
    failed = [cell for cell in wrong_cells.values() if cell["errors"]]
    assert len(failed) == 1 and "you summed the squared errors" in failed[0]["errors"][0], failed
    installed = run([str(python), "-c", "import dlcourse, importlib.util as u; print(dlcourse.__file__, u.find_spec('tensorflow'))"],
                    cwd=tmp_path)
    assert "site-packages" in installed.stdout and installed.stdout.strip().endswith("None"), installed.stdout
