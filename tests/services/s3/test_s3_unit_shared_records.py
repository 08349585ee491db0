"""GET and HEAD read a key's record decoded once while the database has not
changed: every write (overwrite, delete, tags, a rolled-back transaction, a
write elsewhere) makes the next read see the database again, and the kept
records stay few."""

from __future__ import annotations

import pytest

from gureum.errors import AWSError
from gureum.services.s3.records import SHARED_RECORDS

from .conftest import Harness


def put(h: Harness, key: str, data: bytes, **params: object) -> None:
    h.run("put_object", Bucket="bkt", Key=key, Body=data, ContentLength=len(data), **params)


def get(h: Harness, key: str) -> bytes:
    out = h.run("get_object", Bucket="bkt", Key=key)
    body = out["Body"]
    return body if isinstance(body, bytes) else h.read(body)


def test_a_repeated_read_decodes_nothing_again(h: Harness) -> None:
    put(h, "k", b"one")
    first = h.run("head_object", Bucket="bkt", Key="k")
    decoded = h.s3.records.shared("bkt", "k")
    assert h.s3.records.shared("bkt", "k") is decoded  # kept, not read again
    assert h.run("head_object", Bucket="bkt", Key="k")["ETag"] == first["ETag"]
    assert get(h, "k") == b"one"


def test_every_write_is_seen_by_the_next_read(h: Harness) -> None:
    put(h, "k", b"one")
    assert get(h, "k") == b"one"
    put(h, "k", b"two!")
    assert get(h, "k") == b"two!"
    assert h.run("head_object", Bucket="bkt", Key="k")["ContentLength"] == 4
    h.run("put_object_tagging", Bucket="bkt", Key="k",
          Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert h.run("head_object", Bucket="bkt", Key="k")["TagCount"] == 1
    h.run("delete_object", Bucket="bkt", Key="k")
    with pytest.raises(AWSError) as caught:
        h.run("head_object", Bucket="bkt", Key="k")
    assert caught.value.code == "NoSuchKey"
    put(h, "k", b"three")  # a key read as missing, then written
    assert get(h, "k") == b"three"


def test_a_write_outside_s3_and_a_rollback_drop_what_was_kept(h: Harness) -> None:
    put(h, "k", b"one")
    kept = h.s3.records.shared("bkt", "k")
    assert kept is not None
    with h.store.tx():  # another service's write on the same database
        h.store.connection.execute("UPDATE s3_objects SET etag = '\"x\"' WHERE key = 'k'")
    assert h.run("head_object", Bucket="bkt", Key="k")["ETag"] == '"x"'
    kept = h.s3.records.shared("bkt", "k")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), h.store.tx():
        h.store.connection.execute("UPDATE s3_objects SET etag = '\"y\"' WHERE key = 'k'")
        assert h.s3.records.shared("bkt", "k").etag == '"y"'  # type: ignore[union-attr]
        raise Boom
    again = h.s3.records.shared("bkt", "k")
    assert again is not kept and again is not None and again.etag == '"x"'


def test_few_records_are_kept(h: Harness) -> None:
    for i in range(SHARED_RECORDS + 50):
        put(h, f"k{i}", b"x")
    for i in range(SHARED_RECORDS + 50):
        assert h.s3.records.shared("bkt", f"k{i}") is not None
    assert len(h.s3.records._cached) == SHARED_RECORDS
    newest = h.s3.records.shared("bkt", f"k{SHARED_RECORDS + 49}")
    assert h.s3.records.shared("bkt", f"k{SHARED_RECORDS + 49}") is newest
    assert ("bkt", "k0") not in h.s3.records._cached


def reads_of(h: Harness, table: str) -> list[str]:
    seen: list[str] = []
    h.store.connection.set_trace_callback(
        lambda sql: seen.append(sql) if sql.startswith("SELECT") and table in sql else None)
    return seen


def test_a_put_keeps_what_it_did_not_write(h: Harness) -> None:
    put(h, "a", b"one")
    put(h, "b", b"two")
    assert get(h, "a") == b"one" and get(h, "b") == b"two"
    kept_b = h.s3.records.shared("bkt", "b")
    bucket_reads = reads_of(h, "resources")
    put(h, "a", b"three")  # a PUT reads its bucket document once, kept since
    put(h, "a", b"four!")
    assert bucket_reads == []
    assert h.s3.records.shared("bkt", "b") is kept_b  # another key stays kept
    assert get(h, "a") == b"four!"  # the key written is read again
    h.store.connection.set_trace_callback(None)


def test_a_failed_put_and_a_bucket_change_are_seen(h: Harness) -> None:
    put(h, "a", b"one")
    assert get(h, "a") == b"one"
    with pytest.raises(AWSError) as caught:  # a conditional write refused
        put(h, "a", b"two", IfNoneMatch="*")
    assert caught.value.code == "PreconditionFailed"
    assert get(h, "a") == b"one"
    h.run("put_bucket_versioning", Bucket="bkt",
          VersioningConfiguration={"Status": "Enabled"})
    put(h, "a", b"two")  # now a version: the bucket change was seen
    out = h.run("head_object", Bucket="bkt", Key="a")
    assert out["VersionId"] not in (None, "null") and out["ContentLength"] == 3
    versions = h.run("list_object_versions", Bucket="bkt")["Versions"]
    assert len(versions) == 2


def test_small_bytes_are_kept_until_their_blob_is_deleted(h: Harness) -> None:
    from gureum.services.s3.records import SHARED_BYTES

    put(h, "a", b"one")
    assert get(h, "a") == b"one"
    record = h.s3.records.shared("bkt", "a")
    assert record is not None
    blob = record.blobs[0][0]
    reads = reads_of(h, "s3_small")
    assert get(h, "a") == b"one" and reads == []  # kept
    put(h, "a", b"two")  # the old blob is deleted with its bytes
    h.store.connection.set_trace_callback(None)
    assert blob not in h.s3.records._bytes
    assert h.s3.records.inline(blob) is None
    assert get(h, "a") == b"two"
    big = b"x" * 60_000  # kept in the database
    for i in range(SHARED_BYTES // 60_000 + 10):  # more than SHARED_BYTES read
        put(h, f"big{i}", big)
        assert get(h, f"big{i}") == big
    first = h.s3.records.shared("bkt", "big0")
    assert first is not None and first.blobs[0][0] not in h.s3.records._bytes  # let go
    assert 0 < h.s3.records._bytes_total <= SHARED_BYTES
    assert h.s3.records._bytes_total == sum(len(b) for b in h.s3.records._bytes.values())
    assert get(h, "big0") == big
