"""The lessons execute, and the website builds with warnings as errors and shows no solution."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import CHAPTERS, REPOSITORY, SOLUTIONS, secret_lines, solution_notebook

LESSONS = sorted(p for p in CHAPTERS.glob("*/*.ipynb") if p.name != "exercises.ipynb")
TOC_FILES = re.findall(r"file:\s*(\S+)", (REPOSITORY / "_toc.yml").read_text())


def environment() -> dict:
    """The environment of a child process: this interpreter's bin/ first on PATH."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def test_there_are_lessons():
    assert len(LESSONS) >= 4, LESSONS


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lesson_executes_without_error(lesson):
    notebook = nbformat.read(lesson, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(lesson.parent)}}).execute()
    elapsed = time.perf_counter() - started
    print(f"{lesson.name}: {elapsed:.1f} s")
    figures = sum("image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert figures >= 3, f"{lesson.name} draws only {figures} figure(s): a lesson shows its ideas"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lesson_is_listed_in_the_table_of_contents(lesson):
    assert str(lesson.relative_to(REPOSITORY).with_suffix("")) in TOC_FILES


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """Build the book with warnings as errors into a scratch folder; return the HTML folder."""
    output = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPOSITORY), "--path-output", str(output), "-W", "-n", "--keep-going"],
        capture_output=True, text=True, env=environment(), timeout=3000,
    )
    assert result.returncode == 0, f"jupyter-book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return output / "_build" / "html"


def test_every_toc_page_is_built(built_site):
    for page in TOC_FILES + ["intro"]:
        assert (built_site / f"{page}.html").exists(), page


def test_lesson_pages_show_executed_figures(built_site):
    for lesson in LESSONS:
        html = (built_site / lesson.relative_to(REPOSITORY).with_suffix(".html")).read_text()
        assert html.count("<img") >= 3, f"{lesson.name}: figures missing on the page"
        assert "Traceback (most recent call last)" not in html, f"{lesson.name}: an error is shown on the page"


def test_no_solution_or_hidden_test_on_the_site(built_site):
    secrets = set()
    for path in SOLUTIONS.glob("*/exercises.ipynb"):
        secrets |= secret_lines(solution_notebook(path.parent.name))
    pages = list(built_site.rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(errors="replace")
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, page
    assert not (built_site / "solutions").exists()
    for source in built_site.rglob("_sources/**/*"):
        if source.is_file():
            text = source.read_text(errors="replace")
            leaked = [line for line in secrets if len(line) > 20 and line in text]
            assert not leaked, f"{source}: {leaked[:3]}"
