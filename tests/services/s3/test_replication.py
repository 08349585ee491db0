"""Replication between buckets on the fake clock and the memory blob store:
configuration validation as S3 answers it, versions copied with their id,
metadata, tags, checksums and ETag, PENDING -> COMPLETED / FAILED and REPLICA,
delete markers only when the rule says so, replicas never replicated again,
and queued work found again by a fresh service on the same store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gureum.control.loop import Loop
from gureum.drivers.blobs import BlobNotFound
from gureum.errors import AWSError
from gureum.services.s3 import S3

from .conftest import Harness

ROLE = "arn:aws:iam::000000000000:role/replication"


def versioned(h: Harness, *names: str) -> None:
    for name in names:
        if name != "bkt":
            h.run("create_bucket", Bucket=name)
        h.run("put_bucket_versioning", Bucket=name,
              VersioningConfiguration={"Status": "Enabled"})


def configure(h: Harness, *rules: dict[str, Any]) -> None:
    h.run("put_bucket_replication", Bucket="bkt",
          ReplicationConfiguration={"Role": ROLE, "Rules": list(rules)})


def rule(dest: str = "dst", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
                           "DeleteMarkerReplication": {"Status": "Disabled"},
                           "Destination": {"Bucket": f"arn:aws:s3:::{dest}"}}
    out.update(extra)
    return out


def drain(h: Harness, s3: S3 | None = None) -> None:
    service = s3 or h.s3

    async def run() -> None:
        while await service.reconcile_replication("bkt") is not None:
            pass

    h.loop.run_until_complete(run())
    h.settle()


def error(h: Harness, operation: str, **params: Any) -> AWSError:
    with pytest.raises(AWSError) as raised:
        h.run(operation, **params)
    return raised.value


def test_configuration_is_validated_as_s3_does(h: Harness) -> None:
    h.run("create_bucket", Bucket="dst")
    e = error(h, "put_bucket_replication", Bucket="bkt",
              ReplicationConfiguration={"Role": ROLE, "Rules": [rule()]})
    assert (e.code, e.status) == ("InvalidRequest", 400)
    assert "Versioning must be 'Enabled'" in e.message
    e = error(h, "get_bucket_replication", Bucket="bkt")
    assert (e.code, e.status) == ("ReplicationConfigurationNotFoundError", 404)
    versioned(h, "bkt")
    e = error(h, "put_bucket_replication", Bucket="bkt",
              ReplicationConfiguration={"Role": ROLE, "Rules": [rule()]})
    assert e.message == "Destination bucket must have versioning enabled."
    versioned(h, "dst")
    e = error(h, "put_bucket_replication", Bucket="bkt",
              ReplicationConfiguration={"Role": ROLE, "Rules": [rule("nowhere")]})
    assert (e.code, e.message) == ("InvalidRequest", "Destination bucket must exist.")
    e = error(h, "put_bucket_replication", Bucket="bkt",
              ReplicationConfiguration={"Rules": [rule()]})
    assert e.code == "MalformedXML"
    no_marker = rule()
    del no_marker["DeleteMarkerReplication"]
    e = error(h, "put_bucket_replication", Bucket="bkt",
              ReplicationConfiguration={"Role": ROLE, "Rules": [no_marker]})
    assert e.code == "InvalidRequest" and "DeleteMarkerReplication" in e.message
    tagged = rule(Filter={"Tag": {"Key": "a", "Value": "b"}},
                  DeleteMarkerReplication={"Status": "Enabled"})
    assert error(h, "put_bucket_replication", Bucket="bkt",
                 ReplicationConfiguration={"Role": ROLE, "Rules": [tagged]}).code == \
        "InvalidRequest"
    twice = [rule(), rule(ID="other")]
    assert error(h, "put_bucket_replication", Bucket="bkt",
                 ReplicationConfiguration={"Role": ROLE, "Rules": twice}).code == \
        "InvalidRequest"
    assert error(h, "put_bucket_replication", Bucket="bkt",
                 ReplicationConfiguration={"Role": ROLE, "Rules": [rule("bkt")]}).code == \
        "InvalidRequest"
    assert error(h, "put_bucket_replication", Bucket="bkt", ReplicationConfiguration={
        "Role": ROLE, "Rules": [rule(Destination={"Bucket": "dst"})]}).code == \
        "InvalidArgument"
    configure(h, rule())
    got = h.run("get_bucket_replication", Bucket="bkt")["ReplicationConfiguration"]
    assert got["Role"] == ROLE and got["Rules"][0]["ID"] == "all"
    e = error(h, "put_bucket_versioning", Bucket="bkt",
              VersioningConfiguration={"Status": "Suspended"})
    assert (e.code, e.status) == ("InvalidBucketState", 409)
    h.run("delete_bucket_replication", Bucket="bkt")
    assert error(h, "get_bucket_replication", Bucket="bkt").status == 404


def test_a_new_version_is_copied_whole_and_marked(h: Harness) -> None:
    versioned(h, "bkt", "dst")
    h.run("put_object", Bucket="bkt", Key="before", Body=b"old")
    configure(h, rule())
    put = h.run("put_object", Bucket="bkt", Key="k", Body=b"hello" * 1000,
                Metadata={"m": "v"}, Tagging="t=1", ContentType="text/plain",
                ChecksumAlgorithm="SHA256")
    head = h.run("head_object", Bucket="bkt", Key="k")
    assert head["ReplicationStatus"] == "PENDING"
    assert error(h, "head_object", Bucket="dst", Key="k").status == 404
    drain(h)
    assert h.run("head_object", Bucket="bkt", Key="k")["ReplicationStatus"] == "COMPLETED"
    replica = h.run("get_object", Bucket="dst", Key="k", ChecksumMode="ENABLED")
    assert replica["ReplicationStatus"] == "REPLICA"
    assert replica["VersionId"] == put["VersionId"]
    assert replica["ETag"] == put["ETag"]
    assert replica["Metadata"] == {"m": "v"}
    assert replica["ContentType"] == "text/plain"
    assert replica["ChecksumSHA256"] == put["ChecksumSHA256"]
    assert h.read(replica["Body"]) == b"hello" * 1000
    assert h.run("get_object_tagging", Bucket="dst", Key="k")["TagSet"] == [
        {"Key": "t", "Value": "1"}]
    # Written before the configuration: not replicated, no status.
    assert "ReplicationStatus" not in h.run("head_object", Bucket="bkt", Key="before")
    assert error(h, "head_object", Bucket="dst", Key="before").status == 404


def test_large_and_multipart_objects_get_their_own_blobs(h: Harness) -> None:
    versioned(h, "bkt", "dst")
    configure(h, rule())
    h.s3.inline_max = 0  # every object in a blob of its own
    big = b"x" * (5 << 20)
    up = h.run("create_multipart_upload", Bucket="bkt", Key="mp")["UploadId"]
    p1 = h.run("upload_part", Bucket="bkt", Key="mp", UploadId=up, PartNumber=1, Body=big)
    p2 = h.run("upload_part", Bucket="bkt", Key="mp", UploadId=up, PartNumber=2, Body=b"end")
    done = h.run("complete_multipart_upload", Bucket="bkt", Key="mp", UploadId=up,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]},
                                            {"PartNumber": 2, "ETag": p2["ETag"]}]})
    drain(h)
    replica = h.run("get_object", Bucket="dst", Key="mp")
    assert replica["ETag"] == done["ETag"] and replica["ETag"].endswith('-2"')
    assert h.read(replica["Body"]) == big + b"end"
    assert h.run("head_object", Bucket="dst", Key="mp", PartNumber=2)["ContentLength"] == 3
    # Deleting the source's versions leaves the replica whole.
    h.run("delete_object", Bucket="bkt", Key="mp", VersionId=done["VersionId"])
    h.settle()
    assert h.read(h.run("get_object", Bucket="dst", Key="mp")["Body"]) == big + b"end"


def test_filters_priorities_and_delete_markers(h: Harness) -> None:
    versioned(h, "bkt", "dst", "other")
    configure(h,
              rule("dst", ID="logs", Priority=1, Filter={"Prefix": "logs/"},
                   DeleteMarkerReplication={"Status": "Enabled"}),
              rule("other", ID="tagged", Priority=2,
                   Filter={"And": {"Prefix": "logs/", "Tags": [{"Key": "k", "Value": "v"}]}}))
    h.run("put_object", Bucket="bkt", Key="logs/a", Body=b"a")
    h.run("put_object", Bucket="bkt", Key="logs/b", Body=b"b", Tagging="k=v")
    h.run("put_object", Bucket="bkt", Key="data/c", Body=b"c")
    drain(h)
    assert "ReplicationStatus" not in h.run("head_object", Bucket="bkt", Key="data/c")
    assert h.run("head_object", Bucket="dst", Key="logs/a")["ReplicationStatus"] == "REPLICA"
    assert error(h, "head_object", Bucket="dst", Key="logs/b").status == 404
    assert h.run("head_object", Bucket="other", Key="logs/b")["ReplicationStatus"] == "REPLICA"
    deleted = h.run("delete_object", Bucket="bkt", Key="logs/a")
    drain(h)
    assert error(h, "head_object", Bucket="dst", Key="logs/a").status == 404
    markers = h.run("list_object_versions", Bucket="dst", Prefix="logs/a")["DeleteMarkers"]
    assert [m["VersionId"] for m in markers] == [deleted["VersionId"]]
    assert markers[0]["IsLatest"] is True

    h.run("put_bucket_replication", Bucket="bkt", ReplicationConfiguration={
        "Role": ROLE, "Rules": [rule("dst")]})  # markers Disabled
    h.run("put_object", Bucket="bkt", Key="x", Body=b"x")
    drain(h)
    h.run("delete_object", Bucket="bkt", Key="x")
    drain(h)
    assert h.read(h.run("get_object", Bucket="dst", Key="x")["Body"]) == b"x"


def test_replicas_are_not_replicated_again_and_a_lost_destination_fails(
    h: Harness,
) -> None:
    versioned(h, "bkt", "dst")
    configure(h, rule())
    h.run("put_bucket_replication", Bucket="dst", ReplicationConfiguration={
        "Role": ROLE, "Rules": [rule("bkt")]})
    h.run("put_object", Bucket="bkt", Key="k", Body=b"1")
    drain(h)
    pending = h.s3._conn.execute("SELECT COUNT(*) FROM s3_replication").fetchone()[0]
    assert pending == 0  # the replica in dst was not queued back to bkt
    versions = h.run("list_object_versions", Bucket="bkt")["Versions"]
    assert len(versions) == 1

    h.run("delete_bucket_replication", Bucket="dst")
    h.run("put_object", Bucket="bkt", Key="k2", Body=b"2")
    for v in h.run("list_object_versions", Bucket="dst")["Versions"]:
        h.run("delete_object", Bucket="dst", Key=v["Key"], VersionId=v["VersionId"])
    h.run("delete_bucket", Bucket="dst")
    drain(h)
    assert h.run("head_object", Bucket="bkt", Key="k2")["ReplicationStatus"] == "FAILED"


def test_queued_work_survives_a_restart_and_the_loop_runs_it(h: Harness) -> None:
    versioned(h, "bkt", "dst")
    configure(h, rule())
    h.run("put_object", Bucket="bkt", Key="k", Body=b"queued")
    # A new service on the same store, as after a restart, finds the work.
    fresh = S3(h.s3.env)
    fresh.grace = 0.0
    loop: Loop = fresh.replication_loop()

    async def drive() -> None:
        loop.start()
        await loop.idle()
        await loop.stop()

    h.loop.run_until_complete(drive())
    h.settle()
    assert h.run("head_object", Bucket="dst", Key="k")["ReplicationStatus"] == "REPLICA"
    assert h.run("head_object", Bucket="bkt", Key="k")["ReplicationStatus"] == "COMPLETED"


def test_file_blobs_are_hard_linked_and_stay_independent(tmp_path: Path) -> None:
    import asyncio

    from gureum.drivers.blobs import FileBlobStore

    store = FileBlobStore(tmp_path / "blobs")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"bytes once"

    async def run() -> None:
        await store.write("oa", chunks())
        await store.link("oa", "ob")
        first, second = store.path("oa"), store.path("ob")
        assert first is not None and second is not None
        assert first.stat().st_ino == second.stat().st_ino  # no second copy
        await store.delete("oa")
        assert second.read_bytes() == b"bytes once"
        with pytest.raises(BlobNotFound):
            await store.link("oa", "oc")

    asyncio.run(run())


def test_replication_shares_the_bytes_it_can(h: Harness) -> None:
    versioned(h, "bkt", "dst")
    configure(h, rule())
    h.s3.inline_max = 0
    h.run("put_object", Bucket="bkt", Key="k", Body=b"z" * 100_000)
    drain(h)
    source = h.s3.records.get("bkt", "k")
    replica = h.s3.records.get("dst", "k")
    assert source is not None and replica is not None
    assert source.blobs[0][0] != replica.blobs[0][0]
    assert h.blobs._blobs[source.blobs[0][0]] is h.blobs._blobs[replica.blobs[0][0]]


def test_tag_and_acl_changes_follow_to_the_replica(h: Harness) -> None:
    versioned(h, "bkt", "dst")
    configure(h, rule())
    put = h.run("put_object", Bucket="bkt", Key="k", Body=b"1", Tagging="a=1")
    drain(h)
    h.run("put_object_tagging", Bucket="bkt", Key="k",
          Tagging={"TagSet": [{"Key": "b", "Value": "2"}]})
    assert h.run("head_object", Bucket="bkt", Key="k")["ReplicationStatus"] == "PENDING"
    drain(h)
    assert h.run("get_object_tagging", Bucket="dst", Key="k")["TagSet"] == [
        {"Key": "b", "Value": "2"}]
    assert h.run("head_object", Bucket="bkt", Key="k")["ReplicationStatus"] == "COMPLETED"
    assert h.run("head_object", Bucket="dst", Key="k")["VersionId"] == put["VersionId"]
    h.run("delete_object_tagging", Bucket="bkt", Key="k")
    h.run("put_object_acl", Bucket="bkt", Key="k", ACL="public-read")
    drain(h)
    assert h.run("get_object_tagging", Bucket="dst", Key="k")["TagSet"] == []
    grants = h.run("get_object_acl", Bucket="dst", Key="k")["Grants"]
    assert any(g["Permission"] == "READ" for g in grants)
    # Changing the replica's tags is not sent back.
    h.run("put_object_tagging", Bucket="dst", Key="k",
          Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert h.s3._conn.execute("SELECT COUNT(*) FROM s3_replication").fetchone()[0] == 0
    assert h.run("get_object_tagging", Bucket="bkt", Key="k")["TagSet"] == []


def test_another_accounts_destination_must_let_the_role_in(h: Harness) -> None:
    import json

    versioned(h, "bkt", "dst")
    h.s3.update_bucket("dst", Owner="111122223333")
    configure(h, rule())
    h.run("put_object", Bucket="bkt", Key="refused", Body=b"1")
    drain(h)
    assert h.run("head_object", Bucket="bkt", Key="refused")["ReplicationStatus"] == "FAILED"
    h.s3.update_bucket("dst", PolicyDoc=json.loads(json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ROLE},
            "Action": ["s3:ReplicateObject", "s3:ReplicateDelete"],
            "Resource": "arn:aws:s3:::dst/*"}]})))
    h.run("put_object", Bucket="bkt", Key="let-in", Body=b"2")
    drain(h)
    assert h.run("head_object", Bucket="bkt", Key="let-in")["ReplicationStatus"] == "COMPLETED"
    assert h.s3.records.get("dst", "let-in") is not None
