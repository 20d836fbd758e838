"""A lesson's prose quotes only figures its own cells produce.

A number typed from an earlier run goes stale the day the code changes: the
lessons glue every measured number (``{glue:text}`name:.2f```). This test
reads each lesson as the site build executed it (Jupyter Book's execution
cache, as ``test_site.py`` does) and looks at every number of its markdown
prose, outside math (``$...$``, ``$$...$$``) and outside ``{glue:...}`` roles,
that has a decimal point, a % sign or at least three significant digits. Each
must be produced by the notebook: found in a code cell's source (a
hyperparameter the code sets) or in an output (text, or a glued value), at the
precision the prose quotes it. Theoretical figures quoted in prose (a rate
derived by hand, a constant of a paper) go in ``ALLOWED``, one commented entry
per lesson and number.
"""
from __future__ import annotations

import math
import re

import nbformat
import pytest
from conftest import CHAPTERS

LESSONS = sorted(p for p in CHAPTERS.glob("*/*.ipynb") if p.name != "exercises.ipynb")

# {lesson file name: {number as the prose writes it: why it is typed}}: figures that no cell computes and that are not
# measurements (derived by hand, quoted from a paper or a library's documentation).
ALLOWED: dict[str, dict[str, str]] = {
    "02_adam.ipynb": {"0.001": "Keras's documented default learning rate of Adamax (the lesson passes 0.05)"},
    "01_stochastic_gradients.ipynb": {"999": "9 x 111, the examples in nine full batches of 111 (arithmetic)"},
}

# A number: optional sign, digits (with thousands separators), an optional decimal part, an optional exponent, an
# optional % sign; not part of an identifier (float32, x0, tf2) and not a version (2.21.0).
NUMBER = re.compile(r"(?<![\w.\\])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+−]?\d+)?(?:\s?%)?(?![\w]|\.\d)")
# Numbers that are names rather than figures: versions after a library's name, sections; years of citations.
NAME_BEFORE = re.compile(
    r"(?:TensorFlow|Keras|Python|NumPy|PyTorch|nbgrader|JupyterLab|Jupyter Book|jupyter-book|Sphinx|Matplotlib|"
    r"Section|Sections|Lesson|Lessons|Chapter|Chapters|Figure|Exercise|Item|§)\s*$"
)
# An integer from 1900 to 2099 is a year (Nesterov 1983, Glorot & Bengio, 2010, "around 2010") unless it counts things.
YEAR = re.compile(r"(?:19|20)\d\d")
COUNTED = re.compile(r"\s+(?:steps|samples|epochs|iterations|points|units|parameters|examples|images|runs|seeds)\b")


