"""Compare a student's result with a reference and explain the difference.

Every check in the course ends in :func:`assert_matches`. When the arrays
agree it returns quietly; otherwise it raises :class:`CheckFailed` whose
message says *what* differs (the first diverging step/element, both values,
the largest error) and, when the student's numbers match a known mistake or a
recognisable pattern (sign flipped, constant factor, shifted by one step), the
mistake that usually produces it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class CheckFailed(AssertionError):
    """A check found a difference; the message is written for the student."""

    def _render_traceback_(self) -> list[str]:
        """What IPython and Jupyter show for a failed check: the diagnosis alone, no frames of the course's code."""
        return [f"\x1b[0;31mCheckFailed\x1b[0m: {self}"]


@dataclass(frozen=True)
class Mistake:
    """A classic wrong answer and what to tell a student whose result matches it.

    ``output`` is what the wrong implementation returns on the same inputs
    (array-like, same shape as the expected result); ``hint`` names the
    mistake and how to fix it.
    """

    output: Any
    hint: str


class Unsupported:
    """What a judge receives in place of an object that cannot cross from the grading sandbox as data.

    The grader's wire format (:mod:`dlcourse.grading.wire`) decodes an object
    it cannot carry (a generator, an array of strings, an instance of some
    class) into this; the judges name its ``description`` in their messages.
    """

    def __init__(self, description: str):
        self.description = description

    def __repr__(self) -> str:
        return f"<{self.description}>"


def type_name(value: Any) -> str:
    """The type of a student's result as messages name it, the same live and when graded (``generator``, ``mymodule.State``).

    An :class:`Unsupported` (what the grading sandbox sends for such an object) is named by its description.
    """
    if isinstance(value, Unsupported):
        return value.description
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def fail(message: str) -> None:
    """Raise :class:`CheckFailed` with ``message`` (hides this frame in IPython)."""
    __tracebackhide__ = True
    raise CheckFailed(message)


def to_float_array(value: Any, *, what: str, dtype=np.float64) -> np.ndarray:
    """Plain float ndarray copy of a student's result, or a clear failure.

    Accepts NumPy arrays and scalars, Python numbers and (nested) lists of
    numbers. Anything else (None, strings, tensors the task did not ask for,
    objects of other classes) is refused with a message naming the type.
    """
    __tracebackhide__ = True
    if value is None:
        fail(f"{what} is None. Did you forget a `return` statement?")
    if isinstance(value, (bool, np.bool_)):
        fail(f"{what} is a bool ({value!r}); a number or a NumPy array was expected.")
    allowed = (np.ndarray, np.number, int, float, list, tuple)
    if not isinstance(value, allowed):  # an Unsupported too: an object the grading sandbox could not send as data
        fail(f"{what} has type {type_name(value)}; a NumPy array (or a plain number) was expected.")
    try:
        array = np.array(value, dtype=dtype, copy=True)
    except (TypeError, ValueError) as error:
        fail(f"{what} cannot be read as an array of numbers: {error}")
    return np.asarray(array)  # drop any ndarray subclass


