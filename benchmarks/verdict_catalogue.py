"""Print, per chapter, the grading tests' catalogue and how the grader's verdicts measure up against it.

For each chapter's test module (``tests/test_grading_chNN.py``): the honest
variants of each solution cell and whether each keeps full marks; the classic
mistakes, whether each loses exactly its own cells, whether its diagnosis
phrase is in the message and whether the message names more than one cause.
The verdicts are the grader's, computed in this process (``conftest.verdicts_in_process``).

    .venv/bin/python benchmarks/verdict_catalogue.py
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import solution_notebook, verdicts_in_process, with_cell_source  # noqa: E402

CHAPTERS = ("01", "02", "03", "04", "05", "06")


def report(number: str) -> None:
    module = importlib.import_module(f"test_grading_ch{number}")
    chapter, cells = module.CHAPTER, module.CELLS
    master = solution_notebook(chapter)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in master.cells if c.metadata.get("nbgrader", {}).get("solution")}
    notebooks = module.honest_notebooks  # what the module gave the harness (conftest.chapter_grading_tests)
    variants = {cell: sum(1 for nb in notebooks.values() for c in nb.cells
                          if c.metadata.get("nbgrader", {}).get("grade_id") == cell and c.source != source) for cell, source in answers.items()}
    full = sum(1 for nb in notebooks.values() if all(v[0] == cells[k] for k, v in verdicts_in_process(chapter, nb).items()))
    phrases = {}
    for student, cell, phrase, *_ in module.DIAGNOSES:
        phrases.setdefault(student, []).append((cell, phrase))
    exact = named = single = 0
    for student, (cell_id, source, broken) in module.WRONG_ANSWERS.items():
        verdicts = verdicts_in_process(chapter, with_cell_source(master, cell_id, source))
        exact += {c for c, (p, _) in verdicts.items() if p == 0} == set(broken)
        named += all(phrase in verdicts[cell][1] for cell, phrase in phrases.get(student, [("", "\0")]))
        single += all(verdicts[c][1].count("Likely cause") <= 1 for c in broken)
    mistakes = len(module.WRONG_ANSWERS)
    print(f"{chapter}: honest variants per solution cell {variants}; {full}/{len(notebooks)} honest notebooks keep full marks")
    print(f"    {mistakes} classic mistakes: {exact} lose exactly their own cells, {named} ({100 * named / mistakes:.0f} %) get their own "
          f"diagnosis, {single} name at most one cause")


if __name__ == "__main__":
    for chapter_number in sys.argv[1:] or CHAPTERS:
        report(chapter_number)
