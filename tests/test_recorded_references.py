"""The recorded references of the visible checks (``dlcourse/data/visible_checks.pkl``): up to date, and nothing hidden in them.

Their equivalence with the live checks (same verdicts and messages for the solution, the honest variants and the
catalogued mistakes) is tested per chapter, in ``test_grading_chNN.py`` (``assert_visible_checks_agree``).
"""
from __future__ import annotations

import ast
import io
import pickle
import re
import types

import nbformat
import numpy as np
import pytest
from conftest import solution_notebook

from dlcourse.checks import recording
from dlcourse.checks.cases import Case
from dlcourse.grading.plan import _plan, assignments, plan_assignment, record_visible_checks, visible_master, write_recording
from dlcourse.grading.workspace import CHAPTERS, NOTEBOOK, REPOSITORY


@pytest.fixture(scope="module")
def shipped() -> tuple[dict, bytes]:
    """The recording as the package ships it: (what it holds, its bytes)."""
    data = recording.RECORDING.read_bytes()
    return recording.loads(data), data


def test_the_recording_is_up_to_date(shipped):
    """Recording the visible checks again (live Keras, the student notebooks as they are) gives the same calls, cases,
    judges and references: else run `course generate` (or `make exercises`)."""
    fresh, recorded = recording.recording_fingerprints(record_visible_checks()), recording.recording_fingerprints(shipped[0])
    stale = {name for name in set(fresh) | set(recorded) if fresh.get(name) != recorded.get(name)}
    assert not stale, f"the recorded references of {sorted(stale)} are stale: run `course generate`"


def test_the_recording_is_package_data_of_the_course():
    pyproject = (REPOSITORY / "pyproject.toml").read_text()
    assert re.search(r"\[tool\.setuptools\.package-data\]\s*dlcourse = \[\"data/\*\.pkl\"", pyproject)
    assert recording.RECORDING.parent == REPOSITORY / "dlcourse" / "data" and recording.RECORDING.suffix == ".pkl"


def test_the_recording_holds_data_and_names_only(shipped):
    """No bytecode and nothing from TensorFlow: every class or function the file names is the course's, NumPy's or a
    builtin (so it loads on every Python the package supports), and a judge is rebuilt from the installed module's code."""
    named = []

    class Listing(pickle.Unpickler):
        def find_class(self, module, name):
            named.append(f"{module}.{name}")
            return super().find_class(module, name)

    for calls in Listing(io.BytesIO(shipped[1])).load().values():  # {check name: its calls' bytes}
        Listing(io.BytesIO(calls)).load()
    assert named and all(name.startswith(recording.LOADABLE) for name in named), sorted(set(named))
    assert "dlcourse.checks.recording.nested_function" in named
    assert not [name for name in named if "CodeType" in name or "cloudpickle" in name or "FunctionType" in name]
    judge = next(iter(shipped[0].values()))[0].runs[0].cases[0].judge
    assert any(code is judge.__code__ for code in recording._codes_named(judge.__module__, judge.__qualname__))
    with pytest.raises(pickle.UnpicklingError, match="which a recording may not hold"):
        recording.loads(pickle.dumps(types.SimpleNamespace()))


def test_a_changed_reference_or_judge_changes_the_fingerprint():
    def case(expected, factor=1.0):
        def judge(result, _):
            assert np.allclose(result * factor, expected)

        return Case((np.arange(3.0),), judge)

    expected = np.array([1.0, 2.0, 3.0])
    same = recording.fingerprint(case(expected.copy()))
    assert recording.fingerprint(case(expected)) == same
    assert recording.fingerprint(case(np.nextafter(expected, 4))) != same
    assert recording.fingerprint(case(expected, factor=2.0)) != same
    assert recording.fingerprint(case(expected.astype(np.float32))) != same


