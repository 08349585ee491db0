"""AWS Signature Version 4 verification for the gureum gateway.

``parse`` reads what a request claims (Authorization header or presigned query
parameters); ``verify`` rebuilds the canonical request exactly as botocore,
boto3 and the AWS CLI build it and checks the signature, the clock skew and
presigned expiry. Errors are raised as :class:`~gureum.errors.AWSError` with
the code and HTTP status AWS answers for the request's protocol ``style``:

* ``"query"`` - awsQuery services (sts, iam, elbv2, autoscaling, rds, ...)
* ``"ec2"``   - the ec2 protocol
* ``"json"``  - awsJson / rpc-v2-cbor services
* ``"s3"``    - restXml S3 (errors carry S3's extra fields)

This runs on every API call, so the hot path avoids needless work: signing
keys are cached, and canonical pieces that need no re-encoding are used as is.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_tz
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote, unquote_to_bytes

from multidict import CIMultiDict, CIMultiDictProxy

from gureum.errors import AWSError

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "MAX_PRESIGNED_EXPIRES",
    "MAX_SKEW_SECONDS",
    "STREAMING_PAYLOADS",
    "UNSIGNED_PAYLOAD",
    "Credential",
    "SignedRequest",
    "missing_auth_error",
    "parse",
    "quick_check",
    "quick_parse",
    "signing_key",
    "unknown_key_error",
    "verify",
    "wrong_region_error",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
STREAMING_PAYLOADS = frozenset(
    {
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    }
)
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
STYLES = ("query", "ec2", "json", "s3")

_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_UNRESERVED_RE = re.compile(r"[A-Za-z0-9\-._~]*")
_S3_PATH_SAFE_RE = re.compile(r"[A-Za-z0-9\-._~/]*")
_AMZ_DATE_RE = re.compile(r"\d{8}T\d{6}Z")

_S3_MISMATCH_MSG = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_MISMATCH_MSG = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_MISMATCH: dict[str, tuple[str, str, int]] = {
    "query": ("SignatureDoesNotMatch", _MISMATCH_MSG, 403),
    "ec2": ("AuthFailure", "AWS was not able to validate the provided access credentials", 401),
    "json": ("InvalidSignatureException", _MISMATCH_MSG, 400),
    "s3": ("SignatureDoesNotMatch", _S3_MISMATCH_MSG, 403),
}


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Credential:
    """The credential scope a request claims: ``AKID/date/region/service/aws4_request``."""

    access_key: str
    date: str  # YYYYMMDD
    region: str
    service: str  # signing name, e.g. "sts", "s3", "monitoring"

    @property
    def scope(self) -> str:
        """``date/region/service/aws4_request`` as used in strings to sign."""
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


class SignedRequest(NamedTuple):
    """What ``parse`` found in a signed request (a named tuple: built on every
    request, it costs a third of a frozen dataclass)."""

    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str  # YYYYMMDDTHHMMSSZ
    payload_hash: str | None  # x-amz-content-sha256, UNSIGNED-PAYLOAD (S3 presigned) or None
    presigned: bool
    expires: int | None  # X-Amz-Expires for presigned


# --------------------------------------------------------------------------- errors


def _malformed(style: str, message: str, *, presigned: bool = False, **fields: Any) -> AWSError:
    if style == "s3":
        if presigned:
            return AWSError("AuthorizationQueryParametersError", message, 400, **fields)
        return AWSError("AuthorizationHeaderMalformed", message, 400, **fields)
    return AWSError("IncompleteSignature", message, 400)


def _mismatch(style: str, message: str | None = None, **fields: Any) -> AWSError:
    code, default, status = _MISMATCH[style]
    if style != "s3":
        fields = {}
    return AWSError(code, message or default, status, **fields)


def unknown_key_error(style: str, access_key: str = "") -> AWSError:
    """The error AWS answers when the access key id is not known."""
    if style == "s3":
        fields: dict[str, Any] = {"AWSAccessKeyId": access_key} if access_key else {}
        return AWSError(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            403,
            **fields,
        )
    if style == "ec2":
        return AWSError(
            "AuthFailure", "AWS was not able to validate the provided access credentials", 401
        )
    if style == "json":
        return AWSError(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            400,
        )
    return AWSError(
        "InvalidClientTokenId", "The security token included in the request is invalid.", 403
    )


def missing_auth_error(style: str) -> AWSError:
    """The error AWS answers when a service that requires auth gets an anonymous request.

    S3 lets anonymous requests through to bucket policy; should the gateway still
    ask, S3's answer for a denied anonymous request is returned.
    """
    if style == "json":
        return AWSError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    if style == "ec2":
        return AWSError(
            "MissingAuthenticationToken",
            "The request must contain either a valid (registered) AWS access key ID "
            "or X.509 certificate.",
            401,
        )
    if style == "s3":
        return AWSError("AccessDenied", "Access Denied", 403)
    return AWSError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)


def wrong_region_error(style: str, claimed: str, expected: str) -> AWSError:
    """The error for a credential scoped to another region than the endpoint's."""
    if style == "s3":
        return AWSError(
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region '{claimed}' is wrong; "
            f"expecting '{expected}'",
            400,
            Region=expected,
        )
    code, _, status = _MISMATCH[style]
    return AWSError(
        code,
        f"Credential should be scoped to a valid region, not '{claimed}'. ",
        status,
    )


