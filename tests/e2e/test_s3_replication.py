"""S3 replication end to end through boto3: an object put in the source bucket
appears in the destination (same region, another region, another account)
with its version id, metadata, tags, checksum and ETag and REPLICA status,
the source going PENDING -> COMPLETED; multipart uploads too; delete markers
only when the rule enables them; S3's errors for a bad configuration; and the
configuration and the loop still at work after a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum, running_gureum

from .test_s3_support import empty_bucket, unique

ROLE = "arn:aws:iam::000000000000:role/s3-replication"
DEADLINE = 20.0


def wait_for(check: Callable[[], Any], what: str) -> Any:
    end = time.monotonic() + DEADLINE
    while True:
        try:
            got = check()
            if got:
                return got
        except ClientError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        time.sleep(0.1)


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = exc.value.response
    return (str(response["Error"]["Code"]),
            int(response["ResponseMetadata"]["HTTPStatusCode"]),
            str(response["Error"].get("Message")))


def versioned(s3: Any, name: str, region: str | None = None) -> str:
    if region is None:
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name,
                         CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def rule(dest: str, markers: str = "Disabled", **extra: Any) -> dict[str, Any]:
    return {"ID": f"to-{dest}", "Priority": 1, "Status": "Enabled", "Filter": {},
            "DeleteMarkerReplication": {"Status": markers},
            "Destination": {"Bucket": f"arn:aws:s3:::{dest}"}, **extra}


def status(s3: Any, bucket: str, key: str) -> str | None:
    found: str | None = s3.head_object(Bucket=bucket, Key=key).get("ReplicationStatus")
    return found


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3")


@pytest.fixture
def buckets(s3: Any) -> Iterator[list[tuple[Any, str]]]:
    made: list[tuple[Any, str]] = []
    yield made
    for client, name in reversed(made):
        try:
            client.delete_bucket_replication(Bucket=name)
            empty_bucket(client, name)
            client.delete_bucket(Bucket=name)
        except ClientError:
            pass


def test_objects_replicate_within_seconds_with_everything(
    gureum: RunningGureum, s3: Any, buckets: list[tuple[Any, str]],
) -> None:
    src = versioned(s3, unique("src"))
    dst = versioned(s3, unique("dst"))
    buckets.extend([(s3, dst), (s3, src)])
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={
        "Role": ROLE, "Rules": [rule(dst, "Enabled")]})
    got = s3.get_bucket_replication(Bucket=src)["ReplicationConfiguration"]
    assert got["Role"] == ROLE and got["Rules"][0]["Destination"]["Bucket"] == f"arn:aws:s3:::{dst}"

    put = s3.put_object(Bucket=src, Key="docs/a.txt", Body=b"replicate me",
                        Metadata={"colour": "blue"}, Tagging="team=web",
                        ContentType="text/plain", ChecksumAlgorithm="CRC32")
    assert status(s3, src, "docs/a.txt") in ("PENDING", "COMPLETED")
    wait_for(lambda: status(s3, dst, "docs/a.txt") == "REPLICA", "the replica")
    wait_for(lambda: status(s3, src, "docs/a.txt") == "COMPLETED", "COMPLETED on the source")
    replica = s3.get_object(Bucket=dst, Key="docs/a.txt", ChecksumMode="ENABLED")
    assert replica["Body"].read() == b"replicate me"
    assert replica["VersionId"] == put["VersionId"]
    assert replica["ETag"] == put["ETag"]
    assert replica["Metadata"] == {"colour": "blue"}
    assert replica["ContentType"] == "text/plain"
    assert replica["ChecksumCRC32"] == put["ChecksumCRC32"]
    assert replica["ReplicationStatus"] == "REPLICA"
    assert s3.get_object_tagging(Bucket=dst, Key="docs/a.txt")["TagSet"] == [
        {"Key": "team", "Value": "web"}]

    # A multipart upload (boto3's threads) replicates with its -N ETag.
    data = bytes(range(256)) * (45 * 1024)  # 11.25 MiB: three parts
    path = Path(gureum.data_dir).parent / f"{unique('mp')}.bin"
    path.write_bytes(data)
    try:
        s3.upload_file(str(path), src, "big.bin", Config=TransferConfig(
            multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=3))
    finally:
        path.unlink()
    wait_for(lambda: status(s3, dst, "big.bin") == "REPLICA", "the multipart replica")
    head = s3.head_object(Bucket=dst, Key="big.bin")
    assert head["ETag"] == s3.head_object(Bucket=src, Key="big.bin")["ETag"]
    assert head["ETag"].endswith('-3"')
    assert s3.get_object(Bucket=dst, Key="big.bin")["Body"].read() == data

    # The delete marker goes across (the rule enables it); the replica's bytes
    # stay whole when the source's version is deleted by id.
    marker = s3.delete_object(Bucket=src, Key="docs/a.txt")
    assert marker["DeleteMarker"] is True

    def marker_there() -> bool:
        found = s3.list_object_versions(Bucket=dst, Prefix="docs/a.txt")
        return [m["VersionId"] for m in found.get("DeleteMarkers") or []] == [
            marker["VersionId"]]

    wait_for(marker_there, "the replicated delete marker")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=dst, Key="docs/a.txt")
    assert err(exc)[1] == 404
    s3.delete_object(Bucket=src, Key="big.bin", VersionId=s3.head_object(
        Bucket=src, Key="big.bin")["VersionId"])
    assert s3.get_object(Bucket=dst, Key="big.bin")["Body"].read() == data


def test_cross_region_other_account_and_no_marker_replication(
    gureum: RunningGureum, s3: Any, buckets: list[tuple[Any, str]],
) -> None:
    other = gureum.client("s3", region="eu-west-1", access_key="111122223333")
    src = versioned(s3, unique("src"))
    dst = versioned(other, unique("eu"), "eu-west-1")
    buckets.extend([(other, dst), (s3, src)])
    to_eu = rule(dst)
    to_eu["Destination"]["StorageClass"] = "STANDARD"
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={
        "Role": ROLE, "Rules": [to_eu]})
    # Another account's bucket takes replicas only once its policy lets the role in.
    s3.put_object(Bucket=src, Key="refused", Body=b"no")
    wait_for(lambda: status(s3, src, "refused") == "FAILED", "FAILED without the policy")
    other.put_bucket_policy(Bucket=dst, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ROLE},
            "Action": ["s3:ReplicateObject", "s3:ReplicateDelete"],
            "Resource": f"arn:aws:s3:::{dst}/*"}]}))
    s3.put_object(Bucket=src, Key="k", Body=b"across")
    wait_for(lambda: status(other, dst, "k") == "REPLICA", "the cross-region replica")
    assert other.get_object(Bucket=dst, Key="k")["Body"].read() == b"across"
    s3.delete_object(Bucket=src, Key="k")  # markers Disabled: the replica stays
    s3.put_object(Bucket=src, Key="after", Body=b"later")
    wait_for(lambda: status(other, dst, "after") == "REPLICA", "the later replica")
    assert other.get_object(Bucket=dst, Key="k")["Body"].read() == b"across"
    assert not other.list_object_versions(Bucket=dst).get("DeleteMarkers")


def test_bad_configurations_answer_as_s3(s3: Any, buckets: list[tuple[Any, str]]) -> None:
    src = unique("src")
    s3.create_bucket(Bucket=src)
    dst = versioned(s3, unique("dst"))
    buckets.extend([(s3, dst), (s3, src)])
    config = {"Role": ROLE, "Rules": [rule(dst)]}
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_replication(Bucket=src, ReplicationConfiguration=config)
    assert err(exc)[:2] == ("InvalidRequest", 400)
    s3.put_bucket_versioning(Bucket=src, VersioningConfiguration={"Status": "Enabled"})
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={
            "Role": ROLE, "Rules": [rule(unique("missing"))]})
    assert err(exc) == ("InvalidRequest", 400, "Destination bucket must exist.")
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_replication(Bucket=src)
    assert err(exc)[:2] == ("ReplicationConfigurationNotFoundError", 404)
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration=config)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=src, VersioningConfiguration={"Status": "Suspended"})
    assert err(exc)[:2] == ("InvalidBucketState", 409)
    s3.delete_bucket_replication(Bucket=src)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_replication(Bucket=src)
    assert err(exc)[1] == 404


def test_replication_goes_on_after_a_restart(tmp_path: Path) -> None:
    with running_gureum(data_dir=tmp_path / "data") as g:
        s3 = g.client("s3")
        versioned(s3, "rsrc")
        versioned(s3, "rdst")
        s3.put_bucket_replication(Bucket="rsrc", ReplicationConfiguration={
            "Role": ROLE, "Rules": [rule("rdst")]})
        s3.put_object(Bucket="rsrc", Key="first", Body=b"1")
        g.restart(kill=True)
        s3 = g.client("s3")
        wait_for(lambda: status(s3, "rdst", "first") == "REPLICA", "the first replica")
        assert s3.get_bucket_replication(Bucket="rsrc")["ReplicationConfiguration"]["Role"] \
            == ROLE
        s3.put_object(Bucket="rsrc", Key="second", Body=b"2")
        wait_for(lambda: status(s3, "rdst", "second") == "REPLICA", "the second replica")
        assert status(s3, "rsrc", "first") == "COMPLETED"
