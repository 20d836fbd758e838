"""The lessons execute, and the website builds with warnings as errors and shows no solution.

The lessons run once per test session, in the site build (Jupyter Book's
execution cache, ``_build/.jupyter_cache``, shared with ``make site``): the
tests read the executed notebooks and their execution times from that cache.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from conftest import CHAPTERS, REPOSITORY, TOC_FILES, all_secret_lines

from dlcourse.offline_site import is_solution_cell, without_solutions

LESSONS = sorted(p for p in CHAPTERS.glob("*/*.ipynb") if p.name != "exercises.ipynb")
LESSON_IDS = [f"{p.parent.name}/{p.name}" for p in LESSONS]
# The widest line a lesson's code cell may have: the page shows it without horizontal scrolling.
CODE_WIDTH = 79


def test_there_are_lessons():
    assert len(LESSONS) >= 4, LESSONS


@pytest.mark.site
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lesson_executes_without_error(lesson, executed_lesson):
    executed, record = executed_lesson(lesson)
    print(f"{lesson.name}: executed in {record.data.get('execution_seconds', float('nan')):.1f} s by the site build")
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"], f"{lesson.name}: a cell raised"
    figures = sum("image/png" in o.get("data", {}) for o in outputs)
    assert figures >= 3, f"{lesson.name} draws only {figures} figure(s): a lesson shows its ideas"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lesson_is_listed_in_the_table_of_contents(lesson):
    assert str(lesson.relative_to(REPOSITORY).with_suffix("")) in TOC_FILES


@pytest.mark.site
def test_every_toc_page_is_built(built_site):
    for page in TOC_FILES + ["intro"]:
        assert (built_site / f"{page}.html").exists(), page


@pytest.mark.site
def test_lesson_pages_show_executed_figures(built_site):
    for lesson in LESSONS:
        html = (built_site / lesson.relative_to(REPOSITORY).with_suffix(".html")).read_text()
        assert html.count("<img") >= 3, f"{lesson.name}: figures missing on the page"
        assert "Traceback (most recent call last)" not in html, f"{lesson.name}: an error is shown on the page"


@pytest.mark.site
def test_no_solution_or_hidden_test_on_the_site(built_site):
    secrets = all_secret_lines()
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


def test_launch_buttons_appear_only_with_a_course_repository():
    from dlcourse.offline_site import JUPYTER_BOOK_DEFAULT_REPOSITORY, launch_settings

    buttons = {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org", "colab_url": "https://colab.research.google.com",
               "jupyterhub_url": "", "thebe": False}
    configured = launch_settings({"repository_url": "https://example.org/course.git", "launch_buttons": buttons})
    assert configured["launch_buttons"] == buttons and configured["repository_url"] == "https://example.org/course.git"
    for unset in ("", JUPYTER_BOOK_DEFAULT_REPOSITORY):
        options = launch_settings({"repository_url": unset, "launch_buttons": buttons, "use_repository_button": True})
        assert options["repository_url"] == "" and not any(v for k, v in options["launch_buttons"].items() if k.endswith("_url"))
        assert options["use_repository_button"] is False


def test_lesson_code_lines_fit_the_page():
    """No line of a lesson's code cell is longer than 79 characters (the page would scroll sideways)."""
    offenders = []
    for lesson in LESSONS:
        notebook = nbformat.read(lesson, as_version=4)
        for number, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            for line in cell.source.splitlines():
                if len(line) > CODE_WIDTH:
                    offenders.append(f"{lesson.parent.name}/{lesson.name} cell {number} ({len(line)} chars): {line}")
    assert not offenders, f"{len(offenders)} code lines longer than {CODE_WIDTH} characters:\n" + "\n".join(offenders[:40])


def test_no_lesson_source_repeats_a_solution_line():
    """The site's leak check, on the lessons' sources without a build: no lesson shows a solution or hidden-test line."""
    secrets = [line for line in all_secret_lines() if len(line) > 20]
    leaks = {f"{lesson.parent.name}/{lesson.name}": found for lesson in LESSONS
             if (found := [line for line in secrets if line in lesson.read_text()])}
    assert not leaks, leaks


def solution_text(notebook: nbformat.NotebookNode) -> set[str]:
    """Lines of a lesson's ``try-it-solution`` cells that appear nowhere else in the lesson (longer than 20 characters)."""
    elsewhere = {line.strip() for cell in notebook.cells if not is_solution_cell(cell) for line in cell.source.splitlines()}
    return {line.strip() for cell in notebook.cells if is_solution_cell(cell) for line in cell.source.splitlines()
            if len(line.strip()) > 20 and line.strip() not in elsewhere}


def download_of(built_site, lesson) -> Path:
    """The notebook the lesson page's download button serves (the link on the page, resolved in the built site)."""
    page = built_site / lesson.relative_to(REPOSITORY).with_suffix(".html")
    links = set(re.findall(r'href="([^"]*_sources/[^"]*\.ipynb(?:\.txt)?)"', page.read_text(errors="replace")))
    assert len(links) == 1, f"{page}: download links {links}"
    return (page.parent / links.pop()).resolve()