def test_a_recording_naming_a_judge_the_checks_no_longer_have_is_rewritten(shipped, tmp_path):
    """`course generate` after a judge moved: the old file cannot be decoded (its judge is gone), so it is rewritten."""
    calls, data = shipped
    judge = b"check_digits_learning_rate.<locals>.run"
    assert judge in data, "the recording no longer holds the judge this test renames: pick another"
    old = tmp_path / "visible_checks.pkl"
    old.write_bytes(data.replace(judge, judge[:-3] + b"gone"[:3]))     # same length: the pickle stays well formed
    with pytest.raises(ImportError, match="do not match the installed checks"):
        recording.loads(old.read_bytes())
    assert write_recording(calls, old)
    assert recording.recording_fingerprints(recording.loads(old.read_bytes())) == recording.recording_fingerprints(calls)
    assert not write_recording(calls, old)      # now up to date: left as it is


def test_every_visible_check_call_is_recorded(shipped):
    """One recorded call per check call in the student notebooks' test cells (counted in their source), and none more."""
    calls: dict[str, int] = {}
    for name in assignments():
        for cell in visible_master(name).cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                for node in ast.walk(ast.parse(cell.source)):
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("check_"):
                        calls[node.func.id] = calls.get(node.func.id, 0) + 1
    assert {name: len(recorded) for name, recorded in shipped[0].items()} == calls


def _arrays(value, found: dict[bytes, str], where: str, seen: set[int]) -> None:
    """The bytes of every array of 8 elements or more and 4 values or more in ``value`` (inputs, and a judge's closure: its
    references); fewer could be anywhere by coincidence."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        if value.size >= 8 and value.dtype != object and np.unique(value).size >= 4:  # not a constant: a coincidence
            found.setdefault(np.ascontiguousarray(value).tobytes(), where)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _arrays(item, found, where, seen)
    elif isinstance(value, dict):
        for item in value.values():
            _arrays(item, found, where, seen)
    elif isinstance(value, types.FunctionType):
        for cell in getattr(value, "__closure__", None) or ():
            _arrays(cell.cell_contents, found, where, seen)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        _arrays(vars(value), found, where, seen)


def _case_arrays(plan) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for cell in plan.graded:
        for _, case in cell.calls:
            _arrays([case.args, case.kwargs, case.judge], found, cell.grade_id, set())
    return found


def hidden_literals(name: str) -> list[str]:
    """The string constants of 20 characters or more in the hidden tests of ``name``'s master notebook (explanations, messages)
    that no student notebook holds."""
    visible = "\n".join(cell.source for path in CHAPTERS.glob(f"*/{NOTEBOOK}") for cell in nbformat.read(path, as_version=4).cells)
    texts = []
    for cell in solution_notebook(name).cells:
        for region in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.DOTALL):
            texts += [node.value for node in ast.walk(ast.parse(region))
                      if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 20
                      and node.value not in visible]
    return texts


def test_no_hidden_test_is_in_the_recording(shipped):
    """No input or reference of a hidden test (an array that is not part of a visible case's) and no string literal of a hidden
    test's source (an answer's explanation) is in the shipped file. The search finds the visible cases' arrays there, so
    it would find a hidden one."""
    _, data = shipped
    visible_found = hidden_checked = texts_checked = 0
    visible = {name: _case_arrays(_plan(f"{name} (visible checks)", nbformat.writes(visible_master(name)))) for name in assignments()}
    within_visible = b"|".join(array for arrays in visible.values() for array in arrays)  # a hidden array may be a run of a
    for name in assignments():                                                           # visible one (steps 0..49 of 0..99)
        hidden = {array: cell for array, cell in _case_arrays(plan_assignment(name)).items() if array not in within_visible}
        assert hidden, f"{name}: no hidden array found: the search is broken"
        leaked = sorted({cell for array, cell in hidden.items() if array in data})
        assert not leaked, f"{name}: arrays of hidden tests of {leaked} are in the recording"
        visible_found += sum(array in data for array in visible[name])
        hidden_checked += len(hidden)
        for text in hidden_literals(name):
            assert text.encode() not in data, f"{name}: a hidden test's text is in the recording: {text!r}"
            texts_checked += 1
    assert visible_found >= 50 and hidden_checked >= 50 and texts_checked >= 18, (visible_found, hidden_checked, texts_checked)
