"""``MemoryBlobStore``: the in-memory fake of the blob driver, same semantics as files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Collection
from pathlib import Path

from gureum.drivers.blobs.base import (
    BlobInfo,
    BlobNotFound,
    BlobStream,
    Digests,
    check_key,
    check_range,
)


class MemoryBlobStore:
    """Blobs in a dict. ``path`` is always ``None`` (nothing to sendfile)."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, checksums: Collection[str] = ()
    ) -> BlobInfo:
        check_key(key)
        digests = Digests(checksums)
        parts: list[bytes] = []
        async for chunk in chunks:
            digests.update(chunk)
            parts.append(bytes(chunk))
        self._blobs[key] = b"".join(parts)  # visible only once complete
        return digests.info(key)

    async def read(
        self, key: str, start: int = 0, end: int | None = None
    ) -> BlobStream:
        data = self._blobs.get(check_key(key))
        if data is None:
            raise BlobNotFound(key)
        start, stop = check_range(len(data), start, end)
        view = memoryview(data)[start:stop]
        offset = 0

        async def read(n: int) -> bytes:
            nonlocal offset
            await asyncio.sleep(0)
            chunk = bytes(view[offset : offset + n])
            offset += len(chunk)
            return chunk

        return BlobStream(read, stop - start)

    def path(self, key: str) -> Path | None:
        check_key(key)
        return None

    async def delete(self, key: str) -> None:
        self._blobs.pop(check_key(key), None)

    async def exists(self, key: str) -> bool:
        return check_key(key) in self._blobs

    async def link(self, key: str, new: str) -> None:
        """``new`` names the same (immutable) bytes as ``key``."""
        data = self._blobs.get(check_key(key))
        if data is None:
            raise BlobNotFound(key)
        self._blobs[check_key(new)] = data

    async def size(self, key: str) -> int | None:
        data = self._blobs.get(check_key(key))
        return None if data is None else len(data)

