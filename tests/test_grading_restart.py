"""The restart arithmetic of ``run_submission`` and the verdicts of ``judge``, with a scripted sandbox.

No bubblewrap here: ``run`` is replaced by a fake that answers a job as the
real runner would (a ``call_start`` and a ``call_end`` per call), except that
the calls named in ``hangs`` never come back and the run ends there.
"""
from __future__ import annotations

import nbformat
import pytest

from dlcourse.checks.cases import Case
from dlcourse.checks.compare import fail
from dlcourse.grading.plan import AssignmentPlan, GradedCell
from dlcourse.grading.run import NOT_RUN_AFTER_FAILURE, judge, run_submission
from dlcourse.grading.sandbox import Limits, SandboxRun


def expect_number(number):
    """A judge that accepts only ``number`` (each call's fake result is its own call number)."""
    def check(result, args_after):
        if result != number:
            fail(f"expected {number}, got {result}")
    return check


def make_plan(calls_per_cell: list[int]) -> AssignmentPlan:
    """A plan whose graded cell ``k`` makes ``calls_per_cell[k]`` calls; call ``n`` passes ``n`` as its argument."""
    graded, number = [], 0
    for index, count in enumerate(calls_per_cell):
        calls = []
        for _ in range(count):
            calls.append(("f", Case(args=(number,), judge=expect_number(number))))
            number += 1
        graded.append(GradedCell(f"cell-{index}", 2.0, calls))
    return AssignmentPlan(nbformat.v4.new_notebook(), [], graded)


class ScriptedSandbox:
    """Stands for ``run_job``: every call returns its argument, except the calls in ``hangs``, which end the run."""

    def __init__(self, hangs=(), cells_end=""):
        self.hangs, self.cells_end, self.jobs = set(hangs), cells_end, []

    def __call__(self, job, worker, limits):
        self.jobs.append([call["args"]["__tuple__"][0] for call in job["calls"]])
        if self.cells_end:
            return SandboxRun(events=[], ended=self.cells_end, stopped_in="solution-1")
        events = []
        for n, call in enumerate(job["calls"]):
            number = call["args"]["__tuple__"][0]
            events.append({"event": "call_start", "n": n})
            if number in self.hangs:
                return SandboxRun(events=events, ended="time limit of 5 s", stopped_in=str(n), stdout="looping")
            events.append({"event": "call_end", "n": n, "result": number, "args_after": {"__list__": [number]}})
        return SandboxRun(events=events)


def grade(plan, sandbox):
    return judge(plan, run_submission(plan, nbformat.v4.new_notebook(), 0, Limits(), run=sandbox))


def test_all_calls_in_one_run():
    plan, sandbox = make_plan([2, 3, 1]), ScriptedSandbox()
    verdicts = grade(plan, sandbox)
    assert sandbox.jobs == [[0, 1, 2, 3, 4, 5]]
    assert [(v.points, v.message) for v in verdicts] == [(2.0, ""), (2.0, ""), (2.0, "")]


def test_a_hanging_call_costs_its_own_cell_only():
    plan, sandbox = make_plan([2, 3, 1]), ScriptedSandbox(hangs={3})
    verdicts = grade(plan, sandbox)
    # cell 1 (calls 2-4) stops at call 3; the sandbox starts again at cell 2's first call
    assert sandbox.jobs == [[0, 1, 2, 3, 4, 5], [5]]
    assert [v.points for v in verdicts] == [2.0, 0.0, 2.0]
    assert "your f did not return: time limit of 5 s" in verdicts[1].message
    assert "looping" in verdicts[1].message


def test_the_calls_after_a_hang_in_the_same_cell_are_not_run():
    plan = make_plan([3])
    results = run_submission(plan, nbformat.v4.new_notebook(), 0, Limits(), run=ScriptedSandbox(hangs={0}))
    assert results[1] == {"reason": NOT_RUN_AFTER_FAILURE} == results[2]


def test_hangs_in_consecutive_cells_restart_twice_and_a_hang_in_the_last_cell_stops():
    plan, sandbox = make_plan([1, 2, 2]), ScriptedSandbox(hangs={0, 1, 4})
    verdicts = grade(plan, sandbox)
    assert sandbox.jobs == [[0, 1, 2, 3, 4], [1, 2, 3, 4], [3, 4]]
    assert [v.points for v in verdicts] == [0.0, 0.0, 0.0]


def test_cells_that_never_finish_fail_every_call_without_restarting():
    plan, sandbox = make_plan([1, 2]), ScriptedSandbox(cells_end="memory limit")
    verdicts = grade(plan, sandbox)
    assert len(sandbox.jobs) == 1
    assert all(v.points == 0.0 and "your code did not get to this check: memory limit" in v.message for v in verdicts)
    assert "while running solution-1" in verdicts[0].message


def test_a_wrong_result_fails_its_cell_with_the_judges_message():
    plan = make_plan([1, 1])

    def sandbox(job, worker, limits):
        events = [{"event": "call_end", "n": n, "result": 7} for n, _ in enumerate(job["calls"])]
        return SandboxRun(events=events)

    verdicts = grade(plan, sandbox)
    assert [v.points for v in verdicts] == [0.0, 0.0]
    assert verdicts[0].message == "expected 0, got 7"


@pytest.mark.parametrize("event, expected", [
    ({"error": "Traceback...\nValueError: shapes differ"}, "your f raised ValueError: shapes differ"),
    ({}, "expected 0, got None"),
    ({"result": {"__object__": "module.Thing"}}, "expected 0, got "),
])
def test_errors_and_missing_data_lose_the_cells_points(event, expected):
    plan = make_plan([1])
    verdicts = judge(plan, {0: event})
    assert verdicts[0].points == 0.0 and verdicts[0].message.startswith(expected)


def test_a_call_without_any_event_is_reported_not_run():
    verdicts = judge(make_plan([1, 1]), {0: {"result": 0}})
    assert [v.points for v in verdicts] == [2.0, 0.0]
    assert verdicts[1].message == "not run: the grader got no result for this check"
