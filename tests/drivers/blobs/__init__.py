"""Tests of the blob drivers; ``digests`` is what every blob write must report."""

from __future__ import annotations

import hashlib
import zlib

from awscrt import checksums as crt

ALL_CHECKSUMS = ["sha256", "sha1", "crc32", "crc32c", "crc64nvme"]


def digests(body: bytes) -> tuple[str, dict[str, str]]:
    """The MD5 and every checksum of ``body``, computed here from all of it."""
    return hashlib.md5(body).hexdigest(), {
        "sha256": hashlib.sha256(body).hexdigest(),
        "sha1": hashlib.sha1(body).hexdigest(),
        "crc32": f"{zlib.crc32(body):08x}",
        "crc32c": f"{crt.crc32c(body):08x}",
        "crc64nvme": f"{crt.crc64nvme(body):016x}",
    }
