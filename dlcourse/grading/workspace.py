"""Where the course's files are, and nbgrader set up to use them.

The solution notebooks in ``solutions/<assignment>/exercises.ipynb`` are the
masters. Every nbgrader operation runs in a *workspace*: a folder laid out as
an nbgrader course (``source/``, ``release/``, ``submitted/``,
``autograded/``, ``feedback/``) with the course configuration of
``autograder/nbgrader_config.py``. Its gradebook is the SQLite file
``gradebook.db`` there, or the database whose SQLAlchemy URL the workspace
was created with (``course grade --db-url postgresql://...``), recorded in the
workspace's copy of the configuration so that formgrader uses it too; its
late-submission penalty method (``course grade --late-penalty``) is recorded
there as well.
"""
from __future__ import annotations

import json
import os
import re
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


DATABASE_LINE = "c.CourseDirectory.db_url = "
LATE_PENALTY_LINE = "c.LateSubmissionPlugin.penalty_method = "
LATE_PENALTY_METHODS = ("none", "zero")  # nbgrader's LateSubmissionPlugin: no penalty, or the notebook's whole score


def _recorded(root: Path, line: str) -> str | None:
    """The value the workspace ``root``'s configuration records on the line starting with ``line``, if any."""
    config = root / "nbgrader_config.py"
    recorded = re.search(rf"^{re.escape(line)}(.+)$", config.read_text(), re.M) if config.is_file() else None
    return json.loads(recorded.group(1)) if recorded else None


def database_url(root: Path) -> str:
    """The SQLAlchemy URL of the workspace ``root``'s gradebook: the one recorded in its configuration, else its
    SQLite file."""
    return _recorded(root, DATABASE_LINE) or f"sqlite:///{root / 'gradebook.db'}"


def late_penalty_method(root: Path) -> str:
    """nbgrader's late-submission penalty method of the workspace ``root`` (one of :data:`LATE_PENALTY_METHODS`)."""
    return _recorded(root, LATE_PENALTY_LINE) or "none"


def hide_password(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (for messages)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def nbgrader_config(root: Path) -> Config:
    """The course configuration with ``CourseDirectory.root`` set to ``root`` and its gradebook's URL."""
    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = database_url(root)
    return config


def prepare_workspace(root: Path, names: list[str], db_url: str | None = None, late_penalty: str | None = None) -> None:
    """Create ``root`` as an nbgrader course holding the source of each assignment in ``names``, with its gradebook
    at ``db_url`` (an SQLAlchemy URL) or, by default, where it already was (a new workspace: ``gradebook.db``), and
    nbgrader's late-submission penalty method ``late_penalty`` (by default, the one it had; a new workspace: "none").

    A workspace keeps its gradebook: another ``db_url`` than the recorded one is a :class:`GradingError`, since the
    workspace's records of graded submissions describe the scores in its own gradebook.
    Only the notebook is copied into ``source/``: nbgrader copies every
    other file of a source folder into the student release.
    """
    unknown = sorted(set(names) - set(assignments()))
    if unknown:
        raise GradingError(f"unknown assignment(s) {', '.join(unknown)}; the course has: {', '.join(assignments())}")
    if db_url is not None and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", db_url):
        raise GradingError(f"--db-url must be an SQLAlchemy URL of SQLite or PostgreSQL (sqlite:///PATH, "
                           f"postgresql://USER:PASSWORD@HOST:PORT/DATABASE); got {hide_password(db_url)!r}")
    if late_penalty is not None and late_penalty not in LATE_PENALTY_METHODS:
        raise GradingError(f"the late penalty must be one of {', '.join(LATE_PENALTY_METHODS)} (nbgrader's methods); got {late_penalty!r}")
    current, penalty = database_url(root), late_penalty or late_penalty_method(root)
    if db_url is not None and db_url != current and (root / "nbgrader_config.py").is_file():
        raise GradingError(f"the workspace {root} keeps its gradebook at {hide_password(current)}; "
                           f"to grade into {hide_password(db_url)}, choose a new output folder")
    root.mkdir(parents=True, exist_ok=True)
    configuration = CONFIG_FILE.read_text()
    if (db_url or current) != f"sqlite:///{root / 'gradebook.db'}":
        configuration += f"\n# This workspace's gradebook (course grade --db-url).\n{DATABASE_LINE}{json.dumps(db_url or current)}\n"
    if penalty != "none":
        configuration += f"\n# Late submissions (course grade --late-penalty).\n{LATE_PENALTY_LINE}{json.dumps(penalty)}\n"
    (root / "nbgrader_config.py").write_text(configuration)
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


SETUP_PACKAGE_LINE = 'COURSE_PACKAGE = ""'


def course_package(config: Path = REPOSITORY / "_config.yml") -> str:
    """Where an exercise's set-up cell installs the course package from: ``dlcourse @ git+<repository.url>`` of the book's
    ``_config.yml`` (the setting that also shows the launch buttons), or ``""`` while it is unset."""
    import yaml

    url = ((yaml.safe_load(config.read_text()) or {}).get("repository") or {}).get("url") or ""
    return f"dlcourse @ git+{url}" if url else ""


def with_course_package(notebook_text: str, package: str) -> str:
    """``notebook_text`` (a notebook's JSON) with the set-up cell's ``COURSE_PACKAGE`` set to ``package``."""
    line = json.dumps(SETUP_PACKAGE_LINE)[1:-1]  # as the notebook's JSON spells it
    if line not in notebook_text:
        raise GradingError(f"the notebook has no set-up cell with the line {SETUP_PACKAGE_LINE!r}")
    return notebook_text.replace(line, json.dumps(f"COURSE_PACKAGE = {json.dumps(package)}")[1:-1], 1)


def generate_student_notebooks(root: Path, names: list[str] | None = None, destination: Path = CHAPTERS) -> list[Path]:
    """Run ``nbgrader generate_assignment`` for each assignment and copy the result to ``destination``, its set-up cell
    installing the course package from :func:`course_package`.

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
        target.write_text(with_course_package((root / "release" / name / NOTEBOOK).read_text(), course_package()))
        written.append(target)
    return written
