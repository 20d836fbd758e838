"""A check is a list of cases: one call of the student's function and a judge.

The same check runs two ways:

- **live**, in the student's notebook: :func:`run_check` calls the student's
  function on each case's inputs and hands the result to the case's judge,
  which raises :class:`~dlcourse.checks.compare.CheckFailed` with a diagnosis;
- **planned**, by the grader: the test cells of the solution notebook run in
  the grader's own process with each student function replaced by a
  :class:`StudentFunction`; :func:`run_check` then only records the cases.
  The grader runs the calls in a sandbox, receives plain data back, and
  judges it here, where the references live.

Case inputs are plain data (NumPy arrays, numbers, strings, lists, dicts) or
:class:`CallableSpec`: a named NumPy-only factory from
:mod:`dlcourse.checks.callables` and its arguments, so that the sandbox can
rebuild the very same callable without TensorFlow.
"""
from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcourse.checks.compare import CheckFailed, call_student, fail, passed


@dataclass(frozen=True)
class CallableSpec:
    """A callable input, rebuilt from ``dlcourse.checks.callables.<factory>(**arguments)``."""

    factory: str
    arguments: dict = field(default_factory=dict)

    def build(self) -> Callable:
        from dlcourse.checks import callables

        return getattr(callables, self.factory)(**self.arguments)


# The driver of a case that judges a value the student's cell assigns (an answer, an experiment's choice) as it is.
ANSWER = "answer"


@dataclass
class Case:
    """One call ``function(*args, **kwargs)`` and ``judge(result, args_after_call)``.

    ``judge`` raises ``CheckFailed`` when the result is wrong; it receives the
    positional arguments as they are after the call (to detect a function
    that modified its input), with ``None`` in place of callables.
    With ``driver`` (a function name in :mod:`dlcourse.checks.callables`),
    the call is ``driver(*student_functions, *args, **kwargs)`` instead: a
    trusted loop that uses the student's functions (e.g. an optimizer's
    init and update over many steps).
    ``substitutes`` names other graded functions of the exercise that the
    student's function may call: the call uses the course's versions of them
    instead (:func:`substituted`), so that their mistakes are not counted twice.
    With ``driver=ANSWER`` the student's object is a value (an answer), judged
    as it is; ``remark`` is then what the feedback adds when the answer is right.
    """

    args: tuple
    judge: Callable[[Any, tuple], None]
    kwargs: dict = field(default_factory=dict)
    driver: str | None = None
    substitutes: tuple[str, ...] = ()
    remark: str = ""


class StudentFunction:
    """Stands for the student's function ``name`` while the grader plans a test cell; ``recorded`` collects the calls."""

    def __init__(self, name: str, recorded: list):
        self.name, self.recorded = name, recorded
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        raise TypeError(f"a test cell called {self.name}() directly; graded cells must call it through a dlcourse check")


