"""S3's legacy Signature Version 2 (HMAC-SHA1): the ``Authorization: AWS
key:signature`` header and presigned URLs (``AWSAccessKeyId``, ``Expires``,
``Signature``). boto3 still presigns S3 URLs this way by default for
us-east-1 with a custom endpoint, so S3 accepts both; other services only V4.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from gureum.errors import AWSError

# The sub-resources that are part of the signed resource (as S3 and botocore
# define them).
SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber",
        "policy", "requestPayment", "torrent", "versioning", "versionId", "versions", "website",
        "uploads", "uploadId", "response-content-type", "response-content-language",
        "response-expires", "response-cache-control", "response-content-disposition",
        "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
        "storageClass", "notification", "replication", "analytics", "metrics", "inventory",
        "select", "select-type", "object-lock",
    }
)


@dataclass(frozen=True)
class SignedV2:
    access_key: str
    signature: str
    expires: int | None  # presigned URLs only


def parse(headers: Mapping[str, str], query: Mapping[str, str]) -> SignedV2 | None:
    auth = headers.get("Authorization", "")
    if auth.startswith("AWS "):
        key, _, signature = auth[4:].partition(":")
        if not key or not signature:
            raise AWSError("InvalidArgument", "AWS authorization header is invalid.", 400)
        return SignedV2(key.strip(), signature.strip(), None)
    if "AWSAccessKeyId" in query and "Signature" in query:
        try:
            expires = int(query.get("Expires", ""))
        except ValueError as exc:
            raise AWSError(
                "AccessDenied", "Query-string authentication requires the Expires parameter",
                403,
            ) from exc
        return SignedV2(query["AWSAccessKeyId"], query["Signature"], expires)
    return None


def string_to_sign(
    method: str, resource_path: str, raw_query: str, headers: Mapping[str, str],
    expires: int | None,
) -> str:
    amz: dict[str, list[str]] = {}
    for name, value in headers.items():
        low = name.lower()
        if low.startswith("x-amz-"):
            amz.setdefault(low, []).append(value.strip())
    date = str(expires) if expires is not None else (
        "" if "x-amz-date" in amz else headers.get("Date", "")
    )
    lines = [method, headers.get("Content-MD5", ""), headers.get("Content-Type", ""), date]
    lines += [f"{k}:{','.join(amz[k])}" for k in sorted(amz)]
    subresources = []
    for part in raw_query.split("&") if raw_query else []:
        key, eq, value = part.partition("=")
        if key in SUBRESOURCES:
            subresources.append((key, unquote(value) if eq else None))
    subresources.sort(key=lambda kv: kv[0])
    resource = resource_path
    if subresources:
        resource += "?" + "&".join(k if v is None else f"{k}={v}" for k, v in subresources)
    lines.append(resource)
    return "\n".join(lines)


def verify(
    signed: SignedV2, *, secret_key: str, method: str, resource_path: str, raw_query: str,
    headers: Mapping[str, str], now: float,
) -> None:
    if signed.expires is not None and now > signed.expires:
        raise AWSError("AccessDenied", "Request has expired", 403, Expires=str(signed.expires))
    text = string_to_sign(method, resource_path, raw_query, headers, signed.expires)
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha1).digest()
    expected = base64.b64encode(digest).decode()
    if not hmac.compare_digest(expected, signed.signature):
        raise AWSError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            403,
            AWSAccessKeyId=signed.access_key,
            StringToSign=text,
            SignatureProvided=signed.signature,
        )