# --------------------------------------------------------------------------- helpers


def _header_getter(headers: Mapping[str, str]) -> Callable[[str], list[str]]:
    """A case-insensitive ``getall`` over any mapping (lower-case names in)."""
    getall = getattr(headers, "getall", None)
    if getall is not None and _is_case_insensitive(headers):

        def get_multi(name: str) -> list[str]:
            values: list[str] = getall(name, [])
            return values

        return get_multi
    lowered: dict[str, list[str]] = {}
    items: Iterable[tuple[str, str]] = headers.items()
    for key, value in items:
        lowered.setdefault(key.lower(), []).append(value)

    def get_lowered(name: str) -> list[str]:
        return lowered.get(name, [])

    return get_lowered


def _is_case_insensitive(headers: Mapping[str, str]) -> bool:
    # multidict's CIMultiDict / CIMultiDictProxy (what aiohttp hands out).
    name = type(headers).__name__
    return name.startswith("CIMultiDict")


def _first_getter(headers: Mapping[str, str]) -> Callable[[str], str | None]:
    """A case-insensitive lookup of a header's first value (lower-case names
    in): the multidict's own ``get`` when it has one (no Python frame per
    lookup), else a lowered copy's."""
    if _is_case_insensitive(headers):
        return headers.get
    lowered: dict[str, str] = {}
    for key, value in headers.items():
        lowered.setdefault(key.lower(), value)
    return lowered.get


@lru_cache(maxsize=256)  # requests of one second share their stamp
def _amz_epoch(amz_date: str) -> int:
    """Seconds since the epoch of a ``YYYYMMDDTHHMMSSZ`` stamp (caller validated the shape)."""
    return calendar.timegm(
        (
            int(amz_date[0:4]),
            int(amz_date[4:6]),
            int(amz_date[6:8]),
            int(amz_date[9:11]),
            int(amz_date[11:13]),
            int(amz_date[13:15]),
            0,
            0,
            0,
        )
    )


@lru_cache(maxsize=256)
def _valid_amz_date(value: str) -> bool:
    if len(value) != 16 or _AMZ_DATE_RE.fullmatch(value) is None:
        return False
    month, day = int(value[4:6]), int(value[6:8])
    return (
        1 <= month <= 12
        and 1 <= day <= 31
        and int(value[9:11]) < 24
        and int(value[11:13]) < 60
        and int(value[13:15]) < 61
    )


def _http_date_to_amz(value: str) -> str | None:
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    offset = parsed[9] or 0
    epoch = calendar.timegm(parsed[:9]) - offset
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _amz(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _hex_bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode("utf-8"))


