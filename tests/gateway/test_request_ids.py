"""Request ids of the services other than S3: the form of a version-4 UUID, as
AWS writes them, and never the same twice in a process."""

from __future__ import annotations

import re
import uuid

from gureum.gateway import handler

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_request_ids_are_version_4_uuids_and_unique() -> None:
    ids = [handler._request_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    for rid in ids[:50] + ids[-50:]:
        assert UUID4.match(rid), rid
        assert uuid.UUID(rid).version == 4


def test_the_counter_wraps_within_its_twelve_digits() -> None:
    saved = handler._ids
    try:
        handler._ids = iter([(1 << 48) - 1, 1 << 48])  # type: ignore[assignment]
        last, wrapped = handler._request_id(), handler._request_id()
        assert last.endswith("ffffffffffff") and wrapped.endswith("000000000000")
        assert UUID4.match(last) and UUID4.match(wrapped)
    finally:
        handler._ids = saved
