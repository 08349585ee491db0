"""The blob driver: opaque byte blobs under caller-chosen keys (S3 keeps object bytes here).

``BlobStore`` is the protocol (its docstring is the contract),
``FileBlobStore`` the real implementation (durable files in the data dir),
``MemoryBlobStore`` the fake.
"""

from gureum.drivers.blobs.base import (
    CHECKSUMS,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStream,
    Digests,
    digest_whole,
)
from gureum.drivers.blobs.files import FileBlobStore
from gureum.drivers.blobs.memory import MemoryBlobStore

__all__ = [
    "CHECKSUMS",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobStream",
    "Digests",
    "FileBlobStore",
    "MemoryBlobStore",
    "digest_whole",
]
