"""Find the submissions in a folder laid out as nbgrader's ``submitted/``, and read each notebook safely.

``<student_id>/<assignment_id>/exercises.ipynb``. Everything a submission
brings is hostile, its file-system form included: the grader reads only
folders and regular files inside the submissions folder and never follows a
link. What cannot be placed (a notebook outside an assignment folder, an
unknown assignment folder, a link, a special file) is reported with its
reason and the batch goes on; a notebook that cannot be read is graded 0 with
the reason. Only an empty folder is the instructor's problem (:class:`GradingError`).
"""
from __future__ import annotations

import datetime
import difflib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlcourse.grading.workspace import NOTEBOOK, GradingError, assignments

MAX_NOTEBOOK_BYTES = 20 * 2**20
LINK = "is a symbolic link; the grader reads only folders and regular files inside the submissions folder"


@dataclass
class Misplaced:
    """Something in the submissions folder that is not a gradable submission, and why."""

    student_id: str
    assignment_id: str
    problem: str


def _kind(entry: os.DirEntry) -> str:
    """"dir", "file", "link" or "special" (a pipe, a socket, a device), never following a link."""
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    return "file" if entry.is_file(follow_symlinks=False) else "special"


def _visible(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def find_submissions(submitted: Path) -> tuple[list[tuple[str, str]], list[Misplaced]]:
    """``(student_id, assignment_id)`` of every ``<student>/<assignment>/`` folder, and what could not be placed."""
    if not submitted.is_dir():
        raise GradingError(f"{submitted} is not a folder; expected <student_id>/<assignment_id>/{NOTEBOOK} inside it")
    known = sorted(assignments())
    pairs, misplaced = [], []
    for student in _visible(submitted):
        kind = _kind(student)
        if kind != "dir":
            what = LINK if kind == "link" else f"is a file, not a student's folder (expected {student.name}/<assignment_id>/{NOTEBOOK})"
            misplaced.append(Misplaced(student.name, "", f"{student.name} {what}"))
            continue
        for entry in _visible(Path(student.path)):
            kind, where = _kind(entry), f"{student.name}/{entry.name}"
            if kind == "link":
                misplaced.append(Misplaced(student.name, entry.name, f"{where} {LINK}"))
            elif kind != "dir":
                misplaced.append(Misplaced(student.name, "", f"{where} is not inside an assignment folder: "
                                                             f"expected {student.name}/<assignment_id>/{NOTEBOOK}"))
            elif entry.name in known:
                pairs.append((student.name, entry.name))
            else:
                close = difflib.get_close_matches(entry.name, known, n=1)
                hint = f"; did you mean {close[0]}?" if close else f" (it has {', '.join(known)})"
                misplaced.append(Misplaced(student.name, entry.name, f"{where}: {entry.name} is not an assignment of this course{hint}"))
    if not pairs and not misplaced:
        raise GradingError(f"no submissions in {submitted}; expected <student_id>/<assignment_id>/{NOTEBOOK}")
    return pairs, misplaced


def read_regular_file(path: Path, limit: int = MAX_NOTEBOOK_BYTES) -> tuple[bytes | None, str]:
    """The bytes of ``path`` if it is a regular file (not a link, a pipe or a device) of at most ``limit`` bytes, else why not."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, "missing"
    except OSError as error:
        return None, LINK if error.errno == errno.ELOOP else f"cannot be opened ({error.strerror})"
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, "is not a regular file (a named pipe, a socket or a device?)"
        if info.st_size > limit:
            return None, f"is larger than {limit // 2**20} MiB"
        return handle.read(limit + 1)[:limit], ""


def read_submission(path: Path) -> tuple[nbformat.NotebookNode | None, bytes, str]:
    """The submitted notebook and its bytes, or None and why it cannot be graded (never quoting another file)."""
    data, problem = read_regular_file(path)
    if problem == "missing":
        others = sorted(p.name for p in path.parent.glob("*.ipynb"))
        return None, b"", f"no {NOTEBOOK} in the submission" + (f" (found {', '.join(others)}; the notebook must keep its name)" if others else "")
    if data is None:
        return None, b"", f"{NOTEBOOK} {problem}"
    if not data:
        return None, b"", f"{NOTEBOOK} is an empty file"
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # whatever nbformat objects to is the submission's problem, not the batch's
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, b"", f"{NOTEBOOK} is not a valid Jupyter notebook: {first_line[:300]}"
    return notebook, data, ""


TIMESTAMP = "timestamp.txt"


@dataclass
class SubmissionTime:
    """When a submission was made (UTC, without time zone, as nbgrader's gradebook keeps it; None when unknown), what
    makes it ungradable (``problem``, as in nbgrader, whose autograde fails on a timestamp it cannot read), or why the
    ``timestamp.txt`` there was ignored (``ignored``: a link or a special file, which the grader never reads)."""

    when: datetime.datetime | None
    problem: str = ""
    ignored: str = ""


def read_timestamp(folder: Path) -> SubmissionTime:
    """The time of the submission in ``folder``, from the ``timestamp.txt`` that nbgrader's collect or submit wrote there;
    unknown when there is none or it is empty (nbgrader's semantics)."""
    from nbgrader.utils import parse_utc

    data, problem = read_regular_file(folder / TIMESTAMP, limit=1024)
    if problem == "missing":
        return SubmissionTime(None)
    if data is None:
        return SubmissionTime(None, ignored=f"{TIMESTAMP} {problem}; the submission time is unknown")
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        return SubmissionTime(None)
    try:
        return SubmissionTime(parse_utc(text))
    except (ValueError, OverflowError, TypeError) as error:  # dateutil's ParserError is a ValueError
        return SubmissionTime(None, problem=f"{TIMESTAMP} holds {text[:80]!r}, not a date and time ({error}); nbgrader writes e.g. "
                                            "'2026-12-01 17:00:00.000000 UTC': correct it, or remove it if the submission time is unknown")