def prose_of(markdown: str) -> str:
    """The prose of a markdown cell: math, glue roles, other roles' targets, code fences and link targets removed."""
    text = re.sub(r"<!--.*?-->", " ", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", " ", text, flags=re.S)
    text = re.sub(r"(?<!\\)\$[^$\n]+?(?<!\\)\$", " ", text)
    text = re.sub(r"\{glue(?::\w+)?\}`[^`]*`", " ", text)
    text = re.sub(r"\{(?:math|eq|ref|numref|doc|download|term|cite:?\w*)\}`[^`]*`", " ", text)
    # a fence that holds code (```python, plain ```) is no prose; a directive's fence line and its options are dropped
    text = re.sub(r"^(`{3,}|~{3,})(?!\{)[^\n]*\n.*?^\1\s*$", " ", text, flags=re.S | re.M)
    text = re.sub(r"^(`{3,}|~{3,}|:{3,})\{[^}]*\}[^\n]*$", " ", text, flags=re.M)
    text = re.sub(r"^:\w[\w-]*:.*$", " ", text, flags=re.M)
    text = re.sub(r"^\([\w-]+\)=\s*$", " ", text, flags=re.M)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<https?://[^>]*>|https?://\S+", " ", text)
    return text


def significant_digits(number: str) -> int:
    """Significant digits of a number as written: ``0.0450`` has 3, ``1,000`` has 1, ``784`` has 3."""
    mantissa = re.split(r"[eE]", number.replace(",", "").replace("%", "").strip().lstrip("-−"))[0]
    if "." in mantissa:
        return len(mantissa.replace(".", "").lstrip("0")) or 1
    return len(mantissa.lstrip("0").rstrip("0")) or 1


def is_quoted_figure(number: str) -> bool:
    """Whether the prose's number must come from the notebook: a decimal point, a % sign or 3 significant digits."""
    mantissa = re.split(r"[eE]", number)[0]
    return "." in mantissa or "%" in number or significant_digits(number) >= 3


def prose_figures(markdown: str) -> list[str]:
    """The numbers of a markdown cell's prose that must be produced by the notebook, as written."""
    text, figures = prose_of(markdown), []
    for match in NUMBER.finditer(text):
        before = text[max(0, match.start() - 30):match.start()]
        number = match.group(0).strip()
        after = text[match.end():match.end() + 30]
        if NAME_BEFORE.search(before) or (YEAR.fullmatch(number) and not COUNTED.match(after)):
            continue
        if is_quoted_figure(number):
            figures.append(number)
    return figures


def value_of(number: str) -> float:
    return float(number.replace(",", "").replace("%", "").replace("−", "-").strip())


def decimals(number: str) -> int:
    """The decimal places a number is quoted to (negative for rounded integers: ``1,200`` is -2)."""
    mantissa, _, exponent = number.replace(",", "").replace("%", "").strip().lower().partition("e")
    places = len(mantissa.split(".")[1]) if "." in mantissa else -(len(mantissa) - len(mantissa.rstrip("0")))
    return places - int(exponent.replace("−", "-") or 0)


def produced_numbers(notebook: nbformat.NotebookNode) -> list[tuple[str, float]]:
    """Every number of the notebook's code (sources) and outputs (text, glued values): (as written, value)."""
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        texts.append(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append(output["text"] if isinstance(output["text"], str) else "".join(output["text"]))
            for mime, data in output.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    texts.append(data if isinstance(data, str) else "".join(data) if isinstance(data, list) else str(data))
    found = []
    for text in texts:
        for match in re.finditer(r"[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)?\.?\d+(?:[eE][-+]?\d+)?", text):
            try:
                found.append((match.group(0), value_of(match.group(0))))
            except ValueError:
                pass
    return found


def is_produced(number: str, produced: list[tuple[str, float]]) -> bool:
    """Whether a prose number is one of the notebook's, at the precision the prose quotes it (or as a percentage)."""
    value, places = abs(value_of(number)), decimals(number)
    candidates = [(value, places)] + ([(value / 100, places + 2)] if "%" in number else [])
    return any(math.isclose(round(abs(produced_value), digits), target, rel_tol=1e-9, abs_tol=1e-12)
               for target, digits in candidates for _, produced_value in produced)


def unproduced_figures(notebook: nbformat.NotebookNode, allowed: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """(cell index, number) of every figure the prose quotes that the notebook does not produce and no allow-list names."""
    produced, allowed = produced_numbers(notebook), allowed or {}
    missing = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        for number in prose_figures(cell.source):
            if number not in allowed and not is_produced(number, produced):
                missing.append((index, number))
    return missing


# ---- the extraction itself (fast: no site needed) ----

def synthetic_lesson(prose: str, code: str = "x = 0.25\nprint(x)", output: str = "0.25\n") -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(code)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
    notebook.cells = [nbformat.v4.new_markdown_cell(prose), cell]
    return notebook


def test_a_typed_figure_is_caught():
    notebook = synthetic_lesson("The loss falls to 0.231 after 312 steps, i.e. by 45%.")
    assert unproduced_figures(notebook) == [(0, "0.231"), (0, "312"), (0, "45%")]
    assert unproduced_figures(notebook, {"0.231": "test", "312": "test", "45%": "test"}) == []


def test_produced_and_exempt_figures_pass():
    prose = ("With $\\eta = 0.137$ the rate is {glue:text}`rate:.3f`; $$r = 0.818$$ and x is 0.25, or 25%, or 0.2500 "
             "(0.2 rounded), in Section 4.2 of Kingma and Ba, 2015 (after 2025 steps), as TensorFlow 2.21 computes it with `float32`.\n"
             "```python\nlr = 0.731\n```\n1. An item.\n")
    assert prose_figures(prose) == ["0.25", "25%", "0.2500", "0.2", "2025"]
    assert unproduced_figures(synthetic_lesson(prose, output="0.25\n2025\n")) == []
    assert unproduced_figures(synthetic_lesson("It reaches 0.26.")) == [(0, "0.26")]


def test_significant_digits_and_decimals():
    assert [significant_digits(n) for n in ("0.0450", "1,000", "784", "12", "3.0", "1e-6")] == [3, 1, 3, 2, 2, 1]
    assert [decimals(n) for n in ("0.0450", "1,200", "45%", "2.5e-3")] == [4, -2, 0, 4]


# ---- every lesson, as the site build executed it ----

@pytest.mark.site
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_prose_quotes_only_figures_the_lesson_produces(lesson, executed_lesson):
    executed, _ = executed_lesson(lesson)
    missing = unproduced_figures(executed, ALLOWED.get(lesson.name, {}))
    assert not missing, (f"{lesson.parent.name}/{lesson.name}: figures in the prose that no cell produces (glue them, or "
                         f"allow a theoretical one in ALLOWED): " + ", ".join(f"cell {i}: {n}" for i, n in missing))
