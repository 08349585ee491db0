"""Find the service a request is for: the SigV4 credential scope first, then
``X-Amz-Target``, then the RPCv2 path, then the host; S3 is the default (an
anonymous browser or curl request is an S3 request)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .catalog import BY_SIGNING_NAME, BY_TARGET_PREFIX, SERVICES, ServiceSpec

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_VIRTUAL = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-][^.]*)*\.[^.]+.*$")
_RPCV2 = re.compile(r"^/service/([^/]+)/operation/[^/]+/?$")


def signing_scope(headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str, str] | None:
    """(region, signing service) from the Authorization header or a presigned URL."""
    auth = headers.get("Authorization")
    if auth:
        m = _CREDENTIAL.search(auth)
        if m:
            return m.group(3), m.group(4)
        return None
    cred = query.get("X-Amz-Credential")
    if cred:
        parts = cred.split("/")
        if len(parts) == 5:
            return parts[2], parts[3]
    return None


def find_service(
    headers: Mapping[str, str], query: Mapping[str, str], path: str, host: str
) -> tuple[ServiceSpec, str]:
    """The service and the protocol the request speaks."""
    spec: ServiceSpec | None = None
    scope = signing_scope(headers, query)
    if scope is not None:
        candidates = BY_SIGNING_NAME.get(scope[1])
        if candidates:
            spec = candidates[0]
    target = headers.get("X-Amz-Target")
    if spec is None and target:
        spec = BY_TARGET_PREFIX.get(target.rpartition(".")[0])
    if spec is None:
        m = _RPCV2.match(path)
        if m:
            spec = BY_TARGET_PREFIX.get(m.group(1))
    if spec is None:
        name = host.split(":", 1)[0].split(".", 1)[0]
        spec = SERVICES.get(name) or SERVICES["s3"]
    return spec, _protocol(spec, headers)


def _protocol(spec: ServiceSpec, headers: Mapping[str, str]) -> str:
    if len(spec.protocols) == 1:
        return spec.protocols[0]
    if headers.get("smithy-protocol") == "rpc-v2-cbor" and "smithy-rpc-v2-cbor" in spec.protocols:
        return "smithy-rpc-v2-cbor"
    if "X-Amz-Target" in headers and "json" in spec.protocols:
        return "json"
    return "query" if "query" in spec.protocols else spec.protocols[0]


def virtual_bucket(host: str) -> str | None:
    """The bucket named by a virtual-hosted-style S3 host, if any:
    ``bucket.s3.localhost``, ``bucket.s3.us-east-1.amazonaws.com``, ``bucket.localhost``."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else ""
    if not name or name == "localhost" or name[-1].isdigit():
        return None
    if name.startswith(("s3.", "s3-")):
        return None
    m = _VIRTUAL.match(name)
    if m:
        return m.group("bucket")
    if name.endswith(".localhost"):
        bucket = name[: -len(".localhost")]
        if bucket in SERVICES:
            return None
        return bucket
    return None


_WEBSITE = re.compile(r"^(?P<bucket>.+?)\.s3-website[.-]")


def website_bucket(host: str) -> str | None:
    """The bucket of an S3 website endpoint host: ``bucket.s3-website-us-east-1.
    amazonaws.com``, ``bucket.s3-website.localhost:4566``."""
    m = _WEBSITE.match(host)
    return m.group("bucket") if m else None


def is_api_target(headers: Mapping[str, str]) -> bool:
    """A request that names an API operation in its headers (not a browser's)."""
    return "X-Amz-Target" in headers or "smithy-protocol" in headers
