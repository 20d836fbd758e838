"""The built website in a real browser, the way a reader sees it.

Headless Chromium (Debian's package, installed by scripts/bootstrap.sh) opens
every page of the built book from a local server. Every request that leaves
127.0.0.1 is blocked and recorded: the site must work with no network. Each
page is checked for rendered math (no raw TeX left), an empty console, loaded
images, resolving internal links and no solution or hidden-test text; the
navigation and the search are driven by hand. Screenshots of key pages are
written to ``_build/test-artifacts/screenshots/``.
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from conftest import CHAPTER_1, REPOSITORY, all_secret_lines, grade_and_read, solution_notebook, with_cell_source, write_submission

pytestmark = pytest.mark.browser

SCREENSHOTS = REPOSITORY / "_build" / "test-artifacts" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Visible text that means TeX was left unrendered.
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\frac|\\begin\{|\\mathbb|\\operatorname")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_url(built_site):
    """The built site served on 127.0.0.1 (a free port) for the session."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(built_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def raw_tex(page) -> list[str]:
    """TeX shown as text: the page's prose (no code, no typeset math) searched for TeX markup."""
    return RAW_TEX.findall(page.evaluate(
        "() => { const b = document.querySelector('article') || document.body; const c = b.cloneNode(true);"
        " c.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove()); return c.innerText; }"))


