"""Small objects kept in the database with their record (``s3_inline``): what
a PUT of a declared small length stores, reads back whole and by range, copies
and versions, and what overwrites, deletes and failed writes leave behind."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from gureum.errors import AWSError
from gureum.services.s3.records import is_inline

from .conftest import Harness


def inline_rows(h: Harness) -> set[str]:
    """Blob keys of the small objects' rows, in either layout."""
    conn = h.store.connection
    rows = {str(r[0]) for r in conn.execute("SELECT blob FROM s3_inline")}
    return rows | {f"i.{r[0]}" for r in conn.execute("SELECT id FROM s3_small")}


def put(h: Harness, key: str, data: bytes, **params: object) -> dict[str, object]:
    out: dict[str, object] = h.run("put_object", Bucket="bkt", Key=key, Body=data,
                                   ContentLength=len(data), **params)
    return out


def garbage(h: Harness) -> list[str]:
    unused = h.s3.unused_reserved()
    return [key for key in h.s3.records.garbage() if key not in unused]


def test_small_put_is_kept_in_the_database(h: Harness) -> None:
    data = bytes(range(256)) * 16
    out = put(h, "k", data)
    assert out["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    record = h.s3.records.get("bkt", "k")
    assert record is not None and is_inline(record.blobs[0][0])
    assert h.blob_keys() == set() and inline_rows(h) == {record.blobs[0][0]}
    assert h.run("get_object", Bucket="bkt", Key="k")["Body"] == data
    ranged = h.run("get_object", Bucket="bkt", Key="k", Range="bytes=10-19")
    assert ranged["Body"] == data[10:20] and ranged["ContentRange"] == "bytes 10-19/4096"
    assert h.run("head_object", Bucket="bkt", Key="k")["ContentLength"] == 4096


def test_larger_or_undeclared_bodies_go_to_the_blob_store(h: Harness) -> None:
    put(h, "big", b"x" * (h.s3.inline_max + 1))
    h.run("put_object", Bucket="bkt", Key="undeclared", Body=b"y")
    assert len(h.blob_keys()) == 2 and inline_rows(h) == set()


def test_overwrite_and_delete_remove_the_bytes(h: Harness) -> None:
    put(h, "k", b"one")
    first = inline_rows(h)
    put(h, "k", b"two")
    assert inline_rows(h) != first and len(inline_rows(h)) == 1
    assert h.run("get_object", Bucket="bkt", Key="k")["Body"] == b"two"
    h.run("delete_object", Bucket="bkt", Key="k")
    assert inline_rows(h) == set() and garbage(h) == []


def test_wrong_length_and_bad_digest_store_nothing(h: Harness) -> None:
    put(h, "k", b"kept")
    with pytest.raises(AWSError) as exc:
        h.run("put_object", Bucket="bkt", Key="k", Body=b"longer than said", ContentLength=3)
    assert exc.value.code == "IncompleteBody"
    with pytest.raises(AWSError) as exc:
        put(h, "k", b"x", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert exc.value.code == "BadDigest"

    async def failing() -> AsyncIterator[bytes]:
        yield b"some"
        raise AWSError("IncompleteBody", "cut", 400)

    with pytest.raises(AWSError):
        h.run("put_object", Bucket="bkt", Key="k", Body=failing(), ContentLength=8)
    assert h.run("get_object", Bucket="bkt", Key="k")["Body"] == b"kept"
    assert len(inline_rows(h)) == 1 and garbage(h) == []


def test_copy_and_versions_of_small_objects(h: Harness) -> None:
    h.run("put_bucket_versioning", Bucket="bkt",
          VersioningConfiguration={"Status": "Enabled"})
    v1 = put(h, "k", b"first")["VersionId"]
    put(h, "k", b"second")
    old = h.run("get_object", Bucket="bkt", Key="k", VersionId=v1)["Body"]
    assert old == b"first" and len(inline_rows(h)) == 2
    h.run("copy_object", Bucket="bkt", Key="copy", CopySource=f"bkt/k?versionId={v1}")
    assert h.read(h.run("get_object", Bucket="bkt", Key="copy")["Body"]) == b"first"
    h.run("delete_object", Bucket="bkt", Key="k", VersionId=v1)
    assert len(inline_rows(h)) == 1


def test_reset_forgets_small_objects(h: Harness) -> None:
    put(h, "k", b"bytes")
    h.loop.run_until_complete(h.s3.reset())
    h.settle()
    assert inline_rows(h) == set() and h.s3.records.garbage() == []


def test_new_small_objects_have_a_row_id_key(h: Harness) -> None:
    put(h, "k", b"data")
    record = h.s3.records.get("bkt", "k")
    assert record is not None
    blob = record.blobs[0][0]
    assert blob.startswith("i.") and blob[2:].isdigit()
    rows = h.store.connection.execute("SELECT id, data FROM s3_small").fetchall()
    assert rows == [(int(blob[2:]), b"data")]
    assert inline_rows(h) == {blob}


def test_objects_of_the_older_layout_are_read_overwritten_and_deleted(h: Harness) -> None:
    """A small object written before ``s3_small`` (its bytes in ``s3_inline``,
    under a key of ``i`` and 32 hex digits) still reads, and its bytes go when
    it is overwritten or deleted."""
    put(h, "old", b"first")
    put(h, "gone", b"second")
    conn = h.store.connection
    for name in ("old", "gone"):  # move both to the older layout
        record = h.s3.records.get("bkt", name)
        assert record is not None
        new = record.blobs[0][0]
        old = "i" + "ab" * 8 + f"{int(new[2:]) % 2**64:016x}"
        with h.store.tx():
            data = conn.execute("SELECT data FROM s3_small WHERE id = ?",
                                (int(new[2:]),)).fetchone()[0]
            conn.execute("DELETE FROM s3_small WHERE id = ?", (int(new[2:]),))
            conn.execute("INSERT INTO s3_inline (blob, data) VALUES (?, ?)", (old, data))
            record.blobs = [(old, record.size)]
            h.s3.records.put(record)
    assert {k for k in inline_rows(h) if not k.startswith("i.")} == inline_rows(h)
    assert get_body(h, "old") == b"first" and get_body(h, "gone") == b"second"
    put(h, "old", b"third")
    h.run("delete_object", Bucket="bkt", Key="gone")
    assert get_body(h, "old") == b"third"
    assert conn.execute("SELECT count(*) FROM s3_inline").fetchone()[0] == 0
    record = h.s3.records.get("bkt", "old")
    assert record is not None and inline_rows(h) == {record.blobs[0][0]}
    assert garbage(h) == []


def get_body(h: Harness, key: str) -> bytes:
    body = h.run("get_object", Bucket="bkt", Key=key)["Body"]
    return body if isinstance(body, bytes) else h.read(body)


def test_a_get_reads_a_small_object_and_its_bytes_in_one_statement(h: Harness) -> None:
    """A GET of a small object not read before reads its record and its row's
    bytes with one SELECT; a HEAD reads no bytes; an object in a file and one
    of the older layout are read as before."""
    put(h, "small", b"tiny")
    put(h, "sibling", b"other")
    put(h, "big", b"x" * (h.s3.inline_max + 1))
    statements: list[str] = []
    h.store.connection.set_trace_callback(statements.append)
    try:
        assert h.run("head_object", Bucket="bkt", Key="sibling")["ContentLength"] == 5
        assert [s for s in statements if "s3_small" in s] == []
        statements.clear()
        assert get_body(h, "small") == b"tiny"
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1 and "s3_small" in selects[0]
        statements.clear()
        assert get_body(h, "small") == b"tiny"  # kept: nothing read again
        assert [s for s in statements if "s3_" in s] == []
        assert get_body(h, "sibling") == b"other"
        assert get_body(h, "big") == b"x" * (h.s3.inline_max + 1)
    finally:
        h.store.connection.set_trace_callback(None)
    record = h.s3.records.get("bkt", "small", small=True)
    assert record is not None and record.blobs[0][1] == 4
    assert h.s3.records.get("bkt", "missing", small=True) is None
