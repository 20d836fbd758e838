"""Where the course's files are, and nbgrader set up to use them.

The solution notebooks in ``solutions/<assignment>/exercises.ipynb`` are the
masters. Every nbgrader operation runs in a *workspace*: a folder laid out as
an nbgrader course (``source/``, ``release/``, ``submitted/``,
``autograded/``, ``feedback/``, ``gradebook.db``) with the course
configuration of ``autograder/nbgrader_config.py``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

REPOSITORY = Path(__file__).resolve().parents[2]
SOLUTIONS = REPOSITORY / "solutions"
CHAPTERS = REPOSITORY / "chapters"
CONFIG_FILE = REPOSITORY / "autograder" / "nbgrader_config.py"
NOTEBOOK = "exercises.ipynb"


class GradingError(Exception):
    """A problem the instructor must fix (bad folder, unknown assignment); the message says what."""


def assignments() -> list[str]:
    """Names of the assignments: the chapter folders of ``solutions/`` holding an exercise notebook."""
    return sorted(p.parent.name for p in SOLUTIONS.glob(f"*/{NOTEBOOK}"))


def use_this_environment() -> None:
    """Put this interpreter's ``bin/`` first on PATH.

    nbgrader runs ``alembic`` by name when it creates a gradebook, and the
    notebooks' kernels must import the course package: both come from the
    environment this command runs in.
    """
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def nbgrader_config(root: Path) -> Config:
    """The course configuration with ``CourseDirectory.root`` set to ``root``."""
    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    config.CourseDirectory.root = str(root)
    return config


def prepare_workspace(root: Path, names: list[str]) -> None:
    """Create ``root`` as an nbgrader course holding the source of each assignment in ``names``.

    Only the notebook is copied into ``source/``: nbgrader copies every
    other file of a source folder into the student release.
    """
    unknown = sorted(set(names) - set(assignments()))
    if unknown:
        raise GradingError(f"unknown assignment(s) {', '.join(unknown)}; the course has: {', '.join(assignments())}")
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(CONFIG_FILE, root / "nbgrader_config.py")
    for name in names:
        target = root / "source" / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOLUTIONS / name / NOTEBOOK, target / NOTEBOOK)


def make_api(root: Path):
    """An ``NbGraderAPI`` for the workspace ``root``."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config(root)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def generate_student_notebooks(root: Path, names: list[str] | None = None, destination: Path = CHAPTERS) -> list[Path]:
    """Run ``nbgrader generate_assignment`` for each assignment and copy the result to ``destination``.

    ``root`` is a scratch workspace. Returns the written notebook paths
    ``destination/<assignment>/exercises.ipynb``.
    """
    names = assignments() if names is None else names
    use_this_environment()
    prepare_workspace(root, names)
    api = make_api(root)
    written = []
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise GradingError(f"nbgrader generate_assignment failed for {name}:\n{result.get('error') or result.get('log')}")
        target = destination / name / NOTEBOOK
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / "release" / name / NOTEBOOK, target)
        written.append(target)
    return written
