"""Grading runs: interrupted and resumed, repeated, in parallel, with manual grades."""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHAPTER_1, graded_points, solution_notebook, with_cell_source, write_submission

from dlcourse.grading.grade import grade_submissions

pytestmark = pytest.mark.grading

TOTAL = sum(graded_points().values())

SLOW = "import time\ndef mse_loss(X, y, w, b):\n    time.sleep(0.3)\n    return float(np.mean((X @ w + b - y) ** 2))"
WRONG = ("def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):\n"
         "    return initial_learning_rate * decay_rate ** (step / decay_steps + 1)")


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    """Six submissions: correct, slow but correct (0.3 s a call), and one wrong cell, twice each."""
    folder = tmp_path_factory.mktemp("runs") / "submitted"
    for number in range(2):
        write_submission(folder, f"correct_{number}", solution_notebook())
        write_submission(folder, f"slow_{number}", with_cell_source(solution_notebook(), "mse_loss", SLOW))
        write_submission(folder, f"wrong_{number}", with_cell_source(solution_notebook(), "exponential_decay", WRONG))
    return folder


def csv_rows(output: Path) -> list[dict]:
    with (output / "grades_by_cell.csv").open() as handle:
        return list(csv.DictReader(handle))


def graded_lines(text: str) -> list[str]:
    """Students graded (not skipped) according to progress lines."""
    return re.findall(rf"^\[\d+/\d+\] (\S+) \S+: [\d.]+/{TOTAL:g} \(", text, flags=re.M)


def test_killed_run_resumes_and_grades_each_submission_once(submitted, tmp_path):
    output = tmp_path / "out"
    command = [str(Path(sys.executable).parent / "course"), "grade", str(submitted), "--output", str(output), "--workers", "1"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    for line in first.stdout:
        seen += line
        if len(graded_lines(seen)) == 2:
            first.kill()
            break
    first.wait()
    before = graded_lines(seen)
    assert len(before) == 2 and first.returncode != 0
    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    after = graded_lines(second.stdout)
    assert sorted(before + after) == sorted(p.name for p in submitted.iterdir())
    assert not set(before) & set(after)
    assert second.stdout.count("already graded") == 2
    totals = {}
    for row in csv_rows(output):
        totals[row["student_id"]] = totals.get(row["student_id"], 0) + float(row["points"])
    assert totals == {"correct_0": TOTAL, "correct_1": TOTAL, "slow_0": TOTAL, "slow_1": TOTAL, "wrong_0": TOTAL - 1, "wrong_1": TOTAL - 1}


def test_parallel_equals_serial_and_a_regrade_is_identical(submitted, tmp_path):
    serial = grade_submissions(submitted, tmp_path / "serial", progress=lambda m: None, workers=1)
    parallel = grade_submissions(submitted, tmp_path / "parallel", progress=lambda m: None, workers=2)
    again = grade_submissions(submitted, tmp_path / "parallel", progress=lambda m: None, workers=2, regrade=True)
    assert csv_rows(tmp_path / "serial") == csv_rows(tmp_path / "parallel")
    assert [(o.student_id, [c.__dict__ for c in o.cells]) for o in serial] == \
           [(o.student_id, [c.__dict__ for c in o.cells]) for o in parallel] == \
           [(o.student_id, [c.__dict__ for c in o.cells]) for o in again]


def test_manual_grades_survive_a_regrade(submitted, tmp_path):
    from nbgrader.api import Gradebook

    output = tmp_path / "out"
    grade_submissions(submitted, output, progress=lambda m: None)
    with Gradebook(f"sqlite:///{output / 'gradebook.db'}") as gradebook:
        # formgrader lists no submission as needing manual grading after the automatic grades
        assert not [s for s in gradebook.submission_dicts(CHAPTER_1) if s["needs_manual_grade"]]
        grade = gradebook.find_grade("test_exponential_decay", "exercises", CHAPTER_1, "wrong_0")
        grade.manual_score = 0.5  # the instructor gave partial credit in formgrader
        gradebook.db.commit()
    # the documented command again, without --regrade: the manual grade reaches the feedback page and the CSV
    messages = []
    grade_submissions(submitted, output, progress=messages.append)
    assert any("wrong_0" in m and f"feedback updated ({TOTAL - 0.5:g}/{TOTAL:g})" in m for m in messages), messages
    assert f"{TOTAL - 0.5:g}" in (output / "feedback" / "wrong_0" / CHAPTER_1 / "exercises.html").read_text()
    row = next(r for r in csv_rows(output) if r["student_id"] == "wrong_0" and r["cell"] == "test_exponential_decay")
    assert float(row["points"]) == 0.5
    grade_submissions(submitted, output, progress=lambda m: None, regrade=True)
    with Gradebook(f"sqlite:///{output / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade("test_exponential_decay", "exercises", CHAPTER_1, "wrong_0")
        assert (grade.manual_score, grade.auto_score, grade.score) == (0.5, 0.0, 0.5)
        assert grade.needs_manual_grade  # the manual score overrides the automatic one: formgrader shows it for review
    row = next(r for r in csv_rows(output) if r["student_id"] == "wrong_0" and r["cell"] == "test_exponential_decay")
    assert float(row["points"]) == 0.5


def test_a_roster_names_the_students_and_a_bad_one_is_refused_before_anything_is_written(submitted, tmp_path):
    from dlcourse.grading.workspace import GradingError

    bad = tmp_path / "bad_roster.csv"
    bad.write_text("student,name\ncorrect_0,Ada\n")
    with pytest.raises(GradingError, match="'id' column"):
        grade_submissions(submitted, tmp_path / "out", progress=lambda m: None, roster=bad)
    assert not (tmp_path / "out").exists()
    roster = tmp_path / "students.csv"
    roster.write_text("id,first_name,last_name,email\ncorrect_0,Ada,Lovelace,ada@example.org\nwrong_1,Alan,Turing,\n")
    grade_submissions(submitted, tmp_path / "out", progress=lambda m: None, roster=roster)
    names = {r["student_id"]: (r["first_name"], r["last_name"]) for r in csv_rows(tmp_path / "out")}
    assert names["correct_0"] == ("Ada", "Lovelace") and names["wrong_1"] == ("Alan", "Turing") and names["slow_0"] == ("", "")
    with (tmp_path / "out" / "grades.csv").open() as handle:
        exported = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert (exported["correct_0"]["first_name"], exported["correct_0"]["email"]) == ("Ada", "ada@example.org")
