"""S3 bucket configuration end to end, through boto3 and the AWS CLI: default
encryption, Object Ownership (ACLs disabled when enforced), and the settings
Terraform's aws_s3_bucket reads on every bucket, with their errors; the
settings survive a restart and go with their bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum, running_gureum

from .test_s3_support import temp_bucket, unique

OTHER = "111122223333"


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    with temp_bucket(s3, "cfg") as name:
        yield name


def err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


# A value outside an enum of an XML body: S3 answers MalformedXML (the
# gateway's model validation answers it so, before the service's own check).
BAD_XML_VALUE = ("MalformedXML",)


def test_terraform_read_path_on_a_fresh_bucket(s3: Any, bucket: str) -> None:
    """What aws_s3_bucket reads, in its order: none of it may answer 501."""
    assert s3.get_bucket_accelerate_configuration(Bucket=bucket).get("Status") is None
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_replication(Bucket=bucket)
    assert err(exc) == ("ReplicationConfigurationNotFoundError", 404)
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
        "Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert rule["BucketKeyEnabled"] is False
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert err(exc) == ("ObjectLockConfigurationNotFoundError", 404)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_ownership_controls(Bucket=bucket)
    assert err(exc) == ("OwnershipControlsNotFoundError", 404)
    notes = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert not {"TopicConfigurations", "QueueConfigurations",
                "LambdaFunctionConfigurations"} & set(notes)


def test_encryption_put_get_delete_and_object_headers(s3: Any, bucket: str) -> None:
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                               "KMSMasterKeyID": "alias/app"},
        "BucketKeyEnabled": True}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
        "Rules"][0]
    assert rule == {"ApplyServerSideEncryptionByDefault": {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/app"}, "BucketKeyEnabled": True}
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == "alias/app"
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ServerSideEncryption"] == "aws:kms" and head["BucketKeyEnabled"] is True
    s3.delete_bucket_encryption(Bucket=bucket)
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
        "Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    got = s3.put_object(Bucket=bucket, Key="n", Body=b"x")
    assert got["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="n")["ServerSideEncryption"] == "AES256"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256",
                                                   "KMSMasterKeyID": "alias/app"}}]})
    assert err(exc) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "DES"}}]})
    assert err(exc)[0] in BAD_XML_VALUE and err(exc)[1] == 400
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="rot13")
    assert err(exc) == ("InvalidArgument", 400)


def test_encryption_through_the_cli(gureum: RunningGureum, bucket: str) -> None:
    config = json.dumps({"Rules": [{"ApplyServerSideEncryptionByDefault": {
        "SSEAlgorithm": "aws:kms:dsse"}}]})
    gureum.aws("s3api", "put-bucket-encryption", "--bucket", bucket,
               "--server-side-encryption-configuration", config, check=True)
    out = gureum.aws("s3api", "get-bucket-encryption", "--bucket", bucket, check=True)
    rules = json.loads(out.stdout)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms:dsse"
    gureum.aws("s3api", "delete-bucket-encryption", "--bucket", bucket, check=True)
    out = gureum.aws("s3api", "get-bucket-encryption", "--bucket", bucket, check=True)
    assert '"AES256"' in out.stdout
    missing = gureum.aws("s3api", "get-bucket-encryption", "--bucket", unique("none"))
    assert missing.returncode != 0 and "NoSuchBucket" in missing.stderr
    bad = gureum.aws("s3api", "put-bucket-ownership-controls", "--bucket", bucket,
                     "--ownership-controls", '{"Rules":[{"ObjectOwnership":"Anyone"}]}')
    assert bad.returncode != 0 and any(code in bad.stderr for code in BAD_XML_VALUE)
    for command in ("get-bucket-replication", "get-object-lock-configuration"):
        out = gureum.aws("s3api", command, "--bucket", bucket)
        assert out.returncode != 0 and "NotFoundError" in out.stderr, command
    out = gureum.aws("s3api", "get-bucket-request-payment", "--bucket", bucket, check=True)
    assert json.loads(out.stdout)["Payer"] == "BucketOwner"


def test_enforced_ownership_disables_acls(gureum: RunningGureum, s3: Any) -> None:
    other = gureum.client("s3", access_key=OTHER)
    name = unique("own")
    s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced")
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_acl(Bucket=name, ACL="public-read")
        assert err(exc) == ("AccessControlListNotSupported", 400)
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=name, Key="pub", Body=b"x", ACL="public-read")
        assert err(exc) == ("AccessControlListNotSupported", 400)
        s3.put_object(Bucket=name, Key="k", Body=b"x", ACL="bucket-owner-full-control")
        with pytest.raises(ClientError) as exc:
            s3.put_object_acl(Bucket=name, Key="k", ACL="public-read")
        assert err(exc) == ("AccessControlListNotSupported", 400)
        acl = s3.get_object_acl(Bucket=name, Key="k")
        assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
        assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
        with pytest.raises(ClientError) as exc:
            other.get_object(Bucket=name, Key="k")
        assert err(exc) == ("AccessDenied", 403)
        # Back to ACLs enabled: what an ACL grants counts again.
        s3.delete_bucket_ownership_controls(Bucket=name)
        s3.put_object_acl(Bucket=name, Key="k", ACL="public-read")
        assert other.get_object(Bucket=name, Key="k")["Body"].read() == b"x"
        # Enforcing again is refused while the bucket's own ACL grants others.
        s3.put_bucket_acl(Bucket=name, ACL="public-read")
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={
                "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        assert err(exc) == ("InvalidBucketAclWithObjectOwnership", 400)
    finally:
        s3.delete_object(Bucket=name, Key="k")
        s3.delete_bucket(Bucket=name)


def test_refusals_of_what_gureum_cannot_honour(s3: Any, bucket: str) -> None:
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
                                     "Events": ["s3:ObjectCreated:*"]}]})
    assert err(exc) == ("InvalidArgument", 400)
    assert "Unable to validate" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_accelerate_configuration(Bucket=bucket,
                                               AccelerateConfiguration={"Status": "On"})
    assert err(exc)[0] in BAD_XML_VALUE and err(exc)[1] == 400
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_request_payment(Bucket=bucket,
                                      RequestPaymentConfiguration={"Payer": "Nobody"})
    assert err(exc)[0] in BAD_XML_VALUE and err(exc)[1] == 400


def test_other_accounts_and_missing_buckets(gureum: RunningGureum, s3: Any, bucket: str
                                            ) -> None:
    other = gureum.client("s3", access_key=OTHER)
    for call in ("get_bucket_encryption", "get_bucket_ownership_controls",
                 "get_bucket_accelerate_configuration", "get_bucket_logging"):
        with pytest.raises(ClientError) as exc:
            getattr(other, call)(Bucket=bucket)
        assert err(exc) == ("AccessDenied", 403), call
        with pytest.raises(ClientError) as exc:
            getattr(s3, call)(Bucket=unique("none"))
        assert err(exc) == ("NoSuchBucket", 404), call
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "s3:GetEncryptionConfiguration", "Resource": f"arn:aws:s3:::{bucket}"}]}))
    assert other.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]


def test_settings_survive_restart_and_go_with_the_bucket(tmp_path: Path) -> None:
    with running_gureum(data_dir=tmp_path / "data") as g:
        s3 = g.client("s3")
        s3.create_bucket(Bucket="kept")
        s3.put_bucket_encryption(Bucket="kept", ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
        s3.put_bucket_ownership_controls(Bucket="kept", OwnershipControls={
            "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
        s3.put_bucket_accelerate_configuration(Bucket="kept",
                                               AccelerateConfiguration={"Status": "Enabled"})
        s3.put_bucket_request_payment(Bucket="kept",
                                      RequestPaymentConfiguration={"Payer": "Requester"})
        g.restart()
        s3 = g.client("s3")
        assert s3.get_bucket_encryption(Bucket="kept")["ServerSideEncryptionConfiguration"][
            "Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert s3.get_bucket_ownership_controls(Bucket="kept")["OwnershipControls"][
            "Rules"] == [{"ObjectOwnership": "BucketOwnerPreferred"}]
        assert s3.get_bucket_accelerate_configuration(Bucket="kept")["Status"] == "Enabled"
        assert s3.get_bucket_request_payment(Bucket="kept")["Payer"] == "Requester"
        s3.delete_bucket(Bucket="kept")
        s3.create_bucket(Bucket="kept")
        with pytest.raises(ClientError) as exc:
            s3.get_bucket_ownership_controls(Bucket="kept")
        assert err(exc)[0] == "OwnershipControlsNotFoundError"
        assert s3.get_bucket_request_payment(Bucket="kept")["Payer"] == "BucketOwner"
        assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket="kept")


def test_requester_pays(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    other = gureum.client("s3", access_key=OTHER)
    s3.put_object(Bucket=bucket, Key="pub", Body=b"shared", ACL="public-read")
    assert other.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"shared"
    s3.put_bucket_request_payment(Bucket=bucket,
                                  RequestPaymentConfiguration={"Payer": "Requester"})
    with pytest.raises(ClientError) as exc:
        other.get_object(Bucket=bucket, Key="pub")
    assert err(exc) == ("AccessDenied", 403)
    got = other.get_object(Bucket=bucket, Key="pub", RequestPayer="requester")
    assert got["Body"].read() == b"shared"
    assert s3.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"shared"
    s3.put_bucket_request_payment(Bucket=bucket,
                                  RequestPaymentConfiguration={"Payer": "BucketOwner"})
    assert other.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"shared"


def test_customer_keys_are_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", SSECustomerAlgorithm="AES256",
                      SSECustomerKey="0123456789abcdef0123456789abcdef")
    assert err(exc) == ("NotImplemented", 501)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
