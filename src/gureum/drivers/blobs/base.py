"""The ``BlobStore`` protocol, ``BlobInfo``, and the digests computed while writing."""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

from awscrt import checksums as crt

READ_CHUNK = 256 * 1024
# CRC name -> (function(data, previous) -> int, width in bytes).
CRCS: dict[str, tuple[Callable[[bytes | memoryview, int], int], int]] = {
    "crc32": (zlib.crc32, 4),
    "crc32c": (crt.crc32c, 4),
    "crc64nvme": (crt.crc64nvme, 8),
}
CHECKSUMS = frozenset({"sha1", "sha256", *CRCS})
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")


class BlobNotFound(LookupError):
    """No blob is stored under that key."""


@dataclass(frozen=True)
class BlobInfo:
    """What a completed write stored: size and digests (lowercase hex)."""

    key: str
    size: int
    md5: str
    checksums: Mapping[str, str] = field(default_factory=dict)


class BlobStore(Protocol):
    """Opaque byte blobs under caller-chosen keys.

    - Keys match ``[A-Za-z0-9_-][A-Za-z0-9_.-]*`` (at most 200 characters);
      anything else is a ``ValueError``.
    - ``write`` streams ``chunks`` and returns once the blob is durable; it
      replaces any blob under the key atomically. If ``chunks`` raises, the
      exception propagates and the key keeps its previous content (or stays
      absent): a partial blob is never visible. ``checksums`` asks for extra
      digests from ``CHECKSUMS`` besides md5.
    - ``read`` returns a stream of bytes ``[start, end)`` (``end`` exclusive,
      ``None`` = to the end, clamped to the size); it raises ``BlobNotFound``
      at once if the key is absent, and keeps streaming the content it opened
      even if the blob is replaced or deleted meanwhile. ``start`` beyond the
      size or ``end < start`` is a ``ValueError``. A stream read to its end
      closes itself; close an abandoned one with ``aclose()`` or ``async with``.
    - ``path`` is a file holding the blob, for sendfile, or ``None``.
    - ``delete`` of a missing key succeeds.
    """

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, checksums: Collection[str] = ()
    ) -> BlobInfo: ...

    async def read(
        self, key: str, start: int = 0, end: int | None = None
    ) -> BlobStream: ...

    def path(self, key: str) -> Path | None: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int | None:
        """The size in bytes, or ``None`` if absent."""
        ...


class Receiver(Protocol):
    """A body of ``length`` bytes a blob store may receive in a thread of its
    own, straight into its buffers, instead of iterating the stream it came as.

    A stream offers one through a ``receiver()`` method (on the event loop,
    before it is iterated; ``None``: iterate it). ``receive_into`` fills the
    start of a buffer (blocking; 0 only at the end); ``observe`` is fed every
    byte in order (in another thread) when ``observes``; ``verify`` raises if
    what was observed is not what the sender declared (nothing is kept then);
    ``cancel`` (any thread) makes a waiting ``receive_into`` give up; ``close``
    (on the event loop, once no thread uses it) always ends it.
    """

    length: int
    observes: bool

    def receive_into(self, view: memoryview) -> int: ...

    def observe(self, view: memoryview) -> None: ...

    def verify(self) -> None: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


class BlobStream(AsyncIterator[bytes]):
    """The bytes of one blob range, in chunks of at most ``chunk_size``."""

    def __init__(
        self,
        read: Callable[[int], Awaitable[bytes]],
        length: int,
        close: Callable[[], None] | None = None,
        chunk_size: int = READ_CHUNK,
    ) -> None:
        self._read = read
        self.length = length
        self._remaining = length
        self._close = close
        self._chunk_size = chunk_size

    async def __anext__(self) -> bytes:
        if self._remaining > 0:
            data = await self._read(min(self._chunk_size, self._remaining))
            if data:
                self._remaining -= len(data)
                return data
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._remaining = 0
        close, self._close = self._close, None
        if close is not None:
            close()

    async def __aenter__(self) -> BlobStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def check_range(size: int, start: int, end: int | None) -> tuple[int, int]:
    """Validate ``[start, end)`` against ``size``; return it with ``end`` clamped."""
    stop = size if end is None else min(end, size)
    if start < 0 or start > size or stop < start:
        raise ValueError(f"invalid range [{start}, {end}) for a blob of {size} bytes")
    return start, stop


class Digests:
    """md5 and the requested checksums, fed chunk by chunk."""

    def __init__(self, checksums: Collection[str]) -> None:
        unknown = set(checksums) - CHECKSUMS
        if unknown:
            raise ValueError(f"unknown checksums: {sorted(unknown)}")
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._hashes = {name: hashlib.new(name) for name in checksums if name not in CRCS}
        self._crcs = [(name, *CRCS[name]) for name in sorted(checksums) if name in CRCS]
        self._crc_values = [0] * len(self._crcs)

    def update(self, data: bytes) -> None:
        self.update_md5(data)
        self.update_checksums(data)

    @property
    def has_checksums(self) -> bool:
        return bool(self._hashes or self._crcs)

    def update_md5(self, data: bytes | memoryview) -> None:
        """The size and MD5 only: with ``update_checksums`` the two halves of
        ``update``, which may run in two threads (each fed the same bytes in order)."""
        self.size += len(data)
        self._md5.update(data)

    def update_checksums(self, data: bytes | memoryview) -> None:
        for h in self._hashes.values():
            h.update(data)
        for i, (_, fn, _) in enumerate(self._crcs):
            self._crc_values[i] = fn(data, self._crc_values[i])

    def info(self, key: str) -> BlobInfo:
        sums = {name: h.hexdigest() for name, h in self._hashes.items()}
        for (name, _, width), value in zip(self._crcs, self._crc_values, strict=True):
            sums[name] = value.to_bytes(width, "big").hex()
        return BlobInfo(key, self.size, self._md5.hexdigest(), sums)


def digest_whole(key: str, data: bytes, checksums: Collection[str]) -> BlobInfo:
    """What ``Digests`` gives for ``data`` fed in one piece, without building
    one: a small body is digested at once, each hash in one call."""
    sums: dict[str, str] = {}
    if checksums:
        unknown = set(checksums) - CHECKSUMS
        if unknown:
            raise ValueError(f"unknown checksums: {sorted(unknown)}")
        for name in checksums:
            if name not in CRCS:
                sums[name] = hashlib.new(name, data).hexdigest()
        for name in sorted(checksums):
            if name in CRCS:
                fn, width = CRCS[name]
                sums[name] = fn(data, 0).to_bytes(width, "big").hex()
    return BlobInfo(key, len(data), hashlib.md5(data, usedforsecurity=False).hexdigest(), sums)
