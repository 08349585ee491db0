"""What the PUT path writes without the JSON encoder reads back as the encoder
wrote it: a record's blob list is byte for byte ``json.dumps``'s text, and
is read back as ``json.loads`` reads it."""

from __future__ import annotations

import json

import pytest

from gureum.services.s3.records import _blobs_of, _blobs_text, _compact, _loads


@pytest.mark.parametrize("blobs", [
    [("i.123", 4096)], [("o" + "ab" * 16, 0)], [("a", 1), ("b", 2)], [],
    [('a"b', 1)], [("a\\b", 1)], [("é", 1)], [("a\nb", 2)], [("x", True)], [("x", 2.0)],
])
def test_a_blob_list_is_written_as_json_dumps_writes_it(blobs: list[tuple[str, int]]) -> None:
    assert _blobs_text(blobs) == json.dumps(blobs)


@pytest.mark.parametrize("text", [
    '[["i.123", 4096]]', '[["o' + "ab" * 16 + '", 0]]', '[["a", 1], ["b", 2]]', "[]",
    '[["a\\"b", 1]]', '[["a\\\\b", 1]]', '[["\\u00e9", 1]]', '[["a", 1.0]]', '[["a",1]]',
    '[["a", 10]]', '[["a", -1]]', '[["a", 1], ["b, ", 2]]', '[["i.7", 3]] ',
])
def test_a_blob_list_is_read_as_json_loads_reads_it(text: str) -> None:
    expected = [(str(b), int(s)) for b, s in json.loads(text)]
    got = _blobs_of(text)
    assert got == expected
    assert [tuple(map(type, blob)) for blob in got] == [(str, int)] * len(expected)


@pytest.mark.parametrize("text", [
    '{"headers":{"ContentType":"binary/octet-stream"},"user":{},"checksums":{"CRC32":"x=="}}',
    "{}", ' {"a": 1}', '{"a": 1} ', '{"a": "\\u00e9\\n"}', '{"a": NaN, "b": [1, 2.5, null]}',
])
def test_a_record_s_metadata_is_read_as_json_loads_reads_it(text: str) -> None:
    assert _loads(text) == json.loads(text) or text.find("NaN") >= 0
    assert repr(_loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", ['{"a": 1} x', '{"a": 1', "", "x"])
def test_metadata_that_json_loads_refuses_is_refused(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        _loads(text)


@pytest.mark.parametrize("meta", [
    {"headers": {"ContentType": "binary/octet-stream"}, "user": {"é": "ü\n"},
     "checksums": {"CRC32": "x=="}, "version": "v", "parts": 3, "size": 1.5, "on": True,
     "none": None, "list": [1, "a", [2.25, {"b": False}]], "nan": float("nan")},
    {}, {"a": float("inf")}, {1: "int key", 2.5: "float key", None: "none", False: "bool"},
])
def test_a_record_s_metadata_is_written_as_json_dumps_writes_it(
    meta: dict[object, object],
) -> None:
    assert _compact(meta) == json.dumps(meta, separators=(",", ":"))


def test_metadata_json_cannot_write_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(TypeError):
        json.dumps({"a": object()}, separators=(",", ":"))
    with pytest.raises(TypeError):
        _compact({"a": object()})
    with pytest.raises(TypeError):
        _compact({(1, 2): "tuple key"})
