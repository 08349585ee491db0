"""Who may do what to a bucket and its objects.

The bucket owner controls everything: the owner's account may do anything
its bucket policy does not explicitly deny. Anyone else — another account,
or an anonymous (unsigned) request — needs a bucket policy statement or an
ACL grant, and an explicit deny in the policy beats every allow. Public
Access Block settings make public ACL grants (``IgnorePublicAcls``) and
public policy statements (``RestrictPublicBuckets``) count for nothing.
"""

from __future__ import annotations

from typing import Any

from ..base import Call
from . import acl
from .policy import Principal, evaluate

# Operations only the bucket owner's account may call, whatever the policy.
OWNER_ONLY = frozenset({
    "PutBucketPolicy", "GetBucketPolicy", "DeleteBucketPolicy", "GetBucketPolicyStatus",
    "PutPublicAccessBlock", "GetPublicAccessBlock", "DeletePublicAccessBlock",
})

_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "CopyObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "DeleteObjects": "s3:DeleteObject",
    "ListParts": "s3:ListMultipartUploadParts",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "DeleteObjectTagging": "s3:DeleteObjectTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "DeleteBucketWebsite": "s3:DeleteBucketWebsite",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "GetBucketAccelerateConfiguration": "s3:GetAccelerateConfiguration",
    "PutBucketAccelerateConfiguration": "s3:PutAccelerateConfiguration",
    "GetBucketReplication": "s3:GetReplicationConfiguration",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
}
# Operations that name a version, and the action they are then.
_VERSIONED = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
}
_LISTS = ("s3:ListBucket", "s3:ListBucketVersions")


def action_for(operation: str, params: dict[str, Any]) -> str:
    action = _ACTIONS.get(operation, f"s3:{operation}")
    if params.get("VersionId") and action in _VERSIONED:
        action = _VERSIONED[action]
    return action


def principal(call: Call) -> Principal:
    ident = call.identity
    return Principal(call.account, ident.arn, acl.canonical_id(call.account), ident.anonymous)


def context(call: Call, action: str, params: dict[str, Any]) -> dict[str, list[str]]:
    """The condition keys of a request (lower-case names)."""
    out: dict[str, list[str]] = {
        "aws:sourceip": [call.source_ip],
        "aws:securetransport": ["true" if call.secure else "false"],
    }
    if not call.identity.anonymous:
        out["aws:principalaccount"] = [call.account]
        out["aws:principalarn"] = [call.identity.arn]
        out["aws:userid"] = [call.identity.user_id]
        out["aws:principaltype"] = ["Account" if call.identity.kind == "root" else "User"]
    for header, key in (("User-Agent", "aws:useragent"), ("Referer", "aws:referer")):
        value = call.headers.get(header)
        if value is not None:
            out[key] = [value]
    if action in _LISTS:
        out["s3:prefix"] = [str(params.get("Prefix") or "")]
        if params.get("Delimiter") is not None:
            out["s3:delimiter"] = [str(params["Delimiter"])]
        if params.get("MaxKeys") is not None:
            out["s3:max-keys"] = [str(params["MaxKeys"])]
    if params.get("ACL"):
        out["s3:x-amz-acl"] = [str(params["ACL"])]
    if params.get("VersionId"):
        out["s3:versionid"] = [str(params["VersionId"])]
    return out


def allowed(
    bucket: dict[str, Any], call: Call, action: str, key: str | None,
    params: dict[str, Any], object_grants: list[dict[str, Any]] | None,
) -> bool:
    who = principal(call)
    owner = bucket["Owner"] == call.account and not who.anonymous
    if not owner and bucket.get("Payer") == "Requester" and (
        who.anonymous or (call.headers.get("x-amz-request-payer") or "").lower() != "requester"
    ):
        return False  # Requester Pays: others must say they pay, and be known
    block = bucket.get("PublicAccessBlock") or {}
    resource = f"arn:aws:s3:::{bucket['Name']}" + (f"/{key}" if key is not None else "")
    decision = evaluate(
        bucket.get("PolicyDoc"), who, action, resource, context(call, action, params),
        public_ok=not block.get("RestrictPublicBuckets"),
    )
    if decision == "Deny":
        return False
    if owner or decision == "Allow":
        return True
    if bucket.get("Ownership") == "BucketOwnerEnforced":
        return False  # ACLs are disabled: only policies grant access
    ignore = bool(block.get("IgnorePublicAcls"))
    canonical = None if who.anonymous else who.canonical_id
    permission = acl.OBJECT_PERMISSION.get(action)
    if permission is not None and key is not None:
        return acl.grants_permission(object_grants, permission, canonical, who.anonymous, ignore)
    permission = acl.BUCKET_PERMISSION.get(action)
    if permission is None:
        return False
    return acl.grants_permission(bucket.get("Acl"), permission, canonical, who.anonymous, ignore)
