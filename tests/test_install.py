"""The set-up on another Python 3.11 release, as an ordinary user: Debian's /usr/bin/python3.11 installs the lock and grades."""
from __future__ import annotations

import csv
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import CHAPTER_1, copy_of_the_working_tree, solution_notebook, write_submission

pytestmark = pytest.mark.install

DEBIAN_PYTHON = Path("/usr/bin/python3.11")
ORDINARY_USER = "course-student"


def ordinary_user() -> str:
    """An ordinary (non-root) user to run as: ``course-student`` (created when the tests run as root), else the current user."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam(ORDINARY_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", ORDINARY_USER], check=True)
    return ORDINARY_USER


def test_debians_python_installs_the_lock_as_an_ordinary_user_and_grades_a_submission():
    assert DEBIAN_PYTHON.exists(), f"{DEBIAN_PYTHON} is missing: this test needs Debian's python3.11 package (apt-get install python3.11-venv)"
    user = ordinary_user()
    account = pwd.getpwnam(user)
    work = Path(tempfile.mkdtemp(prefix="course-install-", dir="/tmp"))
    try:
        course = work / "course"
        copy_of_the_working_tree(course)
        write_submission(work / "submitted", "alice", solution_notebook(CHAPTER_1))
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", f"{account.pw_uid}:{account.pw_gid}", str(work)], check=True)
        as_user = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
        environment = ["env", "-i", f"HOME={account.pw_dir}", "PATH=/usr/bin:/bin", f"PYTHON={DEBIAN_PYTHON}", "LANG=C.UTF-8"]
        # the instructor's documented command: make grade sets up .venv first (scripts/bootstrap.sh)
        result = subprocess.run(as_user + environment + ["make", "-C", str(course), "grade", f"SUBMISSIONS={work / 'submitted'}",
                                                         f"OUTPUT={work / 'graded'}"], capture_output=True, text=True, timeout=3000)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        version = subprocess.run([str(course / ".venv" / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert version == subprocess.run([str(DEBIAN_PYTHON), "-c", "import platform; print(platform.python_version())"],
                                         capture_output=True, text=True, check=True).stdout.strip()
        assert (course / ".venv").stat().st_uid == account.pw_uid != 0
        with (work / "graded" / "grades_by_cell.csv").open() as handle:
            rows = [r for r in csv.DictReader(handle) if r["student_id"] == "alice"]
        assert rows and all(r["status"] == "graded" and float(r["points"]) == float(r["max_points"]) for r in rows), rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
