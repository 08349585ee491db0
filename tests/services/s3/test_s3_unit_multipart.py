"""Multipart uploads on the MemoryBlobStore fake: completion reuses the part
blobs, the part rules, abort and listings."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gureum.errors import AWSError

from .conftest import Harness

MiB = 1024 * 1024


def create(h: Harness, key: str = "big") -> str:
    return str(h.run("create_multipart_upload", Bucket="bkt", Key=key,
                     ContentType="video/mp4")["UploadId"])


def part(h: Harness, upload: str, number: int, data: bytes, key: str = "big") -> str:
    return str(h.run("upload_part", Bucket="bkt", Key=key, UploadId=upload,
                     PartNumber=number, Body=data)["ETag"])


def complete(h: Harness, upload: str, parts: list[tuple[int, str]], key: str = "big") -> Any:
    return h.run("complete_multipart_upload", Bucket="bkt", Key=key, UploadId=upload,
                 MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]})


def test_complete_without_copying(h: Harness) -> None:
    upload = create(h)
    datas = [b"a" * (5 * MiB), b"b" * (5 * MiB), b"tail"]
    etags = [part(h, upload, i + 1, d) for i, d in enumerate(datas)]
    part(h, upload, 4, b"never used")
    blobs_before = h.blob_keys()
    out = complete(h, upload, [(i + 1, e) for i, e in enumerate(etags)])
    md5s = b"".join(hashlib.md5(d).digest() for d in datas)
    assert out["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    # The object is the three part blobs; the unused fourth part is collected.
    assert len(h.blob_keys()) == 3 and h.blob_keys() < blobs_before
    got = h.run("get_object", Bucket="bkt", Key="big")
    assert got["ContentType"] == "video/mp4" and got["ContentLength"] == 10 * MiB + 4
    assert h.read(got["Body"]) == b"".join(datas)
    span = f"bytes={5 * MiB - 2}-{5 * MiB + 1}"
    ranged = h.run("get_object", Bucket="bkt", Key="big", Range=span)
    assert h.read(ranged["Body"]) == b"aabb"
    second = h.run("get_object", Bucket="bkt", Key="big", PartNumber=2)
    assert second["PartsCount"] == 3 and h.read(second["Body"]) == datas[1]
    assert h.run("list_multipart_uploads", Bucket="bkt").get("Uploads") is None
    h.run("delete_object", Bucket="bkt", Key="big")
    assert h.blob_keys() == set()


def test_part_rules(h: Harness) -> None:
    upload = create(h)
    small = part(h, upload, 1, b"small")
    last = part(h, upload, 2, b"last")
    with pytest.raises(AWSError) as exc:
        complete(h, upload, [(1, small), (2, last)])
    assert exc.value.code == "EntityTooSmall"
    with pytest.raises(AWSError) as exc:
        complete(h, upload, [(2, last), (1, small)])
    assert exc.value.code == "InvalidPartOrder"
    with pytest.raises(AWSError) as exc:
        complete(h, upload, [(1, '"0000"')])
    assert exc.value.code == "InvalidPart"
    with pytest.raises(AWSError) as exc:
        complete(h, upload, [(3, small)])
    assert exc.value.code == "InvalidPart"
    with pytest.raises(AWSError) as exc:
        part(h, upload, 10001, b"x")
    assert exc.value.code == "InvalidArgument"
    out = complete(h, upload, [(2, last)])  # a single small last part is fine
    assert out["ETag"].endswith('-1"')


def test_abort_and_listings(h: Harness) -> None:
    first = create(h, "a/one")
    second = create(h, "b/two")
    for n in (1, 2, 3):
        part(h, first, n, bytes([n]) * 10, "a/one")
    listed = h.run("list_parts", Bucket="bkt", Key="a/one", UploadId=first, MaxParts=2)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2] and listed["IsTruncated"]
    rest = h.run("list_parts", Bucket="bkt", Key="a/one", UploadId=first,
                 PartNumberMarker=listed["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and not rest["IsTruncated"]
    uploads = h.run("list_multipart_uploads", Bucket="bkt")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("a/one", first), ("b/two", second)]
    only = h.run("list_multipart_uploads", Bucket="bkt", Prefix="b/")["Uploads"]
    assert [u["UploadId"] for u in only] == [second]
    h.run("abort_multipart_upload", Bucket="bkt", Key="a/one", UploadId=first)
    assert h.blob_keys() == set()
    with pytest.raises(AWSError) as exc:
        h.run("list_parts", Bucket="bkt", Key="a/one", UploadId=first)
    assert exc.value.code == "NoSuchUpload"
    with pytest.raises(AWSError) as exc:
        part(h, first, 1, b"late", "a/one")
    assert exc.value.code == "NoSuchUpload"
    h.run("delete_bucket", Bucket="bkt")  # pending uploads do not keep a bucket alive


def test_replacing_a_part_collects_the_old_one(h: Harness) -> None:
    upload = create(h)
    part(h, upload, 1, b"first try")
    etag = part(h, upload, 1, b"second try")
    assert len(h.blob_keys()) == 1
    complete(h, upload, [(1, etag)])
    assert h.read(h.run("get_object", Bucket="bkt", Key="big")["Body"]) == b"second try"
