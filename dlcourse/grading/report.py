"""Item analysis: which checks the students pass, and with which mistakes they fail.

Read from the records that grading keeps beside each autograded notebook
(``autograded/<student>/<assignment>/.course-grade.json``: the automatic
verdict of every graded cell), so the report shows the checks' verdicts, not
manual grades. Per assignment and graded cell: how many students passed it
(full points), passed it in part, or failed it, and the most frequent
diagnoses among the failures. A check's message names the likely cause when
one known mistake explains the numbers ("Likely cause: ..."): that is the
diagnosis; otherwise the message's first line is ("... does not match ...",
an exception's name and text). The page is self-contained (styles and SVG
plots inline), so it opens from disk, offline; every text that comes from a
submission is escaped.
"""
from __future__ import annotations

import collections
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from dlcourse.grading import records
from dlcourse.grading.workspace import GradingError

REPORT = "item_analysis.html"
TOP_DIAGNOSES = 3
LIKELY_CAUSE = "Likely cause:"


def diagnosis(message: str) -> str:
    """What a failed check's ``message`` says went wrong, in a form that many students' failures share."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    causes = [line[len(LIKELY_CAUSE):].strip() for line in lines if line.startswith(LIKELY_CAUSE)]
    text = causes[0] if causes else lines[0] if lines else "(no message)"
    return text if len(text) <= 300 else text[:299] + "…"


@dataclass
class CellAnalysis:
    """One graded cell across the submissions: how many passed it, in full or in part, and why the others failed."""

    grade_id: str
    max_points: float
    submissions: int = 0
    passed: int = 0
    partial: int = 0
    diagnoses: collections.Counter = field(default_factory=collections.Counter)
    examples: dict[str, str] = field(default_factory=dict)   # diagnosis: the first whole message that gave it

    @property
    def pass_rate(self) -> float:
        return self.passed / self.submissions if self.submissions else 0.0


@dataclass
class AssignmentAnalysis:
    """The graded cells of one assignment (in the notebook's order) and each submission's automatic score."""

    name: str
    cells: dict[str, CellAnalysis] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)

    @property
    def max_score(self) -> float:
        return sum(cell.max_points for cell in self.cells.values())


def item_analysis(output: Path) -> dict[str, AssignmentAnalysis]:
    """``{assignment: its analysis}`` from the records of every graded submission in the workspace ``output``."""
    analyses: dict[str, AssignmentAnalysis] = {}
    for marker in sorted((output / "autograded").glob(f"*/*/{records.MARKER}")):
        recorded = records.read_marker(marker, None)
        name = marker.parent.name
        analysis = analyses.setdefault(name, AssignmentAnalysis(name))
        analysis.scores.append(sum(v.points for v in recorded.verdicts))
        for verdict in recorded.verdicts:
            cell = analysis.cells.setdefault(verdict.grade_id, CellAnalysis(verdict.grade_id, verdict.max_points))
            cell.submissions += 1
            if verdict.points >= verdict.max_points:
                cell.passed += 1
                continue
            cell.partial += verdict.points > 0
            found = diagnosis(verdict.message)
            cell.diagnoses[found] += 1
            cell.examples.setdefault(found, verdict.message.strip())
    return dict(sorted(analyses.items()))


def _plot(analysis: AssignmentAnalysis) -> str:
    """Inline SVG: the share of submissions passing each graded cell, and the distribution of the automatic scores."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = list(analysis.cells.values())
    figure, (shares, scores) = plt.subplots(1, 2, figsize=(11, 0.32 * len(cells) + 1.6), gridspec_kw={"width_ratios": [3, 2]})
    positions = range(len(cells))
    shares.barh(positions, [100 * c.passed / c.submissions for c in cells], color="#2e7d32", label="passed")
    shares.barh(positions, [100 * c.partial / c.submissions for c in cells], left=[100 * c.passed / c.submissions for c in cells],
                color="#f9a825", label="in part")
    shares.set_yticks(list(positions), [c.grade_id for c in cells], fontsize=8)
    shares.invert_yaxis()
    shares.set_xlim(0, 100)
    shares.set_xlabel("submissions (%)")
    shares.set_title("Share of submissions passing each graded cell", fontsize=10)
    shares.legend(loc="lower right", fontsize=8)
    scores.hist(analysis.scores, bins=min(20, max(5, len(set(analysis.scores)))), range=(0, analysis.max_score or 1), color="#1565c0")
    scores.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    scores.set_xlabel(f"automatic score (of {analysis.max_score:g})")
    scores.set_ylabel("submissions")
    scores.set_title("Automatic scores", fontsize=10)
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; width: 100%; margin: 1em 0 2em; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.number { text-align: right; white-space: nowrap; }
ol { margin: 0; padding-left: 1.2em; } details pre { white-space: pre-wrap; font-size: 0.85em; background: #f7f7f7; padding: 0.5em; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
"""


def _cell_row(cell: CellAnalysis) -> str:
    items = []
    for found, count in cell.diagnoses.most_common(TOP_DIAGNOSES):
        items.append(f"<li>{html.escape(found)} <strong>({count})</strong><details><summary>a whole message</summary>"
                     f"<pre>{html.escape(cell.examples[found])}</pre></details></li>")
    failures = f"<ol>{''.join(items)}</ol>" if items else "—"
    return (f"<tr><td><code>{html.escape(cell.grade_id)}</code></td><td class='number'>{cell.max_points:g}</td>"
            f"<td class='number'>{cell.passed}/{cell.submissions} ({100 * cell.pass_rate:.0f}%)</td>"
            f"<td class='number'>{cell.partial}</td><td>{failures}</td></tr>")


def report_html(analyses: dict[str, AssignmentAnalysis]) -> str:
    """The item-analysis page: per assignment, the plot and the table of graded cells."""
    sections = []
    for analysis in analyses.values():
        mean = sum(analysis.scores) / len(analysis.scores)
        rows = "".join(_cell_row(cell) for cell in analysis.cells.values())
        sections.append(
            f"<section><h2>{html.escape(analysis.name)}</h2>"
            f"<p>{len(analysis.scores)} graded submissions; mean automatic score {mean:.2f} of {analysis.max_score:g}.</p>"
            f"<figure>{_plot(analysis)}</figure>"
            "<table><thead><tr><th>graded cell</th><th>points</th><th>passed</th><th>in part</th>"
            f"<th>most frequent diagnoses of the failures (count)</th></tr></thead><tbody>{rows}</tbody></table></section>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Item analysis</title>"
            f"<style>{STYLE}</style></head><body><h1>Item analysis</h1>"
            "<p>Per graded cell: the submissions that passed every check (full points), passed in part, and the diagnoses "
            "the checks gave the others, most frequent first (from the automatic verdicts; manual grades are not counted).</p>"
            + "".join(sections) + "</body></html>")


def write_report(output: Path) -> Path:
    """Write ``output/item_analysis.html`` for the graded submissions of the workspace ``output``."""
    analyses = item_analysis(output)
    if not analyses:
        raise GradingError(f"no graded submission in {output} (no {records.MARKER} under {output / 'autograded'}): "
                           "run `course grade` into it first")
    path = output / REPORT
    path.write_text(report_html(analyses), encoding="utf-8")
    return path
