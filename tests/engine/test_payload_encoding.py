"""The payload encoder reuses one C scanner for speed; it must write exactly what the public encoder writes
and refuse exactly what it refuses."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor import SerializationError
from conveyor.engine.job import encode_payload

PUBLIC = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.lists(json_values, max_size=5), st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_payload_is_byte_for_byte_what_the_public_encoder_writes(args: list[object], kwargs: dict[str, object]) -> None:
    a, k = encode_payload("t", args, kwargs, 10**9)
    assert a == (PUBLIC(args) if args else "[]")
    assert k == (PUBLIC(kwargs) if kwargs else "{}")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "Out of range float values are not JSON compliant"),
        (object(), "Object of type object is not JSON serializable"),
        ({1, 2}, "Object of type set is not JSON serializable"),
    ],
)
def test_unserialisable_arguments_are_refused_with_the_reason(value: object, message: str) -> None:
    with pytest.raises(SerializationError, match=message):
        encode_payload("t", [value], {}, 10**9)


def test_a_circular_argument_is_refused_not_a_crash() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(SerializationError, match="not JSON-serialisable"):
        encode_payload("t", [loop], {}, 10**9)
    assert encode_payload("t", [1], {}, 10**9) == ("[1]", "{}")  # the encoder is fine afterwards
