"""S3 objects through boto3 and the AWS CLI: put/get/head/delete, metadata and
standard headers, ETag and Content-MD5, checksums, ranges, conditional
requests, copies, batch deletes, and atomic overwrite."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .test_s3_support import temp_bucket

KEYS = ["plain.txt", "with space/and+plus.txt", "유니코드/키.bin", "a%2Fb?c=d&e#f", "~!@$^*()[]"]


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    with temp_bucket(s3) as name:
        yield name


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


@pytest.mark.parametrize("key", KEYS)
def test_put_get_head_keys(s3: Any, bucket: str, key: str) -> None:
    data = key.encode() * 100
    put = s3.put_object(Bucket=bucket, Key=key, Body=data)
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ETag"] == put["ETag"] and got["ContentLength"] == len(data)
    assert got["ContentType"] == "binary/octet-stream"
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data) and head["ETag"] == put["ETag"]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [key]


@pytest.mark.parametrize("key", KEYS)
def test_delete_object(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=b"doomed")
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key)
    assert code(exc) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert status(exc) == 404
    s3.delete_object(Bucket=bucket, Key=key)  # deleting a missing key succeeds


def test_metadata_and_standard_headers(s3: Any, bucket: str) -> None:
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket, Key="doc", Body=b"<p>hi</p>", ContentType="text/html",
        ContentEncoding="identity", ContentDisposition='attachment; filename="x.html"',
        CacheControl="max-age=60", ContentLanguage="ko", Expires=expires,
        Metadata={"Owner": "Jin", "purpose": "test value"},
    )
    for call in (s3.get_object, s3.head_object):
        out = call(Bucket=bucket, Key="doc")
        assert out["ContentType"] == "text/html"
        assert out["ContentEncoding"] == "identity"
        assert out["ContentDisposition"] == 'attachment; filename="x.html"'
        assert out["CacheControl"] == "max-age=60"
        assert out["ContentLanguage"] == "ko"
        assert out["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Thu, 02 Jan 2031 03:04:05 GMT"
        assert out["Metadata"] == {"owner": "Jin", "purpose": "test value"}
    over = s3.get_object(
        Bucket=bucket, Key="doc", ResponseContentType="application/x-test",
        ResponseContentDisposition="inline", ResponseCacheControl="no-cache",
    )
    assert over["ContentType"] == "application/x-test"
    assert over["ContentDisposition"] == "inline" and over["CacheControl"] == "no-cache"


def test_content_md5_checked(s3: Any, bucket: str) -> None:
    data = b"checked bytes"
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    s3.put_object(Bucket=bucket, Key="ok", Body=data, ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=data, ContentMD5=bad)
    assert code(exc) == "BadDigest"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["ok"]  # the rejected upload is not visible


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_checksums_stored_and_returned(s3: Any, bucket: str, algorithm: str) -> None:
    data = b"checksum me" * 1000
    put = s3.put_object(Bucket=bucket, Key="c", Body=data, ChecksumAlgorithm=algorithm)
    if algorithm == "CRC32":
        expected = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    else:
        expected = base64.b64encode(hashlib.new(algorithm.lower(), data).digest()).decode()
    assert put[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected and got["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="c")


def test_wrong_checksum_header_rejected(s3: Any, bucket: str) -> None:
    wrong = base64.b64encode(hashlib.sha256(b"not the data").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="w", Body=b"data", ChecksumSHA256=wrong)
    assert code(exc) in ("BadDigest", "InvalidRequest")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_ranges(s3: Any, bucket: str) -> None:
    data = bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    cases = {"bytes=0-9": data[:10], "bytes=1000-": data[1000:], "bytes=-24": data[-24:],
             "bytes=1020-5000": data[1020:], "bytes=-5000": data}
    for header, expected in cases.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["Body"].read() == expected, header
        assert got["ContentLength"] == len(expected)
        start = len(data) - len(expected) if header.startswith("bytes=-") else int(
            header[6:].split("-")[0])
        assert got["ContentRange"] == f"bytes {start}-{start + len(expected) - 1}/{len(data)}"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=1024-")
    assert code(exc) == "InvalidRange" and status(exc) == 416


def test_conditional_reads(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    past, future = modified - timedelta(hours=1), modified + timedelta(hours=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    assert s3.get_object(Bucket=bucket, Key="c", IfNoneMatch='"other"')["Body"].read() == b"v1"
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["ETag"] == etag
    assert s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=future)["ETag"] == etag
    failing: list[tuple[dict[str, Any], int]] = [
        ({"IfMatch": '"other"'}, 412),
        ({"IfUnmodifiedSince": past}, 412),
        ({"IfNoneMatch": etag}, 304),
        ({"IfModifiedSince": future}, 304),
    ]
    for kwargs, expected in failing:
        for call in (s3.get_object, s3.head_object):
            with pytest.raises(ClientError) as exc:
                call(Bucket=bucket, Key="c", **kwargs)
            assert status(exc) == expected, kwargs
    # If-Match passing wins over a failing If-Unmodified-Since (RFC 9110, as S3).
    assert s3.head_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=past)


def test_conditional_writes(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="w", Body=b"one", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfNoneMatch="*")
    assert status(exc) == 412
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfMatch='"nope"')
    assert status(exc) == 412
    s3.put_object(Bucket=bucket, Key="w", Body=b"three", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"three"


def test_overwrite_replaces(s3: Any, bucket: str) -> None:
    for i in range(3):
        s3.put_object(Bucket=bucket, Key="o", Body=f"version {i}".encode() * (i + 1))
    assert s3.get_object(Bucket=bucket, Key="o")["Body"].read() == b"version 2" * 3
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_copy_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src key+1", Body=b"copy me", ContentType="text/plain",
                  Metadata={"a": "1"})
    with temp_bucket(s3, "dst") as other:
        out = s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket,
                                                                    "Key": "src key+1"})
        assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
        got = s3.get_object(Bucket=other, Key="dst")
        assert got["Body"].read() == b"copy me"
        assert got["ContentType"] == "text/plain" and got["Metadata"] == {"a": "1"}
        s3.copy_object(Bucket=other, Key="dst", CopySource=f"{bucket}/src key+1",
                       MetadataDirective="REPLACE", ContentType="app/x", Metadata={"b": "2"})
        got = s3.head_object(Bucket=other, Key="dst")
        assert got["ContentType"] == "app/x" and got["Metadata"] == {"b": "2"}
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="src key+1", CopySource=f"{bucket}/src key+1")
    assert code(exc) == "InvalidRequest"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/missing")
    assert code(exc) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/src key+1",
                       CopySourceIfMatch='"nope"')
    assert status(exc) == 412


def test_delete_objects(s3: Any, bucket: str) -> None:
    keys = [f"k{i}" for i in range(10)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[:5]]})
    assert sorted(d["Key"] for d in out["Deleted"]) == keys[:5]
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[5:]],
                                                   "Quiet": True})
    assert "Deleted" not in out and "Errors" not in out
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_bucket_not_empty_and_location(s3: Any, gureum: RunningGureum) -> None:
    with temp_bucket(s3) as name:
        s3.put_object(Bucket=name, Key="x", Body=b"x")
        with pytest.raises(ClientError) as exc:
            s3.delete_bucket(Bucket=name)
        assert code(exc) == "BucketNotEmpty"
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None


def test_bucket_location_other_region(gureum: RunningGureum) -> None:
    s3 = gureum.client("s3", region="eu-west-1")
    name = f"loc-{hashlib.md5(str(id(s3)).encode()).hexdigest()[:10]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    try:
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    finally:
        s3.delete_bucket(Bucket=name)


def test_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="no-such-bucket-gureum", Key="k", Body=b"x")
    assert code(exc) == "NoSuchBucket"


def test_aws_cli_objects(gureum: RunningGureum, s3: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "file with space.txt"
    src.write_bytes(b"from the cli\n" * 1000)
    gureum.aws("s3", "cp", str(src), f"s3://{bucket}/dir/cli+file.txt", check=True)
    out = gureum.aws("s3api", "head-object", "--bucket", bucket, "--key", "dir/cli+file.txt",
                     check=True)
    assert json.loads(out.stdout)["ContentLength"] == src.stat().st_size
    listing = gureum.aws("s3", "ls", f"s3://{bucket}/dir/", check=True).stdout
    assert "cli+file.txt" in listing
    back = tmp_path / "back.txt"
    gureum.aws("s3", "cp", f"s3://{bucket}/dir/cli+file.txt", str(back), check=True)
    assert back.read_bytes() == src.read_bytes()
    gureum.aws("s3api", "put-object", "--bucket", bucket, "--key", "api", "--body", str(src),
               "--content-type", "text/plain", "--metadata", "k=v", check=True)
    head = json.loads(gureum.aws("s3api", "head-object", "--bucket", bucket, "--key", "api",
                                 check=True).stdout)
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"k": "v"}
    ranged = tmp_path / "ranged"
    gureum.aws("s3api", "get-object", "--bucket", bucket, "--key", "api", "--range",
               "bytes=0-3", str(ranged), check=True)
    assert ranged.read_bytes() == b"from"


def test_aws_cli_rm(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="dir/x y", Body=b"x")
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    gureum.aws("s3", "rm", f"s3://{bucket}/dir/x y", check=True)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep"]


def test_request_ids_have_the_s3_form(s3: Any, bucket: str, gureum: RunningGureum) -> None:
    """S3 answers carry S3's request ids (16 upper-case hex digits), each its own,
    in the header and in error bodies; other services keep their UUIDs."""
    import re

    ids = []
    for _ in range(20):
        meta = s3.head_bucket(Bucket=bucket)["ResponseMetadata"]
        ids.append(meta["HTTPHeaders"]["x-amz-request-id"])
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="missing")
    ids.append(exc.value.response["ResponseMetadata"]["RequestId"])
    assert all(re.fullmatch(r"[0-9A-F]{16}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    sts_id = gureum.client("sts").get_caller_identity()["ResponseMetadata"]["RequestId"]
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", sts_id), sts_id
