"""The visible checks' references, recorded once per release, so that a student's notebook runs its checks without TensorFlow.

A check's references (what Keras computes on the check's inputs) are the
same for every student. When the course is built, ``course generate``
plans every exercise notebook's *visible* check calls (the test cells of the
student notebook: no hidden test) and stores, for each call, the cases
:func:`~dlcourse.checks.cases.run_check` received: inputs and judges, the
judges holding the references. The file ships inside the package
(:data:`RECORDING`), a pickle of data only (:func:`dumps`): a judge, a function
nested in a check, is stored as its qualified name and the values it closes
over, and rebuilt from the installed check module's own code when loaded, so
the file holds no bytecode and loads on any Python the package supports.

Each ``check_*`` a notebook calls is wrapped in :func:`recorded`. Where
TensorFlow can be imported, the check runs live as before; where it cannot
(or ``DLCOURSE_REFERENCES=recorded``), the wrapper finds the recorded call
with the same arguments (the student's functions aside) and runs its cases
with the student's functions: the same judges, so the same verdicts and
messages. A call that was not recorded (arguments the notebook does not
use) says that it needs TensorFlow. The grader never reads the recording:
it plans the hidden tests live, in its own process.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import inspect
import io
import os
import pickle
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcourse import LazyReference
from dlcourse.checks import cases

# The recorded references of the visible checks, shipped with the package.
RECORDING = Path(__file__).resolve().parent.parent / "data" / "visible_checks.pkl"
# "live" (compute with Keras), "recorded" (replay :data:`RECORDING`), or unset: live when TensorFlow can be imported.
MODE_VARIABLE = "DLCOURSE_REFERENCES"


@dataclass(frozen=True)
class KerasSchedule:
    """``keras.optimizers.schedules.<name>(**arguments)`` as data: a check's ``learning_rate`` that a student's notebook
    can name without importing Keras (:func:`keras_schedule`). The check receives the Keras schedule itself."""

    name: str
    arguments: tuple  # sorted (name, value) pairs

    def build(self):
        return LazyReference().schedule(self.name, **dict(self.arguments))


def keras_schedule(name: str, **arguments) -> KerasSchedule:
    """The learning-rate schedule ``keras.optimizers.schedules`` calls ``name`` (``"exponential_decay"``), for a check."""
    return KerasSchedule(name, tuple(sorted(arguments.items())))


# ----------------------------------------------------------------------------- what a recording holds


@dataclass
class RecordedRun:
    """One :func:`~dlcourse.checks.cases.run_check` of a check call: where its student functions were among the check's
    arguments (an index, or a keyword's name), its cases and its success message."""

    functions: tuple[int | str, ...]
    cases: list
    success: str


@dataclass
class RecordedCall:
    """One visible call of a check: which of its arguments are the student's (positions, as in :class:`RecordedRun`),
    the fingerprint of the others, and its runs in order."""

    student: tuple[int | str, ...]
    arguments: str
    runs: list[RecordedRun] = field(default_factory=list)


def fingerprint(value: Any) -> str:
    """A digest of ``value`` that two processes compute alike: arrays by dtype, shape and bytes; containers, dataclasses and
    objects by their parts; a function by its name, and, when it is nested (a judge), by its code, closure and the globals
    it reads. Equal digests mean equal references and judges (the test of a stale recording compares them)."""
    digest = hashlib.sha256()
    _feed(digest, value, set())
    return digest.hexdigest()


def _feed(digest, value: Any, active: set[int]) -> None:  # noqa: C901 - one branch per kind of value, read top to bottom
    def put(*parts) -> None:
        for part in parts:
            digest.update(part if isinstance(part, bytes) else str(part).encode())
            digest.update(b"\0")

    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        put(type(value).__name__, repr(value))
        return
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        put("array", array.dtype.str, array.shape, array.tobytes() if array.dtype != object else repr(array.tolist()))
        return
    if isinstance(value, (types.ModuleType, type)) or callable(value) and "<locals>" not in getattr(value, "__qualname__", "<locals>"):
        put("named", getattr(value, "__module__", ""), getattr(value, "__qualname__", getattr(value, "__name__", repr(value))))
        return
    if id(value) in active:
        put("cycle")
        return
    active.add(id(value))
    try:
        if isinstance(value, (list, tuple)):
            put(type(value).__name__, len(value))
            for item in value:
                _feed(digest, item, active)
        elif isinstance(value, (set, frozenset)):
            put("set", *sorted(fingerprint(item) for item in value))
        elif isinstance(value, dict):
            put("dict", len(value))
            for key, item in sorted(value.items(), key=lambda pair: repr(pair[0])):
                _feed(digest, key, active)
                _feed(digest, item, active)
        elif isinstance(value, types.FunctionType):  # a nested function: a judge, and what it closes over
            code = value.__code__
            put("function", value.__qualname__)
            _feed(digest, code, active)
            _feed(digest, value.__defaults__, active)
            _feed(digest, value.__kwdefaults__, active)
            _feed(digest, [cell.cell_contents for cell in value.__closure__ or ()], active)
            _feed(digest, {name: value.__globals__[name] for name in cases.referenced_names(value) if name in value.__globals__}, active)
        elif isinstance(value, types.CodeType):
            put("code", value.co_code, value.co_names, value.co_varnames)
            _feed(digest, value.co_consts, active)
        elif isinstance(value, functools.partial):
            put("partial")
            _feed(digest, (value.func, value.args, value.keywords), active)
        elif dataclasses.is_dataclass(value):
            put("dataclass", type(value).__qualname__)
            _feed(digest, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, active)
        elif hasattr(value, "__dict__"):
            put("object", type(value).__module__, type(value).__qualname__)
            _feed(digest, vars(value), active)
        else:
            put("repr", type(value).__qualname__, repr(value))
    finally:
        active.discard(id(value))


# ----------------------------------------------------------------------------- which arguments are the student's


def _positions(args: tuple, kwargs: dict) -> Iterator[tuple[int | str, Any]]:
    yield from enumerate(args)
    yield from kwargs.items()


def _argument(args: tuple, kwargs: dict, position: int | str) -> Any:
    return args[position] if isinstance(position, int) else kwargs[position]


def _others(args: tuple, kwargs: dict, student: tuple[int | str, ...]) -> str:
    """The fingerprint of the arguments that are not the student's: their positions and values."""
    return fingerprint({str(position): value for position, value in _positions(args, kwargs) if position not in student})


def _with_schedules_built(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    build = lambda value: value.build() if isinstance(value, KerasSchedule) else value
    return tuple(build(a) for a in args), {k: build(v) for k, v in kwargs.items()}


# ----------------------------------------------------------------------------- recording, replaying


class _State:
    depth = 0  # how many recorded checks are running (a check that calls another is one check)
    recording: dict | None = None  # check name -> [RecordedCall], while record() runs
    loaded: dict | None = None  # check name -> its calls, or their bytes until first asked for


def tensorflow_importable() -> bool:
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules (as where TensorFlow is blocked)
        return False


def replaying() -> bool:
    """Whether checks replay :data:`RECORDING` (``DLCOURSE_REFERENCES``, else: TensorFlow cannot be imported here)."""
    mode = os.environ.get(MODE_VARIABLE, "")
    if mode not in ("", "live", "recorded"):
        raise ValueError(f'{MODE_VARIABLE} must be "live" or "recorded" (or unset); it is {mode!r}')
    return mode == "recorded" or mode == "" and not tensorflow_importable()


def recorded(check: Callable) -> Callable:
    """Wrap a check a notebook calls: live with Keras, recorded (:func:`record`) or replayed from :data:`RECORDING`."""

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        if _State.depth:
            return check(*args, **kwargs)
        if _State.recording is None and replaying():
            return _replay(check.__name__, args, kwargs)
        _State.depth += 1
        runs: list[tuple[tuple, list, str]] = []
        listener = (lambda functions, check_cases, success: runs.append((functions, check_cases, success))) if _State.recording is not None else None
        built_args, built_kwargs = _with_schedules_built(args, kwargs)
        try:
            with cases.listening(listener):
                result = check(*built_args, **built_kwargs)
        finally:
            _State.depth -= 1
        if listener is not None:
            _State.recording.setdefault(check.__name__, []).append(_recorded_call(check.__name__, args, kwargs, runs))
        return result

    return wrapper


def _recorded_call(name: str, args: tuple, kwargs: dict, runs: list) -> RecordedCall:
    """The record of a planned call: the student's arguments are the :class:`~dlcourse.checks.cases.StudentFunction` ones."""
    student = tuple(position for position, value in _positions(args, kwargs) if isinstance(value, cases.StudentFunction))
    call = RecordedCall(student, _others(args, kwargs, student))
    for functions, check_cases, success in runs:
        where = []
        for function in functions:
            found = [position for position, value in _positions(args, kwargs) if value is function]
            if not found:
                raise ValueError(f"{name}: a run_check got a function that is not one of the check's arguments; it cannot be replayed")
            where.append(found[0])
        call.runs.append(RecordedRun(tuple(where), list(check_cases), success))
    return call


def _replay(name: str, args: tuple, kwargs: dict) -> None:
    __tracebackhide__ = True
    for call in recorded_calls(name):
        if all(isinstance(p, int) and p < len(args) or p in kwargs for p in call.student) and _others(args, kwargs, call.student) == call.arguments:
            for run in call.runs:
                cases.run_check(tuple(_argument(args, kwargs, p) for p in run.functions), run.cases, run.success)
            return
    raise ImportError(f"{name} was called with arguments the exercise notebook does not use, so its reference was not recorded; "
                      "computing it needs TensorFlow/Keras, which cannot be imported here: run the notebook's own check cells, or install "
                      "the course's full environment (README, Set-up) or `pip install tensorflow==2.21.0`")


def recorded_calls(name: str) -> list[RecordedCall]:
    """The recorded visible calls of the check ``name``, decoded when first asked for (a check's calls import its module
    only: the first check of a chapter does not wait for the others')."""
    if _State.loaded is None:
        if not RECORDING.is_file():
            raise ImportError(f"the recorded references {RECORDING} are missing from the course package: reinstall it")
        _State.loaded = _Unpickler(io.BytesIO(RECORDING.read_bytes())).load()
    calls = _State.loaded.get(name, [])
    if isinstance(calls, bytes):
        calls = _State.loaded[name] = _Unpickler(io.BytesIO(calls)).load()
    return calls


# What a recording may name: the course's classes and functions, NumPy's arrays and scalars, and Python's builtins.
LOADABLE = ("dlcourse.", "numpy.", "builtins.", "copyreg.")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if not f"{module}.".startswith(LOADABLE):
            raise pickle.UnpicklingError(f"the recorded references name {module}.{name}, which a recording may not hold")
        return super().find_class(module, name)


def loads(data: bytes) -> dict:
    """A whole recording ({check name: [RecordedCall]}) from the bytes :func:`dumps` wrote: only what :data:`LOADABLE` lists
    can be named in it."""
    return {name: _Unpickler(io.BytesIO(calls)).load() for name, calls in _Unpickler(io.BytesIO(data)).load().items()}


class _Pickler(pickle.Pickler):
    """A pickler that stores a nested function (a judge) by name and closure (:func:`nested_function` rebuilds it)."""

    def reducer_override(self, obj):
        if isinstance(obj, types.FunctionType) and "<locals>" in obj.__qualname__:
            code = obj.__code__
            index = _codes_named(obj.__module__, obj.__qualname__).index(code)
            closure = {name: cell.cell_contents for name, cell in zip(code.co_freevars, obj.__closure__ or ())}
            return nested_function, (obj.__module__, obj.__qualname__, index, closure, obj.__defaults__, obj.__kwdefaults__)
        return NotImplemented


def dumps(recorded: dict) -> bytes:
    """``recorded`` as the bytes of :data:`RECORDING`: data, and judges by name and closure (no bytecode); each check's calls
    apart, so that :func:`recorded_calls` decodes only the check it runs."""
    def one(calls: list) -> bytes:
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=5).dump(calls)
        return buffer.getvalue()

    return pickle.dumps({name: one(calls) for name, calls in sorted(recorded.items())}, protocol=5)


def _codes_named(module: str, qualname: str) -> list[types.CodeType]:
    """The code objects of the nested functions ``module.qualname``, in the order of the source (lambdas share a name)."""
    return [c for c in _nested_codes(_outer_function(module, qualname).__code__) if c.co_qualname == qualname]


def _outer_function(module: str, qualname: str) -> types.FunctionType:
    """The module-level function (undecorated) in which the nested function ``module.qualname`` is defined."""
    outer: Any = importlib.import_module(module)
    for part in qualname.split(".<locals>.")[0].split("."):
        outer = getattr(outer, part)
    return inspect.unwrap(outer)


def _nested_codes(code: types.CodeType) -> Iterator[types.CodeType]:
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield constant
            yield from _nested_codes(constant)


def nested_function(module: str, qualname: str, index: int, closure: dict, defaults, kwdefaults) -> types.FunctionType:
    """The nested function ``module.qualname`` (the ``index``-th of that name: lambdas share one), rebuilt from the installed
    module's code with the recorded ``closure`` ({free variable: value}) and defaults."""
    twins = _codes_named(module, qualname)
    if index >= len(twins) or set(twins[index].co_freevars) != set(closure):
        raise ImportError(f"the recorded references do not match the installed checks ({qualname}): reinstall the course package")
    code = twins[index]
    function = types.FunctionType(code, importlib.import_module(module).__dict__, code.co_name, defaults,
                                  tuple(types.CellType(closure[name]) for name in code.co_freevars))
    function.__kwdefaults__, function.__qualname__ = kwdefaults, qualname
    return function


@contextmanager
def record() -> Iterator[dict]:
    """While the block runs, every planned call of a recorded check is added to the dict yielded ({check name: [RecordedCall]})."""
    saved, _State.recording = _State.recording, {}
    try:
        yield _State.recording
    finally:
        _State.recording = saved


def recording_fingerprints(recording: dict) -> dict[str, list[str]]:
    """{check name: the fingerprint of each recorded call}: what a stale recording differs in."""
    return {name: [fingerprint(call) for call in calls] for name, calls in sorted(recording.items())}