@lru_cache(maxsize=256)  # a client signs with one credential scope a day: parsed once
def _parse_credential(value: str, style: str, presigned: bool, where: str) -> Credential:
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not all(parts[1:4]):
        if style == "s3":
            raise _malformed(
                style,
                f"{where} the Credential is mal-formed; expecting "
                '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
                presigned=presigned,
            )
        raise _malformed(
            style,
            f"Credential should be scoped to a valid region, not '{value}'. "
            if len(parts) == 5
            else f"Credential should be scoped correctly: '{value}'.",
        )
    access_key, date, region, service, terminator = parts
    if not access_key:
        raise _malformed(
            style,
            f"{where} a non-empty Access Key (AKID) must be provided in the credential."
            if style == "s3"
            else "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{value}'",
            presigned=presigned,
        )
    if terminator != "aws4_request":
        raise _malformed(
            style,
            f'{where} incorrect terminal "{terminator}". This endpoint uses "aws4_request".'
            if style == "s3"
            else "Credential should be scoped with a valid terminator: 'aws4_request', "
            f"not '{terminator}'.",
            presigned=presigned,
        )
    if len(date) != 8 or not date.isdigit():
        raise _malformed(
            style,
            f'{where} incorrect date format "{date}". '
            'This date in the credential must be in the format "yyyyMMdd".'
            if style == "s3"
            else f"Date must be in ISO-8601 'basic format'. Got '{date}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601",
            presigned=presigned,
        )
    return Credential(access_key, date, region, service)


def _check_credential_date(style: str, cred: Credential, amz_date: str, presigned: bool) -> None:
    if amz_date[:8] == cred.date:
        return
    if style == "s3":
        raise _malformed(
            style,
            "Invalid credential date. Date is not the same as X-Amz-Date."
            if presigned
            else "The authorization header is malformed; Invalid credential date. "
            "Date is not the same as X-Amz-Date.",
            presigned=presigned,
        )
    raise _mismatch(
        style,
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
        f"from HTTP: '{cred.date}' != '{amz_date[:8]}', from '{amz_date}'.",
    )


# --------------------------------------------------------------------------- parse


def parse(
    method: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    *,
    style: str = "query",
) -> SignedRequest | None:
    """What a request claims, or None when it is anonymous.

    Anonymous means no Authorization header and no ``X-Amz-Algorithm`` query
    parameter. Raises :class:`AWSError` (in ``style``) for a malformed
    Authorization header, credential or presigned query.
    """
    del method  # the method is not part of what is claimed; kept for the gateway's call shape
    first = _first_getter(headers)
    auth = first("authorization")
    algorithm_q = query.get("X-Amz-Algorithm")
    if auth is None and algorithm_q is None:
        if style == "s3" and "Signature" in query and "AWSAccessKeyId" in query:
            raise AWSError(
                "InvalidRequest",
                "The authorization mechanism you have provided is not supported. "
                "Please use AWS4-HMAC-SHA256.",
                400,
            )
        return None
    if auth is not None and algorithm_q is not None:
        if style == "s3":
            raise AWSError(
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
                400,
                ArgumentName="Authorization",
                ArgumentValue=auth,
            )
        raise _malformed(
            style,
            "Found both 'X-Amz-Algorithm' as a query-string param "
            "and 'Authorization' as HTTP header.",
        )
    if auth is not None:
        return _parse_header(auth, first, style)
    return _parse_query(query, first, style)


def _parse_header(auth: str, first: Callable[[str], str | None], style: str) -> SignedRequest:
    # A client signs with one credential and one list of headers for a while:
    # the header before its signature is parsed once (botocore writes
    # ", Signature=" last), and anything else, malformed ones included, in full.
    prefix, sep, tail = auth.rpartition(", Signature=")
    claims = _claimed_scope(prefix, style) if sep and "," not in tail else None
    if claims is not None:
        cred, signed_headers = claims
        signature = tail.strip()
    else:
        cred, signed_headers, signature = _header_claims(auth, style)
    if not signature.isascii():
        raise _mismatch(style)
    amz_date = first("x-amz-date")
    if amz_date is None:
        http_date = first("date")
        amz_date = _http_date_to_amz(http_date) if http_date is not None else None
    if amz_date is None or not _valid_amz_date(amz_date):
        if style == "s3":
            raise AWSError(
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header",
                403,
            )
        raise _malformed(
            style,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            f"header. Authorization={auth}",
        )
    _check_credential_date(style, cred, amz_date, False)
    return SignedRequest(
        credential=cred,
        signed_headers=signed_headers,
        signature=signature,
        amz_date=amz_date,
        payload_hash=first("x-amz-content-sha256"),
        presigned=False,
        expires=None,
    )


