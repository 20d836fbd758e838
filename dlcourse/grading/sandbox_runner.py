"""Runs inside the grading sandbox: the student's cells, then the planned calls.

Reads a job (JSON) on standard input::

    {"cells": [{"id": ..., "source": ...}, ...],
     "calls": [{"function": name, "args": [...], "kwargs": {...}, "driver": ...}, ...]}

executes the cells in one IPython shell, makes each call (:func:`make_call`),
and writes one JSON event per line to the channel file descriptor given as
the first argument: ``ready``, ``cell_start``/``cell_end``, ``call_start``/
``call_end`` (result and arguments after the call, as plain data), ``done``.
Nothing here decides a grade: the grader judges the data outside.
TensorFlow and Keras cannot be imported here (the course asks for NumPy, and
the sandbox does not mount them).
"""
from __future__ import annotations

import importlib.abc
import json
import os
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

# The libraries a submission cannot import while graded (the sandbox does not mount them either).
BLOCKED_MODULES = ("tensorflow", "keras", "tf_keras", "tensorboard", "jax", "torch")
# The course's NumPy reference implementations (the lessons' optimizers and network pieces, and the exercise functions
# other exercise functions call): not a submission's to call. In import order: the grader sends them in this order.
BLOCKED_COURSE_MODULES = ("dlcourse.optimizers", "dlcourse.network", "dlcourse.numpy_reference")


class BlockLibraries(importlib.abc.MetaPathFinder):
    """Refuses the deep-learning libraries with a message the student can act on."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED_MODULES:
            raise ImportError(f"{name} is not available while grading: the exercises are solved with NumPy only")
        if name in BLOCKED_COURSE_MODULES:
            raise ImportError(f"{name} is not available while grading: write the exercise's functions yourself")
        return None


LIBRARY_FOLDERS = tuple({os.path.dirname(os.path.dirname(os.path.abspath(__file__))), sys.prefix, sys.base_prefix})


def describe_error(error: BaseException, limit: int = 3000) -> str:
    """The exception as the student would see it: the frames of the student's own code (last 6) and the message.

    Frames of the course package, the grader and the libraries are left out:
    they say nothing about the student's code.
    """
    summary = traceback.TracebackException.from_exception(error)
    own = [frame for frame in summary.stack if not os.path.abspath(frame.filename).startswith(LIBRARY_FOLDERS)]
    summary.stack = traceback.StackSummary.from_list(own[-6:])
    text = "".join(summary.format())
    return text if len(text) <= limit else "..." + text[-limit:]


def make_call(namespace: dict, number: int, call: dict, references: Callable[[], Any] | None = None) -> dict:
    """Make the planned ``call`` with the functions the student's cells defined in ``namespace``.

    ``references()`` gives the course's versions of the functions the call
    substitutes (default: :mod:`dlcourse.numpy_reference`, imported; in the
    sandbox, asked of the grader). Returns the ``call_end`` event: the result
    and the arguments after the call as plain data, or the student's error.
    Nothing here judges.
    """
    from dlcourse.checks.cases import ANSWER, call_case, course_references, data_only, materialize
    from dlcourse.grading.wire import decode, encode

    names = call["function"] if isinstance(call["function"], list) else [call["function"]]
    functions = tuple(namespace.get(name) for name in names)
    # an answer is any value the student's cell assigns; everything else must be a function
    missing = [name for name, function in zip(names, functions)
               if (name not in namespace if call.get("driver") == ANSWER else not callable(function))]
    event = {"event": "call_end", "n": number, "result": None, "args_after": None, "error": None}
    if missing:
        event["error"] = f"NameError: {missing[0]} is not defined (is the cell that defines it there, and does it run without error?)"
        return event
    args = materialize(decode(call["args"]))
    kwargs = materialize(decode(call["kwargs"]))
    try:
        substitutes = tuple(n for n in call.get("substitutes") or () if isinstance(n, str))
        result = call_case(functions, call.get("driver"), args, kwargs, substitutes, references or course_references)
        event["result"] = encode(result)
        event["args_after"] = encode(data_only(tuple(args)))
    except BaseException as error:  # the student's exception, SystemExit and KeyboardInterrupt included
        event["error"] = describe_error(error)
    return event


def load_references(sources: list) -> types.ModuleType:
    """The course's reference modules from their ``[[module name, source], ...]`` (in import order): the last one.

    They are blocked from import; each is executed as a module of its own and
    is in ``sys.modules`` only while the next ones import it.
    """
    modules = []
    try:
        for name, source in sources:
            module = types.ModuleType(name)
            sys.modules[name] = module
            modules.append(name)
            exec(compile(source, f"<{name}>", "exec"), module.__dict__)
        return module
    finally:
        for name in modules:
            sys.modules.pop(name, None)


def main() -> None:
    channel = os.fdopen(int(sys.argv[1]), "w", buffering=1)

    def send(**event):
        channel.write(json.dumps(event) + "\n")
        channel.flush()

    # the job is the first line of standard input; the grader answers requests on later lines, on a descriptor
    # of the runner's own: the student's code gets an empty standard input, as before
    grader = os.fdopen(os.dup(0), "rb")
    job = json.loads(grader.readline())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    references: list = []

    def fetch_references():
        """The course's versions of the substituted functions, asked of the grader at the first call that needs them."""
        if not references:
            send(event="references")
            references.append(load_references(json.loads(grader.readline())))
        return references[0]

    sys.meta_path.insert(0, BlockLibraries())
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    send(event="ready")
    for cell in job["cells"]:
        send(event="cell_start", id=cell["id"])
        result = shell.run_cell(cell["source"], store_history=False)
        error = result.error_before_exec or result.error_in_exec
        send(event="cell_end", id=cell["id"], error=None if error is None else describe_error(error))
    for number, call in enumerate(job["calls"]):
        send(event="call_start", n=number)
        event = make_call(shell.user_ns, number, call, fetch_references)
        try:
            send(**event)
        except (TypeError, ValueError) as error:  # a result that JSON cannot carry
            send(event="call_end", n=number, result=None, args_after=None, error=f"the result could not be sent to the grader: {error}")
    send(event="done")


if __name__ == "__main__":
    main()
