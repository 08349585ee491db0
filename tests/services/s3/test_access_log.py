"""Server access logging on the fake clock: PutBucketLogging's checks as S3
makes them (target exists, same owner, same region, log delivery allowed by a
policy or the ACL), records in S3's documented format, delivered in batches as
objects named TargetPrefix + time + unique string, and no records of the
deliveries themselves."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gureum.control.loop import Loop
from gureum.errors import AWSError
from gureum.services.s3.accesslog import INTERVAL, operation_name

from .conftest import Harness

LINE = re.compile(r'\[[^\]]*\]|"[^"]*"|\S+')
KEY_NAME = re.compile(r"^logs/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}$")


def fields(line: str) -> list[str]:
    return LINE.findall(line)


def error(h: Harness, operation: str, **params: Any) -> AWSError:
    with pytest.raises(AWSError) as raised:
        h.run(operation, **params)
    return raised.value


def policy_for_logging(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def enable(h: Harness, target: str = "logs", prefix: str = "logs/") -> None:
    h.run("put_bucket_logging", Bucket="bkt", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": target, "TargetPrefix": prefix}})


def deliver(h: Harness) -> list[tuple[str, str]]:
    async def run() -> list[tuple[str, str]]:
        return await h.s3.deliver_access_logs()

    done = h.loop.run_until_complete(run())
    h.settle()
    return done


def lines(h: Harness, bucket: str, key: str) -> list[list[str]]:
    got = h.run("get_object", Bucket=bucket, Key=key)["Body"]
    body = (got if isinstance(got, bytes) else h.read(got)).decode()
    return [fields(line) for line in body.splitlines()]


def test_operation_names() -> None:
    assert operation_name("GetObject") == "REST.GET.OBJECT"
    assert operation_name("PutObject") == "REST.PUT.OBJECT"
    assert operation_name("HeadObject") == "REST.HEAD.OBJECT"
    assert operation_name("ListObjectsV2") == "REST.GET.BUCKET"
    assert operation_name("GetBucketVersioning") == "REST.GET.VERSIONING"
    assert operation_name("PutObjectTagging") == "REST.PUT.OBJECT_TAGGING"
    assert operation_name("DeleteObjects") == "REST.POST.MULTI_OBJECT_DELETE"
    assert operation_name("list_objects_v2") == "REST.GET.BUCKET"


def test_put_bucket_logging_checks_the_target_as_s3_does(h: Harness) -> None:
    e = error(h, "put_bucket_logging", Bucket="bkt", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "nowhere", "TargetPrefix": "x/"}})
    assert (e.code, e.status) == ("InvalidTargetBucketForLogging", 400)
    h.run("create_bucket", Bucket="logs")
    e = error(h, "put_bucket_logging", Bucket="bkt", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "logs", "TargetPrefix": "x/"}})
    assert (e.code, e.status) == ("InvalidTargetBucketForLogging", 400)
    assert "log-delivery" in e.message
    h.run("put_bucket_policy", Bucket="logs", Policy=policy_for_logging("logs"))
    enable(h)
    assert h.run("get_bucket_logging", Bucket="bkt")["LoggingEnabled"] == {
        "TargetBucket": "logs", "TargetPrefix": "logs/"}
    h.s3.update_bucket("logs", Region="eu-west-1")
    e = error(h, "put_bucket_logging", Bucket="bkt", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "logs", "TargetPrefix": "x/"}})
    assert (e.code, e.status) == ("CrossLocationLoggingProhibitted", 403)
    h.s3.update_bucket("logs", Region="us-east-1", Owner="111122223333")
    e = error(h, "put_bucket_logging", Bucket="bkt", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "logs", "TargetPrefix": "x/"}})
    assert (e.code, e.status) == ("InvalidTargetBucketForLogging", 400)
    h.s3.update_bucket("logs", Owner="000000000000", Policy=None, PolicyDoc=None)
    # The ACL way: the LogDelivery group's WRITE and READ_ACP.
    h.run("put_bucket_ownership_controls", Bucket="logs", OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    h.run("put_bucket_acl", Bucket="logs", ACL="log-delivery-write")
    enable(h, prefix="acl/")
    h.run("put_bucket_logging", Bucket="bkt", BucketLoggingStatus={})
    assert h.run("get_bucket_logging", Bucket="bkt") == {}


def test_records_are_delivered_in_s3_format(h: Harness) -> None:
    h.run("create_bucket", Bucket="logs")
    h.run("put_bucket_policy", Bucket="logs", Policy=policy_for_logging("logs"))
    enable(h)
    h.run("put_object", Bucket="bkt", Key="a b.txt", Body=b"12345")
    h.run("get_object", Bucket="bkt", Key="a b.txt")
    h.run("head_object", Bucket="bkt", Key="a b.txt")
    error(h, "get_object", Bucket="bkt", Key="missing")
    h.run("list_objects_v2", Bucket="bkt")
    h.run("get_object", Bucket="bkt", Key="a b.txt", Range="bytes=1-2")
    assert h.run("list_objects_v2", Bucket="logs").get("KeyCount") == 0
    written = deliver(h)
    assert len(written) == 1 and written[0][0] == "logs"
    assert KEY_NAME.match(written[0][1]), written
    got = lines(h, *written[0])
    assert [f[6] for f in got] == ["REST.PUT.LOGGING_STATUS", "REST.PUT.OBJECT",
                                   "REST.GET.OBJECT", "REST.HEAD.OBJECT", "REST.GET.OBJECT",
                                   "REST.GET.BUCKET", "REST.GET.OBJECT"]
    _, put, get, head, missing, listing, ranged = got
    assert (ranged[9], ranged[11], ranged[12]) == ("206", "2", "5")
    assert all(len(f) == 26 for f in got)
    assert put[1] == "bkt" and put[2].startswith("[") and put[2].endswith("+0000]")
    assert put[3] == "127.0.0.1" and put[5] == "req"
    assert put[7] == "a%20b.txt" and put[8] == '"PUT /bkt/a%20b.txt HTTP/1.1"'
    assert put[9] == "200" and put[10] == "-" and put[12] == "5"
    assert get[9] == "200" and get[11] == "5" and get[12] == "5"
    assert head[11] == "-" and head[12] == "5"
    assert missing[9] == "404" and missing[10] == "NoSuchKey"
    assert listing[7] == "-"
    # Nothing more waits: the delivery itself was not logged.
    assert deliver(h) == []


def test_a_bucket_logging_into_itself_does_not_log_its_deliveries(h: Harness) -> None:
    h.run("put_bucket_policy", Bucket="bkt", Policy=policy_for_logging("bkt"))
    enable(h, target="bkt")
    h.run("put_object", Bucket="bkt", Key="k", Body=b"1")
    assert len(deliver(h)) == 1
    assert deliver(h) == []
    keys = [c["Key"] for c in h.run("list_objects_v2", Bucket="bkt")["Contents"]]
    assert len(keys) == 2  # k and the log object: nothing from its delivery
    # (the listing just made is logged, to be delivered next time)
    assert len(deliver(h)) == 1


def test_the_loop_delivers_every_few_minutes(h: Harness) -> None:
    h.run("create_bucket", Bucket="logs")
    h.run("put_bucket_policy", Bucket="logs", Policy=policy_for_logging("logs"))
    h.run("put_bucket_logging", Bucket="bkt", BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": "logs", "TargetPrefix": "p/",
        "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}}})
    loop: Loop = h.s3.access_log_loop()

    def listed() -> list[str]:
        return [c["Key"] for c in h.run("list_objects_v2", Bucket="logs").get("Contents") or []]

    async def start() -> None:
        loop.start()
        await loop.idle()

    h.loop.run_until_complete(start())
    try:
        h.settle()
        first = listed()  # at start: what waited (the PutBucketLogging record)
        assert len(first) == 1
        h.run("put_object", Bucket="bkt", Key="k", Body=b"1")
        h.loop.run_until_complete(h.clock.advance(INTERVAL / 2))
        h.settle()
        assert listed() == first  # batched, not delivered at once

        async def later() -> None:
            await h.clock.advance(INTERVAL / 2)
            await loop.idle()

        h.loop.run_until_complete(later())
        h.settle()
        found = [k for k in listed() if k not in first]
        assert len(found) == 1
        assert re.match(r"^p/000000000000/us-east-1/bkt/\d{4}/\d{2}/\d{2}/\d{4}-", found[0])
    finally:
        h.loop.run_until_complete(loop.stop())


def test_target_grants_are_given_on_the_log_objects(h: Harness) -> None:
    h.run("create_bucket", Bucket="logs")
    h.run("put_bucket_ownership_controls", Bucket="logs", OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    h.run("put_bucket_acl", Bucket="logs", ACL="log-delivery-write")
    reader = "a" * 64
    h.run("put_bucket_logging", Bucket="bkt", BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": "logs", "TargetPrefix": "g/",
        "TargetGrants": [{"Grantee": {"Type": "CanonicalUser", "ID": reader},
                          "Permission": "READ"}]}})
    assert h.run("get_bucket_logging", Bucket="bkt")["LoggingEnabled"]["TargetGrants"][0][
        "Permission"] == "READ"
    ((bucket, key),) = deliver(h)
    grants = h.run("get_object_acl", Bucket=bucket, Key=key)["Grants"]
    assert {(g["Grantee"].get("ID"), g["Permission"]) for g in grants} >= {
        (reader, "READ")}
    assert any(g["Permission"] == "FULL_CONTROL" for g in grants)
    e = error(h, "put_bucket_logging", Bucket="bkt", BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": "logs", "TargetPrefix": "g/",
        "TargetGrants": [{"Grantee": {"Type": "CanonicalUser", "ID": reader},
                          "Permission": "WRITE_ACP"}]}})
    assert (e.code, e.status) == ("MalformedXML", 400)
