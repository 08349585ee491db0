"""Object operations on the MemoryBlobStore fake: visibility, overwrite and
delete collect blobs, failed writes leave nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gureum.errors import AWSError

from .conftest import Harness


def garbage(h: Harness) -> list[str]:
    """Blobs waiting for the collector (keys reserved for future writes aside)."""
    unused = h.s3.unused_reserved()
    return [key for key in h.s3.records.garbage() if key not in unused]


async def failing_body() -> AsyncIterator[bytes]:
    yield b"some bytes"
    raise AWSError("IncompleteBody", "cut", 400)


def test_put_get_delete_collects_blob(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="k", Body=b"one")
    first = h.blob_keys()
    assert len(first) == 1
    out = h.run("get_object", Bucket="bkt", Key="k")
    assert h.read(out["Body"]) == b"one"
    h.run("put_object", Bucket="bkt", Key="k", Body=b"two")
    second = h.blob_keys()
    assert len(second) == 1 and second != first  # the old blob is gone after the commit
    h.run("delete_object", Bucket="bkt", Key="k")
    assert h.blob_keys() == set()
    with pytest.raises(AWSError) as exc:
        h.run("get_object", Bucket="bkt", Key="k")
    assert exc.value.code == "NoSuchKey"
    assert garbage(h) == []


def test_failed_write_leaves_nothing(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="k", Body=b"kept")
    with pytest.raises(AWSError):
        h.run("put_object", Bucket="bkt", Key="k", Body=failing_body())
    assert h.read(h.run("get_object", Bucket="bkt", Key="k")["Body"]) == b"kept"
    assert len(h.blob_keys()) == 1 and garbage(h) == []


def test_bad_digest_drops_blob(h: Harness) -> None:
    with pytest.raises(AWSError) as exc:
        h.run("put_object", Bucket="bkt", Key="k", Body=b"x", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert exc.value.code == "BadDigest"
    assert h.blob_keys() == set() and h.s3.records.get("bkt", "k") is None


def test_delete_objects_and_bucket_not_empty(h: Harness) -> None:
    for key in ("a", "b", "c"):
        h.run("put_object", Bucket="bkt", Key=key, Body=key.encode())
    with pytest.raises(AWSError) as exc:
        h.run("delete_bucket", Bucket="bkt")
    assert exc.value.code == "BucketNotEmpty"
    out = h.run("delete_objects", Bucket="bkt", Delete={"Objects": [{"Key": "a"}, {"Key": "b"},
                                                                   {"Key": "c"}]})
    assert [d["Key"] for d in out["Deleted"]] == ["a", "b", "c"]
    assert h.blob_keys() == set()
    h.run("delete_bucket", Bucket="bkt")


def test_ranges_on_a_stream_body(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="k", Body=b"0123456789")
    out = h.run("get_object", Bucket="bkt", Key="k", Range="bytes=2-4")
    assert h.read(out["Body"]) == b"234" and out["ContentRange"] == "bytes 2-4/10"
    out = h.run("get_object", Bucket="bkt", Key="k", Range="bytes=5-2")  # invalid: ignored
    assert h.read(out["Body"]) == b"0123456789" and "ContentRange" not in out
    with pytest.raises(AWSError) as exc:
        h.run("get_object", Bucket="bkt", Key="k", Range="bytes=10-")
    assert exc.value.status == 416


def test_restart_sweeps_garbage(h: Harness) -> None:
    # A crash between writing a blob and committing its record leaves the blob
    # listed as garbage: the next start removes it.
    async def write() -> str:
        info = await h.s3.write_blob(_one(b"orphan"))
        return info.key

    key = h.loop.run_until_complete(write())
    assert key in h.blob_keys() and key in garbage(h)
    h.loop.run_until_complete(h.s3.start())
    assert key not in h.blob_keys() and garbage(h) == []


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
