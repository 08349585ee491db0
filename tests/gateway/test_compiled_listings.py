"""The compiled writers on what S3 listings answer: a thousand ``Object`` (and
version) structures written by one generated loop, byte for byte as the
reference walker writes them, and LastModified stored as float epoch seconds
in ISO 8601 exactly as its datetime (microseconds rounded half to even, then
cut to milliseconds) and in RFC 822 exactly as format_datetime spells it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import botocore.session
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gureum.gateway.protocols import xml
from gureum.gateway.protocols.values import iso8601, rfc822

from . import reference

MODEL = botocore.session.get_session().get_service_model("s3")
OWNER = {"ID": "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
         "DisplayName": "gureum"}

keys = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
floats = st.floats(0.0, 253402300798.0, allow_nan=False)


def iso_of_datetime(seconds: float) -> str:
    dt = datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds") + "Z"


@settings(max_examples=2000, deadline=None)
@given(seconds=floats)
@example(0.0)
@example(1764200000.9999995)  # rounds up into the next second
@example(1764200000.0004995)
@example(253402300798.999)
def test_float_seconds_in_iso8601_are_their_datetimes(seconds: float) -> None:
    assert iso8601(seconds) == iso_of_datetime(seconds)
    assert iso8601(seconds) == iso8601(datetime.fromtimestamp(seconds, UTC))


def test_float_seconds_outside_the_fast_range_still_convert() -> None:
    assert iso8601(-1.5) == iso8601(datetime.fromtimestamp(-1.5, UTC))
    assert iso8601(math.floor(1764200000.25)) == "2025-11-26T23:33:20.000Z"


@st.composite
def objects(draw: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Key": draw(keys),
        "LastModified": draw(st.one_of(floats, st.integers(0, 2**33))),
        "ETag": draw(st.sampled_from(['"d41d8cd98f00b204e9800998ecf8427e"', '"ab-3"', "<&>",
                                       '"a&\r"'])),
        "Size": draw(st.one_of(st.integers(0, 2**40), st.just(True))),
        "StorageClass": draw(st.sampled_from(["STANDARD", "ODD<>"])),
    }
    if draw(st.booleans()):
        entry["ChecksumAlgorithm"] = draw(st.lists(st.sampled_from(["CRC32", "SHA256"])))
        entry["ChecksumType"] = "FULL_OBJECT"
    if draw(st.booleans()):
        entry["Owner"] = OWNER
    return entry


@st.composite
def versions(draw: Any) -> dict[str, Any]:
    entry = draw(objects())
    entry.pop("ChecksumAlgorithm", None)
    entry.update(VersionId=draw(st.sampled_from(["null", "v-1"])), IsLatest=draw(st.booleans()))
    return entry


def written(operation: str, output: dict[str, Any]) -> tuple[str, str]:
    shape = MODEL.operation_model(operation).output_shape
    old: list[str] = []
    reference.xml_write_members(old, shape, output)
    new: list[str] = []
    xml.write_members(new, shape, output)
    return "".join(new), "".join(old)


@settings(max_examples=200, deadline=None)
@given(contents=st.lists(objects(), max_size=30), prefixes=st.lists(keys, max_size=3))
def test_listing_pages_are_written_as_the_walker_writes_them(
    contents: list[dict[str, Any]], prefixes: list[str]
) -> None:
    common = [{"Prefix": p} for p in prefixes] or None
    v2 = {"Name": "bkt", "Prefix": "", "MaxKeys": 1000, "KeyCount": len(contents),
          "IsTruncated": bool(contents), "Contents": contents or None,
          "CommonPrefixes": common, "NextContinuationToken": "dG9r"}
    new, old = written("ListObjectsV2", v2)
    assert new == old
    v1 = {"Name": "bkt", "Marker": "", "Contents": contents or None, "CommonPrefixes": common}
    new, old = written("ListObjects", v1)
    assert new == old


@settings(max_examples=200, deadline=None)
@given(found=st.lists(versions(), max_size=30))
def test_version_listings_are_written_as_the_walker_writes_them(
    found: list[dict[str, Any]]
) -> None:
    markers = [{k: v[k] for k in ("Key", "VersionId", "IsLatest", "LastModified")}
               for v in found[::2]]
    out = {"Name": "bkt", "Versions": found or None, "DeleteMarkers": markers or None}
    new, old = written("ListObjectVersions", out)
    assert new == old


@settings(max_examples=2000, deadline=None)
@given(seconds=floats)
@example(0.0)
@example(1764200000.9999995)
@example(951782400.5)  # 29 Feb 2000
def test_float_seconds_in_rfc822_are_their_datetimes(seconds: float) -> None:
    dt = datetime.fromtimestamp(seconds, UTC).replace(microsecond=0)
    assert rfc822(seconds) == format_datetime(dt, usegmt=True)
    assert rfc822(seconds) == rfc822(datetime.fromtimestamp(seconds, UTC))