def format_index(index: tuple[int, ...], axis_names: Sequence[str] = ()) -> str:
    """``[3, 1]`` plus ``(step 3, element 1)`` when axes are named."""
    text = "[" + ", ".join(str(i) for i in index) + "]"
    named = [f"{name} {i}" for name, i in zip(axis_names, index) if name]
    return f"{text} ({', '.join(named)})" if named else text


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def _pattern_hints(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> list[str]:
    """Generic diagnoses that need no knowledge of the algorithm."""
    hints = []
    if np.all(_close(actual, -expected, rtol, atol)):
        hints.append("Every value has the opposite sign: look for a sign error (e.g. `+` instead of `-` in the update, or `y - prediction` "
                     "instead of `prediction - y`).")
        return hints
    nonzero = np.abs(expected) > max(atol, 1e-12)
    if not actual.any() and nonzero.any():
        hints.append("All your values are zero: is the function still a stub, or does it return an array it never filled?")
        return hints
    if nonzero.any():
        ratios = actual[nonzero] / expected[nonzero]
        ratio = float(np.median(ratios))
        if np.isfinite(ratio) and abs(ratio - 1) > 1e-3 and np.allclose(ratios, ratio, rtol=1e-6, atol=0):
            hints.append(f"Your values are the expected ones times {ratio:.6g} everywhere: a constant factor is missing or extra (a 2 from "
                         "differentiating a square, a 1/n from a mean, a learning rate?).")
    if actual.ndim >= 1 and actual.shape[0] > 2:
        if np.all(_close(actual[:-1], expected[1:], rtol, atol)):
            hints.append("Your entry k equals the expected entry k+1: your sequence runs one step ahead (an off-by-one; e.g. a schedule "
                         "evaluated at step+1, or a trajectory that leaves out the starting point).")
        elif np.all(_close(actual[1:], expected[:-1], rtol, atol)):
            hints.append("Your entry k equals the expected entry k-1: your sequence lags one step behind (an off-by-one in the step counter).")
    return hints


def assert_matches(
    actual: Any,
    expected: Any,
    *,
    what: str,
    reference: str,
    rtol: float = 1e-6,
    atol: float | np.ndarray = 1e-9,
    axis_names: Sequence[str] = (),
    mistakes: Sequence[Mistake] = (),
    alternatives: Sequence[Any] = (),
    context: str = "",
    dtype=np.float64,
) -> None:
    """Raise :class:`CheckFailed` unless ``actual`` equals ``expected`` (or one of ``alternatives``) elementwise.

    ``what`` names the student's value (``"gradient_descent(...) result"``),
    ``reference`` the source of truth (``"keras.optimizers.SGD"``),
    ``atol`` is a number or an array of ``expected``'s shape (a tolerance per element),
    ``axis_names`` labels the axes in messages (``("step", "element")``),
    ``mistakes`` lists classic wrong outputs with their hints, ``alternatives``
    other correct outputs (the same algorithm with constants Keras rounds, taken
    exactly), ``context`` describes the inputs. Shapes must agree exactly (no broadcasting).
    """
    __tracebackhide__ = True
    expected = np.asarray(expected, dtype=np.float64)
    actual = to_float_array(actual, what=what, dtype=dtype)
    header = f"{what} does not match {reference}."
    if context:
        header += f"\n  inputs: {context}"
    if actual.shape != expected.shape:
        message = f"{header}\n  shape: yours {actual.shape}, expected {expected.shape}."
        if actual.size == expected.size:
            message += " Same number of elements: a transpose or a reshape is probably missing."
        elif actual.ndim >= 1 and expected.ndim >= 1 and actual.shape[1:] == expected.shape[1:]:
            message += (f" You return {actual.shape[0]} rows where {expected.shape[0]} are expected"
                        " (is the starting point or the last step missing or doubled?).")
        fail(message)
    actual = actual.astype(np.float64)
    close = _close(actual, expected, rtol, atol)
    alternatives = [np.asarray(other, dtype=np.float64) for other in alternatives]
    if close.all() or any(_matches_mistake(actual, other, rtol, atol) for other in alternatives):
        return
    bad = np.argwhere(~close)
    first = tuple(int(i) for i in bad[0])
    error = np.abs(actual - expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(expected != 0, error / np.abs(expected), np.inf)
    finite_error = np.where(np.isfinite(error), error, -1.0)
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(finite_error), error.shape)) if error.ndim else ()
    lines = [
        header,
        f"  first difference at {format_index(first, axis_names) if first else 'the value'}:",
        f"      yours:    {float(actual[first])!r}",
        f"      expected: {float(expected[first])!r}",
    ]
    if not np.isfinite(actual).all():
        count = int((~np.isfinite(actual)).sum())
        lines.append(f"  {count} of your values are NaN or infinite (overflow, 0/0 or log of a non-positive number?).")
    if worst != first and np.isfinite(error[worst]):
        lines.append(
            f"  largest difference {error[worst]:.3g} (relative {relative[worst]:.3g}) at {format_index(worst, axis_names)}"
        )
    if np.ndim(atol):
        tolerance = f"tolerance there: {float(np.asarray(atol)[first]):.3g}, the rounding error a correct implementation can reach"
    else:
        tolerance = f"tolerance: rtol={rtol:g}, atol={atol:g}"
    lines.append(f"  {len(bad)} of {expected.size} values differ ({tolerance}).")
    # a cause is named only when one known mistake (whatever its forms) explains the numbers: two are a guess
    hints = list(dict.fromkeys(m.hint for m in mistakes if _matches_mistake(actual, m.output, rtol, atol)))
    hints = hints if len(hints) == 1 else []
    for hint in hints or _pattern_hints(actual, expected, rtol, float(np.max(atol))):
        lines.append(f"  Likely cause: {hint}")
    fail("\n".join(lines))


def _matches_mistake(actual: np.ndarray, wrong: Any, rtol: float, atol: float) -> bool:
    wrong = np.asarray(wrong, dtype=np.float64)
    return wrong.shape == actual.shape and bool(np.all(_close(actual, wrong, rtol, atol)))


def describe(**inputs: Any) -> str:
    """Short text naming each input with its shape or value, for messages."""
    parts = []
    for name, value in inputs.items():
        array = np.asarray(value) if not callable(value) else None
        if array is None:
            parts.append(f"{name}={getattr(value, '__name__', 'a function')}")
        elif array.ndim == 0 or array.size <= 4:
            parts.append(f"{name}={np.array2string(array, precision=6) if array.ndim else repr(value)}")
        else:
            parts.append(f"{name} of shape {array.shape}")
    return ", ".join(parts)


def call_student(function: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Call a student's function; an exception it raises gets a note naming the call."""
    __tracebackhide__ = True
    if not callable(function):
        fail(f"{name or function!r} is not a function; define it in the cell above and run that cell.")
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        error.add_note(f"(your {name or 'function'} is still the stub: replace `raise NotImplementedError()` in its cell with your code)")
        raise
    except Exception as error:
        shown = describe(**{f"arg{i}": a for i, a in enumerate(args)}, **kwargs)
        error.add_note(f"(raised inside your {name or 'function'} when the check called it with {shown})")
        raise


def passed(message: str) -> None:
    """Print a one-line success message (checks return None, never a value)."""
    print(f"OK: {message}")
