"""The lessons execute, and the website builds with warnings as errors and shows no solution.

The lessons run once per test session, in the site build (Jupyter Book's
execution cache, ``_build/.jupyter_cache``, shared with ``make site``): the
tests read the executed notebooks and their execution times from that cache.
"""
from __future__ import annotations

import nbformat
import pytest
from conftest import CHAPTERS, REPOSITORY, TOC_FILES, all_secret_lines

LESSONS = sorted(p for p in CHAPTERS.glob("*/*.ipynb") if p.name != "exercises.ipynb")


def test_there_are_lessons():
    assert len(LESSONS) >= 4, LESSONS


@pytest.fixture(scope="module")
def execution_cache(built_site):
    """The site build's jupyter-cache: the lessons as the build executed them."""
    from jupyter_cache import get_cache

    return get_cache(str(built_site.parent / ".jupyter_cache"))


@pytest.mark.site
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lesson_executes_without_error(lesson, execution_cache):
    try:
        record = execution_cache.match_cache_notebook(nbformat.read(lesson, as_version=4))
    except KeyError:
        pytest.fail(f"{lesson.name}: the site build holds no successful execution of this version of the lesson")
    executed = execution_cache.get_cache_bundle(record.pk).nb
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
