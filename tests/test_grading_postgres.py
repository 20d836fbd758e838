"""The gradebook in a real PostgreSQL server (Debian's package, installed by scripts/bootstrap.sh, started here).

Grading into PostgreSQL, and regrading, gives what grading into the SQLite
file gives; nbgrader's own tools, run in the workspace as an instructor runs
formgrader, read the same database; a workspace keeps its gradebook.
"""
from __future__ import annotations

import csv
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import environment, solution_notebook, with_cell_source, write_submission

from dlcourse.grading.grade import grade_submissions
from dlcourse.grading.workspace import GradingError

pytestmark = pytest.mark.grading

WRONG = ("def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):\n"
         "    return initial_learning_rate * decay_rate ** (step / decay_steps + 1)")


def postgres_program(name: str) -> str:
    """A PostgreSQL server program (``initdb``, ``postgres``) of Debian's package, or from PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    assert found[-1], f"{name} is missing: scripts/bootstrap.sh installs Debian's postgresql package"
    return found[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A fresh PostgreSQL server on 127.0.0.1 (a throw-away cluster, trust authentication) with an empty database;
    yields its SQLAlchemy URL. As root, the server runs as Debian's ``postgres`` user (it refuses to run as root)."""
    folder = Path(tempfile.mkdtemp(prefix="dlcourse-postgres-"))
    as_user = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = [shutil.which("setpriv"), f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
    port = free_port()
    server = None
    try:
        subprocess.run(as_user + [postgres_program("initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "grader", "--no-sync"],
                       check=True, capture_output=True, env=environment(), cwd=folder, timeout=120)
        server = subprocess.Popen(as_user + [postgres_program("postgres"), "-D", str(folder / "data"), "-h", "127.0.0.1",
                                             "-p", str(port), "-k", str(folder), "-F"],
                                  stdout=subprocess.DEVNULL, stderr=(folder / "server.log").open("w"), cwd=folder)
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                connection = psycopg.connect(host="127.0.0.1", port=port, user="grader", dbname="postgres", autocommit=True)
                break
            except psycopg.OperationalError:
                assert server.poll() is None and time.monotonic() < deadline, (folder / "server.log").read_text()
                time.sleep(0.3)
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE gradebook")
        connection.close()
        yield f"postgresql://grader@127.0.0.1:{port}/gradebook"
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("postgres") / "submitted"
    write_submission(folder, "correct", solution_notebook())
    write_submission(folder, "wrong", with_cell_source(solution_notebook(), "exponential_decay", WRONG))
    return folder


def rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_postgresql_gradebook_grades_and_regrades_as_sqlite(postgres_url, submitted, tmp_path):
    lines: list[str] = []
    in_postgres = grade_submissions(submitted, tmp_path / "postgres", progress=lines.append, db_url=postgres_url)
    assert not (tmp_path / "postgres" / "gradebook.db").exists(), "the SQLite file was created beside PostgreSQL"
    again = grade_submissions(submitted, tmp_path / "postgres", progress=lines.append, regrade=True)  # keeps its gradebook
    in_sqlite = grade_submissions(submitted, tmp_path / "sqlite", progress=lambda m: None)
    for name in ("grades_by_cell.csv", "grades.csv"):
        assert rows(tmp_path / "postgres" / name) == rows(tmp_path / "sqlite" / name), name
    shown = [(o.student_id, o.score, [c.__dict__ for c in o.cells]) for o in in_postgres]
    assert shown == [(o.student_id, o.score, [c.__dict__ for c in o.cells]) for o in again]
    assert shown == [(o.student_id, o.score, [c.__dict__ for c in o.cells]) for o in in_sqlite]
    assert in_postgres[0].score == in_postgres[0].max_score and in_postgres[1].score == in_postgres[0].max_score - 1
    # nbgrader's own tools, run in the workspace as an instructor runs formgrader, read the PostgreSQL gradebook
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    exported = subprocess.run([nbgrader, "export", "--to", "by_nbgrader.csv"], cwd=tmp_path / "postgres", env=environment(),
                              capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    by_nbgrader = sorted(rows(tmp_path / "postgres" / "by_nbgrader.csv"), key=lambda row: (row["assignment"], row["student_id"]))
    assert by_nbgrader == rows(tmp_path / "postgres" / "grades.csv")


def test_a_workspace_keeps_its_gradebook(postgres_url, submitted, tmp_path):
    grade_submissions(submitted, tmp_path / "out", progress=lambda m: None)
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    with pytest.raises(GradingError, match="keeps its gradebook at sqlite:///.*choose a new output folder"):
        grade_submissions(submitted, tmp_path / "out", progress=lambda m: None, db_url=postgres_url)
    assert before == {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    with pytest.raises(GradingError, match=r"must be an SQLAlchemy URL .*got 'mysql://grader:\*\*\*@host/db'"):
        grade_submissions(submitted, tmp_path / "new", progress=lambda m: None, db_url="mysql://grader:secret@host/db")
