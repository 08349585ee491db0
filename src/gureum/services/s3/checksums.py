"""Object checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256): which ones a
request carries, computing and checking them, and what to store and answer.

Values travel base64-encoded, in headers (``x-amz-checksum-*``, parsed into
``ChecksumCRC32``...) or as aws-chunked trailers (the gateway's body stream
exposes them, already verified, as ``trailers``). CRC32, SHA1 and SHA256 are
computed by the blob store while it writes; CRC32C and CRC64NVME need a
library gureum does not bundle, so a value sent for them is stored as given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

from gureum.drivers.blobs import BlobInfo
from gureum.errors import AWSError

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
COMPUTED = {"CRC32": "crc32", "SHA1": "sha1", "SHA256": "sha256"}


def requested(params: Mapping[str, Any], body: Any = None) -> dict[str, str | None]:
    """Algorithm -> value sent (``None``: asked for by name, value not sent)."""
    out: dict[str, str | None] = {}
    algorithm = params.get("ChecksumAlgorithm")
    if isinstance(algorithm, str) and algorithm.upper() in ALGORITHMS:
        out[algorithm.upper()] = None
    for name in ALGORITHMS:
        value = params.get(f"Checksum{name}")
        if value:
            out[name] = str(value)
    trailers = getattr(body, "trailers", None) or {}
    for header, value in trailers.items():
        name = header.lower().removeprefix("x-amz-checksum-").upper()
        if name in ALGORITHMS:
            out[name] = str(value)
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
    wanted = {**wanted, **requested({}, body)}
    out: dict[str, str] = {}
    for name, sent in wanted.items():
        computed_hex = info.checksums.get(COMPUTED.get(name, ""))
        if computed_hex is not None:
            computed = base64.b64encode(bytes.fromhex(computed_hex)).decode()
            if sent is not None and sent != computed:
                raise AWSError(
                    "BadDigest",
                    f"The {name} you specified did not match the calculated checksum.",
                    400,
                )
            out[name] = computed
        elif sent is not None:
            out[name] = sent
    return out


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


def composite(part_values: list[str], name: str) -> str | None:
    """A multipart object's checksum: digest of the parts' raw checksums, ``-N``."""
    if name not in ("SHA1", "SHA256") and name != "CRC32":
        return None
    raw = b"".join(base64.b64decode(v) for v in part_values)
    if name == "CRC32":
        import zlib

        digest = zlib.crc32(raw).to_bytes(4, "big")
    else:
        digest = hashlib.new(name.lower(), raw).digest()
    return f"{base64.b64encode(digest).decode()}-{len(part_values)}"


def output(stored: Mapping[str, str], kind: str = "FULL_OBJECT") -> dict[str, Any]:
    out: dict[str, Any] = {f"Checksum{name}": value for name, value in stored.items()}
    if out:
        out["ChecksumType"] = kind
    return out
