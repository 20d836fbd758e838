"""Plain-data encoding between the grader and its sandbox (JSON, never pickle).

What crosses the boundary is numbers, strings, lists, dicts, NumPy arrays
(``{"__ndarray__": dtype, "shape": [...], "data": [...]}``) and callable
specs (``{"__callable__": factory, "arguments": {...}}``). Anything else a
student's function returns is sent as ``{"__object__": "<type name>"}``, so
the judge can say what it got. Decoding never runs code.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcourse.checks.cases import CallableSpec
from dlcourse.checks.compare import Unsupported, type_name

NUMERIC_KINDS = "biuf"


def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-able form of ``value``."""
    if depth > 20:
        return {"__object__": "too deeply nested"}
    if isinstance(value, CallableSpec):
        return {"__callable__": value.factory, "arguments": encode(value.arguments, depth + 1)}
    if type(value) in (bool, int, str) or value is None:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)  # a subclass is sent as its plain data
        if array.dtype.kind not in NUMERIC_KINDS:
            return {"__object__": f"numpy array of dtype {array.dtype}"}
        return {"__ndarray__": array.dtype.str, "shape": list(array.shape), "data": [_number(v) for v in array.ravel().tolist()]}
    if isinstance(value, (list, tuple)):  # a subclass (a namedtuple, ...) is sent as the plain container it is
        return {"__tuple__" if isinstance(value, tuple) else "__list__": [encode(v, depth + 1) for v in _items(value)]}
    if isinstance(value, dict):
        return {"__dict__": [[str(k), encode(v, depth + 1)] for k, v in _items(dict.items(value))]}
    return {"__object__": type_name(value)}


def _items(container) -> list:
    """The items of a built-in container, read with the built-in methods (a subclass cannot change what they are)."""
    return list(tuple.__iter__(container) if isinstance(container, tuple) else
                list.__iter__(container) if isinstance(container, list) else container)


def _number(v):
    return v if not isinstance(v, float) or math.isfinite(v) else {"__float__": repr(v)}


def decode(value: Any) -> Any:
    """The value :func:`encode` described (arrays as base ndarrays)."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__ndarray__" in value:
        dtype = np.dtype(str(value["__ndarray__"]))
        if dtype.kind not in NUMERIC_KINDS:
            return Unsupported(f"array of dtype {dtype}")
        data = [float(v["__float__"]) if isinstance(v, dict) else v for v in value["data"]]
        return np.array(data, dtype=dtype).reshape([int(n) for n in value["shape"]])
    if "__callable__" in value:
        return CallableSpec(str(value["__callable__"]), decode(value["arguments"]))
    if "__list__" in value:
        return [decode(v) for v in value["__list__"]]
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {str(k): decode(v) for k, v in value["__dict__"]}
    return Unsupported(str(value.get("__object__", "unknown object")))