class Visit:
    """One page opened in a fresh browser context, with what it logged and what it tried to fetch outside."""

    def __init__(self, browser, url: str, typeset: bool = True, viewport: tuple[int, int] = (1280, 900)):
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda message: self.errors.append(f"console: {message.text}") if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(f"exception: {error}"))
        self.context.route("**/*", self._route)
        self.page.goto(url, wait_until="load")
        if typeset:
            self.wait_for_math()

    def wait_for_math(self):
        """Wait until MathJax (when the page loads it) has typeset the page."""
        self.page.wait_for_function("() => !document.querySelector('script[src*=\"mathjax\"]') || "
                                    "(window.MathJax && MathJax.startup && MathJax.startup.promise)", timeout=20000)
        self.page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) ? MathJax.startup.promise.then(() => true) : true")

    def _route(self, route):
        parts = urlsplit(route.request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            self.outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def close(self):
        self.context.close()


def is_redirect(page: Path) -> bool:
    return page.read_text(errors="replace").lstrip().startswith('<meta http-equiv="Refresh"')


def site_pages(site: Path) -> list[Path]:
    """Every HTML page of the built book (not the copied sources or static files, nor the root redirect)."""
    return sorted(p for p in site.rglob("*.html") if not {"_static", "_sources", "_images"} & set(p.relative_to(site).parts) and not is_redirect(p))


@pytest.fixture(scope="session")
def visited(built_site, site_url, browser):
    """Open every page once; per page: errors, outside requests, math counts, raw TeX, broken images, links, text."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {"intro.html": "intro", "chapters/01_gradient_descent/01_the_update_rule.html": "lesson_with_math",
             "chapters/04_initialization/exercises.html": "exercise_page",
             "chapters/05_activation_functions/03_numerical_stability.html": "lesson_numerical_stability"}
    results = {}
    for path in site_pages(built_site):
        relative = path.relative_to(built_site).as_posix()
        visit = Visit(browser, site_url + relative)
        page = visit.page
        results[relative] = {
            "errors": visit.errors,
            "outside": visit.outside,
            "math_sources": page.locator(".math").count(),
            "math_rendered": page.locator("mjx-container").count(),
            "raw_tex": raw_tex(page),
            "broken_images": page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"),
            "images": page.evaluate("() => document.images.length"),
            "links": page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)"),
            "text": page.inner_text("body"),
        }
        if relative in shots:
            page.screenshot(path=str(SCREENSHOTS / f"{shots[relative]}.png"), full_page=False)
        visit.close()
    print(f"\nbrowser test: {len(results)} pages checked; screenshots in {SCREENSHOTS}")
    return results


def lesson_pages(site: Path) -> list[str]:
    """The lessons' pages (``chapters/NN_slug/NN_*.html``), relative to the site."""
    pages = [p.relative_to(site).as_posix() for p in site_pages(site)]
    return [page for page in pages if re.search(r"chapters/[^/]+/\d\d_[^/]*\.html$", page)]


# Every code block (input, and output text) of a lesson page, the closed toggles opened: those that need a horizontal
# scroll bar, with the first line that does not fit (measured in the block's own font).
WIDE_BLOCKS = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const canvas = document.createElement('canvas').getContext('2d');
  const wide = [];
  for (const block of document.querySelectorAll('div.cell_input pre, div.cell_output pre, div.cell_output .output')) {
    if (block.scrollWidth <= block.clientWidth + 1) continue;
    const style = getComputedStyle(block);
    canvas.font = style.font;
    const room = block.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const lines = block.innerText.split('\\n');
    const line = lines.find(l => canvas.measureText(l).width > room) || lines[0];
    wide.push({kind: block.closest('.cell_input') ? 'code' : 'output', scroll: block.scrollWidth,
               client: block.clientWidth, line: line});
  }
  return wide;
}"""

# The "Solution N" dropdowns whose body shows when the page opens (sphinx-togglebutton should have closed them).
OPEN_SOLUTIONS = """() => [...document.querySelectorAll('div.admonition')]
  .filter(a => /^\\s*Solution \\d+/.test((a.querySelector('.admonition-title') || {}).textContent || ''))
  .filter(a => [...a.children].some(c => !c.classList.contains('admonition-title')
                                         && c.checkVisibility({visibilityProperty: true, opacityProperty: true})))
  .map(a => a.querySelector('.admonition-title').textContent.trim())"""


def test_lesson_code_and_outputs_need_no_horizontal_scrolling(built_site, site_url, browser):
    """At 1366x768, no code cell (hidden ones opened) and no output of any lesson needs a horizontal scroll bar."""
    lessons = lesson_pages(built_site)
    assert len(lessons) >= 20, lessons
    offenders, open_solutions = [], {}
    for relative in lessons:
        visit = Visit(browser, site_url + relative, viewport=(1366, 768))
        shown = visit.page.evaluate(OPEN_SOLUTIONS)
        if shown:
            open_solutions[relative] = shown
        wide = visit.page.evaluate(WIDE_BLOCKS)
        visit.close()
        if wide:
            first = wide[0]
            offenders.append(f"{relative}: {len(wide)} block(s) scroll sideways; first, {first['kind']} "
                             f"({first['scroll']} px in {first['client']} px): {first['line']!r}")
    assert not offenders, "\n".join(offenders)
    assert not open_solutions, f"solutions shown open when the page loads: {open_solutions}"


def test_every_page_was_opened(visited, built_site):
    assert len(visited) >= 30, sorted(visited)
    for page in ("intro.html", "search.html", "chapters/05_activation_functions/exercises.html"):
        assert page in visited


def test_no_request_leaves_the_site(visited):
    offenders = {page: r["outside"] for page, r in visited.items() if r["outside"]}
    assert not offenders, offenders


def test_console_shows_no_error(visited):
    offenders = {page: r["errors"] for page, r in visited.items() if r["errors"]}
    assert not offenders, offenders


def test_math_is_rendered_and_no_raw_tex_is_left(visited):
    lessons = [p for p in visited if re.search(r"chapters/.*/\d\d_.*\.html$", p)]
    assert all(visited[p]["math_sources"] > 0 for p in lessons), [p for p in lessons if not visited[p]["math_sources"]]
    for page, r in visited.items():
        assert r["math_rendered"] >= r["math_sources"], f"{page}: {r['math_sources']} formulas, {r['math_rendered']} rendered by MathJax"
        assert not r["raw_tex"], f"{page}: raw TeX shown as text: {r['raw_tex'][:5]}"


def test_every_image_loads(visited):
    lessons = [p for p in visited if re.search(r"chapters/.*/\d\d_.*\.html$", p)]
    assert all(visited[p]["images"] >= 3 for p in lessons), {p: visited[p]["images"] for p in lessons}
    offenders = {page: r["broken_images"] for page, r in visited.items() if r["broken_images"]}
    assert not offenders, offenders


def test_internal_links_resolve(visited, built_site, site_url):
    broken = set()
    for page, r in visited.items():
        for link in r["links"]:
            if not link.startswith(site_url):
                continue
            parts = urlsplit(link)
            target = built_site / unquote(parts.path.lstrip("/"))
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.add((page, link))
            elif parts.fragment and target.suffix == ".html" and f'id="{unquote(parts.fragment)}"' not in target.read_text(errors="replace"):
                broken.add((page, link))
    assert not broken, sorted(broken)[:20]


def test_no_launch_or_repository_link_without_a_course_repository(visited):
    """_config.yml leaves repository.url empty: no page may link to a launch service or to a repository."""
    services = ("mybinder", "colab.research.google.com", "/hub/user-redirect", "github.com")
    offenders = {page: [link for link in r["links"] if any(s in link for s in services)] for page, r in visited.items()}
    assert not any(offenders.values()), {p: links for p, links in offenders.items() if links}


def test_no_solution_or_hidden_test_text_on_any_page(visited):
    secrets = [line for line in all_secret_lines() if len(line) > 20]
    assert secrets
    for page, r in visited.items():
        leaked = [line for line in secrets if line in r["text"]]
        assert not leaked, f"{page}: {leaked[:3]}"


def test_every_page_names_an_icon_that_loads(browser, site_url):
    visit = Visit(browser, site_url + "intro.html")
    icon = visit.page.locator('link[rel="icon"]').first.get_attribute("href")
    response = visit.page.request.get(visit.page.url.rsplit("/", 1)[0] + "/" + icon)
    visit.close()
    assert response.ok and "svg" in response.headers.get("content-type", ""), (icon, response.status)


def test_the_site_root_opens_the_introduction(browser, site_url):
    visit = Visit(browser, site_url)
    visit.page.wait_for_url("**/intro.html", timeout=10000)
    assert "How deep networks are trained" in visit.page.title()
    visit.close()


def test_navigation_leads_through_the_book(browser, site_url):
    visit = Visit(browser, site_url + "intro.html")
    page = visit.page
    sidebar = page.locator("nav.bd-docs-nav a")
    assert sidebar.count() >= 30, sidebar.count()
    page.locator("a.right-next").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("chapters/01_gradient_descent/index.html"), page.url
    page.locator("a.right-next").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("chapters/01_gradient_descent/01_the_update_rule.html"), page.url
    assert not visit.errors and not visit.outside
    visit.close()


def test_search_finds_the_momentum_lesson(browser, site_url):
    visit = Visit(browser, site_url + "search.html?q=nesterov")
    page = visit.page
    page.wait_for_selector("#search-results ul.search li", timeout=20000)
    hits = page.locator("#search-results ul.search li a").evaluate_all("links => links.map(a => a.href)")
    assert any("02_sgd_momentum/03_nesterov.html" in h for h in hits), hits
    page.screenshot(path=str(SCREENSHOTS / "search_results.png"))
    assert not visit.errors and not visit.outside, (visit.errors, visit.outside)
    visit.close()


def test_exercise_pages_offer_the_notebook_for_download(visited, built_site, site_url):
    for chapter in sorted(p.parent.name for p in (REPOSITORY / "chapters").glob("*/exercises.ipynb")):
        page = f"chapters/{chapter}/exercises.html"
        downloads = [link for link in visited[page]["links"] if link.endswith(".ipynb")]
        assert downloads, f"{page}: no .ipynb download link"
        for link in downloads:
            assert (built_site / unquote(urlsplit(link).path.lstrip("/"))).is_file(), link


INTERACTIVE_LESSONS = ["chapters/02_sgd_momentum/02_momentum.html", "chapters/03_adaptive_optimizers/03_optimizer_race.html",
                       "chapters/04_initialization/02_initializers_through_depth.html",
                       "chapters/05_activation_functions/04_activations_through_depth.html"]


@pytest.mark.parametrize("lesson", INTERACTIVE_LESSONS)
def test_the_exploration_plays_without_a_kernel(browser, site_url, lesson):
    """Each key exploration has a player whose slider and buttons change the picture, with no kernel and no network."""
    visit = Visit(browser, site_url + lesson)
    page = visit.page
    players = page.locator("div.animation")
    assert players.count() >= 1, f"{lesson}: no interactive player"
    player = players.first
    player.scroll_into_view_if_needed()
    image, slider = player.locator("img"), player.locator("input.anim-slider")
    frames = int(slider.evaluate("s => Number(s.max)")) + 1
    assert frames >= 5, f"{lesson}: only {frames} frames"
    first = image.get_attribute("src")
    slider.evaluate("s => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
    last = image.get_attribute("src")
    assert first.startswith("data:image/png") and last.startswith("data:image/png") and last != first
    player.locator("button[title='First frame']").click()
    assert image.get_attribute("src") == first
    player.locator("button[title='Next frame']").click()
    assert image.get_attribute("src") not in (first, last) or frames == 2
    assert int(slider.evaluate("s => Number(s.value)")) == 1
    page.screenshot(path=str(SCREENSHOTS / f"player_{Path(lesson).stem}.png"))
    assert not visit.errors and not visit.outside, (visit.errors, visit.outside)
    visit.close()


@pytest.fixture(scope="module")
def feedback_pages(tmp_path_factory):
    """Chapter 1 graded for a student with one wrong answer and a blank one: {student: feedback page path}."""
    root = tmp_path_factory.mktemp("feedback")
    master = solution_notebook(CHAPTER_1)
    wrong = next(c.source for c in master.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mse_loss").replace("np.mean(", "np.sum(")
    write_submission(root / "submitted", "wrong_loss", with_cell_source(master, "mse_loss", wrong))
    write_submission(root / "submitted", "blank", nbformat.read(REPOSITORY / "chapters" / CHAPTER_1 / "exercises.ipynb", as_version=4))
    grade_and_read(root / "submitted", root / "out")
    return {student: root / "out" / "feedback" / student / CHAPTER_1 / "exercises.html" for student in ("wrong_loss", "blank")}


def test_feedback_page_shows_the_diagnosis_not_a_traceback(browser, feedback_pages):
    visit = Visit(browser, feedback_pages["wrong_loss"].as_uri())
    text = visit.page.inner_text("body")
    rendered, untypeset = visit.page.locator("mjx-container").count(), raw_tex(visit.page)
    visit.page.screenshot(path=str(SCREENSHOTS / "feedback_wrong_answer.png"), full_page=False)
    visit.close()
    assert "mse_loss(X, y, w, b) does not match" in text and "Likely cause: you summed the squared errors" in text, text[:3000]
    assert "Traceback (most recent call last)" not in text
    assert text.count("OK: ") >= 5, "the passing checks' messages are shown too"
    hidden = [line for line in all_secret_lines(("HIDDEN TESTS",)) if len(line) > 20]
    assert hidden and not [line for line in hidden if line in text]
    assert "BEGIN HIDDEN TESTS" not in text
    # the math is typeset by the workspace's own MathJax (feedback/_mathjax), opened from disk, with no network
    assert not visit.outside and not visit.errors, (visit.outside, visit.errors)
    assert rendered >= 10 and not untypeset, (rendered, untypeset[:5])


def test_a_feedback_page_handed_out_alone_falls_back_to_mathjax_from_a_cdn(browser, feedback_pages, tmp_path):
    """nbgrader's release_feedback sends the student's own folder only: without feedback/_mathjax the page asks a CDN."""
    from dlcourse.grading.records import FEEDBACK_MATHJAX_CDN

    alone = tmp_path / "exercises.html"
    shutil.copy(feedback_pages["wrong_loss"], alone)
    visit = Visit(browser, alone.as_uri(), typeset=False)
    visit.page.wait_for_timeout(1000)
    visit.close()
    assert visit.outside == [FEEDBACK_MATHJAX_CDN], visit.outside  # the only request outside: this test's browser has no network
    assert not [e for e in visit.errors if e.startswith("exception")], visit.errors


def test_feedback_page_of_a_blank_notebook_names_each_unanswered_function(browser, feedback_pages):
    visit = Visit(browser, feedback_pages["blank"].as_uri(), typeset=False)
    text = visit.page.inner_text("body")
    visit.close()
    graded = [c for c in solution_notebook(CHAPTER_1).cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert text.count("NotImplementedError") >= len(graded), text[:2000]
    assert "sandbox_runner" not in text and "dlcourse/" not in text, "the grader's own frames are no part of the student's feedback"


def test_the_item_analysis_page_shows_each_graded_cell_its_diagnoses_and_the_plot(browser, feedback_pages):
    """`course report` on the graded workspace: opened from disk, offline, as an instructor opens it."""
    from dlcourse.grading.cli import main as course

    workspace = feedback_pages["blank"].parents[3]
    assert course(["report", str(workspace)]) == 0
    visit = Visit(browser, (workspace / "item_analysis.html").as_uri(), typeset=False)
    page = visit.page
    rows = page.locator("tbody tr")
    loss = rows.filter(has_text="test_mse_loss").inner_text()
    plot = page.locator("figure svg").first.bounding_box()
    page.locator("tbody tr", has_text="test_mse_loss").locator("details summary").first.click()
    whole = page.locator("tbody tr", has_text="test_mse_loss").locator("details pre").first
    opened = whole.is_visible() and "mse_loss" in whole.inner_text()
    count = rows.count()
    page.screenshot(path=str(SCREENSHOTS / "item_analysis.png"), full_page=True)
    visit.close()
    assert not visit.errors and not visit.outside, (visit.errors, visit.outside)
    assert count == len([c for c in solution_notebook(CHAPTER_1).cells if c.metadata.get("nbgrader", {}).get("grade")])
    assert "0/2 (0%)" in loss and "you summed the squared errors" in loss and "still the stub" in loss, loss
    assert opened, "a diagnosis opens to the whole message of a failure"
    assert plot and plot["width"] > 500 and plot["height"] > 200, plot
