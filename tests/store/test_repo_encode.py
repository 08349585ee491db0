"""A resource document's JSON text is json.dumps's, byte for byte: the kept C
encoder writes what ``json.dumps(sort_keys=True, separators=(",", ":"))`` with
the store's default wrote (records written before read back the same; texts
compared by whoever keeps them see no change)."""

from __future__ import annotations

import datetime as dt
import enum
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gureum.store import repo


def dumps(data: Any) -> str:
    return json.dumps(data, default=repo._encode_default, separators=(",", ":"), sort_keys=True)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
documents = st.dictionaries(st.text(), st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                        max_size=4),
    max_leaves=20), max_size=8)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_documents_encode_as_json_dumps(data: dict[str, Any]) -> None:
    assert repo.encode(data) == dumps(data)


class Colour(enum.Enum):
    RED = "red"


def test_stored_kinds_beyond_json_encode_as_before() -> None:
    data = {"when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "day": dt.date(2026, 1, 2),
            "raw": b"\x00\xff", "ids": {"b", "a"}, "colour": Colour.RED, "nan": float("nan"),
            "big": 10**30, "text": 'é한☃\n"', "b": {"z": 1, "a": [1.5, None, True]}}
    assert repo.encode(data) == dumps(data)
    assert repo.decode(repo.encode(data))["ids"] == ["a", "b"]


def test_a_value_that_cannot_be_stored_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot store"):
        repo.encode({"x": object()})
