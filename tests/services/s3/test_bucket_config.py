"""Bucket configuration: default encryption, Object Ownership (ACLs disabled
when enforced), and the settings tools read on every bucket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gureum.errors import AWSError

from .conftest import Harness

OWNER = "000000000000"
OTHER = "111111111111"


def error(h: Harness, operation: str, **params: Any) -> AWSError:
    with pytest.raises(AWSError) as caught:
        run_as(h, OWNER, operation, **params)
    return caught.value


def run_as(h: Harness, account: str, operation: str, **params: Any) -> Any:
    async def invoke() -> Any:
        name = "".join(part.title() for part in operation.split("_"))
        result = getattr(h.s3, operation)(h.call(name, account), params)
        return await result if asyncio.iscoroutine(result) else result
    try:
        return h.loop.run_until_complete(invoke())
    finally:
        h.settle()


def sse(algorithm: str, key: str | None = None) -> dict[str, Any]:
    default: dict[str, Any] = {"SSEAlgorithm": algorithm}
    if key is not None:
        default["KMSMasterKeyID"] = key
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}


# -- default encryption ---------------------------------------------------------------


def test_fresh_bucket_reports_sse_s3_and_objects_say_so(h: Harness) -> None:
    got = h.run("get_bucket_encryption", Bucket="bkt")
    rule = got["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert rule["BucketKeyEnabled"] is False
    put = h.run("put_object", Bucket="bkt", Key="k", Body=b"x")
    assert put["ServerSideEncryption"] == "AES256"
    assert h.run("head_object", Bucket="bkt", Key="k")["ServerSideEncryption"] == "AES256"


def test_put_kms_then_delete_goes_back_to_sse_s3(h: Harness) -> None:
    h.run("put_bucket_encryption", Bucket="bkt",
          ServerSideEncryptionConfiguration=sse("aws:kms", "alias/mine"))
    rule = h.run("get_bucket_encryption", Bucket="bkt")[
        "ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/mine"}
    put = h.run("put_object", Bucket="bkt", Key="k", Body=b"x")
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == "alias/mine"
    h.run("delete_bucket_encryption", Bucket="bkt")
    after = h.run("get_bucket_encryption", Bucket="bkt")
    assert after["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    # An object keeps the encryption it was written with; a new one gets the default.
    got = h.run("get_object", Bucket="bkt", Key="k")
    assert got["ServerSideEncryption"] == "aws:kms"
    assert h.run("put_object", Bucket="bkt", Key="n", Body=b"y")[
        "ServerSideEncryption"] == "AES256"


@pytest.mark.parametrize("config, code", [
    ({"Rules": []}, "MalformedXML"),
    (sse("DES"), "MalformedXML"),
    ({"Rules": [{}]}, "MalformedXML"),
    (sse("AES256", "alias/mine"), "InvalidArgument"),
])
def test_put_encryption_validates(h: Harness, config: dict[str, Any], code: str) -> None:
    err = error(h, "put_bucket_encryption", Bucket="bkt",
                ServerSideEncryptionConfiguration=config)
    assert (err.code, err.status) == (code, 400)
    assert h.run("get_bucket_encryption", Bucket="bkt")["ServerSideEncryptionConfiguration"][
        "Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_object_encryption_header_is_validated_and_kept(h: Harness) -> None:
    err = error(h, "put_object", Bucket="bkt", Key="k", Body=b"x", ServerSideEncryption="rot13")
    assert (err.code, err.status) == ("InvalidArgument", 400)
    err = error(h, "put_object", Bucket="bkt", Key="k", Body=b"x", SSEKMSKeyId="alias/k")
    assert err.code == "InvalidArgument"
    put = h.run("put_object", Bucket="bkt", Key="k", Body=b"x",
                ServerSideEncryption="aws:kms:dsse")
    assert put["ServerSideEncryption"] == "aws:kms:dsse"
    assert h.run("head_object", Bucket="bkt", Key="k")["ServerSideEncryption"] == "aws:kms:dsse"


# -- Object Ownership -------------------------------------------------------------------


def test_ownership_controls_absent_then_set_and_deleted(h: Harness) -> None:
    err = error(h, "get_bucket_ownership_controls", Bucket="bkt")
    assert (err.code, err.status) == ("OwnershipControlsNotFoundError", 404)
    h.run("put_bucket_ownership_controls", Bucket="bkt",
          OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    got = h.run("get_bucket_ownership_controls", Bucket="bkt")
    assert got == {"OwnershipControls": {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}}
    err = error(h, "put_bucket_ownership_controls", Bucket="bkt",
                OwnershipControls={"Rules": [{"ObjectOwnership": "Nobody"}]})
    assert (err.code, err.status) == ("MalformedXML", 400)
    h.run("delete_bucket_ownership_controls", Bucket="bkt")
    assert error(h, "get_bucket_ownership_controls", Bucket="bkt").status == 404


def enforce(h: Harness) -> None:
    h.run("put_bucket_ownership_controls", Bucket="bkt",
          OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})


def test_enforced_disables_acls(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="k", Body=b"x")
    enforce(h)
    for operation, params in (
        ("put_bucket_acl", {"ACL": "public-read"}),
        ("put_object_acl", {"Key": "k", "ACL": "public-read"}),
        ("put_object", {"Key": "p", "Body": b"x", "ACL": "public-read"}),
        ("put_object", {"Key": "p", "Body": b"x", "GrantRead": f'uri="{ALL}"'}),
    ):
        err = error(h, operation, Bucket="bkt", **params)
        assert (err.code, err.status) == ("AccessControlListNotSupported", 400), operation
    # The owner's full control is accepted, as AWS accepts it.
    h.run("put_bucket_acl", Bucket="bkt", ACL="private")
    h.run("put_object_acl", Bucket="bkt", Key="k", ACL="bucket-owner-full-control")
    h.run("put_object", Bucket="bkt", Key="q", Body=b"x", ACL="bucket-owner-full-control")
    grants = h.run("get_bucket_acl", Bucket="bkt")["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    assert h.run("get_object_acl", Bucket="bkt", Key="q")["Grants"] == grants


ALL = "http://acs.amazonaws.com/groups/global/AllUsers"


def test_enforced_ignores_existing_grants(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="pub", Body=b"x", ACL="public-read")
    assert run_as(h, OTHER, "get_object", Bucket="bkt", Key="pub")["ContentLength"] == 1
    enforce(h)
    with pytest.raises(AWSError) as caught:
        run_as(h, OTHER, "get_object", Bucket="bkt", Key="pub")
    assert caught.value.code == "AccessDenied"
    h.run("delete_bucket_ownership_controls", Bucket="bkt")
    assert run_as(h, OTHER, "get_object", Bucket="bkt", Key="pub")["ContentLength"] == 1


def test_enforced_refused_while_bucket_acl_grants_others(h: Harness) -> None:
    h.run("put_bucket_acl", Bucket="bkt", ACL="public-read")
    err = error(h, "put_bucket_ownership_controls", Bucket="bkt",
                OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert (err.code, err.status) == ("InvalidBucketAclWithObjectOwnership", 400)


def test_create_bucket_object_ownership_and_object_lock(h: Harness) -> None:
    h.run("create_bucket", Bucket="owned", ObjectOwnership="BucketOwnerEnforced")
    got = h.run("get_bucket_ownership_controls", Bucket="owned")
    assert got["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
    err = error(h, "create_bucket", Bucket="pub", ObjectOwnership="BucketOwnerEnforced",
                ACL="public-read")
    assert (err.code, err.status) == ("InvalidBucketAclWithObjectOwnership", 400)
    err = error(h, "create_bucket", Bucket="pub", ObjectOwnership="Everyone")
    assert (err.code, err.status) == ("InvalidArgument", 400)
    assert error(h, "head_bucket", Bucket="pub").code == "NoSuchBucket"
    h.run("create_bucket", Bucket="locked", ObjectLockEnabledForBucket=True)
    assert h.run("get_object_lock_configuration", Bucket="locked")[
        "ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled"}


# -- the rest: what a bucket without them answers -----------------------------------------


def test_defaults_of_a_fresh_bucket(h: Harness) -> None:
    assert h.run("get_bucket_accelerate_configuration", Bucket="bkt") == {}
    assert h.run("get_bucket_request_payment", Bucket="bkt") == {"Payer": "BucketOwner"}
    assert h.run("get_bucket_logging", Bucket="bkt") == {}
    assert h.run("get_bucket_notification_configuration", Bucket="bkt") == {}
    err = error(h, "get_bucket_replication", Bucket="bkt")
    assert (err.code, err.status) == ("ReplicationConfigurationNotFoundError", 404)
    err = error(h, "get_object_lock_configuration", Bucket="bkt")
    assert (err.code, err.status) == ("ObjectLockConfigurationNotFoundError", 404)


def test_accelerate_and_request_payment_are_stored_and_validated(h: Harness) -> None:
    h.run("put_bucket_accelerate_configuration", Bucket="bkt",
          AccelerateConfiguration={"Status": "Enabled"})
    assert h.run("get_bucket_accelerate_configuration", Bucket="bkt") == {"Status": "Enabled"}
    err = error(h, "put_bucket_accelerate_configuration", Bucket="bkt",
                AccelerateConfiguration={"Status": "On"})
    assert (err.code, err.status) == ("MalformedXML", 400)
    h.run("create_bucket", Bucket="with.dots")
    err = error(h, "put_bucket_accelerate_configuration", Bucket="with.dots",
                AccelerateConfiguration={"Status": "Enabled"})
    # Code, status and text of S3's "Error responses" list; the
    # PutBucketAccelerateConfiguration reference: the bucket "must not contain
    # periods".
    assert (err.code, err.status) == ("InvalidRequest", 400)
    assert err.message == ("Amazon S3 Transfer Acceleration is not supported for buckets "
                           "with periods (.) in their names.")
    h.run("put_bucket_request_payment", Bucket="bkt",
          RequestPaymentConfiguration={"Payer": "Requester"})
    assert h.run("get_bucket_request_payment", Bucket="bkt") == {"Payer": "Requester"}
    err = error(h, "put_bucket_request_payment", Bucket="bkt",
                RequestPaymentConfiguration={"Payer": "Nobody"})
    assert (err.code, err.status) == ("MalformedXML", 400)


def test_notifications_and_logging_refuse_what_gureum_cannot_do(h: Harness) -> None:
    h.run("put_bucket_notification_configuration", Bucket="bkt", NotificationConfiguration={})
    err = error(h, "put_bucket_notification_configuration", Bucket="bkt",
                NotificationConfiguration={"QueueConfigurations": [
                    {"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
                     "Events": ["s3:ObjectCreated:*"]}]})
    assert (err.code, err.status) == ("InvalidArgument", 400)
    assert "Unable to validate the following destination configurations" in str(err)
    assert h.run("get_bucket_notification_configuration", Bucket="bkt") == {}
    h.run("put_bucket_logging", Bucket="bkt", BucketLoggingStatus={})
    err = error(h, "put_bucket_logging", Bucket="bkt", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "bkt", "TargetPrefix": "logs/"}})
    # (no log-delivery permission on the target: see test_access_log)
    assert (err.code, err.status) == ("InvalidTargetBucketForLogging", 400)
    assert h.run("get_bucket_logging", Bucket="bkt") == {}


@pytest.mark.parametrize("operation", [
    "get_bucket_encryption", "delete_bucket_encryption", "get_bucket_ownership_controls",
    "get_bucket_accelerate_configuration", "get_bucket_request_payment", "get_bucket_logging",
    "get_bucket_replication", "get_object_lock_configuration",
    "get_bucket_notification_configuration",
])
def test_missing_bucket_and_other_accounts(h: Harness, operation: str) -> None:
    assert error(h, operation, Bucket="nope").code == "NoSuchBucket"
    with pytest.raises(AWSError) as caught:
        run_as(h, OTHER, operation, Bucket="bkt")
    assert (caught.value.code, caught.value.status) == ("AccessDenied", 403)


def test_settings_go_with_the_bucket(h: Harness) -> None:
    h.run("put_bucket_encryption", Bucket="bkt", ServerSideEncryptionConfiguration=sse("aws:kms"))
    enforce(h)
    h.run("delete_bucket", Bucket="bkt")
    h.run("create_bucket", Bucket="bkt")
    assert error(h, "get_bucket_ownership_controls", Bucket="bkt").status == 404
    assert h.run("get_bucket_encryption", Bucket="bkt")["ServerSideEncryptionConfiguration"][
        "Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_bucket_policy_decides_with_its_action_names(h: Harness) -> None:

    h.run("put_bucket_policy", Bucket="bkt", Policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
         "Action": "s3:GetEncryptionConfiguration", "Resource": "arn:aws:s3:::bkt"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutEncryptionConfiguration",
         "Resource": "arn:aws:s3:::bkt"},
    ]}))
    got = run_as(h, OTHER, "get_bucket_encryption", Bucket="bkt")
    assert "ServerSideEncryptionConfiguration" in got
    with pytest.raises(AWSError):
        run_as(h, OTHER, "get_bucket_logging", Bucket="bkt")
    err = error(h, "put_bucket_encryption", Bucket="bkt",
                ServerSideEncryptionConfiguration=sse("AES256"))
    assert (err.code, err.status) == ("AccessDenied", 403)
    err = error(h, "delete_bucket_encryption", Bucket="bkt")
    assert err.code == "AccessDenied"


def test_requester_pays_needs_the_requester_to_say_so(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="pub", Body=b"x", ACL="public-read")
    run_as(h, OWNER, "put_bucket_request_payment", Bucket="bkt",
           RequestPaymentConfiguration={"Payer": "Requester"})
    with pytest.raises(AWSError) as caught:
        run_as(h, OTHER, "get_object", Bucket="bkt", Key="pub")
    assert caught.value.code == "AccessDenied"

    async def paying() -> Any:
        call = h.call("GetObject", OTHER, **{"x-amz-request-payer": "requester"})
        return h.s3.get_object(call, {"Bucket": "bkt", "Key": "pub"})
    assert h.loop.run_until_complete(paying())["ContentLength"] == 1
    assert run_as(h, OWNER, "get_object", Bucket="bkt", Key="pub")["ContentLength"] == 1


def test_enforced_bucket_owner_owns_what_others_upload(h: Harness) -> None:
    enforce(h)
    run_as(h, OWNER, "put_bucket_policy", Bucket="bkt", Policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bkt/*"}]}))
    run_as(h, OTHER, "put_object", Bucket="bkt", Key="single", Body=b"x")
    upload = run_as(h, OTHER, "create_multipart_upload", Bucket="bkt", Key="multi")
    part = run_as(h, OTHER, "upload_part", Bucket="bkt", Key="multi", Body=b"y",
                  UploadId=upload["UploadId"], PartNumber=1)
    run_as(h, OTHER, "complete_multipart_upload", Bucket="bkt", Key="multi",
           UploadId=upload["UploadId"],
           MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    for key in ("single", "multi"):
        assert "owner" not in h.s3.records.get("bkt", key).meta, key


def test_multipart_answers_and_keeps_the_encryption(h: Harness) -> None:
    h.run("put_bucket_encryption", Bucket="bkt", ServerSideEncryptionConfiguration=sse(
        "aws:kms", "alias/big"))
    upload = h.run("create_multipart_upload", Bucket="bkt", Key="big")
    assert upload["ServerSideEncryption"] == "aws:kms" and upload["SSEKMSKeyId"] == "alias/big"
    part = h.run("upload_part", Bucket="bkt", Key="big", Body=b"y",
                 UploadId=upload["UploadId"], PartNumber=1)
    assert part["ServerSideEncryption"] == "aws:kms"
    done = h.run("complete_multipart_upload", Bucket="bkt", Key="big",
                 UploadId=upload["UploadId"],
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert done["ServerSideEncryption"] == "aws:kms"
    assert h.run("head_object", Bucket="bkt", Key="big")["SSEKMSKeyId"] == "alias/big"


def test_customer_keys_are_refused_not_pretended(h: Harness) -> None:
    err = error(h, "put_object", Bucket="bkt", Key="k", Body=b"x",
                SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32)
    assert (err.code, err.status) == ("NotImplemented", 501)
    assert error(h, "head_object", Bucket="bkt", Key="k").code == "NoSuchKey"
