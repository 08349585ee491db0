"""ListObjectsV2 and ListObjects (v1) through boto3 and the AWS CLI: prefixes,
delimiters, start-after/markers, continuation, max-keys, url encoding and
UTF-8 binary order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .test_s3_support import temp_bucket

KEYS = [
    "a.txt", "a/b/c.txt", "a/b/d.txt", "a/e.txt", "a+b", "a b", "b/", "b/x", "z",
    "한글/파일", "é", "\u00ff", "\u0100", "\U0001f600 emoji", "Z", "0", "~",
    "dir/sub1/f", "dir/sub2/f", "dir/sub2/g", "dir/top",
]
UTF8_ORDER = sorted(KEYS, key=lambda k: k.encode())


@pytest.fixture(scope="module")
def listing(gureum: RunningGureum) -> Iterator[tuple[Any, str]]:
    s3 = gureum.client("s3")
    with temp_bucket(s3, "list") as name:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=name, Key=k, Body=k.encode()), KEYS))
        yield s3, name


def all_v2(s3: Any, bucket: str, **kwargs: Any) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    prefixes: list[str] = []
    pages = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kwargs):
        pages += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return keys, prefixes, pages


def all_v1(s3: Any, bucket: str, **kwargs: Any) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    prefixes: list[str] = []
    pages = 0
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, **kwargs):
        pages += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return keys, prefixes, pages


@pytest.mark.parametrize("lister", [all_v2, all_v1])
def test_utf8_binary_order_and_pagination(listing: tuple[Any, str], lister: Any) -> None:
    s3, bucket = listing
    keys, prefixes, pages = lister(s3, bucket)
    assert keys == UTF8_ORDER and prefixes == [] and pages == 1
    keys, _, pages = lister(s3, bucket, PaginationConfig={"PageSize": 4})
    assert keys == UTF8_ORDER and pages == (len(KEYS) + 3) // 4


@pytest.mark.parametrize("lister", [all_v2, all_v1])
def test_delimiter_and_prefix(listing: tuple[Any, str], lister: Any) -> None:
    s3, bucket = listing
    keys, prefixes, _ = lister(s3, bucket, Delimiter="/")
    expected_prefixes = ["a/", "b/", "dir/", "한글/"]
    assert prefixes == sorted(expected_prefixes, key=lambda p: p.encode())
    assert keys == [k for k in UTF8_ORDER if "/" not in k]
    for size in (1, 2, 3):
        k2, p2, _ = lister(s3, bucket, Delimiter="/", PaginationConfig={"PageSize": size})
        assert (k2, p2) == (keys, prefixes), size
    keys, prefixes, _ = lister(s3, bucket, Prefix="dir/", Delimiter="/")
    assert keys == ["dir/top"] and prefixes == ["dir/sub1/", "dir/sub2/"]
    keys, prefixes, _ = lister(s3, bucket, Prefix="a")
    assert keys == [k for k in UTF8_ORDER if k.startswith("a")] and prefixes == []
    keys, _, _ = lister(s3, bucket, Prefix="nothing")
    assert keys == []


def test_start_after_max_keys_and_tokens(listing: tuple[Any, str]) -> None:
    s3, bucket = listing
    out = s3.list_objects_v2(Bucket=bucket, StartAfter="b/")
    assert [o["Key"] for o in out["Contents"]] == [k for k in UTF8_ORDER if k.encode() > b"b/"]
    out = s3.list_objects_v2(Bucket=bucket, MaxKeys=3)
    assert out["IsTruncated"] and out["KeyCount"] == 3 and out["MaxKeys"] == 3
    nxt = s3.list_objects_v2(Bucket=bucket, MaxKeys=3,
                             ContinuationToken=out["NextContinuationToken"])
    assert [o["Key"] for o in nxt["Contents"]] == UTF8_ORDER[3:6]
    assert nxt["ContinuationToken"] == out["NextContinuationToken"]
    out = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert out["KeyCount"] == 0 and "Contents" not in out
    v1 = s3.list_objects(Bucket=bucket, Marker="dir/top", MaxKeys=2)
    assert [o["Key"] for o in v1["Contents"]] == [k for k in UTF8_ORDER
                                                  if k.encode() > b"dir/top"][:2]
    assert v1["IsTruncated"] and "NextMarker" not in v1  # only with a delimiter
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    first = sorted({k if "/" not in k else k.split("/")[0] + "/" for k in KEYS},
                   key=lambda k: k.encode())[:2]
    assert v1["NextMarker"] == first[-1]
    rest = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=v1["NextMarker"])
    assert [o["Key"] for o in v1["Contents"] + rest["Contents"]] == [
        k for k in UTF8_ORDER if "/" not in k]
    with pytest.raises(ClientError):
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="***not a token***")


def test_encoding_type_url(listing: tuple[Any, str]) -> None:
    s3, bucket = listing
    # Asked for explicitly, the encoded keys reach the caller as sent.
    out = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Prefix="a", Delimiter="/")
    assert out["EncodingType"] == "url"
    assert [o["Key"] for o in out["Contents"]] == [
        quote(k, safe="/") for k in UTF8_ORDER if k.startswith("a") and "/" not in k]
    assert "a%2Bb" in [o["Key"] for o in out["Contents"]]
    out = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Prefix="한글/")
    assert [o["Key"] for o in out["Contents"]] == [quote("한글/파일", safe="/")]
    assert out["Prefix"] == quote("한글/", safe="/")
    # Left to itself, botocore asks for url encoding and decodes the answer.
    auto = s3.list_objects_v2(Bucket=bucket, Prefix="a ")
    assert [o["Key"] for o in auto["Contents"]] == ["a b"]


def test_aws_cli_listing(gureum: RunningGureum, listing: tuple[Any, str]) -> None:
    _, bucket = listing
    out = gureum.aws("s3", "ls", f"s3://{bucket}/", check=True).stdout
    assert "PRE a/" in out and "PRE 한글/" in out and " a+b" in out
    out = gureum.aws("s3", "ls", "--recursive", f"s3://{bucket}/dir/", check=True).stdout
    assert [line.split()[-1] for line in out.splitlines()] == [
        "dir/sub1/f", "dir/sub2/f", "dir/sub2/g", "dir/top"]
    api = json.loads(gureum.aws("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "dir/",
                                "--delimiter", "/", "--output", "json", check=True).stdout)
    assert [p["Prefix"] for p in api["CommonPrefixes"]] == ["dir/sub1/", "dir/sub2/"]
    paged = json.loads(gureum.aws("s3api", "list-objects", "--bucket", bucket,
                                  "--page-size", "5", "--output", "json", check=True).stdout)
    assert [o["Key"] for o in paged["Contents"]] == UTF8_ORDER


def test_many_keys(gureum: RunningGureum) -> None:
    # 10,000 keys are listed by a unit test on the records; here enough for pages.
    s3 = gureum.client("s3", max_pool_connections=16)
    keys = [f"big/{i // 100:03d}/{i:05d}" for i in range(2_500)]
    with temp_bucket(s3, "ten") as name:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=name, Key=k, Body=b""), keys))
        listed, _, pages = all_v2(s3, name)
        assert listed == keys and pages == 3
        _, prefixes, _ = all_v2(s3, name, Prefix="big/", Delimiter="/")
        assert prefixes == [f"big/{j:03d}/" for j in range(25)]
