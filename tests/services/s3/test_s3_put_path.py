"""What the PUT path writes without the JSON encoder reads back as the encoder
wrote it: a record's blob list is byte for byte ``json.dumps``'s text."""

from __future__ import annotations

import json

import pytest

from gureum.services.s3.records import _blobs_text


@pytest.mark.parametrize("blobs", [
    [("i.123", 4096)], [("o" + "ab" * 16, 0)], [("a", 1), ("b", 2)], [],
    [('a"b', 1)], [("a\\b", 1)], [("é", 1)], [("a\nb", 2)], [("x", True)], [("x", 2.0)],
])
def test_a_blob_list_is_written_as_json_dumps_writes_it(blobs: list[tuple[str, int]]) -> None:
    assert _blobs_text(blobs) == json.dumps(blobs)
