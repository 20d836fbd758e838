"""Shared fixtures: the repository's paths and one grading batch shared by the grading tests."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dlcourse.grading.workspace import CHAPTERS, NOTEBOOK, REPOSITORY, SOLUTIONS, assignments

CHAPTER_1 = "01_gradient_descent"
TOC_FILES = re.findall(r"file:\s*(\S+)", (REPOSITORY / "_toc.yml").read_text())


def copy_of_the_working_tree(destination: Path) -> None:
    """The repository's files as they are now (tracked and new, not ignored: no .venv, no _build)."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPOSITORY,
                             capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listing):
        source = REPOSITORY / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def solution_notebook(assignment: str = CHAPTER_1) -> nbformat.NotebookNode:
    """The instructor's master notebook of ``assignment``."""
    return nbformat.read(SOLUTIONS / assignment / NOTEBOOK, as_version=4)


def graded_points(assignment: str = CHAPTER_1) -> dict[str, float]:
    """{graded cell: points} of ``assignment``'s master notebook."""
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"]) for c in solution_notebook(assignment).cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def with_cell_source(notebook: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose cell ``grade_id`` holds ``source`` (a student's answer)."""
    changed = copy.deepcopy(notebook)
    cells = [c for c in changed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(cells) == 1, f"no single cell {grade_id}"
    cells[0].source = source
    return changed


def write_submission(submitted: Path, student: str, notebook, assignment: str = CHAPTER_1, name: str = NOTEBOOK) -> Path:
    """Write ``notebook`` (a NotebookNode, or raw text) as ``student``'s submission."""
    path = submitted / student / assignment / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, str):
        path.write_text(notebook)
    else:
        nbformat.write(notebook, path)
    return path


__all__ = ["CHAPTERS", "CHAPTER_1", "NOTEBOOK", "REPOSITORY", "SOLUTIONS", "assignments", "json"]


def secret_lines(notebook: nbformat.NotebookNode, regions: tuple[str, ...] = ("SOLUTION", "HIDDEN TESTS")) -> set[str]:
    """Stripped lines that stand only inside the ``regions`` (solution, hidden tests) of ``notebook``.

    A line that the task statement itself quotes (in a markdown cell) is public.
    """
    secret, public = set(), set()
    statements = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    begins, ends = tuple(f"### BEGIN {r}" for r in regions), tuple(f"### END {r}" for r in regions)
    for cell in notebook.cells:
        in_secret = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith(begins):
                in_secret = True
            elif stripped.startswith(ends):
                in_secret = False
            elif stripped:
                (secret if in_secret else public).add(stripped)
    return {line for line in secret - public if line not in statements}


