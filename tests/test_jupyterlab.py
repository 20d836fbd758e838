"""The student's path in JupyterLab 4: nbgrader's extensions are on, and Validate judges notebooks.

The Validate button of nbgrader's JupyterLab extension posts the notebook's
path to the server endpoint ``/assignments/validate``. These tests start a
real ``jupyter lab`` server from the project's environment and post to that
endpoint, as the button does, for a solved, a blank and a wrong notebook.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import CHAPTER_1, CHAPTERS, NOTEBOOK, REPOSITORY, environment, graded_points, solution_notebook

from dlcourse.grading.plan import defined_names

pytestmark = pytest.mark.lab

JUPYTER = str(Path(sys.executable).parent / "jupyter")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def jupyter_output(*arguments: str) -> str:
    """What ``jupyter <arguments>`` prints (stdout and stderr), without colour codes."""
    result = subprocess.run([JUPYTER, *arguments], capture_output=True, text=True, env=environment(), timeout=300)
    return ANSI.sub("", result.stdout + result.stderr)


def test_jupyterlab_4_has_nbgrader_lab_extension_enabled():
    listing = jupyter_output("labextension", "list")
    assert re.search(r"JupyterLab v4\.", listing), listing
    assert re.search(r"@jupyter/nbgrader v\S+ enabled\s+OK", listing), listing
    assert "Disabled extensions" not in listing or "@jupyter/nbgrader" not in listing.split("Disabled extensions", 1)[1], listing


@pytest.mark.parametrize("extension", ["validate_assignment", "assignment_list"])
def test_nbgrader_server_extension_enabled(extension):
    listing = jupyter_output("server", "extension", "list")
    assert re.search(rf"nbgrader\.server_extensions\.{extension} enabled", listing), listing
    assert re.search(rf"nbgrader\.server_extensions\.{extension}\s+OK", listing), listing


def solved_student_notebook(chapter: str) -> nbformat.NotebookNode:
    """The student notebook of ``chapter`` with every answer cell filled in as a student would (the solution, without markers)."""
    student = nbformat.read(CHAPTERS / chapter / NOTEBOOK, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution_notebook(chapter).cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    solved = copy.deepcopy(student)
    for cell in solved.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = "\n".join(line for line in answers[grade_id].splitlines()
                                    if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    return solved


@contextlib.contextmanager
def running_lab(root: Path, arguments: tuple = (), env: dict | None = None):
    """A ``jupyter lab`` server (no browser) on a free local port over ``root``: {"url", "token"}."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    server = subprocess.Popen([JUPYTER, "lab", "--no-browser", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
                               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", *arguments]
                              + (["--allow-root"] if os.geteuid() == 0 else []),
                              cwd=root, env=dict(environment(), **(env or {})), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"}), timeout=5):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"jupyter lab did not start: {server.stderr.read()[-3000:]}")
            time.sleep(0.5)
    try:
        yield {"url": url, "token": token}
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """A ``jupyter lab`` server over a folder with three exercise notebooks (solved, blank, wrong)."""
    root = tmp_path_factory.mktemp("student")
    solved = solved_student_notebook(CHAPTER_1)
    nbformat.write(solved, root / "solved.ipynb")
    nbformat.write(nbformat.read(CHAPTERS / CHAPTER_1 / NOTEBOOK, as_version=4), root / "blank.ipynb")
    wrong = copy.deepcopy(solved)
    cell = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mse_loss")
    assert "np.mean(" in cell.source
    cell.source = cell.source.replace("np.mean(", "np.sum(")
    nbformat.write(wrong, root / "wrong.ipynb")
    with running_lab(root) as server:
        yield server


