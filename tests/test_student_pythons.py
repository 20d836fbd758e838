"""The student's environment (binder/requirements.txt) installs on the Python a student has: CPython 3.11, 3.12 and 3.13.

binder/requirements.txt pins what the exercises and the course package need
without TensorFlow, at the versions of requirements.lock (the instructor's
lock, Python 3.11). Fast: every pin equals the lock's version, the pins hold
the direct needs and all they depend on, and no TensorFlow, Keras or nbgrader.
Marked ``install``: pip resolves the pins for CPython 3.11, 3.12 and 3.13 on
manylinux x86_64 from binary wheels only, against the package index, without
installing anything. A wheel's tags name only the minor version, and the test
checks that no pin's Requires-Python names a patch release, so "3.11" stands for
every 3.11 (Debian 12's 3.11.2 included). pip evaluates dependency markers for the
Python that runs it (3.11), not the target; the test checks that no pin's
dependencies have a Python-version marker, so the pinned set is the same on each.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from conftest import REPOSITORY
from packaging.requirements import Requirement

STUDENT_REQUIREMENTS = REPOSITORY / "binder" / "requirements.txt"
LOCK = REPOSITORY / "requirements.lock"
INSTRUCTOR_ONLY = {"tensorflow", "keras", "nbgrader"}
PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"]


def canonical(name: str) -> str:
    """A project's name as the package index compares names (PEP 503): ``Jinja2`` -> ``jinja2``, ``ml_dtypes`` -> ``ml-dtypes``."""
    return re.sub(r"[-_.]+", "-", name).lower()


# what the course package needs (pyproject.toml's dependencies: the student's; the instructor's are an extra)
DIRECT_NEEDS = {canonical(Requirement(text).name)
                for text in tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["dependencies"]}


def pins(path: Path) -> dict[str, str]:
    """{project: version} of the ``name==version`` lines of ``path``; a line of another form fails the test."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
            assert match, f"{path.name}: not an exact pin: {line!r}"
            found[canonical(match[1])] = match[2]
    return found


def test_student_pins_are_the_locks_versions_without_tensorflow_or_nbgrader():
    student, lock = pins(STUDENT_REQUIREMENTS), pins(LOCK)
    not_in_lock = sorted(name for name in student if name not in lock)
    assert not not_in_lock, f"pinned in binder/requirements.txt but not in requirements.lock: {not_in_lock}"
    differ = {name: (version, lock[name]) for name, version in student.items() if version != lock[name]}
    assert not differ, f"binder/requirements.txt differs from requirements.lock ({{project: (binder, lock)}}): {differ}"
    assert DIRECT_NEEDS <= set(student), f"missing: {sorted(DIRECT_NEEDS - set(student))}"
    assert not INSTRUCTOR_ONLY & set(student), f"the student's environment has no {sorted(INSTRUCTOR_ONLY & set(student))}"


def test_student_pins_hold_everything_the_pinned_packages_depend_on():
    """Read from the packages installed here (the lock's versions), on this Python; the install test checks the others."""
    student = pins(STUDENT_REQUIREMENTS)
    unpinned = set()
    for name in student:
        for text in metadata.distribution(name).requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                unpinned |= {canonical(requirement.name)} - set(student)
    assert not unpinned, f"dependencies of the pins that binder/requirements.txt does not pin: {sorted(unpinned)}"


def resolve(python: str, requirements: list[str], folder: Path) -> subprocess.CompletedProcess:
    """pip's dry run of ``requirements`` (arguments after ``install``) for CPython ``python`` on manylinux x86_64, wheels only."""
    abi = "cp" + python.replace(".", "")
    platforms = [argument for platform in PLATFORMS for argument in ("--platform", platform)]
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--disable-pip-version-check", "--only-binary=:all:",
         "--python-version", python, "--implementation", "cp", "--abi", abi, *platforms,
         "--target", str(folder / "target"), "--report", str(folder / "report.json"), *requirements],
        capture_output=True, text=True, timeout=600,
    )


def without_wheels(python: str, student: dict[str, str], folder: Path) -> list[str]:
    """The pins that have no wheel for ``python``, each resolved alone (pip stops at the first it cannot find)."""
    return [f"{name}=={version}" for name, version in student.items()
            if resolve(python, ["--no-deps", f"{name}=={version}"], folder).returncode != 0]


def version_dependent(report: dict) -> list[str]:
    """What of pip's ``report`` could differ on another patch or minor release: a Requires-Python that names a patch
    release, a dependency (not an extra's) whose marker names the Python version."""
    found = []
    for item in report["install"]:
        name, requires_python = item["metadata"]["name"], item["metadata"].get("requires_python") or ""
        if re.search(r"\d+\.\d+\.\d+", requires_python):
            found.append(f"{name}: Requires-Python {requires_python}")
        for text in item["metadata"].get("requires_dist", []):
            marker = str(Requirement(text).marker or "")
            if re.search(r"python_(full_)?version", marker) and "extra" not in marker:
                found.append(f"{name}: {text}")
    return found


@pytest.mark.install
@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_student_pins_resolve_to_wheels_for_cpython(python):
    student = pins(STUDENT_REQUIREMENTS)
    with tempfile.TemporaryDirectory(prefix="student-python-") as folder:
        result = resolve(python, ["-r", str(STUDENT_REQUIREMENTS)], Path(folder))
        if result.returncode != 0:
            missing = without_wheels(python, student, Path(folder))
            tail = "\n".join(line for line in result.stderr.splitlines() if "is ignored" not in line)[-3000:]
            pytest.fail(f"CPython {python}: no wheel for {missing or 'a pin or a dependency'}; pip said:\n{tail}")
        report = json.loads((Path(folder) / "report.json").read_text())
    resolved = {canonical(item["metadata"]["name"]): item["metadata"]["version"] for item in report["install"]}
    assert resolved == student, {"not at the pinned version": {n: (v, resolved.get(n)) for n, v in student.items() if resolved.get(n) != v},
                                 "not pinned": sorted(set(resolved) - set(student))}
    assert all(item["download_info"]["url"].endswith(".whl") for item in report["install"]), report["install"]
    assert not version_dependent(report), f"resolved for the running Python {sys.version.split()[0]}, not {python}: {version_dependent(report)}"

