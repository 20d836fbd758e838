"""After the grades: late penalties, regrading one student or one assignment, LMS exports, item analysis."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import CHAPTER_1, REPOSITORY, graded_points, solution_notebook, with_cell_source, write_submission

from dlcourse.grading.cli import main as course
from dlcourse.grading.grade import grade_submissions
from dlcourse.grading.report import item_analysis
from dlcourse.grading.workspace import GradingError

pytestmark = pytest.mark.grading

TOTAL = sum(graded_points().values())
CHAPTER_2 = "02_sgd_momentum"
DUE = "2026-12-01T17:00:00+01:00"   # 16:00 UTC
SUMMED = "Likely cause: you summed the squared errors"
HOSTILE = "def mse_loss(X, y, w, b):\n    raise ValueError('<script>alert(1)</script>')"


def stamp(submitted: Path, student: str, text: str, assignment: str = CHAPTER_1) -> None:
    (submitted / student / assignment / "timestamp.txt").write_text(text)


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Chapter 1 graded with a due date and nbgrader's "zero" penalty: on time, late, a mistake, a blank notebook, an
    unreadable timestamp, a student id with a comma; a chapter 2 submission that the run leaves alone."""
    root = tmp_path_factory.mktemp("after")
    submitted = root / "submitted"
    master = solution_notebook()
    wrong = next(c.source for c in master.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mse_loss").replace("np.mean(", "np.sum(")
    write_submission(submitted, "on_time", master)
    stamp(submitted, "on_time", "2026-12-01 15:59:00.000000 UTC")
    write_submission(submitted, "late", master)
    stamp(submitted, "late", "2026-12-01 18:30:00.000000 UTC")   # 2.5 h late
    write_submission(submitted, "wrong,sum", with_cell_source(master, "mse_loss", wrong))
    stamp(submitted, "wrong,sum", "2026-12-01 16:00:00 UTC")      # at the due date: not late
    write_submission(submitted, "hostile", with_cell_source(master, "mse_loss", HOSTILE))
    write_submission(submitted, "blank", nbformat.read(REPOSITORY / "chapters" / CHAPTER_1 / "exercises.ipynb", as_version=4))
    write_submission(submitted, "bad_stamp", master)
    stamp(submitted, "bad_stamp", "last tuesday-ish")
    write_submission(submitted, "late", nbformat.read(REPOSITORY / "chapters" / CHAPTER_2 / "exercises.ipynb", as_version=4), CHAPTER_2)
    roster = root / "students.csv"
    roster.write_text('id,first_name,last_name,email\non_time,Ada,"Lovelace, Countess",ada@example.org\nlate,Alan,Turing,alan@example.org\n')
    lines: list[str] = []
    outcomes = grade_submissions(submitted, root / "out", progress=lines.append, roster=roster, assignments={CHAPTER_1},
                                 due={CHAPTER_1: DUE}, late_penalty="zero")
    return {"submitted": submitted, "output": root / "out", "lines": lines, "outcomes": {o.student_id: o for o in outcomes}}


def test_a_late_submission_is_penalised_as_nbgrader_does(graded):
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    exported = {r["student_id"]: r for r in rows(graded["output"] / "grades.csv")}
    assert (exported["late"]["raw_score"], exported["late"]["late_submission_penalty"], exported["late"]["score"]) == (f"{TOTAL}", f"{TOTAL}", "0.0")
    assert (exported["on_time"]["late_submission_penalty"], exported["on_time"]["score"]) == ("0.0", f"{TOTAL}")
    assert exported["wrong,sum"]["score"] == f"{TOTAL - 1}"   # submitted at the due date exactly: on time
    assert exported["late"]["duedate"] == "2026-12-01 16:00:00" and exported["late"]["timestamp"] == "2026-12-01 18:30:00"
    assert graded["outcomes"]["late"].score == 0 and graded["outcomes"]["on_time"].score == TOTAL
    assert any(line.startswith("[") and " late 01_gradient_descent: 0/" in line and "late by 2.5 h, penalty 22" in line
               for line in graded["lines"]), "\n".join(graded["lines"])
    page = (graded["output"] / "feedback" / "late" / CHAPTER_1 / "exercises.html").read_text()
    assert f"Late submission penalty (Score: -{TOTAL})" in page
    # the gradebook holds what nbgrader's autograde would have stored: its own export reads the same grades
    with Gradebook(f"sqlite:///{graded['output'] / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission(CHAPTER_1, "late").total_seconds_late == 2.5 * 3600
        plugin = CsvExportPlugin()
        plugin.to = str(graded["output"] / "by_nbgrader.csv")
        plugin.export(gradebook)
    # (nbgrader writes its fields unquoted: rows with a comma in a name or an id are compared in grades.csv only)
    plain = {student for student, row in exported.items() if not any("," in value for value in row.values())}
    by_nbgrader = {r["student_id"]: r for r in rows(graded["output"] / "by_nbgrader.csv") if r["student_id"] in plain}
    assert len(plain) == 3 and by_nbgrader == {student: exported[student] for student in plain}


def test_an_unreadable_timestamp_is_reported_and_nothing_is_graded(graded):
    outcome = graded["outcomes"]["bad_stamp"]
    assert outcome.score == 0 and "timestamp.txt holds 'last tuesday-ish', not a date and time" in outcome.problem
    assert not (graded["output"] / "autograded" / "bad_stamp").exists()


def test_a_changed_penalty_updates_the_feedback_without_grading_again(graded, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(graded["output"], output)
    lines: list[str] = []
    grade_submissions(graded["submitted"], output, progress=lines.append, assignments={CHAPTER_1}, late_penalty="none")
    late = next(line for line in lines if " late 01_gradient_descent:" in line)
    assert "feedback updated" in late and f"({TOTAL:g}/{TOTAL:g}); late by 2.5 h, no penalty (none)" in late, late
    assert not [line for line in lines if line.startswith("[") and " s)" in line], "nothing was run again"
    assert "Late submission penalty" not in (output / "feedback" / "late" / CHAPTER_1 / "exercises.html").read_text()
    assert {r["student_id"]: r["score"] for r in rows(output / "grades.csv")}["late"] == f"{TOTAL}"
    assert 'c.LateSubmissionPlugin.penalty_method = "none"' not in (output / "nbgrader_config.py").read_text()
    with pytest.raises(GradingError, match="--due names 02_sgd_momentum, which this run does not grade"):
        grade_submissions(graded["submitted"], output, progress=lines.append, assignments={CHAPTER_1}, due={CHAPTER_2: DUE})
    with pytest.raises(GradingError, match="the due date of 01_gradient_descent, 'soon', is not a date and time"):
        grade_submissions(graded["submitted"], output, progress=lines.append, due={CHAPTER_1: "soon"})


def test_regrading_one_student_leaves_the_others_as_they_were(graded, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(graded["output"], output)
    before = snapshot(output)
    lines: list[str] = []
    outcomes = grade_submissions(graded["submitted"], output, progress=lines.append, regrade=True, students={"wrong,sum"},
                                 assignments={CHAPTER_1})
    assert [o.student_id for o in outcomes] == ["wrong,sum"] and outcomes[0].score == TOTAL - 1
    assert [line.split(":")[0] for line in lines if line.startswith("[")] == ["[1/1] wrong,sum 01_gradient_descent"]
    after = snapshot(output)
    changed = {path for path in before.keys() & after.keys() if before[path] != after[path]}
    others = {path for path in changed if path.parts[0] in ("autograded", "feedback", "submitted") and path.parts[1] != "wrong,sum"}
    assert not others, others
    assert rows(output / "grades_by_cell.csv") == rows(graded["output"] / "grades_by_cell.csv"), "the CSV still lists every student"
    with pytest.raises(GradingError, match="no submission of student.s. nobody in any assignment"):
        grade_submissions(graded["submitted"], output, progress=lines.append, students={"nobody"})


def test_grading_one_assignment_leaves_the_other_alone(graded):
    assert not (graded["output"] / "autograded" / "late" / CHAPTER_2).exists()
    assert not (graded["output"] / "source" / CHAPTER_2).exists(), "the other assignment was not even prepared"
    assert CHAPTER_2 not in {r["assignment_id"] for r in rows(graded["output"] / "grades_by_cell.csv")}


def test_canvas_and_moodle_exports_follow_their_import_formats(graded, tmp_path):
    output = graded["output"]
    assert course(["export", "canvas", str(output)]) == 0
    canvas = list(csv.reader((output / "grades_canvas.csv").open(newline="")))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", CHAPTER_1]
    assert canvas[1] == ["Points Possible", "", "", "", "", f"{TOTAL:g}"]
    by_login = {row[3]: row for row in canvas[2:]}
    assert by_login["on_time"] == ["Lovelace, Countess, Ada", "", "", "on_time", "", f"{TOTAL:g}"]
    assert by_login["late"][-1] == "0" and by_login["wrong,sum"][-1] == f"{TOTAL - 1:g}" and by_login["wrong,sum"][0] == "wrong,sum"
    assert set(by_login) == {r["student_id"] for r in rows(output / "grades.csv")}
    moodle_file = tmp_path / "moodle.csv"
    assert course(["export", "moodle", str(output), "--to", str(moodle_file)]) == 0
    moodle = {r["ID number"]: r for r in rows(moodle_file)}
    assert list(next(iter(moodle.values()))) == ["First name", "Last name", "ID number", "Institution", "Department", "Email address",
                                                 f"{CHAPTER_1} (Real)"]
    assert (moodle["on_time"]["First name"], moodle["on_time"]["Email address"], moodle["on_time"][f"{CHAPTER_1} (Real)"]) == (
        "Ada", "ada@example.org", f"{TOTAL:g}")
    assert course(["export", "canvas", str(tmp_path / "nowhere")]) == 2


def test_item_analysis_counts_passes_and_names_the_mistakes(graded, tmp_path):
    analysis = item_analysis(graded["output"])[CHAPTER_1]
    graded_students = 5   # all but the unreadable timestamp
    assert len(analysis.scores) == graded_students and list(analysis.cells) == list(graded_points())
    loss = analysis.cells["test_mse_loss"]
    assert (loss.submissions, loss.passed, loss.partial) == (graded_students, 2, 0)
    found = dict(loss.diagnoses)
    assert sum(found.values()) == 3 and any(SUMMED.split(": ", 1)[1] in text for text in found), found
    assert analysis.cells["test_mse_gradient"].passed == 4   # only the blank notebook fails it
    assert course(["report", str(graded["output"])]) == 0
    page = (graded["output"] / "item_analysis.html").read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<svg") == 1 and "2/5 (40%)" in page
    assert course(["report", str(tmp_path)]) == 2