def press_validate(server: dict, path: str) -> dict:
    """What the Validate button receives for ``path``: {"success": bool, "value": results}."""
    request = urllib.request.Request(f"{server['url']}/assignments/validate", data=urllib.parse.urlencode({"path": path}).encode(),
                                     headers={"Authorization": f"token {server['token']}"}, method="POST")
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def test_jupyterlab_serves_the_lab_page(lab_server):
    request = urllib.request.Request(f"{lab_server['url']}/lab", headers={"Authorization": f"token {lab_server['token']}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        page = response.read().decode()
    assert "JupyterLab" in page


def test_validate_passes_a_solved_notebook(lab_server):
    answer = press_validate(lab_server, "solved.ipynb")
    assert answer["success"] is True, answer
    assert not answer["value"].get("failed") and not answer["value"].get("changed"), answer["value"]


def test_validate_lists_every_graded_cell_of_a_blank_notebook(lab_server):
    answer = press_validate(lab_server, "blank.ipynb")
    assert answer["success"] is True, answer
    graded = [c for c in solution_notebook(CHAPTER_1).cells if c.metadata.get("nbgrader", {}).get("grade")]
    failed = answer["value"]["failed"]
    assert len(failed) == len(graded), [f["source"][:60] for f in failed]
    # a stub function raises NotImplementedError inside the check; a stub answer cell leaves its name undefined
    answers = [n for c in solution_notebook(CHAPTER_1).cells
               if c.metadata.get("nbgrader", {}).get("solution") and "def " not in c.source for n in defined_names(c.source)]
    undefined = [f for f in failed if any(f"NameError: name '{n}' is not defined" in ANSI.sub("", f["raw_error"]) for n in answers)]
    stubs = [f for f in failed if "NotImplementedError" in f["raw_error"] and "is still the stub" in f["raw_error"]]
    assert len(undefined) == len(answers) > 0, [ANSI.sub("", f["raw_error"])[-200:] for f in failed]
    assert len(stubs) + len(undefined) == len(failed), [ANSI.sub("", f["raw_error"])[-300:] for f in failed]


def test_validate_shows_the_diagnosis_of_a_wrong_answer(lab_server):
    answer = press_validate(lab_server, "wrong.ipynb")
    failed = answer["value"]["failed"]
    assert len(failed) == 1 and "check_mse_loss" in failed[0]["source"], [f["source"][:60] for f in failed]
    error = ANSI.sub("", failed[0]["raw_error"])
    assert "mse_loss(X, y, w, b) does not match" in error and "Likely cause: you summed the squared errors" in error, error[-1500:]
    # the diagnosis comes first: no frame of the course's code, no "skipping hidden frames"
    assert error.lstrip().startswith("CheckFailed: mse_loss(X, y, w, b) does not match"), error[:600]
    assert "compare.py" not in error and "hidden" not in error and "Traceback" not in error, error[:600]


def test_course_validate_prints_whole_diagnoses_and_fails_with_the_checks(tmp_path):
    """The terminal form of Validate (README, For students): every line whole, exit 1 when a check fails, 0 when all pass."""
    solved = solved_student_notebook(CHAPTER_1)
    nbformat.write(solved, tmp_path / "solved.ipynb")
    wrong = copy.deepcopy(solved)
    cell = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mse_loss")
    cell.source = cell.source.replace("np.mean(", "np.sum(")
    nbformat.write(wrong, tmp_path / "wrong.ipynb")
    course = str(Path(sys.executable).parent / "course")
    failing = subprocess.run([course, "validate", "wrong.ipynb"], cwd=tmp_path, capture_output=True, text=True, env=environment(), timeout=600)
    assert failing.returncode == 1, failing.stdout[-2000:] + failing.stderr[-2000:]
    assert "    Likely cause: you summed the squared errors; the task asks for their mean (divide by n).\n" in failing.stdout, failing.stdout
    passing = subprocess.run([course, "validate", "solved.ipynb"], cwd=tmp_path, capture_output=True, text=True, env=environment(), timeout=600)
    assert passing.returncode == 0 and "Success! Your notebook passes all the tests." in passing.stdout, passing.stdout[-2000:]


def test_make_lab_opens_the_exercise_with_only_the_students_tools(browser, tmp_path):
    """`make lab NOTEBOOK=...` as a student sees it: the exercise open, Validate in its toolbar, no instructor tool, no error.

    The server runs as the Makefile starts it, over a copy of the chapter (the lab may save the notebook it opens).
    """
    makefile = (REPOSITORY / "Makefile").read_text()
    assert "JUPYTER_CONFIG_PATH=$(CURDIR)/scripts/student-lab" in makefile and "--LabApp.default_url=/lab/tree/$(NOTEBOOK)" in makefile
    notebook = f"chapters/{CHAPTER_1}/{NOTEBOOK}"
    shutil.copytree(CHAPTERS / CHAPTER_1, tmp_path / "chapters" / CHAPTER_1)
    student = {"JUPYTER_CONFIG_PATH": str(REPOSITORY / "scripts" / "student-lab")}
    with running_lab(tmp_path, (f"--LabApp.default_url=/lab/tree/{notebook}",), env=student) as server:
        formgrader = urllib.request.Request(f"{server['url']}/formgrader", headers={"Authorization": f"token {server['token']}"})
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(formgrader, timeout=30)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server['url']}/?token={server['token']}", wait_until="load")  # the server root redirects to the exercise
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60000)
        page.wait_for_timeout(3000)  # let every extension finish loading (an error dialog would appear now)
        title = " ".join(page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel").all_inner_texts())
        menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        dialogs = page.locator(".jp-Dialog").count() + page.locator(".jp-toast-message, .Toastify__toast").count()
        validate = page.get_by_role("button", name="Validate").count()
        page.screenshot(path=str(REPOSITORY / "_build" / "test-artifacts" / "student_lab.png"))
        context.close()
    assert NOTEBOOK in title, title
    assert validate >= 1, "the Validate button is missing from the exercise's toolbar"
    assert "Nbgrader" not in menus and not dialogs and not errors, (menus, dialogs, errors)


def api(server: dict, path: str, method: str = "GET", body: dict | None = None):
    """A JSON request to the server with the token, as the formgrader's page makes it."""
    request = urllib.request.Request(f"{server['url']}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {server['token']}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def test_the_instructors_formgrader_path(tmp_path, browser):
    """README, For instructors: grade, open formgrader in the output folder, grade by hand, run `make grade` again."""
    from dlcourse.grading.grade import grade_submissions

    solved = solution_notebook(CHAPTER_1)
    wrong = copy.deepcopy(solved)
    cell = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mse_loss")
    cell.source = cell.source.replace("np.mean(", "np.sum(")
    for student, notebook in (("alice", solved), ("carol", wrong)):
        (tmp_path / "submitted" / student / CHAPTER_1).mkdir(parents=True)
        nbformat.write(notebook, tmp_path / "submitted" / student / CHAPTER_1 / NOTEBOOK)
    grading = tmp_path / "grading"
    grade_submissions(tmp_path / "submitted", grading, progress=lambda m: None)
    with running_lab(grading) as server:  # cd grading && ../.venv/bin/jupyter lab, then Nbgrader -> Formgrader
        # the formgrader's gradebook page, as the instructor sees it: both submissions, none marked for manual grading
        context = browser.new_context(viewport={"width": 1400, "height": 800})
        page = context.new_page()
        page.goto(f"{server['url']}/lab?token={server['token']}", wait_until="load")  # logs in (the formgrader's API calls use the cookie)
        page.goto(f"{server['url']}/formgrader/gradebook/{CHAPTER_1}/exercises", wait_until="load")
        page.wait_for_function("() => !document.body.innerText.includes('Loading, please wait')", timeout=60000)
        rows = page.locator("tbody tr").count()
        shown = page.inner_text("body")
        marked = page.locator('[data-search="needs manual grade"]').count()
        page.screenshot(path=str(REPOSITORY / "_build" / "test-artifacts" / "formgrader_gradebook.png"))
        assert rows == 2 and "Needs Manual Grade?" in shown and marked == 0, (rows, marked, shown[:1500])
        submissions = api(server, f"/formgrader/api/submitted_notebooks/{CHAPTER_1}/exercises")
        assert {s["student"] for s in submissions} == {"alice", "carol"}
        assert not [s["student"] for s in submissions if s["needs_manual_grade"]], submissions
        carol = next(s for s in submissions if s["student"] == "carol")
        total = sum(graded_points().values())
        assert (carol["score"], carol["max_score"]) == (total - 1, total)
        # carol's submission, opened from her row; a manual score for test_mse_loss and a comment on her mse_loss, typed in
        with page.expect_response(lambda r: "/formgrader/api/comments?" in r.url, timeout=60000):
            page.locator("tbody tr", has_text="carol").locator(f"a[href*='/formgrader/submissions/{carol['id']}']").first.click()
        # the page's score fields are live once it has loaded the grades (each gets its automatic score as placeholder)
        page.wait_for_function("() => document.querySelector('#test_mse_loss')?.placeholder === '0'", timeout=60000)
        with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved_grade:
            page.fill("#test_mse_loss", "0.5")
            page.press("#test_mse_loss", "Tab")
        with page.expect_response(lambda r: "/formgrader/api/comment/" in r.url and r.request.method == "PUT") as saved_comment:
            page.fill("#mse_loss-comment", "Close: divide the sum by n.")
            page.press("#mse_loss-comment", "Tab")
        assert saved_grade.value.ok and saved_comment.value.ok
        page.screenshot(path=str(REPOSITORY / "_build" / "test-artifacts" / "formgrader_manual_grade.png"), full_page=False)
        context.close()
        # formgrader's per-student Autograde button would run the student's code outside the sandbox: refused, with the command
        refused = api(server, f"/formgrader/api/submission/{CHAPTER_1}/alice/autograde", "POST", {})
        assert refused["success"] is False and "make grade SUBMISSIONS=" in refused["log"] + refused.get("error", ""), refused
    # the documented command, again, without REGRADE
    again = subprocess.run(["make", "-C", str(REPOSITORY), "grade", f"SUBMISSIONS={tmp_path / 'submitted'}", f"OUTPUT={grading}"],
                           capture_output=True, text=True, env=environment(), timeout=600)
    assert again.returncode == 0 and f"feedback updated ({total - 0.5:g}/{total:g})" in again.stdout, again.stdout[-2000:] + again.stderr[-2000:]
    page = (grading / "feedback" / "carol" / CHAPTER_1 / "exercises.html").read_text()
    assert "Close: divide the sum by n." in page and f"{total - 0.5:g}" in page
    with (grading / "grades_by_cell.csv").open() as handle:
        carol_loss = next(r for r in csv.DictReader(handle) if r["student_id"] == "carol" and r["cell"] == "test_mse_loss")
    with (grading / "grades.csv").open() as handle:
        carol_total = next(r for r in csv.DictReader(handle) if r["student_id"] == "carol")
    assert float(carol_loss["points"]) == 0.5 and float(carol_total["score"]) == total - 0.5, (carol_loss, carol_total)
