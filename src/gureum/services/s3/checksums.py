"""Object checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256): which ones a
request carries, computing and checking them, and what to store and answer.

Values travel base64-encoded, in headers (``x-amz-checksum-*``, parsed into
``ChecksumCRC32``...) or as aws-chunked trailers (the gateway's body stream
exposes them, already verified, as ``trailers``). The blob store computes all
five while it writes (CRC32C and CRC64NVME through awscrt), so every value
sent is checked against the bytes: a malformed value is ``InvalidRequest``, a
wrong one ``BadDigest``, as S3 answers.

Multipart objects carry either a COMPOSITE checksum (the digest of the parts'
raw checksums, ``-N``) or, for the CRCs, a FULL_OBJECT one: the CRC of the
whole object, combined from the parts' CRCs and sizes without reading them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from awscrt import checksums as crt

from gureum.drivers.blobs import BlobInfo
from gureum.errors import AWSError

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
COMPUTED = {name: name.lower() for name in ALGORITHMS}
_PARAMS = {f"Checksum{name}": name for name in ALGORITHMS}  # parameter -> algorithm
SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}
# Which checksum types each algorithm allows in a multipart upload, default first.
TYPES = {
    "CRC32": ("COMPOSITE", "FULL_OBJECT"),
    "CRC32C": ("COMPOSITE", "FULL_OBJECT"),
    "CRC64NVME": ("FULL_OBJECT",),
    "SHA1": ("COMPOSITE",),
    "SHA256": ("COMPOSITE",),
}
_COMBINE: dict[str, Callable[[int, int, int], int]] = {
    "CRC32": crt.combine_crc32,
    "CRC32C": crt.combine_crc32c,
    "CRC64NVME": crt.combine_crc64nvme,
}


def invalid(what: str) -> AWSError:
    return AWSError("InvalidRequest", f"Value for {what} is invalid.", 400)


def check_value(name: str, value: str, where: str = "header") -> str:
    """A sent checksum must be base64 of the algorithm's digest size."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != SIZES[name]:
        raise invalid(f"x-amz-checksum-{name.lower()} {where}")
    return value


def algorithm_of(params: Mapping[str, Any]) -> str | None:
    """``ChecksumAlgorithm`` upper-cased; an unknown one is ``InvalidRequest``."""
    algorithm = params.get("ChecksumAlgorithm")
    if not algorithm:
        return None
    name = str(algorithm).upper()
    if name not in ALGORITHMS:
        raise invalid("x-amz-sdk-checksum-algorithm header")
    return name


def requested(params: Mapping[str, Any], body: Any = None) -> dict[str, str | None]:
    """Algorithm -> value sent (``None``: asked for by name, value not sent).

    One value at most: several ``x-amz-checksum-*`` headers, or a value for
    another algorithm than ``ChecksumAlgorithm`` names, are refused as S3
    refuses them.
    """
    algorithm = algorithm_of(params)
    sent = {} if params.keys().isdisjoint(_PARAMS) else {
        name: check_value(name, str(params[param]))
        for param, name in _PARAMS.items() if params.get(param)}
    trailers = getattr(body, "trailers", None) or {}
    for header, value in trailers.items():
        name = header.lower().removeprefix("x-amz-checksum-").upper()
        if name in ALGORITHMS:
            sent[name] = check_value(name, str(value), "trailing header")
    if len(sent) > 1:
        raise AWSError("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple "
                       "checksum Types are not allowed.", 400)
    if algorithm is not None and sent and algorithm not in sent:
        raise invalid("x-amz-sdk-checksum-algorithm header")
    out: dict[str, str | None] = {algorithm: None} if algorithm else {}
    out.update(sent)
    return out


def to_compute(wanted: Mapping[str, str | None]) -> list[str]:
    return [COMPUTED[name] for name in wanted if name in COMPUTED]


def settle(
    wanted: Mapping[str, str | None], info: BlobInfo, body: Any = None
) -> dict[str, str]:
    """Check the values sent against what was computed; return what to store.

    Raises ``BadDigest`` on a mismatch (the caller drops the blob). Trailer
    values may only arrive once the body is read, so they are looked up again.
    """
    if getattr(body, "trailers", None):
        wanted = {**wanted, **{k: v for k, v in requested({}, body).items() if v is not None}}
    out: dict[str, str] = {}
    for name, sent in wanted.items():
        computed_hex = info.checksums.get(COMPUTED.get(name, ""))
        if computed_hex is not None:
            computed = base64.b64encode(bytes.fromhex(computed_hex)).decode()
            if sent is not None and sent != computed:
                raise bad_digest(name)
            out[name] = computed
        elif sent is not None:
            out[name] = sent
    return out


def bad_digest(name: str) -> AWSError:
    return AWSError(
        "BadDigest", f"The {name} you specified did not match the calculated checksum.", 400
    )


def check_content_md5(value: str | None, info: BlobInfo) -> None:
    if not value:
        return
    try:
        sent = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        sent = b""
    if len(sent) != 16:
        raise AWSError("InvalidDigest", "The Content-MD5 you specified was invalid.", 400)
    if sent.hex() != info.md5:
        raise AWSError(
            "BadDigest",
            "The Content-MD5 you specified did not match what was received.",
            400,
            ExpectedDigest=value,
            CalculatedDigest=base64.b64encode(bytes.fromhex(info.md5)).decode(),
        )


def composite(part_values: Sequence[str], name: str) -> str:
    """A COMPOSITE multipart checksum: digest of the parts' raw checksums, ``-N``."""
    raw = b"".join(base64.b64decode(v) for v in part_values)
    if name == "CRC32":
        digest = zlib.crc32(raw).to_bytes(4, "big")
    elif name == "CRC32C":
        digest = crt.crc32c(raw).to_bytes(4, "big")
    elif name == "CRC64NVME":
        digest = crt.crc64nvme(raw).to_bytes(8, "big")
    else:
        digest = hashlib.new(name.lower(), raw).digest()
    return f"{base64.b64encode(digest).decode()}-{len(part_values)}"


def full_object(parts: Sequence[tuple[str, int]], name: str) -> str | None:
    """A FULL_OBJECT multipart checksum: the parts' CRCs (base64, size) combined."""
    combine = _COMBINE.get(name)
    if combine is None:
        return None
    value: int | None = None
    for b64, size in parts:
        crc = int.from_bytes(base64.b64decode(b64), "big")
        value = crc if value is None else combine(value, crc, size)
    return base64.b64encode((value or 0).to_bytes(SIZES[name], "big")).decode()


def output(stored: Mapping[str, str], kind: str = "FULL_OBJECT") -> dict[str, Any]:
    out: dict[str, Any] = {f"Checksum{name}": value for name, value in stored.items()}
    if out:
        out["ChecksumType"] = kind
    return out
