"""spma.jsontext.dumps is json.dumps(obj, indent=1, sort_keys=True), text for text, for any value
json takes (and raises what json raises for what it does not)."""

from __future__ import annotations

import enum
import json
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spma import jsontext

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.text(alphabet=st.sampled_from(list('a"\\\n\t\x00\x7f\u00e9\u2028\U0001f600')))
)
_KEYS = st.text(max_size=6) | st.integers(-3, 3) | st.booleans() | st.none() | st.floats(allow_nan=False)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        | st.dictionaries(_KEYS, inner, max_size=3)
    ),
    max_leaves=30,
)


def _json(obj: Any) -> Any:
    try:
        return json.dumps(obj, indent=1, sort_keys=True)
    except Exception as e:  # noqa: BLE001 - the comparison is of the exception's type
        return type(e)


def _ours(obj: Any) -> Any:
    try:
        return jsontext.dumps(obj)
    except Exception as e:  # noqa: BLE001
        return type(e)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_the_text_of_json_dumps(obj: Any) -> None:
    assert _ours(obj) == _json(obj)


class _Colour(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    "obj",
    [
        {},
        [],
        {"a": {}, "b": [], "c": [{}], "d": [[]]},
        {"b": 1, "a": [1, "x", None, True, False]},
        OrderedDict([("b", 1), ("a", 2)]),
        {"n": _Colour.RED},
        {"f": 1.5, "g": float("nan")},
        {1: "int keys", 2: "are written as strings"},
        {"deep": [[[[[[{"x": "y"}]]]]]]},
        "just a string",
        12,
    ],
)
def test_documents_of_every_shape(obj: Any) -> None:
    assert jsontext.dumps(obj) == json.dumps(obj, indent=1, sort_keys=True)


def test_keys_json_cannot_sort_are_refused_as_json_refuses_them() -> None:
    with pytest.raises(TypeError):
        json.dumps({1: "x", "a": 2}, indent=1, sort_keys=True)
    with pytest.raises(TypeError):
        jsontext.dumps({1: "x", "a": 2})


def test_a_cycle_is_refused_as_json_refuses_it() -> None:
    loop: Any = []
    loop.append(loop)
    with pytest.raises(ValueError):
        json.dumps(loop, indent=1, sort_keys=True)
    with pytest.raises(ValueError):
        jsontext.dumps(loop)


def test_a_real_plan(tmp_path: Any) -> None:
    actions = [{"action": "install", "arch": "x86_64", "because": "required by a, b and 3 more", "defer_reason": None,
                "deferred": False, "from": None, "installsize": 10 * i, "name": "p%d" % i, "reason": "dependency",
                "reboot": i % 2 == 0, "repository": "baseos", "size": i, "to": "1.%d-1.el9" % i} for i in range(50)]  # fmt: skip
    doc = {
        "actions": actions,
        "format": "spma-plan/1",
        "inputs": {"errata": None},
        "notes": [],
        "summary": {"total": 50},
    }
    assert jsontext.dumps(doc) == json.dumps(doc, indent=1, sort_keys=True)
