"""Access control lists: canned ACLs, ``x-amz-grant-*`` headers and
``AccessControlPolicy`` documents become a list of grants; grants answer
whether a caller holds a permission.

A grant is stored as the wire shape S3 answers
(``{"Grantee": {"Type": ..., "ID"|"URI": ...}, "Permission": ...}``); the
owner's FULL_CONTROL grant is part of the list, as S3 shows it.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from gureum.errors import AWSError

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP")
CANNED = (
    "private", "public-read", "public-read-write", "authenticated-read",
    "bucket-owner-read", "bucket-owner-full-control", "aws-exec-read", "log-delivery-write",
)
GRANT_PARAMS = _GRANT_PARAMS = {
    "GrantFullControl": "FULL_CONTROL",
    "GrantRead": "READ",
    "GrantWrite": "WRITE",
    "GrantReadACP": "READ_ACP",
    "GrantWriteACP": "WRITE_ACP",
}

# The ACL permission that grants an S3 action, on a bucket and on an object.
BUCKET_PERMISSION = {
    "s3:ListBucket": "READ",
    "s3:ListBucketVersions": "READ",
    "s3:ListBucketMultipartUploads": "READ",
    "s3:PutObject": "WRITE",
    "s3:DeleteObject": "WRITE",
    "s3:DeleteObjectVersion": "WRITE",
    "s3:AbortMultipartUpload": "WRITE",
    "s3:GetBucketAcl": "READ_ACP",
    "s3:PutBucketAcl": "WRITE_ACP",
}
OBJECT_PERMISSION = {
    "s3:GetObject": "READ",
    "s3:GetObjectVersion": "READ",
    "s3:GetObjectAcl": "READ_ACP",
    "s3:GetObjectVersionAcl": "READ_ACP",
    "s3:PutObjectAcl": "WRITE_ACP",
    "s3:PutObjectVersionAcl": "WRITE_ACP",
}


@functools.lru_cache(maxsize=1024)
def canonical_id(account: str) -> str:
    return hashlib.sha256(f"gureum-canonical-{account}".encode()).hexdigest()


def owner(account: str) -> dict[str, str]:
    return {"ID": canonical_id(account), "DisplayName": "gureum"}


def user(canonical_id: str, permission: str) -> dict[str, Any]:
    return {"Grantee": {"Type": "CanonicalUser", "ID": canonical_id, "DisplayName": "gureum"},
            "Permission": permission}


def group(uri: str, permission: str) -> dict[str, Any]:
    return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission}


def canned(name: str, owner_id: str, bucket_owner_id: str | None = None) -> list[dict[str, Any]]:
    if name not in CANNED:
        raise AWSError("InvalidArgument", f"Invalid canned ACL: {name}", 400,
                       ArgumentName="x-amz-acl", ArgumentValue=name)
    grants = [user(owner_id, "FULL_CONTROL")]
    if name == "public-read":
        grants.append(group(ALL_USERS, "READ"))
    elif name == "public-read-write":
        grants += [group(ALL_USERS, "READ"), group(ALL_USERS, "WRITE")]
    elif name == "authenticated-read":
        grants.append(group(AUTHENTICATED, "READ"))
    elif name == "log-delivery-write":
        grants += [group(LOG_DELIVERY, "WRITE"), group(LOG_DELIVERY, "READ_ACP")]
    elif name in ("bucket-owner-read", "bucket-owner-full-control") and bucket_owner_id \
            and bucket_owner_id != owner_id:
        perm = "READ" if name == "bucket-owner-read" else "FULL_CONTROL"
        grants.append(user(bucket_owner_id, perm))
    return grants


def _parse_grantees(header: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in header.split(","):
        kind, _, value = item.strip().partition("=")
        value = value.strip().strip('"')
        kind = kind.strip().lower()
        if kind == "id":
            out.append({"Type": "CanonicalUser", "ID": value, "DisplayName": "gureum"})
        elif kind == "uri":
            out.append({"Type": "Group", "URI": value})
        elif kind == "emailaddress":
            out.append({"Type": "AmazonCustomerByEmail", "EmailAddress": value})
        else:
            raise AWSError("InvalidArgument", f"Invalid grantee: {item}", 400)
    return out


def from_request(
    params: dict[str, Any], owner_id: str, bucket_owner_id: str | None = None,
    default: str | None = "private",
) -> list[dict[str, Any]] | None:
    """The grants a request asks for (canned ACL or grant headers), or None."""
    headers = {p: params[p] for p in _GRANT_PARAMS if params.get(p)}
    acl = params.get("ACL")
    if acl and headers:
        raise AWSError("InvalidRequest", "Specifying both Canned ACLs and Header Grants is "
                       "not allowed", 400)
    if headers:
        grants = [user(owner_id, "FULL_CONTROL")] if "GrantFullControl" not in headers else []
        for param, value in headers.items():
            grants += [{"Grantee": g, "Permission": _GRANT_PARAMS[param]}
                       for g in _parse_grantees(str(value))]
        return grants
    if acl:
        return canned(str(acl), owner_id, bucket_owner_id)
    return None if default is None else canned(default, owner_id, bucket_owner_id)


def from_policy_document(document: dict[str, Any]) -> list[dict[str, Any]]:
    grants = document.get("Grants") or []
    out: list[dict[str, Any]] = []
    for grant in grants:
        grantee = dict(grant.get("Grantee") or {})
        permission = grant.get("Permission")
        if permission not in PERMISSIONS or grantee.get("Type") not in (
            "CanonicalUser", "Group", "AmazonCustomerByEmail"
        ):
            raise AWSError("MalformedACLError", "The XML you provided was not well-formed or "
                           "did not validate against our published schema", 400)
        if grantee["Type"] == "CanonicalUser":
            grantee.setdefault("DisplayName", "gureum")
        out.append({"Grantee": grantee, "Permission": permission})
    return out


def is_public(grants: list[dict[str, Any]] | None) -> bool:
    return any(
        g["Grantee"].get("URI") in (ALL_USERS, AUTHENTICATED) for g in grants or []
    )


def grants_permission(
    grants: list[dict[str, Any]] | None, permission: str, canonical_id: str | None,
    anonymous: bool, ignore_public: bool = False,
) -> bool:
    for grant in grants or []:
        if grant["Permission"] not in (permission, "FULL_CONTROL"):
            continue
        grantee = grant["Grantee"]
        uri = grantee.get("URI")
        if uri == ALL_USERS and not ignore_public:
            return True
        if uri == AUTHENTICATED and not anonymous and not ignore_public:
            return True
        if grantee.get("ID") and not anonymous and grantee["ID"] == canonical_id:
            return True
    return False
