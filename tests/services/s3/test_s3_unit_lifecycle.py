"""Lifecycle rules on the fake clock: expiration by days and date with prefix,
tag and size filters, non-current version expiration, expired delete markers,
aborting stale multipart uploads — by direct passes and through the real loop."""

from __future__ import annotations

from datetime import UTC, datetime

from gureum.control.loop import Loop
from gureum.errors import AWSError
from gureum.services.s3.lifecycle import DAY, due

from .conftest import Harness


def keys(h: Harness) -> list[str]:
    return [c["Key"] for c in h.run("list_objects_v2", Bucket="bkt").get("Contents") or []]


def advance(h: Harness, seconds: float) -> None:
    h.loop.run_until_complete(h.clock.advance(seconds))


def apply(h: Harness) -> dict[str, int]:
    """One lifecycle pass, on the event loop as the loop runs it."""
    async def run() -> dict[str, int]:
        return h.s3.apply_lifecycle("bkt")

    done = h.loop.run_until_complete(run())
    h.settle()
    return done


def rules(h: Harness, *rules: dict[str, object]) -> None:
    h.run("put_bucket_lifecycle_configuration", Bucket="bkt",
          LifecycleConfiguration={"Rules": list(rules)})


def test_due_counts_from_the_next_midnight() -> None:
    start = datetime(2030, 1, 1, 15, 0, tzinfo=UTC).timestamp()
    assert due(start, 1) == datetime(2030, 1, 3, tzinfo=UTC).timestamp()


def test_expiration_by_days_with_prefix_and_tag_filters(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="logs/a", Body=b"1")
    h.run("put_object", Bucket="bkt", Key="logs/b", Body=b"2", Tagging="keep=yes")
    h.run("put_object", Bucket="bkt", Key="data/c", Body=b"3")
    h.run("put_object", Bucket="bkt", Key="tmp/big", Body=b"x" * 100, Tagging="t=1")
    rules(h,
          {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
           "Expiration": {"Days": 3}},
          {"ID": "tmp", "Status": "Enabled",
           "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "t", "Value": "1"}],
                              "ObjectSizeGreaterThan": 50}},
           "Expiration": {"Days": 1}},
          {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "data/"},
           "Expiration": {"Days": 1}})
    assert apply(h)["expired"] == 0
    advance(h, 2 * DAY)
    assert apply(h)["expired"] == 1
    assert keys(h) == ["data/c", "logs/a", "logs/b"]
    advance(h, 2 * DAY)
    apply(h)
    h.settle()
    assert keys(h) == ["data/c"]  # both logs (the tag is not in the logs rule's filter)
    assert len(h.blob_keys()) == 1  # expired bytes are collected


def test_expiration_by_tag_only_and_by_date(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="a", Body=b"1", Tagging="class=temp")
    h.run("put_object", Bucket="bkt", Key="b", Body=b"2")
    date = datetime.fromtimestamp(h.clock.now() + 10 * DAY, UTC).replace(
        hour=0, minute=0, second=0, microsecond=0)
    rules(h, {"ID": "t", "Status": "Enabled",
              "Filter": {"Tag": {"Key": "class", "Value": "temp"}},
              "Expiration": {"Days": 1}},
          {"ID": "d", "Status": "Enabled", "Filter": {}, "Expiration": {"Date": date}})
    got = h.run("get_bucket_lifecycle_configuration", Bucket="bkt")["Rules"]
    assert [r["ID"] for r in got] == ["t", "d"]
    advance(h, 2 * DAY)
    apply(h)
    assert keys(h) == ["b"]
    advance(h, 9 * DAY)
    apply(h)
    assert keys(h) == []


def test_versioned_expiration_noncurrent_and_markers(h: Harness) -> None:
    h.run("put_bucket_versioning", Bucket="bkt",
          VersioningConfiguration={"Status": "Enabled"})
    for n in range(4):
        h.run("put_object", Bucket="bkt", Key="k", Body=f"v{n}".encode())
        advance(h, 3600)
    rules(h, {"ID": "nc", "Status": "Enabled", "Filter": {"Prefix": ""},
              "NoncurrentVersionExpiration": {"NoncurrentDays": 2,
                                              "NewerNoncurrentVersions": 1}})
    advance(h, 3 * DAY)
    done = apply(h)
    assert done["noncurrent"] == 2  # v0 and v1; v2 is kept as the one newer non-current
    versions = h.run("list_object_versions", Bucket="bkt")["Versions"]
    assert len(versions) == 2 and versions[0]["IsLatest"]
    # Expire the current version: a delete marker; then the lone marker goes too.
    rules(h, {"ID": "cur", "Status": "Enabled", "Filter": {},
              "Expiration": {"Days": 1}},
          {"ID": "nc", "Status": "Enabled", "Filter": {},
           "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
          {"ID": "m", "Status": "Enabled", "Filter": {},
           "Expiration": {"ExpiredObjectDeleteMarker": True}})
    assert apply(h)["expired"] == 1
    listed = h.run("list_object_versions", Bucket="bkt")
    assert listed["DeleteMarkers"][0]["IsLatest"]
    advance(h, 3 * DAY)
    apply(h)  # the non-current versions expire
    apply(h)  # then the marker is alone and expires
    listed = h.run("list_object_versions", Bucket="bkt")
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")


def test_abort_incomplete_multipart_uploads(h: Harness) -> None:
    old = h.run("create_multipart_upload", Bucket="bkt", Key="up/old")["UploadId"]
    h.run("upload_part", Bucket="bkt", Key="up/old", UploadId=old, PartNumber=1, Body=b"p")
    advance(h, 5 * DAY)
    h.run("create_multipart_upload", Bucket="bkt", Key="up/new")
    rules(h, {"ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": "up/"},
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}})
    assert apply(h)["aborted"] == 1
    h.settle()
    left = h.run("list_multipart_uploads", Bucket="bkt")["Uploads"]
    assert [u["Key"] for u in left] == ["up/new"]
    assert h.blob_keys() == set()


def test_the_loop_applies_rules_as_the_clock_moves(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="a", Body=b"1")
    rules(h, {"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
    loop: Loop = h.s3.lifecycle_loop()

    async def drive() -> None:
        loop.start()
        loop.wake("bkt")
        await loop.idle()
        assert h.s3.records.get("bkt", "a") is not None
        await h.clock.advance(2 * DAY + 3600)
        await loop.idle()
        await loop.stop()

    h.loop.run_until_complete(drive())
    assert keys(h) == []


def test_bad_configurations(h: Harness) -> None:
    for rule in (
        {"ID": "a", "Status": "On", "Filter": {}, "Expiration": {"Days": 1}},
        {"ID": "a", "Status": "Enabled", "Filter": {}},
        {"ID": "a", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 0}},
    ):
        try:
            rules(h, rule)
        except AWSError as error:
            assert error.status == 400
        else:
            raise AssertionError(f"accepted {rule}")