@pytest.mark.site
@pytest.mark.parametrize("lesson", LESSONS, ids=LESSON_IDS)
def test_downloaded_lesson_holds_no_solution(built_site, lesson):
    """The page's download button gives the lesson without the solutions to "Try it yourself"."""
    source = nbformat.read(lesson, as_version=4)
    downloaded = nbformat.read(download_of(built_site, lesson), as_version=4)
    assert not [cell for cell in downloaded.cells if is_solution_cell(cell)], f"{lesson.name}: a try-it-solution cell is downloadable"
    assert [c.source for c in downloaded.cells] == [c.source for c in without_solutions(source).cells], (
        f"{lesson.name}: the download is not the lesson without its solutions")
    lines = {line.strip() for cell in downloaded.cells for line in cell.source.splitlines()}
    leaked = sorted(solution_text(source) & lines)
    assert not leaked, f"{lesson.name}: solution text in the download: {leaked[:3]}"


def try_it_items_and_solutions(html: str) -> tuple[int, dict[int, list[str]]]:
    """The number of items of a page's "Try it yourself" list, and its "Solution N" dropdowns: {N: their classes}."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    section = soup.find("section", id="try-it-yourself")
    if section is None:
        return 0, {}
    items = section.find("ol", recursive=False)
    count = len(items.find_all("li", recursive=False)) if items else 0
    solutions: dict[int, list[str]] = {}
    for admonition in soup.select("div.admonition"):
        title = admonition.find(class_="admonition-title")
        match = re.fullmatch(r"\s*Solution (\d+)\s*", title.get_text() if title else "")
        if match:
            solutions.setdefault(int(match.group(1)), []).append(" ".join(admonition.get("class", [])))
    return count, solutions


@pytest.mark.site
@pytest.mark.parametrize("lesson", LESSONS, ids=LESSON_IDS)
def test_every_try_it_item_has_a_closed_solution_toggle(built_site, lesson):
    """One "Solution N" dropdown per item of the "Try it yourself" list, closed when the page opens; solution code closed too."""
    html = (built_site / lesson.relative_to(REPOSITORY).with_suffix(".html")).read_text(errors="replace")
    count, solutions = try_it_items_and_solutions(html)   # a lesson without the list (chapter 5's) has no solutions either
    assert sorted(solutions) == list(range(1, count + 1)), f"{lesson.name}: {count} items, solutions {sorted(solutions)}"
    for number, classes in solutions.items():
        assert len(classes) == 1, f"{lesson.name}: {len(classes)} dropdowns titled 'Solution {number}'"
        # sphinx-togglebutton closes an admonition of class "dropdown" when the page loads, unless it is "toggle-shown"
        assert "dropdown" in classes[0].split() and "toggle-shown" not in classes[0].split(), (lesson.name, number, classes[0])
    from bs4 import BeautifulSoup

    for cell in BeautifulSoup(html, "html.parser").select("div.tag_try-it-solution"):
        details = cell.find("details")
        assert details is not None and not details.has_attr("open"), f"{lesson.name}: a solution's code cell is not behind a closed toggle"


def test_the_extraction_of_solutions_finds_them():
    """try_it_items_and_solutions on a page shaped like the build's: counts, and sees an open dropdown."""
    page = ('<section id="try-it-yourself"><h2>Try it yourself</h2><ol class="arabic"><li><p>a</p><ol><li>x</li></ol></li>'
            '<li><p>b</p></li></ol><section id="solutions"><div class="dropdown admonition"><p class="admonition-title">'
            'Solution 1</p></div><div class="admonition dropdown toggle-shown"><p class="admonition-title">Solution 2</p>'
            '</div></section></section>')
    assert try_it_items_and_solutions(page) == (2, {1: ["dropdown admonition"], 2: ["admonition dropdown toggle-shown"]})


def test_without_solutions_keeps_the_lesson_and_drops_the_solutions():
    """The rewrite of the downloads: tagged cells go, an untagged "Solutions" heading before them too, the rest stays."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    tagged = {"tags": ["try-it-solution"]}
    notebook = nbformat.v4.new_notebook(cells=[
        md("## Try it yourself\n\n1. Do it."), md("### Solutions"), code("x = 1", metadata={"tags": ["hide-cell", "try-it-solution"]}),
        md("```{admonition} Solution 1\n:class: dropdown\nx is 1.\n```", metadata=tagged), md("## Takeaways"), md("### Solutions")])
    kept = without_solutions(notebook)
    assert [c.source for c in kept.cells] == ["## Try it yourself\n\n1. Do it.", "## Takeaways", "### Solutions"]
    assert len(notebook.cells) == 6, "the input is not modified"