def grade_and_read(submitted: Path, output: Path) -> dict:
    """Grade ``submitted`` into ``output``: {"rows": grades_by_cell.csv rows, "outcomes": {student: Outcome}}."""
    import csv

    from dlcourse.grading.grade import grade_submissions

    outcomes = grade_submissions(submitted, output, progress=lambda message: None)
    with (output / "grades_by_cell.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return {"rows": rows, "outcomes": {o.student_id: o for o in outcomes}}


def points(graded: dict, student: str) -> dict[str, float]:
    """Points of each graded cell of ``student`` in a :func:`grade_and_read` result."""
    return {r["cell"]: float(r["points"]) for r in graded["rows"] if r["student_id"] == student}


def environment() -> dict:
    """The environment of a child process: this interpreter's bin/ first on PATH."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def all_secret_lines(regions: tuple[str, ...] = ("SOLUTION", "HIDDEN TESTS")) -> set[str]:
    """Lines of every chapter's solutions and hidden tests (or only ``regions``) that no student-facing page may show."""
    secrets = set()
    for path in SOLUTIONS.glob("*/exercises.ipynb"):
        secrets |= secret_lines(solution_notebook(path.parent.name), regions)
    return secrets


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The book built with warnings as errors into the repository's ``_build`` (once per test session); the HTML folder.

    The same build as ``make site``, with ``--all`` so that every page is read
    again and its warnings are seen: lessons whose code has not changed since
    the last build come from Jupyter Book's execution cache (``_build/.jupyter_cache``)
    and are not executed again. ``COURSE_SITE=_build/html`` reuses a site as it
    is, without building (while working on the site tests).
    """
    if os.environ.get("COURSE_SITE"):
        site = Path(os.environ["COURSE_SITE"]).resolve()
        assert (site / "intro.html").is_file(), f"COURSE_SITE={site} holds no built site"
        return site
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPOSITORY), "--all", "-W", "-n", "--keep-going"],
        capture_output=True, text=True, env=environment(), timeout=3000,
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0, "jupyter-book build failed:\n" + "\n".join(problems[:60]) + f"\n{result.stderr[-3000:]}"
    return REPOSITORY / "_build" / "html"


def solution_cell_source(chapter: str, grade_id: str) -> str:
    """The source of cell ``grade_id`` in the solution notebook of ``chapter``."""
    return next(c.source for c in solution_notebook(chapter).cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def variant_notebook(chapter: str, sources: dict[str, str]) -> nbformat.NotebookNode:
    """The solution of ``chapter`` with the cells of ``sources`` ({grade_id: a student's answer}) replaced."""
    notebook = solution_notebook(chapter)
    for grade_id, source in sources.items():
        notebook = with_cell_source(notebook, grade_id, source)
    return notebook


def mutate(chapter: str, grade_id: str, old: str, new: str) -> str:
    """The solution cell ``grade_id`` of ``chapter`` with ``old`` replaced by ``new`` (a classic wrong answer)."""
    source = solution_cell_source(chapter, grade_id)
    assert old in source, old
    return source.replace(old, new)


def verdicts_in_process(chapter: str, notebook: nbformat.NotebookNode) -> dict[str, tuple[float, str]]:
    """{graded cell: (points, message)} of ``notebook`` judged here, without a sandbox: fast, for the diagnoses.

    The same path as the grader's but in this process: the plan's calls are
    made (:func:`~dlcourse.grading.sandbox_runner.make_call`, data through the
    wire format) on the functions the student's cells define, then judged
    (:func:`~dlcourse.grading.run.judge`).
    """
    from dlcourse.grading.plan import plan_assignment, student_code
    from dlcourse.grading.run import judge
    from dlcourse.grading.sandbox_runner import make_call

    plan = plan_assignment(chapter)
    namespace: dict = {}
    for cell in student_code(plan, notebook):
        try:
            exec(compile(cell["source"], f"<{cell['id']}>", "exec"), namespace)
        except Exception:  # as in the sandbox: a cell that raises leaves what it defined before
            pass
    calls = json.loads(json.dumps(plan.encoded_calls))  # what the sandbox receives
    results = {n: json.loads(json.dumps(make_call(namespace, n, call))) for n, call in enumerate(calls)}
    return {v.grade_id: (v.points, v.message) for v in judge(plan, results)}


def understanding_catalogue(chapter: str, variants: dict[str, list[str]]) -> dict:
    """The grading catalogue of a chapter's understanding tasks: its questions, and the honest variants of its other tasks.

    Questions are the solution cells whose grade id starts with ``answer``
    (``answer_x = "b"``); each is a 1-point graded cell ``test_<grade id>``.
    Returns ``cells`` ({graded cell: points} of the questions), ``wrong_answers``
    (per question the first wrong option; an answer that names no option; an
    answer that is not a string), their ``diagnoses``, and ``honest``: three
    honest notebooks' sources, {name: {grade id: source}}; the k-th holds the
    k-th of ``variants[cell]`` ({grade id: three sources}, the derivation's and
    the experiment's) and every answer written another way (upper case,
    spaces, parentheses).
    """
    answers = {}
    for cell in solution_notebook(chapter).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id.startswith("answer"):
            name, letter = re.search(r'^(answer_\w+) = "(\w)"$', cell.source, re.MULTILINE).groups()
            answers[grade_id] = (name, letter)
    assert answers, f"{chapter} has no questions"
    cells = {f"test_{grade_id}": 1 for grade_id in answers}
    wrong_answers, diagnoses = {}, []
    for grade_id, (name, letter) in answers.items():
        other = next(option for option in "abcd" if option != letter)
        wrong_answers[f"{name}_{other}"] = (grade_id, f'{name} = "{other}"', {f"test_{grade_id}"})
        diagnoses.append((f"{name}_{other}", f"test_{grade_id}", f"the answer is ({letter})"))
    grade_id, (name, letter) = next(iter(answers.items()))
    wrong_answers[f"{name}_two_options"] = (grade_id, f'{name} = "{letter} or c"', {f"test_{grade_id}"})
    diagnoses.append((f"{name}_two_options", f"test_{grade_id}", "is not one of the options"))
    wrong_answers[f"{name}_not_a_string"] = (grade_id, f"{name} = {'abcd'.index(letter) + 1}", {f"test_{grade_id}"})
    diagnoses.append((f"{name}_not_a_string", f"test_{grade_id}", "as a string"))
    forms = [str.upper, lambda option: f" {option} ", lambda option: f"({option})"]
    assert all(len(sources) == len(forms) for sources in variants.values()), "three honest variants of each task"
    honest = {f"understanding_{number}": {**{cell: sources[number] for cell, sources in variants.items()},
                                          **{g: f'{n} = "{form(option)}"' for g, (n, option) in answers.items()}}
              for number, form in enumerate(forms)}
    return {"cells": cells, "wrong_answers": wrong_answers, "diagnoses": diagnoses, "honest": honest}


def verdicts_live(chapter: str, notebook: nbformat.NotebookNode) -> dict[str, tuple[float, str]]:
    """{graded cell: (points, message)} of ``notebook`` checked as its own kernel checks it: no wire, no sandbox.

    The student's cells run here; each case the plan recorded for a graded
    cell goes through :func:`~dlcourse.checks.cases.run_check` with the
    student's own function objects, as the notebook's check calls do; the
    cell's message is the most specific of its failures, the grader's rule.
    An exception of the student's code gives ``"raised <type>"``.
    """
    from dlcourse.checks.cases import most_specific, run_check
    from dlcourse.checks.compare import CheckFailed
    from dlcourse.grading.plan import plan_assignment, student_code

    plan = plan_assignment(chapter)
    namespace: dict = {}
    for cell in student_code(plan, notebook):
        try:
            exec(compile(cell["source"], f"<{cell['id']}>", "exec"), namespace)
        except Exception:
            pass
    verdicts = {}
    for cell in plan.graded:
        failures = []
        for names, case in cell.calls:
            names = (names,) if isinstance(names, str) else names
            if not set(names) <= set(namespace):  # the notebook's own check call would raise NameError
                failures.append("raised NameError")
                continue
            functions = tuple(namespace[n] for n in names)
            try:
                run_check(functions, [case], "")
            except CheckFailed as failure:
                failures.append(str(failure))
            except Exception as error:  # the student's exception, or a missing function
                failures.append(f"raised {type(error).__name__}")
        verdicts[cell.grade_id] = (0.0 if failures else cell.points, most_specific(failures) if failures else "")
    return verdicts


def chapter_notebooks(chapter: str, wrong_answers: dict, honest: dict | None = None) -> dict[str, nbformat.NotebookNode]:
    """{student: notebook}: the solution ("solution"), the blank student notebook ("blank"), one per wrong answer
    ({student: (grade_id, source, broken cells)}) and the ``honest`` notebooks ({student: notebook})."""
    master = solution_notebook(chapter)
    notebooks = {"solution": master, "blank": nbformat.read(CHAPTERS / chapter / NOTEBOOK, as_version=4)}
    notebooks.update({student: with_cell_source(master, cell, source) for student, (cell, source, _) in wrong_answers.items()})
    notebooks.update(honest or {})
    return notebooks


def grade_batch(root: Path, chapter: str, notebooks: dict[str, nbformat.NotebookNode]) -> dict:
    """Grade ``notebooks`` ({student: notebook}) of ``chapter`` in one sandboxed batch; :func:`grade_and_read`'s result."""
    for student, notebook in notebooks.items():
        write_submission(root / "submitted", student, notebook, assignment=chapter)
    return grade_and_read(root / "submitted", root / "out")


def expected_points(cells: dict[str, int], broken=()) -> dict[str, float]:
    """Full points for every graded cell of ``cells`` ({grade_id: points}) except the ``broken`` ones, which get 0."""
    return {c: 0.0 if c in broken else float(p) for c, p in cells.items()}


def message(graded: dict, student: str, cell: str) -> str:
    """The grader's message for ``student``'s graded cell ``cell``."""
    return {v.grade_id: v.message for v in graded["outcomes"][student].cells}[cell]


WITHOUT_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = None  # as where TensorFlow is not installed
sys.modules["keras"] = None
"""


def assert_visible_checks_agree(chapter: str, notebooks: dict[str, nbformat.NotebookNode], scratch: Path) -> None:
    """Every notebook's visible checks (``tests/visible_checks.py``), run where TensorFlow cannot be imported (they replay the
    recorded references), give the verdicts and messages they give live; the live ones pass the solution.

    The run without TensorFlow is a child interpreter, working while this process runs the live checks.
    """
    from visible_checks import visible_verdicts

    notebooks_file = scratch / "notebooks.json"
    notebooks_file.write_text(json.dumps(notebooks))
    code = WITHOUT_TENSORFLOW + f"sys.path.insert(0, {str(Path(__file__).parent)!r})\nimport visible_checks\n" \
        f"visible_checks.main({chapter!r}, {str(notebooks_file)!r})\nassert sys.modules['tensorflow'] is None\n"
    env = {k: v for k, v in environment().items() if k != "DLCOURSE_REFERENCES"}
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        live = {student: visible_verdicts(chapter, notebook) for student, notebook in notebooks.items()}
        output, errors = child.communicate(timeout=900)
    finally:
        child.kill()
    assert child.returncode == 0, errors[-3000:]
    recorded = json.loads(output)
    assert live["solution"] and set(live["solution"].values()) == {""}, live["solution"]
    for student in notebooks:
        differences = {cell: (recorded[student][cell][:800], verdict[:800]) for cell, verdict in live[student].items()
                       if recorded[student].get(cell) != verdict}
        assert not differences and recorded[student].keys() == live[student].keys(), (student, differences)


def chapter_grading_tests(chapter: str, cells: dict[str, int], wrong_answers: dict, diagnoses: list[tuple[str, str, str]],
                          honest: dict | None = None) -> dict:
    """The grading tests every chapter has, {name: test or fixture}, for a test module to add to its globals.

    In this process (fast): the solution and every ``honest`` variant
    ({student: notebook}) keep full marks, the blank notebook scores 0, each
    wrong answer ({student: (grade_id, source, broken cells)}) loses exactly
    its broken cells, and each (student, cell, phrase[, wrong causes]) of
    ``diagnoses`` finds the phrase in the message, one cause at most, and none
    of the wrong causes; the live check (:func:`verdicts_live`) gives every
    notebook the same points and, where it fails a check, the same message
    (its first line); the visible checks, run without TensorFlow (the recorded references), give every notebook the
    verdicts and messages they give live. In one sandboxed batch (marked ``grading``): the real
    grader gives every submission the same points and messages (their first lines).
    """
    notebooks = chapter_notebooks(chapter, wrong_answers, honest)

    @pytest.fixture(scope="module")
    def verdicts():
        return {student: verdicts_in_process(chapter, notebook) for student, notebook in notebooks.items()}

    def points_of(verdicts, student):
        return {cell: verdicts[student][cell][0] for cell in cells}

    def test_solution_full_marks_honest_full_marks_and_blank_zero(verdicts):
        assert set(verdicts["solution"]) == set(cells)
        assert points_of(verdicts, "solution") == expected_points(cells)
        assert points_of(verdicts, "blank") == expected_points(cells, broken=cells)
        for student in honest or {}:
            assert points_of(verdicts, student) == expected_points(cells), (student, verdicts[student])

    @pytest.mark.parametrize("student", sorted(wrong_answers))
    def test_wrong_answer_loses_the_cells_it_breaks(verdicts, student):
        assert points_of(verdicts, student) == expected_points(cells, wrong_answers[student][2])

    @pytest.mark.parametrize("student, cell, phrase, wrong_causes", [d if len(d) == 4 else (*d, ()) for d in diagnoses])
    def test_the_diagnosis_names_the_mistake(verdicts, student, cell, phrase, wrong_causes):
        message = verdicts[student][cell][1]
        assert phrase in message, message[:1500]
        assert message.count("Likely cause") <= 1 and not [w for w in wrong_causes if w in message], message[:1500]

    def test_the_catalogue_covers_the_chapter():
        """At least ten classic mistakes, each with a diagnosis; at least three honest variants of every solution cell."""
        master = solution_notebook(chapter)
        answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in master.cells if c.metadata.get("nbgrader", {}).get("solution")}
        variants = {cell: sum(1 for notebook in (honest or {}).values() for c in notebook.cells
                              if c.metadata.get("nbgrader", {}).get("grade_id") == cell and c.source != source)
                    for cell, source in answers.items()}
        assert len(wrong_answers) >= 10, f"{len(wrong_answers)} classic mistakes"
        assert not set(wrong_answers) - {d[0] for d in diagnoses}, f"mistakes without a diagnosis: {set(wrong_answers) - {d[0] for d in diagnoses}}"
        assert min(variants.values()) >= 3, f"honest variants per solution cell: {variants}"

    @pytest.mark.parametrize("student", sorted(notebooks))
    def test_the_live_check_gives_the_same_verdicts(verdicts, student, capsys):
        live = verdicts_live(chapter, notebooks[student])
        for cell in cells:
            assert live[cell][0] == verdicts[student][cell][0], (cell, live[cell][1][:1500], verdicts[student][cell][1][:1500])
            if not live[cell][1].startswith("raised "):
                assert live[cell][1].split("\n")[0] == verdicts[student][cell][1].split("\n")[0], cell

    def test_without_tensorflow_the_visible_checks_give_the_live_verdicts(tmp_path):
        assert_visible_checks_agree(chapter, notebooks, tmp_path)

    @pytest.mark.grading
    def test_the_sandboxed_grader_gives_the_same_verdicts(verdicts, tmp_path_factory):
        graded = grade_batch(tmp_path_factory.mktemp(f"grading_{chapter}"), chapter, notebooks)
        for student in notebooks:
            assert points(graded, student) == points_of(verdicts, student), student
            for cell in cells:  # the first line: a traceback's file names differ between IPython and this process
                assert message(graded, student, cell).split("\n")[0] == verdicts[student][cell][1].split("\n")[0], (student, cell)

    return {"verdicts": verdicts, "honest_notebooks": honest or {}, **{name: test for name, test in locals().items() if name.startswith("test_")}}


@pytest.fixture(scope="session")
def executed_lesson(built_site):
    """``executed_lesson(path)``: the lesson as the site build executed it (Jupyter Book's cache, ``_build/.jupyter_cache``),
    and its execution record; a test fails when the build holds no execution of this version of the lesson."""
    from jupyter_cache import get_cache

    cache = get_cache(str(built_site.parent / ".jupyter_cache"))

    def executed(lesson: Path):
        try:
            record = cache.match_cache_notebook(nbformat.read(lesson, as_version=4))
        except KeyError:
            pytest.fail(f"{lesson.name}: the site build holds no successful execution of this version of the lesson")
        return cache.get_cache_bundle(record.pk).nb, record

    return executed


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Chromium is missing: scripts/bootstrap.sh installs Debian's 'chromium' package (run it as root, or apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()
