"""Object Lock end to end through boto3 and the AWS CLI: a bucket created
with it, default retention, each version's retention and legal hold, the
headers on PUT and GET/HEAD, and every refusal S3 answers (deleting a locked
version, shortening COMPLIANCE, GOVERNANCE without the bypass, suspending
versioning, a bad configuration, lock requests on a bucket without it).

The real server runs on the real clock: COMPLIANCE versions are given a few
seconds, and cleanup waits (with a deadline) for them to expire."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .test_s3_support import unique

OTHER = "111122223333"


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3")


def _purge(s3: Any, bucket: str, deadline: float) -> None:
    """Delete every version (bypassing GOVERNANCE, releasing holds), waiting
    out short COMPLIANCE retention until ``deadline``."""
    while True:
        left = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                key, version = v["Key"], v["VersionId"]
                try:
                    s3.put_object_legal_hold(Bucket=bucket, Key=key, VersionId=version,
                                             LegalHold={"Status": "OFF"})
                except ClientError:
                    pass  # a delete marker
                try:
                    s3.delete_object(Bucket=bucket, Key=key, VersionId=version,
                                     BypassGovernanceRetention=True)
                except ClientError:
                    left.append(key)
        if not left:
            s3.delete_bucket(Bucket=bucket)
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"locked versions outlived their retention: {left}")
        time.sleep(0.2)  # wait on the retention date, bounded by the deadline


@pytest.fixture
def locked(s3: Any) -> Iterator[str]:
    name = unique("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    try:
        yield name
    finally:
        _purge(s3, name, time.monotonic() + 30)


def soon(seconds: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


def test_bucket_configuration_through_boto3(s3: Any, locked: str) -> None:
    got = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert got == {"ObjectLockEnabled": "Enabled"}
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    assert err(exc) == ("InvalidBucketState", 409)
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": rule})
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"][
        "Rule"] == rule
    for bad, code in (
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
            "Mode": "GOVERNANCE", "Days": 1, "Years": 1}}}, ("MalformedXML", 400)),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
            "Mode": "GOVERNANCE", "Days": 0}}}, ("InvalidRetentionPeriod", 400)),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
            "Mode": "FOREVER", "Days": 1}}}, ("MalformedXML", 400)),
    ):
        with pytest.raises(ClientError) as exc:
            s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=bad)
        assert err(exc) == code
    # The default applies to a new version, answered on HEAD.
    s3.put_object(Bucket=locked, Key="d", Body=b"data")
    head = s3.head_object(Bucket=locked, Key="d")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    left = head["ObjectLockRetainUntilDate"] - datetime.now(UTC)
    assert timedelta(hours=23) < left <= timedelta(days=1)


def test_a_bucket_without_lock(s3: Any) -> None:
    name = unique("nolock")
    s3.create_bucket(Bucket=name)
    try:
        with pytest.raises(ClientError) as exc:
            s3.get_object_lock_configuration(Bucket=name)
        assert err(exc) == ("ObjectLockConfigurationNotFoundError", 404)
        with pytest.raises(ClientError) as exc:
            s3.put_object_lock_configuration(
                Bucket=name, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
        assert err(exc) == ("InvalidBucketState", 409)
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=name, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                          ObjectLockRetainUntilDate=soon(60))
        assert err(exc) == ("InvalidRequest", 400)
        s3.put_object(Bucket=name, Key="k", Body=b"x")
        with pytest.raises(ClientError) as exc:
            s3.get_object_retention(Bucket=name, Key="k")
        assert err(exc) == ("InvalidRequest", 400)
        s3.delete_object(Bucket=name, Key="k")
    finally:
        s3.delete_bucket(Bucket=name)


def test_governance_retention_and_its_bypass(
    gureum: RunningGureum, s3: Any, locked: str,
) -> None:
    until = soon(3600)
    version = s3.put_object(Bucket=locked, Key="g", Body=b"data", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    got = s3.get_object(Bucket=locked, Key="g")
    assert (got["ObjectLockMode"], got["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", until)
    assert s3.get_object_retention(Bucket=locked, Key="g")["Retention"] == {
        "Mode": "GOVERNANCE", "RetainUntilDate": until}
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=locked, Key="g", VersionId=version)
    assert err(exc) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(Bucket=locked, Key="g", Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": soon(60)})
    assert err(exc) == ("AccessDenied", 403)
    # A plain DELETE adds a delete marker; the version stays.
    assert s3.delete_object(Bucket=locked, Key="g")["DeleteMarker"] is True
    assert s3.head_object(Bucket=locked, Key="g", VersionId=version)["ContentLength"] == 4
    # Another account allowed to delete versions, but not to bypass, is refused.
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": ["s3:DeleteObjectVersion"], "Resource": f"arn:aws:s3:::{locked}/*"}]}
    s3.put_bucket_policy(Bucket=locked, Policy=json.dumps(policy))
    other = gureum.client("s3", access_key=OTHER)
    with pytest.raises(ClientError) as exc:
        other.delete_object(Bucket=locked, Key="g", VersionId=version,
                            BypassGovernanceRetention=True)
    assert err(exc) == ("AccessDenied", 403)
    s3.delete_bucket_policy(Bucket=locked)
    # The owner shortens it with the bypass, then deletes the version.
    s3.put_object_retention(Bucket=locked, Key="g", VersionId=version,
                            BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon(600)})
    s3.delete_object(Bucket=locked, Key="g", VersionId=version, BypassGovernanceRetention=True)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=locked, Key="g", VersionId=version)
    assert err(exc)[1] == 404


def test_compliance_and_legal_hold(s3: Any, locked: str) -> None:
    until = soon(3)
    version = s3.put_object(Bucket=locked, Key="c", Body=b"data", ObjectLockMode="COMPLIANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(seconds=1)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": until}):
        with pytest.raises(ClientError) as exc:
            s3.put_object_retention(Bucket=locked, Key="c", Retention=retention,
                                    BypassGovernanceRetention=True)
        assert err(exc) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=locked, Key="c", VersionId=version,
                         BypassGovernanceRetention=True)
    assert err(exc) == ("AccessDenied", 403)
    answer = s3.delete_objects(Bucket=locked, Delete={"Objects": [
        {"Key": "c", "VersionId": version}]})
    assert answer["Errors"][0]["Code"] == "AccessDenied"
    # A legal hold: set, answered on HEAD, blocks deletion until released.
    held = s3.put_object(Bucket=locked, Key="h", Body=b"x",
                         ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.head_object(Bucket=locked, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    assert s3.get_object_legal_hold(Bucket=locked, Key="h")["LegalHold"] == {"Status": "ON"}
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=locked, Key="h", VersionId=held,
                         BypassGovernanceRetention=True)
    assert err(exc) == ("AccessDenied", 403)
    s3.put_object_legal_hold(Bucket=locked, Key="h", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=locked, Key="h", VersionId=held)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=locked, Key="p", Body=b"x", ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=soon(-60))
    assert err(exc) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=locked, Key="h2")
    assert err(exc)[1] == 404


def test_multipart_and_copy_carry_the_lock(s3: Any, locked: str) -> None:
    until = soon(3600)
    up = s3.create_multipart_upload(Bucket=locked, Key="mp", ObjectLockMode="GOVERNANCE",
                                    ObjectLockRetainUntilDate=until)
    part = s3.upload_part(Bucket=locked, Key="mp", UploadId=up["UploadId"], PartNumber=1,
                          Body=b"x" * 100)
    s3.complete_multipart_upload(Bucket=locked, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": part["ETag"]}]})
    head = s3.head_object(Bucket=locked, Key="mp")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", until)
    s3.copy_object(Bucket=locked, Key="cp", CopySource=f"{locked}/mp",
                   ObjectLockLegalHoldStatus="ON")
    head = s3.head_object(Bucket=locked, Key="cp")
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    assert "ObjectLockMode" not in head


def test_object_lock_through_the_aws_cli(gureum: RunningGureum, locked: str) -> None:
    until = soon(3600).strftime("%Y-%m-%dT%H:%M:%SZ")
    put = gureum.aws("s3api", "put-object", "--bucket", locked, "--key", "cli",
                     "--body", "/etc/hostname", "--object-lock-mode", "GOVERNANCE",
                     "--object-lock-retain-until-date", until)
    assert put.returncode == 0, put.stderr
    version = json.loads(put.stdout)["VersionId"]
    got = gureum.aws("s3api", "get-object-retention", "--bucket", locked, "--key", "cli")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["Retention"]["Mode"] == "GOVERNANCE"
    denied = gureum.aws("s3api", "delete-object", "--bucket", locked, "--key", "cli",
                        "--version-id", version)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    hold = gureum.aws("s3api", "put-object-legal-hold", "--bucket", locked, "--key", "cli",
                      "--legal-hold", "Status=ON")
    assert hold.returncode == 0, hold.stderr
    suspend = gureum.aws("s3api", "put-bucket-versioning", "--bucket", locked,
                         "--versioning-configuration", "Status=Suspended")
    assert suspend.returncode != 0 and "InvalidBucketState" in suspend.stderr
    config = gureum.aws("s3api", "put-object-lock-configuration", "--bucket", locked,
                        "--object-lock-configuration", json.dumps({
                            "ObjectLockEnabled": "Enabled",
                            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 1}}}))
    assert config.returncode == 0, config.stderr
    shown = gureum.aws("s3api", "get-object-lock-configuration", "--bucket", locked)
    assert json.loads(shown.stdout)["ObjectLockConfiguration"]["Rule"][
        "DefaultRetention"] == {"Mode": "COMPLIANCE", "Years": 1}
    # (The bucket's one-year COMPLIANCE default would outlive the test: set it back.)
    reset = gureum.aws("s3api", "put-object-lock-configuration", "--bucket", locked,
                       "--object-lock-configuration", '{"ObjectLockEnabled": "Enabled"}')
    assert reset.returncode == 0, reset.stderr


def _signed_put(gureum: RunningGureum, path: str, body: bytes,
                headers: dict[str, str]) -> tuple[int, bytes]:
    """A signed S3 PUT with exactly these headers (no Content-MD5, no checksum)."""
    headers = {**headers, "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    request = AWSRequest(method="PUT", url=gureum.endpoint + path, data=body, headers=headers)
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=body, method="PUT",
                                 headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # (127.0.0.1)
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_lock_requests_without_content_md5_are_refused(
    gureum: RunningGureum, s3: Any, locked: str,
) -> None:
    until = soon(3600).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = _signed_put(gureum, f"/{locked}/raw", b"data", {
        "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until})
    assert status == 400 and b"<Code>InvalidRequest</Code>" in body
    # The text S3 answers (quoted in versity/versitygw#1535).
    assert b"Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object " \
        b"requests with Object Lock parameters" in body
    status, body = _signed_put(gureum, f"/{locked}/raw", b"data", {
        "x-amz-object-lock-legal-hold": "ON"})
    assert status == 400 and b"<Code>InvalidRequest</Code>" in body
    assert "Versions" not in s3.list_object_versions(Bucket=locked, Prefix="raw")
    s3.put_object(Bucket=locked, Key="raw", Body=b"data")
    hold = b'<LegalHold xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>ON</Status>' \
        b"</LegalHold>"
    status, body = _signed_put(gureum, f"/{locked}/raw?legal-hold", hold, {})
    assert status == 400 and b"<Code>InvalidRequest</Code>" in body
    # PutObjectLegalHold: the text S3 answers (versity/versitygw#1311).
    assert b"Missing required header for this request: Content-MD5 OR x-amz-checksum-*" \
        in body
    md5 = base64.b64encode(hashlib.md5(hold).digest()).decode()
    status, body = _signed_put(gureum, f"/{locked}/raw?legal-hold", hold, {"Content-MD5": md5})
    assert status == 200, body
    assert s3.get_object_legal_hold(Bucket=locked, Key="raw")["LegalHold"]["Status"] == "ON"
