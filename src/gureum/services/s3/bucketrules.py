"""What a bucket's configuration means for its objects and requests: default
encryption (how a new object is reported encrypted) and Object Ownership
(whether ACLs are enabled, and who owns an object another account writes).
The operations that set them are in ``bucketconfig``."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from . import acl

ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
KMS = ("aws:kms", "aws:kms:dsse")
SSE_S3: dict[str, Any] = {"ServerSideEncryption": "AES256"}
OWNERSHIPS = ("BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced")
ENFORCED = "BucketOwnerEnforced"


def malformed() -> AWSError:
    return AWSError("MalformedXML", "The XML you provided was not well-formed or did not "
                    "validate against our published schema", 400)


def check_encryption_rules(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules of a ServerSideEncryptionConfiguration, validated as S3 does."""
    rules = config.get("Rules") or []
    if len(rules) != 1:
        raise malformed()
    out: list[dict[str, Any]] = []
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault")
        if not default:
            raise malformed()
        algorithm = default.get("SSEAlgorithm")
        if algorithm not in ALGORITHMS:
            raise malformed()
        applied: dict[str, Any] = {"SSEAlgorithm": algorithm}
        key = default.get("KMSMasterKeyID")
        if key:
            if algorithm not in KMS:
                raise AWSError(
                    "InvalidArgument",
                    "a KMSMasterKeyID is not applicable if the default sse algorithm is not "
                    "aws:kms or aws:kms:dsse",
                    400, ArgumentName="ApplyServerSideEncryptionByDefault",
                )
            applied["KMSMasterKeyID"] = key
        kept: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": applied,
                                "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False))}
        out.append(kept)
    return out


def object_encryption(bucket: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
    """How a new object is reported encrypted, when not the default SSE-S3
    (None): the request's ``x-amz-server-side-encryption``, else the bucket's
    default encryption."""
    if params.get("SSECustomerAlgorithm"):
        # Storing the bytes as they came while the client believes only its
        # key can read them would be a lie: refused, not pretended.
        raise AWSError("NotImplemented", "gureum does not implement server-side encryption "
                       "with customer-provided keys (SSE-C)", 501,
                       Header="x-amz-server-side-encryption-customer-algorithm")
    algorithm = params.get("ServerSideEncryption")
    key = params.get("SSEKMSKeyId")
    if algorithm is not None:
        if algorithm not in ALGORITHMS:
            raise AWSError("InvalidArgument", "The encryption method specified is not "
                           "supported", 400, ArgumentName="x-amz-server-side-encryption",
                           ArgumentValue=str(algorithm))
    elif key:
        raise AWSError("InvalidArgument", "Server Side Encryption with KMS managed key "
                       "requires HTTP header x-amz-server-side-encryption : aws:kms", 400)
    else:
        rules = bucket.get("Encryption")
        if not rules:
            return None
        default = rules[0]["ApplyServerSideEncryptionByDefault"]
        algorithm = default["SSEAlgorithm"]
        key = default.get("KMSMasterKeyID")
        if algorithm == "AES256":
            return None
        out: dict[str, Any] = {"ServerSideEncryption": algorithm}
        if key:
            out["SSEKMSKeyId"] = key
        if rules[0].get("BucketKeyEnabled"):
            out["BucketKeyEnabled"] = True
        return out
    if key and algorithm not in KMS:
        raise AWSError("InvalidArgument", "Server Side Encryption with KMS managed key "
                       "requires HTTP header x-amz-server-side-encryption : aws:kms", 400)
    if algorithm == "AES256":
        return None
    answer: dict[str, Any] = {"ServerSideEncryption": algorithm}
    if key:
        answer["SSEKMSKeyId"] = key
    return answer


def default_encryption() -> list[dict[str, Any]]:
    """The default encryption of a bucket never configured: SSE-S3."""
    return [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
             "BucketKeyEnabled": False}]


def encryption_out(meta: dict[str, Any]) -> dict[str, Any]:
    """The encryption headers of an object's answers."""
    sse: dict[str, Any] = meta.get("sse") or SSE_S3
    return sse


def enforced(bucket: dict[str, Any]) -> bool:
    """ACLs are disabled (BucketOwnerEnforced): the bucket owner owns every object."""
    return bucket.get("Ownership") == ENFORCED


def acls_disabled() -> AWSError:
    return AWSError("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)


def owned_by_bucket_owner(bucket: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether an object written by another account belongs to the bucket owner."""
    ownership = bucket.get("Ownership")
    return ownership == ENFORCED or (
        ownership == "BucketOwnerPreferred" and params.get("ACL") == "bucket-owner-full-control"
    )


def owner_only(grants: list[dict[str, Any]] | None, owner_account: str) -> bool:
    """Whether ``grants`` give the bucket owner full control and nobody else
    anything: the one ACL a bucket without ACLs accepts."""
    owner_id = acl.canonical_id(owner_account)
    return all(
        (grant.get("Grantee") or {}).get("ID") == owner_id
        and grant.get("Permission") == "FULL_CONTROL"
        for grant in grants or []
    )


def acl_with_enforced() -> AWSError:
    return AWSError("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with "
                    "ObjectOwnership's BucketOwnerEnforced setting", 400)