def _header_claims(auth: str, style: str) -> tuple[Credential, tuple[str, ...], str]:
    """The credential, signed header names and signature an Authorization
    header claims; raises the request's error when they are malformed."""
    algorithm, _, rest = auth.strip().partition(" ")
    if algorithm != ALGORITHM:
        if style == "s3":
            raise AWSError(
                "InvalidRequest" if algorithm.startswith("AWS") else "InvalidArgument",
                "The authorization mechanism you have provided is not supported. "
                "Please use AWS4-HMAC-SHA256.",
                400,
            )
        raise _malformed(
            style,
            "Authorization header requires 'Credential' parameter. Authorization header "
            "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
            f"parameter. Authorization={auth}",
        )
    credential = signed = signature = None
    for item in rest.split(","):
        key, eq, value = item.strip().partition("=")
        if not eq:
            continue
        if key == "Credential":
            credential = value
        elif key == "SignedHeaders":
            signed = value
        elif key == "Signature":
            signature = value
    if credential is None or signed is None or signature is None:
        if style == "s3":
            raise _malformed(
                style,
                "The authorization header is malformed; the authorization header requires "
                "three components: Credential, SignedHeaders, and Signature.",
            )
        missing = [
            f"Authorization header requires '{name}' parameter."
            for name, val in (
                ("Credential", credential),
                ("Signature", signature),
                ("SignedHeaders", signed),
            )
            if val is None
        ]
        raise _malformed(style, " ".join(missing) + f" Authorization={auth}")
    cred = _parse_credential(credential, style, False, "The authorization header is malformed;")
    signed_headers = tuple(signed.lower().split(";")) if signed else ()
    if "host" not in signed_headers:
        raise _malformed(
            style,
            "The authorization header is malformed; 'Host' must be a 'SignedHeader' "
            "in the AWS Authorization."
            if style == "s3"
            else "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        )
    return cred, signed_headers, signature


@lru_cache(maxsize=256)
def _claimed_scope(prefix: str, style: str) -> tuple[Credential, tuple[str, ...]] | None:
    """``_header_claims`` of an Authorization header that ends with
    ``", Signature=..."`` after ``prefix``, but for the signature; None when
    it is malformed (it is then parsed in full, for its error)."""
    try:
        cred, signed_headers, _ = _header_claims(prefix + ", Signature=0", style)
    except AWSError:
        return None
    return cred, signed_headers


def _parse_query(
    query: Mapping[str, str], first: Callable[[str], str | None], style: str
) -> SignedRequest:
    missing = [name for name in _PRESIGN_PARAMS if name not in query]
    # Outside S3, AWS does not require X-Amz-Expires (the URL lives 15 minutes).
    if style != "s3" and missing == ["X-Amz-Expires"]:
        missing = []
    if missing:
        if style == "s3":
            raise _malformed(
                style,
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                "and X-Amz-Expires parameters.",
                presigned=True,
            )
        raise _malformed(
            style,
            f"AWS query-string parameters must include '{missing[0]}'. Re-examine "
            "the query-string parameters.",
        )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise _malformed(style, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', presigned=True)
    cred = _parse_credential(
        query["X-Amz-Credential"], style, True, "Error parsing the X-Amz-Credential parameter;"
    )
    amz_date = query["X-Amz-Date"]
    if not _valid_amz_date(amz_date):
        raise _malformed(
            style,
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            presigned=True,
        )
    expires: int | None = None
    raw_expires = query.get("X-Amz-Expires")
    if raw_expires is not None:
        try:
            expires = int(raw_expires)
        except ValueError:
            raise _malformed(style, "X-Amz-Expires should be a number", presigned=True) from None
        if expires < 0:
            raise _malformed(style, "X-Amz-Expires must be non-negative", presigned=True)
        if style == "s3" and expires > MAX_PRESIGNED_EXPIRES:
            raise _malformed(
                style,
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                presigned=True,
            )
    signed = query["X-Amz-SignedHeaders"]
    signed_headers = tuple(signed.lower().split(";")) if signed else ()
    if "host" not in signed_headers:
        raise _malformed(
            style,
            "Query-string authentication requires the 'host' header to be signed."
            if style == "s3"
            else "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            presigned=True,
        )
    signature = query["X-Amz-Signature"]
    if not signature.isascii():
        raise _mismatch(style)
    _check_credential_date(style, cred, amz_date, True)
    payload_hash = first("x-amz-content-sha256")
    if payload_hash is None:
        payload_hash = query.get("X-Amz-Content-Sha256")
    if payload_hash is None and cred.service == "s3":
        payload_hash = UNSIGNED_PAYLOAD
    return SignedRequest(
        credential=cred,
        signed_headers=signed_headers,
        signature=signature,
        amz_date=amz_date,
        payload_hash=payload_hash,
        presigned=True,
        expires=expires,
    )


# --------------------------------------------------------------------------- signing


@lru_cache(maxsize=1024)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for a secret and credential scope (cached)."""
    k = hmac.digest(("AWS4" + secret_key).encode("utf-8"), date.encode("utf-8"), "sha256")
    k = hmac.digest(k, region.encode("utf-8"), "sha256")
    k = hmac.digest(k, service.encode("utf-8"), "sha256")
    return hmac.digest(k, b"aws4_request", "sha256")


def _encode_component(value: str) -> str:
    if _UNRESERVED_RE.fullmatch(value) is not None:
        return value
    return quote(unquote_to_bytes(value), safe="-_.~")


def canonical_query(raw_query: str, *, presigned: bool = False) -> str:
    """The canonical query string AWS computes from a raw query string.

    Keys and values are percent-decoded (``+`` stays a literal plus) and
    re-encoded with the RFC 3986 unreserved set, then sorted by key and value.
    ``X-Amz-Signature`` is left out for presigned requests.
    """
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if presigned and key == "X-Amz-Signature":
            continue
        pairs.append((_encode_component(key), _encode_component(value)))
    pairs.sort()
    return "&".join([f"{k}={v}" for k, v in pairs])


def _raw_sorted_query(raw_query: str, presigned: bool) -> str:
    """botocore's own rendering: the raw pairs of the URL, sorted, not re-encoded."""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if presigned and key == "X-Amz-Signature":
            continue
        pairs.append((key, value))
    pairs.sort()
    return "&".join([f"{k}={v}" for k, v in pairs])


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 5.2.4, and empty segments dropped, as botocore does.
    output: list[str] = []
    for segment in path.split("/"):
        if segment and segment != ".":
            if segment == "..":
                if output:
                    output.pop()
            else:
                output.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and output else ""
    return first + "/".join(output) + last


def canonical_path(raw_path: str, service: str) -> str:
    """The canonical URI for ``raw_path`` (percent-encoded, as received)."""
    if not raw_path:
        return "/"
    if "?" in raw_path:
        raw_path = raw_path.partition("?")[0] or "/"
    if service == "s3":
        return raw_path
    if raw_path == "/":
        return raw_path
    return quote(_remove_dot_segments(raw_path), safe="/~")


def _s3_reencoded_path(raw_path: str) -> str:
    return quote(unquote_to_bytes(raw_path), safe="/~")


def _canonical_headers(signed_headers: tuple[str, ...], headers: Mapping[str, str]) -> str:
    lines = []
    if _is_case_insensitive(headers):
        getall: Callable[[str, Any], list[str]] = headers.getall  # type: ignore[attr-defined]
    else:
        getter = _header_getter(headers)

        def getall(name: str, default: Any) -> list[str]:
            return getter(name)

    for name in signed_headers:
        values = getall(name, ())
        if len(values) == 1:
            value = " ".join(values[0].split())
        else:
            value = ",".join([" ".join(v.split()) for v in values])
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


@lru_cache(maxsize=1024)
def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states that have hashed a signing key's inner and outer HMAC
    pads (RFC 2104), computed once per key: a signature then costs two copies
    of them and no digest lookup (OpenSSL 3 looks the digest up again on each
    ``hmac.digest`` call, about three times the work of the hashing itself)."""
    padded = key.ljust(64, b"\0")  # (SigV4 keys are 32 bytes: never hashed first)
    return (
        hashlib.sha256(padded.translate(_INNER_PAD)),
        hashlib.sha256(padded.translate(_OUTER_PAD)),
    )


_INNER_PAD = bytes(b ^ 0x36 for b in range(256))
_OUTER_PAD = bytes(b ^ 0x5C for b in range(256))


def _signature(key: bytes, string_to_sign: str) -> str:
    """HMAC-SHA256 of ``string_to_sign`` under ``key``, in hex."""
    if len(key) > 64:
        return hmac.digest(key, string_to_sign.encode("utf-8"), "sha256").hex()
    inner, outer = _hmac_pads(key)
    inner = inner.copy()
    inner.update(string_to_sign.encode("utf-8"))
    outer = outer.copy()
    outer.update(inner.digest())
    return str(outer.hexdigest())


def _string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


# --------------------------------------------------------------------------- quick path


_CI_HEADERS = (CIMultiDictProxy, CIMultiDict)


@lru_cache(maxsize=256)
def _claimed(prefix: str, style: str) -> tuple[Credential, tuple[str, ...], str, str] | None:
    """``_claimed_scope`` with the scope string and the signed names' line of
    the canonical request, built once per client rather than per request."""
    claims = _claimed_scope(prefix, style)
    if claims is None:
        return None
    cred, names = claims
    return cred, names, cred.scope, ";".join(names)


def quick_parse(
    auth: str, headers: Mapping[str, str], style: str
) -> tuple[SignedRequest, str, str] | None:
    """What ``parse`` gives for a request signed in its Authorization header
    ``auth`` (the request's one), with the scope and the signed names' line of
    the canonical request, when it parses as every SDK writes it; None for
    anything else (``parse`` then gives the answer, its error included). The
    caller has checked that the query carries no other signature
    (``X-Amz-Algorithm``, a SigV2 ``Signature``)."""
    if type(headers) not in _CI_HEADERS:
        return None
    prefix, sep, tail = auth.rpartition(", Signature=")
    if not sep or "," in tail:
        return None
    claims = _claimed(prefix, style)
    if claims is None:
        return None
    cred, names, scope, names_line = claims
    signature = tail.strip()
    amz_date = headers.get("x-amz-date")
    if (
        not signature.isascii()
        or amz_date is None
        or amz_date[:8] != cred.date
        or not _valid_amz_date(amz_date)
    ):
        return None
    req = SignedRequest(
        cred, names, signature, amz_date, headers.get("x-amz-content-sha256"), False, None
    )
    return req, scope, names_line


def quick_check(
    parsed: tuple[SignedRequest, str, str],
    *,
    secret_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    payload_hash: str,
    now: float,
    style: str,
) -> bool:
    """True when ``verify`` of ``quick_parse``'s request would pass on its
    first canonical request (the form every SDK signs); False for anything
    else, which ``verify`` then answers. One frame for what ``verify``
    spreads over a dozen calls."""
    req, scope, names_line = parsed
    names = req.signed_headers
    if abs(now - _amz_epoch(req.amz_date)) > MAX_SKEW_SECONDS or "?" in raw_path:
        return False
    if style == "s3":
        # (An unsigned x-amz-* header is refused: ``verify`` says which.)
        for name in headers:
            if name[:1] in "xX":
                lower = name.lower()
                if lower.startswith("x-amz-") and lower not in names:
                    return False
    getall: Callable[[str, Any], list[str]] = headers.getall  # type: ignore[attr-defined]
    lines = []
    for name in names:
        values = getall(name, ())
        if len(values) == 1:
            lines.append(f"{name}:{' '.join(values[0].split())}\n")
        else:
            lines.append(f"{name}:{','.join([' '.join(v.split()) for v in values])}\n")
    cred = req.credential
    path = raw_path or "/"
    if cred.service != "s3" and path != "/":
        path = quote(_remove_dot_segments(path), safe="/~")
    query = canonical_query(raw_query) if raw_query else ""
    canonical_request = (
        f"{method.upper()}\n{path}\n{query}\n{''.join(lines)}\n{names_line}\n{payload_hash}"
    )
    string_to_sign = (
        f"{ALGORITHM}\n{req.amz_date}\n{scope}\n"
        f"{hashlib.sha256(canonical_request.encode('utf-8')).hexdigest()}"
    )
    inner, outer = _hmac_pads(signing_key(secret_key, cred.date, cred.region, cred.service))
    inner = inner.copy()
    inner.update(string_to_sign.encode("utf-8"))
    outer = outer.copy()
    outer.update(inner.digest())
    return hmac.compare_digest(outer.hexdigest(), req.signature)


# --------------------------------------------------------------------------- verify


def verify(
    req: SignedRequest,
    *,
    secret_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    payload_hash: str,
    now: float,
    style: str,
) -> None:
    """Check a parsed request's signature and timing; raise AWSError when it fails.

    ``payload_hash`` is what goes on the last line of the canonical request
    (usually ``req.payload_hash``, or the hex sha256 of the body when the
    request did not carry one).
    """
    _check_time(req, now, style)
    if style == "s3" and not req.presigned:
        _check_unsigned_amz_headers(req, headers)
    cred = req.credential
    key = signing_key(secret_key, cred.date, cred.region, cred.service)
    scope = cred.scope
    head = method.upper() + "\n"
    tail = (
        "\n"
        + _canonical_headers(req.signed_headers, headers)
        + "\n"
        + ";".join(req.signed_headers)
        + "\n"
        + payload_hash
    )
    path = canonical_path(raw_path, cred.service)
    query = canonical_query(raw_query, presigned=req.presigned)
    canonical_request = head + path + "\n" + query + tail
    string_to_sign = _string_to_sign(req.amz_date, scope, canonical_request)
    provided = req.signature
    if hmac.compare_digest(_signature(key, string_to_sign), provided):
        return
    # Same resource, other spellings a client may have signed: the path as AWS
    # re-encodes it (S3) and the raw query pairs as botocore renders them.
    paths = [path]
    if cred.service == "s3" and _S3_PATH_SAFE_RE.fullmatch(path) is None:
        alt = _s3_reencoded_path(path)
        if alt != path:
            paths.append(alt)
    queries = [query]
    if raw_query:
        alt_q = _raw_sorted_query(raw_query, req.presigned)
        if alt_q != query:
            queries.append(alt_q)
    for p in paths:
        for q in queries:
            if p is path and q is query:
                continue
            candidate = head + p + "\n" + q + tail
            if hmac.compare_digest(
                _signature(key, _string_to_sign(req.amz_date, scope, candidate)), provided
            ):
                return
    if style == "s3":
        raise _mismatch(
            style,
            AWSAccessKeyId=cred.access_key,
            StringToSign=string_to_sign,
            SignatureProvided=provided,
            StringToSignBytes=_hex_bytes(string_to_sign),
            CanonicalRequest=canonical_request,
            CanonicalRequestBytes=_hex_bytes(canonical_request),
        )
    raise _mismatch(style)


def _check_unsigned_amz_headers(req: SignedRequest, headers: Mapping[str, str]) -> None:
    signed = req.signed_headers
    # (Most names do not start with an x: only those are lowered and looked up.)
    unsigned = [
        name
        for name in [n.lower() for n in headers if n[:1] in "xX"]
        if name.startswith("x-amz-") and name not in signed
    ]
    if unsigned:
        raise AWSError(
            "AccessDenied",
            "There were headers present in the request which were not signed",
            403,
            HeadersNotSigned=", ".join(dict.fromkeys(unsigned)),
        )


def _check_time(req: SignedRequest, now: float, style: str) -> None:
    signed_at = _amz_epoch(req.amz_date)
    if req.presigned and style == "s3":
        expires = req.expires or 0
        if now > signed_at + expires:
            fields: dict[str, Any] = {
                "X-Amz-Expires": str(expires),
                "Expires": _iso(signed_at + expires),
                "ServerTime": _iso(now),
            }
            raise AWSError("AccessDenied", "Request has expired", 403, **fields)
        if signed_at - now > MAX_SKEW_SECONDS:
            raise AWSError("AccessDenied", "Request is not valid yet", 403)
        return
    # Header auth everywhere, and presigned URLs outside S3 (which AWS honours for
    # 15 minutes whatever X-Amz-Expires says): the 15-minute window.
    if abs(now - signed_at) <= MAX_SKEW_SECONDS:
        return
    if style == "s3":
        raise AWSError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            403,
            RequestTime=req.amz_date,
            ServerTime=_iso(now),
            MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000),
        )
    if style == "ec2":
        raise AWSError("RequestExpired", "Request has expired.", 400)
    if now > signed_at:
        message = (
            f"Signature expired: {req.amz_date} is now earlier than "
            f"{_amz(now - MAX_SKEW_SECONDS)} ({_amz(now)} - 15 min.)"
        )
    else:
        message = (
            f"Signature not yet current: {req.amz_date} is still later than "
            f"{_amz(now + MAX_SKEW_SECONDS)} ({_amz(now)} + 15 min.)"
        )
    code, _, status = _MISMATCH[style]
    raise AWSError(code, message, status)