def _map_leaves(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """``value`` with ``leaf`` applied to everything that is not a list, tuple or dict."""
    if isinstance(value, (list, tuple)):
        return type(value)(_map_leaves(v, leaf) for v in value)
    if isinstance(value, dict):
        return {k: _map_leaves(v, leaf) for k, v in value.items()}
    return leaf(value)


def materialize(value: Any) -> Any:
    """``value`` with every :class:`CallableSpec` (also inside lists/tuples/dicts) built."""
    return _map_leaves(value, lambda v: v.build() if isinstance(v, CallableSpec) else v)


def copy_inputs(value: Any) -> Any:
    """A deep copy of the arrays in ``value``, so each call gets fresh inputs."""
    return _map_leaves(value, lambda v: v.copy() if isinstance(v, np.ndarray) else v)


def data_only(args: tuple) -> tuple:
    """``args`` with callables replaced by None (what a judge sees after the call)."""
    return tuple(None if callable(a) else a for a in args)


def referenced_names(function: Any) -> set[str]:
    """The global names ``function``'s code (and the code nested in it: comprehensions, lambdas, inner functions) refers to."""
    names: set[str] = set()
    stack = [getattr(function, "__code__", None)]
    while stack:
        code = stack.pop()
        if isinstance(code, types.CodeType):
            names.update(code.co_names)
            stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


def course_references() -> types.ModuleType:
    """The course's versions of the exercise functions that others call (:mod:`dlcourse.numpy_reference`)."""
    from dlcourse import numpy_reference

    return numpy_reference


@contextlib.contextmanager
def substituted(functions: tuple, names: tuple[str, ...], references: Callable[[], Any] = course_references) -> Iterator[tuple]:
    """``functions`` calling the course's version of each of ``names`` instead of the student's, while the block runs.

    Applies when one of ``functions`` refers to one of ``names`` (the student's
    ``train_epoch`` calls ``minibatches``): the names are then rebound, in the
    globals of the student's functions, to the objects of ``references()``,
    and a function among ``functions`` that is one of ``names`` (the
    ``adam_init`` that AdamW's check is given) is replaced too, so that the
    state the course's versions get is theirs. Everything is put back after.
    """
    if not names or not set(names) & set().union(*(referenced_names(f) for f in functions)):
        yield functions
        return
    module, missing, saved = references(), object(), []
    for namespace in {id(g): g for f in functions if isinstance(g := getattr(f, "__globals__", None), dict)}.values():
        for name in names:
            saved.append((namespace, name, namespace.get(name, missing)))
            namespace[name] = getattr(module, name)
    try:
        yield tuple(getattr(module, f.__name__) if getattr(f, "__name__", None) in names else f for f in functions)
    finally:
        for namespace, name, value in reversed(saved):
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def call_case(functions: tuple, driver: str | None, args: tuple, kwargs: dict, substitutes: tuple[str, ...] = (),
              references: Callable[[], Any] = course_references) -> Any:
    """Call the student's function, or the trusted ``driver`` of :mod:`dlcourse.checks.callables` with the student's functions;
    with the course's versions of ``substitutes`` (:func:`substituted`, from ``references()``)."""
    __tracebackhide__ = True
    if driver == ANSWER:
        return functions[0]
    with substituted(functions, tuple(substitutes), references) as functions:
        if driver is None:
            return call_student(functions[0], *args, name=getattr(functions[0], "__name__", None), **kwargs)
        from dlcourse.checks import callables

        for function in functions:
            if not callable(function):
                fail(f"{function!r} is not a function; define it in the cell above and run that cell.")
        return getattr(callables, driver)(*functions, *args, **kwargs)


_listeners: list[Callable[[tuple, list, str], None]] = []


@contextlib.contextmanager
def listening(listener: Callable[[tuple, list, str], None] | None) -> Iterator[None]:
    """While the block runs, ``listener(functions, cases, success)`` hears every :func:`run_check` (what
    :mod:`dlcourse.checks.recording` records); ``None`` listens to nothing."""
    if listener is None:
        yield
        return
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def run_check(function: Callable | tuple, cases: list[Case], success: str) -> None:
    """Run the cases against ``function`` (or a tuple of functions) live, or record them for the grader.

    Live, every case runs; when several fail, the message is the most specific one (:func:`most_specific`).
    """
    __tracebackhide__ = True
    functions = function if isinstance(function, tuple) else (function,)
    for listener in _listeners:
        listener(functions, cases, success)
    if all(isinstance(f, StudentFunction) for f in functions):
        name = functions[0].name if len(functions) == 1 else tuple(f.name for f in functions)
        functions[0].recorded.extend((name, case) for case in cases)
        return
    failures = []
    for case in cases:
        args = materialize(copy_inputs(case.args))
        kwargs = materialize(copy_inputs(case.kwargs))
        result = call_case(functions, case.driver, args, kwargs, case.substitutes)
        try:
            case.judge(result, data_only(args))
        except CheckFailed as failure:
            failures.append(str(failure))
    if failures:
        fail(most_specific(failures))
    if success:  # a check made of several run_checks says it once, at the end
        passed(success)


def most_specific(messages: list[str]) -> str:
    """Of the failure messages of one check, the first that names a likely cause, else the first."""
    return next((m for m in messages if "Likely cause" in m), messages[0])
