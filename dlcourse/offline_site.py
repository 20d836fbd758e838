"""A Sphinx extension that makes the course website self-contained and quiet.

Reading a page must make no request outside the site's own files (readers
study offline, in exam rooms and behind firewalls) and log no JavaScript error.

- Jupyter Book's theme loads MathJax from a CDN by default; this extension
  copies MathJax 3 from the installed registry package ``django-static-mathjax``
  (pinned in requirements.lock) into the built site's ``_static/mathjax/``,
  and ``_config.yml`` points ``mathjax_path`` there.
- sphinx-thebe registers its inline configuration script twice, so every page
  declared ``const THEBE_JS_URL`` twice (a SyntaxError in the console); each
  page keeps one copy of every script.
- The theme starts in an empty colour mode and logs an error unless a default
  mode is set; it is set to "auto" (follow the reader's system).
- Launch buttons (Binder, Colab, JupyterHub) need the course's public
  repository: they are shown only when ``repository.url`` in ``_config.yml``
  names one. Without it (Jupyter Book would otherwise fall back to its own
  repository) no page links to a launch service or a repository.
- The page's download button serves the site's copy of the source notebook,
  ``_sources/<page>.ipynb``. The solutions to a lesson's "Try it yourself"
  (cells tagged ``try-it-solution``, shown on the page behind closed toggles)
  are removed from that copy: a downloaded lesson leaves the exercises open.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import nbformat

MATHJAX_ENTRY = "tex-chtml.js"
# Parts of MathJax's es5 tree that tex-chtml.js loads (the other bundles and the 4 MB speech engine are not needed).
MATHJAX_PARTS = (MATHJAX_ENTRY, "input", "output", "ui", "a11y", "adaptors")


def mathjax_source() -> Path:
    """The ``es5`` folder of the installed MathJax package."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is not installed: run scripts/bootstrap.sh (it installs django-static-mathjax from requirements.lock)")
    source = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (source / MATHJAX_ENTRY).is_file():
        raise RuntimeError(f"MathJax's {MATHJAX_ENTRY} is missing from {source}")
    return source


def copy_mathjax(destination: Path, parts: tuple[str, ...] = MATHJAX_PARTS) -> None:
    """Copy the MathJax files the pages load into ``destination`` (e.g. ``<site>/_static/mathjax``)."""
    source = mathjax_source()
    destination.mkdir(parents=True, exist_ok=True)
    for part in parts:
        if (source / part).is_dir():
            shutil.copytree(source / part, destination / part, dirs_exist_ok=True)
        elif (source / part).is_file():
            shutil.copy2(source / part, destination / part)


SOLUTION_TAG = "try-it-solution"


def is_solution_cell(cell) -> bool:
    """A cell of a lesson's solutions to "Try it yourself" (tagged ``try-it-solution``)."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def _solutions_heading(cells, index) -> bool:
    """An untagged "Solutions" heading cell followed by solution cells (it goes with them)."""
    cell = cells[index]
    return (cell.get("cell_type") == "markdown" and re.fullmatch(r"\s*#{1,6}\s*Solutions\s*", cell.get("source", "")) is not None
            and index + 1 < len(cells) and is_solution_cell(cells[index + 1]))


def without_solutions(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``notebook`` without its cells tagged ``try-it-solution`` (and their "Solutions" heading), a new notebook."""
    kept = nbformat.from_dict(notebook)
    kept.cells = [cell for i, cell in enumerate(kept.cells) if not is_solution_cell(cell) and not _solutions_heading(kept.cells, i)]
    return kept


def downloadable_notebooks(site: Path) -> list[Path]:
    """The notebooks the built site serves for download (its ``_sources`` copies)."""
    sources = Path(site) / "_sources"
    return sorted(p for p in sources.rglob("*") if p.is_file() and p.name.endswith((".ipynb", ".ipynb.txt")))


def strip_solutions_from_downloads(site: Path) -> list[Path]:
    """Remove the ``try-it-solution`` cells from every downloadable notebook of ``site``; the files changed."""
    changed = []
    for path in downloadable_notebooks(site):
        notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=nbformat.NO_CONVERT)
        if any(is_solution_cell(cell) for cell in notebook.cells):
            path.write_text(nbformat.writes(without_solutions(notebook)), encoding="utf-8")
            changed.append(path)
    return changed


def _on_build_finished(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        copy_mathjax(Path(app.outdir) / "_static" / "mathjax")
        strip_solutions_from_downloads(Path(app.outdir))


def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts, seen = context.get("script_files", []), set()
    unique = []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (str(getattr(script, "filename", None) or ""), attributes.get("body"))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


JUPYTER_BOOK_DEFAULT_REPOSITORY = "https://github.com/executablebooks/jupyter-book"


def launch_settings(theme_options: dict) -> dict:
    """``theme_options`` with the launch buttons and repository links removed unless a course repository is set."""
    options = dict(theme_options)
    repository = (options.get("repository_url") or "").strip()
    if repository and repository.rstrip("/") != JUPYTER_BOOK_DEFAULT_REPOSITORY:
        return options
    options["repository_url"] = ""
    options["launch_buttons"] = {key: "" if key.endswith("_url") else value
                                 for key, value in (options.get("launch_buttons") or {}).items() if key != "thebe"}
    for button in ("use_repository_button", "use_issues_button", "use_edit_page_button", "use_source_button"):
        options[button] = False
    return options


def _launch_buttons(app, config) -> None:
    config.html_theme_options = launch_settings(config.html_theme_options or {})


def _default_colour_mode(app, config) -> None:
    config.html_context = dict(config.html_context or {})
    config.html_context.setdefault("default_mode", "auto")


def setup(app):
    mathjax_source()  # fail early, with the fix, if the package is missing
    app.connect("config-inited", _default_colour_mode)
    app.connect("config-inited", _launch_buttons)
    app.connect("html-page-context", _unique_scripts, priority=900)
    app.connect("build-finished", _on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
