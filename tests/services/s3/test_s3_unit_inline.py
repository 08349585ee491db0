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
    rows = h.store.connection.execute("SELECT blob FROM s3_inline")
    return {str(r[0]) for r in rows}


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
