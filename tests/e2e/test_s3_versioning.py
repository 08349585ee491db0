"""S3 versioning, tagging, GetObjectAttributes and UploadPartCopy end to end:
versions and delete markers, reads and deletes by version id, the null
version of unversioned and suspended writes, ListObjectVersions paging."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .test_s3_support import temp_bucket

MiB = 1024 * 1024


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    with temp_bucket(s3, "ver") as name:
        yield name


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def body(s3: Any, bucket: str, key: str, **kw: Any) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()
    return data


def test_versions_and_delete_markers(s3: Any, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v0")  # the null version
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"v2")["VersionId"]
    assert v1 != v2 and "null" not in (v1, v2)
    assert body(s3, bucket, "k") == b"v2"
    assert body(s3, bucket, "k", VersionId=v1) == b"v1"
    assert body(s3, bucket, "k", VersionId="null") == b"v0"
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v1)["ContentLength"] == 2
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == v2

    gone = s3.delete_object(Bucket=bucket, Key="k")
    assert gone["DeleteMarker"] is True
    marker = gone["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(exc) == "NoSuchKey"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [
        (v2, False), (v1, False), ("null", False)]
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [
        (marker, True)]

    # Deleting the marker brings v2 back.
    undo = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert undo["DeleteMarker"] is True and undo["VersionId"] == marker
    assert body(s3, bucket, "k") == b"v2"
    # Deleting the current version by id makes the previous one current.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert body(s3, bucket, "k") == b"v1"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v2)
    assert code(exc) == "NoSuchVersion"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    left = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in left] == [(v1, True)]


def test_suspended_writes_the_null_version(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"two").get("VersionId") in (None,
                                                                                    "null")
    s3.put_object(Bucket=bucket, Key="k", Body=b"three")  # replaces the null version
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert ids == ["null", v1]
    assert body(s3, bucket, "k") == b"three"
    marker = s3.delete_object(Bucket=bucket, Key="k")
    assert marker["DeleteMarker"] is True and marker["VersionId"] == "null"
    listed = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listed["Versions"]] == [v1]  # the null object is gone
    assert [m["VersionId"] for m in listed["DeleteMarkers"]] == ["null"]


def test_list_object_versions_paging_and_prefixes(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    expected = []
    for key in ("a", "b/1", "b/2", "c"):
        for n in range(3):
            vid = s3.put_object(Bucket=bucket, Key=key, Body=f"{key}{n}".encode())["VersionId"]
            expected.append((key, vid))
    order = sorted(expected, key=lambda kv: (kv[0], -expected.index(kv)))
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 4}):
        assert len(page.get("Versions", [])) <= 4
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
    assert seen == order
    top = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["b/"]
    assert {v["Key"] for v in top["Versions"]} == {"a", "c"}
    under = s3.list_object_versions(Bucket=bucket, Prefix="b/")
    assert len(under["Versions"]) == 6


def test_delete_objects_with_versions(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="x", Body=b"1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="x", Body=b"2")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "x", "VersionId": v1}, {"Key": "x"}]})
    deleted = out["Deleted"]
    assert deleted[0]["VersionId"] == v1
    assert deleted[1]["DeleteMarker"] is True and deleted[1]["DeleteMarkerVersionId"]
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)  # versions remain
    assert code(exc) == "BucketNotEmpty"


def test_object_and_bucket_tagging(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="team=core&env=prod%20one")
    tags = s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "core", "env": "prod one"}
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [
        {"Key": "a", "Value": "1"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "a",
                                                                        "Value": "1"}]
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})
    assert s3.get_object_tagging(Bucket=bucket, Key="copy")["TagSet"] == [{"Key": "a",
                                                                           "Value": "1"}]
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [
            {"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert code(exc) == "BadRequest"
    with pytest.raises(ClientError) as exc:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert code(exc) == "NoSuchKey"
    # Tags of one version.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"1")["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"2")
    s3.put_object_tagging(Bucket=bucket, Key="v", VersionId=v1,
                          Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="v")["TagSet"] == []
    assert s3.get_object_tagging(Bucket=bucket, Key="v", VersionId=v1)["TagSet"] == [
        {"Key": "old", "Value": "yes"}]

    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(exc) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "cost", "Value": "1"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "cost", "Value": "1"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(exc) == "NoSuchTagSet"


def test_get_object_attributes(s3: Any, bucket: str) -> None:
    data = b"attributes" * 100
    s3.put_object(Bucket=bucket, Key="one", Body=data, ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=[
        "ETag", "ObjectSize", "StorageClass", "Checksum"])
    assert got["ETag"] == hashlib.md5(data).hexdigest()
    assert got["ObjectSize"] == len(data) and got["StorageClass"] == "STANDARD"
    assert got["Checksum"]["ChecksumSHA256"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="multi")
    etags = []
    for n, size in ((1, 5 * MiB), (2, 1000)):
        etags.append(s3.upload_part(Bucket=bucket, Key="multi", UploadId=up["UploadId"],
                                    PartNumber=n, Body=b"m" * size)["ETag"])
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [
                                     {"PartNumber": n + 1, "ETag": e}
                                     for n, e in enumerate(etags)]})
    parts = s3.get_object_attributes(Bucket=bucket, Key="multi", MaxParts=1,
                                     ObjectAttributes=["ObjectParts", "ObjectSize"])
    assert parts["ObjectSize"] == 5 * MiB + 1000
    assert parts["ObjectParts"]["TotalPartsCount"] == 2
    assert parts["ObjectParts"]["IsTruncated"] is True
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=["ETag"])
    assert code(exc) == "NoSuchKey"


def test_upload_part_copy(s3: Any, bucket: str) -> None:
    source = bytes(range(256)) * (24 * 1024)  # 6 MiB
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")
    first = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"],
                                PartNumber=1, CopySource={"Bucket": bucket, "Key": "src"},
                                CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    second = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"],
                                 PartNumber=2, CopySource=f"{bucket}/src",
                                 CopySourceRange=f"bytes={5 * MiB}-{len(source) - 1}")
    assert first["CopyPartResult"]["ETag"] == f'"{hashlib.md5(source[:5 * MiB]).hexdigest()}"'
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                                     {"PartNumber": 2,
                                      "ETag": second["CopyPartResult"]["ETag"]}]})
    assert body(s3, bucket, "dst") == source
    up2 = s3.create_multipart_upload(Bucket=bucket, Key="bad")
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="bad", UploadId=up2["UploadId"], PartNumber=1,
                            CopySource=f"{bucket}/src",
                            CopySourceRange=f"bytes=0-{len(source)}")
    assert code(exc) == "InvalidArgument"
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="bad", UploadId=up2["UploadId"], PartNumber=1,
                            CopySource=f"{bucket}/absent")
    assert code(exc) == "NoSuchKey"


def test_aws_cli_versioning(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    done = gureum.aws("s3api", "put-bucket-versioning", "--bucket", bucket,
                      "--versioning-configuration", "Status=Enabled")
    assert done.returncode == 0, done.stderr
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    s3.put_object(Bucket=bucket, Key="k", Body=b"2")
    out = gureum.aws("s3api", "list-object-versions", "--bucket", bucket, "--output", "json")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["Versions"]) == 2
