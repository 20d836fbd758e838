"""The plain-data form of what crosses the sandbox's boundary: what is sent is what the judge reads live."""
from __future__ import annotations

import json
from collections import OrderedDict, namedtuple

import numpy as np
import pytest

from dlcourse.checks.cases import CallableSpec
from dlcourse.checks.compare import Unsupported
from dlcourse.grading.wire import decode, encode

Fans = namedtuple("Fans", "fan_in fan_out")


def roundtrip(value):
    return decode(json.loads(json.dumps(encode(value))))


@pytest.mark.parametrize("value, expected", [
    (Fans(3, 4), (3, 4)),
    (OrderedDict(a=1.5), {"a": 1.5}),
    ([1, (2.0, None), {"k": "v"}], [1, (2.0, None), {"k": "v"}]),
    (float("nan"), "nan"),
])
def test_containers_and_their_subclasses_arrive_as_plain_containers(value, expected):
    result = roundtrip(value)
    if expected == "nan":
        assert np.isnan(result)
    else:
        assert result == expected and type(result) is type(expected)


def test_arrays_keep_dtype_shape_and_non_finite_values():
    array = np.array([[1.0, np.inf], [-np.inf, np.nan]], dtype=np.float32)
    result = roundtrip(array)
    assert result.dtype == np.float32 and result.shape == (2, 2)
    np.testing.assert_array_equal(result, array)
    assert type(roundtrip(array.view(np.matrix))) is np.ndarray


def test_a_container_subclass_cannot_change_what_is_sent():
    class Lying(list):
        def __iter__(self):
            return iter([0.0] * len(self))

        def __len__(self):
            return 0

    assert roundtrip(Lying([1.0, 2.0])) == [1.0, 2.0]


def test_other_objects_become_unsupported_with_their_type_name_and_callable_specs_survive():
    class Thing:
        pass

    result = roundtrip(Thing())
    assert isinstance(result, Unsupported) and "Thing" in result.description
    assert roundtrip(CallableSpec("random_generator", {"seed": 3})) == CallableSpec("random_generator", {"seed": 3})
    assert isinstance(roundtrip(np.array(["a"])), Unsupported)
