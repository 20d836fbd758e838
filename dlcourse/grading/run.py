"""Run one submission's calls in the sandbox, restarting after a call that does not return, and judge the data.

:func:`run_submission` sends the student's cells and the plan's calls to a
sandbox; when a call hangs or crashes, the sandbox is started again at the
next graded cell's first call, so only what broke loses points.
:func:`judge` decides each graded cell from the data that came back, with the
judges the plan recorded (the same ones a student's notebook runs live).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import nbformat

from dlcourse.checks.cases import most_specific
from dlcourse.checks.compare import CheckFailed
from dlcourse.grading.plan import AssignmentPlan, call_name, student_code
from dlcourse.grading.sandbox import Limits, SandboxRun, run_job
from dlcourse.grading.wire import decode

NOT_RUN_AFTER_FAILURE = "not run: an earlier check of this graded cell failed"


@dataclass
class CellVerdict:
    """The verdict on one graded cell: points, and the message of its most specific failure ("" when it passed);
    ``remark``: what the feedback adds to a passed cell (why an answer is right)."""

    grade_id: str
    points: float
    max_points: float
    message: str = ""
    remark: str = ""


def _last_output(run: SandboxRun) -> str:
    return f"\nlast output:\n{run.stdout.strip()[-1500:]}" if run.stdout.strip() else ""


def run_submission(plan: AssignmentPlan, notebook: nbformat.NotebookNode, worker: int, limits: Limits,
                   run: Callable[[dict, int, Limits], SandboxRun] = run_job) -> dict[int, dict]:
    """Run the student's code and every planned call; return ``{call number: call_end event}``.

    An event holds the call's ``result`` and ``args_after`` (plain data), or
    ``error`` (the student's exception), or ``reason`` (the grader's: a time
    limit, a crash). After a call that does not come back, ``run`` (a fresh
    sandbox) is started again at the next graded cell's first call.
    """
    cells, calls = student_code(plan, notebook), plan.encoded_calls
    results: dict[int, dict] = {}
    cell_error = ""
    offset = 0
    while offset < len(calls):
        sandbox = run({"cells": cells, "calls": calls[offset:]}, worker, limits)
        started = [offset + e["n"] for e in sandbox.events if e.get("event") == "call_start" and isinstance(e.get("n"), int)]
        for event in sandbox.events:
            if event.get("event") == "call_end" and isinstance(event.get("n"), int):
                results[offset + event["n"]] = event
            elif event.get("event") == "cell_end" and event.get("error") and not cell_error:
                cell_error = f"your cell {event.get('id')} raised:\n{event['error']}"
        if not sandbox.ended:
            break
        if not started:  # the student's cells themselves did not finish: a restart would stop there again
            reason = (f"your code did not get to this check: {sandbox.ended} "
                      f"(while running {sandbox.stopped_in or 'your cells'}){_last_output(sandbox)}")
            results.update({n: {"reason": reason} for n in range(offset, len(calls))})
            break
        stuck = started[-1]
        results[stuck] = {"reason": f"your {plan.call_names[stuck]} did not return: {sandbox.ended} "
                                    f"(an endless loop, a long wait, a crash, os._exit?){_last_output(sandbox)}"}
        offset = next((first for first in plan.first_call_of_each_cell if first > stuck), len(calls))
        results.update({n: {"reason": NOT_RUN_AFTER_FAILURE} for n in range(stuck + 1, offset)})
    if cell_error:
        for event in results.values():
            if str(event.get("error", "")).startswith("NameError"):
                event["error"] += "\n" + cell_error
    return results


def _verdict_message(name: str, case, event: dict) -> str:
    """The failure message of one call's event, or "" when its judge accepts the data."""
    if event.get("reason"):
        return event["reason"]
    if event.get("error"):
        lines = [line for line in str(event["error"]).splitlines() if line.strip()]
        # a traceback ends with its exception; a missing name leads, followed by the error of the cell that should define it
        summary = lines[0] if lines and lines[0].startswith("NameError") else lines[-1] if lines else "an exception"
        return f"your {name} raised {summary.strip()}\n{event['error']}"
    try:
        args_after = decode(event.get("args_after"))
        case.judge(decode(event.get("result")), tuple(args_after) if isinstance(args_after, (list, tuple)) else ())
    except CheckFailed as failure:
        return str(failure)
    except Exception as error:  # data the judge cannot read: the student's result, so their points
        return f"the result of your {name} could not be checked: {type(error).__name__}: {error}"
    return ""


def judge(plan: AssignmentPlan, results: dict[int, dict]) -> list[CellVerdict]:
    """Decide each graded cell from the data the sandbox returned: its points when every call passes.

    The message is the most specific failure of the cell (:func:`~dlcourse.checks.cases.most_specific`).
    """
    verdicts, number = [], 0
    for cell in plan.graded:
        messages = []
        for names, case in cell.calls:
            event = results.get(number, {"reason": "not run: the grader got no result for this check"})
            number += 1
            messages.append(_verdict_message(call_name(names), case, event))
        failures = [m for m in messages if m]
        message = most_specific(failures) if failures else ""
        remark = "" if message else "\n".join(case.remark for _, case in cell.calls if case.remark)
        verdicts.append(CellVerdict(cell.grade_id, 0.0 if message else cell.points, cell.points, message, remark))
    return verdicts
