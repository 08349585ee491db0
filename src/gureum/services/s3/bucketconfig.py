"""Bucket configuration that tools read on every bucket: default encryption
(Get/Put/DeleteBucketEncryption), Object Ownership (Get/Put/Delete
BucketOwnershipControls), Transfer Acceleration and Requester Pays settings,
and the answers S3 gives for a bucket without event notifications.

Each setting is a field of the bucket's document, so it is kept across a
restart and goes with the bucket. What gureum cannot honour it refuses
instead of storing: it sends no event notifications (replication:
``replication``; access logs: ``accesslog``; Object Lock: ``objectlock``).

Default encryption is a label, as far as gureum goes: every object is
reported encrypted the way its bucket said when it was written (SSE-S3,
``AES256``, unless configured otherwise), but the bytes in the data dir are
written as they came; gureum has no KMS. Encrypt the disk under it.
"""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from .bucketrules import (
    ENFORCED,
    OWNERSHIPS,
    acl_with_enforced,
    check_encryption_rules,
    default_encryption,
    malformed,
    owner_only,
)
from .permissions import PermissionOps


class BucketConfigOps(PermissionOps):
    # -- default encryption -------------------------------------------------------

    def put_bucket_encryption(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        config = params.get("ServerSideEncryptionConfiguration")
        if not config:
            raise malformed()
        rules = check_encryption_rules(config)
        self.update_bucket(bucket["Name"], Encryption=rules)
        return {}

    def get_bucket_encryption(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        rules = bucket.get("Encryption") or default_encryption()
        return {"ServerSideEncryptionConfiguration": {"Rules": rules}}

    def delete_bucket_encryption(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        self.update_bucket(bucket["Name"], Encryption=None)
        return {}

    # -- Object Ownership -----------------------------------------------------------

    def put_bucket_ownership_controls(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        rules = (params.get("OwnershipControls") or {}).get("Rules") or []
        if len(rules) != 1 or rules[0].get("ObjectOwnership") not in OWNERSHIPS:
            raise malformed()
        ownership = rules[0]["ObjectOwnership"]
        if ownership == ENFORCED and not owner_only(bucket.get("Acl"), bucket["Owner"]):
            raise acl_with_enforced()
        self.update_bucket(bucket["Name"], Ownership=ownership)
        return {}

    def get_bucket_ownership_controls(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        ownership = bucket.get("Ownership")
        if ownership is None:
            raise AWSError("OwnershipControlsNotFoundError", "The bucket ownership controls "
                           "were not found", 404, BucketName=bucket["Name"])
        return {"OwnershipControls": {"Rules": [{"ObjectOwnership": ownership}]}}

    def delete_bucket_ownership_controls(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        self.update_bucket(bucket["Name"], Ownership=None)
        return {}

    # -- Transfer Acceleration, Requester Pays --------------------------------------

    def put_bucket_accelerate_configuration(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        status = (params.get("AccelerateConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise malformed()
        if "." in bucket["Name"]:
            # The text of S3's "Error responses" list (InvalidRequest, 400).
            raise AWSError("InvalidRequest", "Amazon S3 Transfer Acceleration is not "
                           "supported for buckets with periods (.) in their names.", 400)
        self.update_bucket(bucket["Name"], Accelerate=status)
        return {}

    def get_bucket_accelerate_configuration(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        status = bucket.get("Accelerate")
        return {"Status": status} if status else {}

    def put_bucket_request_payment(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        payer = (params.get("RequestPaymentConfiguration") or {}).get("Payer")
        if payer not in ("BucketOwner", "Requester"):
            raise malformed()
        self.update_bucket(bucket["Name"], Payer=None if payer == "BucketOwner" else payer)
        return {}

    def get_bucket_request_payment(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        return {"Payer": bucket.get("Payer") or "BucketOwner"}

    # -- what gureum does not do: answered as for a bucket without it ---------------

    def get_bucket_notification_configuration(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        self.owned(call, params["Bucket"])
        return {}

    def put_bucket_notification_configuration(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        self.owned(call, params["Bucket"])
        config = params.get("NotificationConfiguration") or {}
        destinations = [
            str(c.get(arn) or "")
            for field, arn in (("TopicConfigurations", "TopicArn"),
                               ("QueueConfigurations", "QueueArn"),
                               ("LambdaFunctionConfigurations", "LambdaFunctionArn"))
            for c in config.get(field) or []
        ]
        if destinations:
            # gureum has no SNS, SQS or Lambda: no destination can be validated.
            details: dict[str, Any] = {
                f"ArgumentName{i}": arn for i, arn in enumerate(destinations, 1)
            }
            details.update({f"ArgumentValue{i}": "The destination is not available in gureum"
                            for i in range(1, len(destinations) + 1)})
            raise AWSError("InvalidArgument", "Unable to validate the following destination "
                           "configurations", 400, **details)
        if "EventBridgeConfiguration" in config:
            raise AWSError("NotImplemented", "gureum has no EventBridge to deliver bucket "
                           "events to", 501)
        return {}
