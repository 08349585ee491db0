"""The blob driver contract, run against the real FileBlobStore and the MemoryBlobStore fake."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

import pytest
from awscrt import checksums as crt

from gureum.drivers.blobs import BlobNotFound, BlobStore, FileBlobStore, MemoryBlobStore
from gureum.drivers.blobs.files import FLUSH_BYTES
from gureum.drivers.blobs.pipeline import IN_FLIGHT

from .blobs import ALL_CHECKSUMS, digests

MiB = 1024 * 1024


@pytest.fixture(params=["files", "memory"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "files":
        return FileBlobStore(tmp_path / "blobs")
    return MemoryBlobStore()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=120))


async def agen(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


def test_write_read_roundtrip(blobs: BlobStore) -> None:
    async def main() -> None:
        data = [b"hello ", b"", b"world", b"!" * 1000]
        body = b"".join(data)
        info = await blobs.write("k1", agen(data), checksums=ALL_CHECKSUMS)
        assert info.key == "k1" and info.size == len(body)
        assert (info.md5, info.checksums) == digests(body)
        # Known values: awscrt's CRCs match the published check values.
        assert crt.crc32c(b"123456789") == 0xE3069283
        assert crt.crc64nvme(b"123456789") == 0xAE8B14860A799888
        assert await blobs.exists("k1")
        assert await blobs.size("k1") == len(body)
        assert await collect(await blobs.read("k1")) == body
        plain = await blobs.write("k2", agen([b"x"]))
        assert plain.checksums == {}

    run(main())


def test_empty_blob(blobs: BlobStore) -> None:
    async def main() -> None:
        info = await blobs.write("empty", agen([]))
        assert info.size == 0 and info.md5 == hashlib.md5(b"").hexdigest()
        assert await blobs.exists("empty")
        assert await collect(await blobs.read("empty")) == b""

    run(main())


def test_range_reads(blobs: BlobStore) -> None:
    async def main() -> None:
        body = bytes(range(256)) * 4096  # 1 MiB, larger than one read chunk
        await blobs.write("r", agen([body[i : i + 70000] for i in range(0, len(body), 70000)]))
        assert await collect(await blobs.read("r", 0, 10)) == body[:10]
        assert await collect(await blobs.read("r", 1000)) == body[1000:]
        assert await collect(await blobs.read("r", 5, 300_001)) == body[5:300_001]
        assert await collect(await blobs.read("r", 10, 10)) == b""
        assert await collect(await blobs.read("r", len(body) - 3, len(body) + 99)) == body[-3:]
        assert await collect(await blobs.read("r", len(body))) == b""
        stream = await blobs.read("r", 0, 300_000)
        assert stream.length == 300_000
        for start, end in [(-1, None), (len(body) + 1, None), (10, 5)]:
            with pytest.raises(ValueError):
                await blobs.read("r", start, end)

    run(main())


def test_abandoned_stream_can_be_closed(blobs: BlobStore) -> None:
    async def main() -> None:
        await blobs.write("c", agen([b"a" * MiB]))
        async with await blobs.read("c") as stream:
            first = await anext(stream)
            assert first
        assert await collect(stream) == b""

    run(main())


def test_missing_keys(blobs: BlobStore) -> None:
    async def main() -> None:
        assert not await blobs.exists("nope")
        assert await blobs.size("nope") is None
        assert blobs.path("nope") is None
        with pytest.raises(BlobNotFound):
            await blobs.read("nope")
        await blobs.delete("nope")  # missing = success
        await blobs.write("d", agen([b"x"]))
        await blobs.delete("d")
        await blobs.delete("d")
        assert not await blobs.exists("d")

    run(main())


def test_invalid_keys(blobs: BlobStore) -> None:
    async def main() -> None:
        for key in ["", "../x", "a/b", ".tmp-x", "x" * 201]:
            with pytest.raises(ValueError):
                await blobs.write(key, agen([b"x"]))
            with pytest.raises(ValueError):
                await blobs.exists(key)

    run(main())


def test_overwrite_replaces(blobs: BlobStore) -> None:
    async def main() -> None:
        await blobs.write("o", agen([b"first version"]))
        await blobs.write("o", agen([b"second"]))
        assert await collect(await blobs.read("o")) == b"second"

    run(main())


def test_reader_keeps_content_it_opened(blobs: BlobStore) -> None:
    async def main() -> None:
        await blobs.write("v", agen([b"old" * 100_000]))
        stream = await blobs.read("v")
        await blobs.write("v", agen([b"new"]))
        await blobs.delete("v")
        assert await collect(stream) == b"old" * 100_000

    run(main())


def failing_chunks(after: int) -> Callable[[], AsyncIterator[bytes]]:
    async def gen() -> AsyncIterator[bytes]:
        for _ in range(after):
            yield b"z" * (256 * 1024)
        raise ConnectionResetError("client went away")

    return gen


@pytest.mark.parametrize("after", [0, 1, 10])
def test_crashed_write_leaves_nothing(blobs: BlobStore, after: int, tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(ConnectionResetError):
            await blobs.write("new", failing_chunks(after)())
        assert not await blobs.exists("new")
        assert await blobs.size("new") is None
        with pytest.raises(BlobNotFound):
            await blobs.read("new")

        await blobs.write("kept", agen([b"original"]))
        with pytest.raises(ConnectionResetError):
            await blobs.write("kept", failing_chunks(after)())
        assert await collect(await blobs.read("kept")) == b"original"

        if isinstance(blobs, FileBlobStore):
            leftovers = [p for p in blobs.root.rglob("*") if p.is_file()]
            assert [p.name for p in leftovers] == ["kept"]

    run(main())


def test_cancelled_write_leaves_nothing(blobs: BlobStore) -> None:
    async def main() -> None:
        started = asyncio.Event()

        async def stalls() -> AsyncIterator[bytes]:
            yield b"partial" * 1000
            started.set()
            await asyncio.Event().wait()
            yield b"never"

        task = asyncio.create_task(blobs.write("c", stalls()))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not await blobs.exists("c")
        if isinstance(blobs, FileBlobStore):
            assert [p for p in blobs.root.rglob("*") if p.is_file()] == []

    run(main())


def test_large_streamed_write(blobs: BlobStore) -> None:
    """64 MiB from a generator; the file store holds a bounded part of it at most
    (what its workers have queued, while the next batch arrives), never the whole."""
    total = 64 * MiB
    filler = bytes(range(256)) * 256  # 64 KiB
    count = total // len(filler)

    def chunk(i: int) -> bytes:  # a new object each time, as a network reader gives
        return i.to_bytes(8, "big") + filler[8:]

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(count):
            yield chunk(i)

    async def main() -> None:
        expected = hashlib.md5()
        for i in range(count):
            expected.update(chunk(i))
        tracemalloc.start()
        try:
            info = await blobs.write("big", chunks())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert info.size == total and info.md5 == expected.hexdigest()
        if isinstance(blobs, FileBlobStore):
            # (the bytes queued for the hashing and writing workers, and one batch)
            assert peak < IN_FLIGHT + 4 * FLUSH_BYTES, f"peak {peak / MiB:.1f} MiB"
            path = blobs.path("big")
            assert path is not None and path.stat().st_size == total
        got = hashlib.md5()
        size = 0
        async for part in await blobs.read("big"):
            got.update(part)
            size += len(part)
        assert size == total and got.hexdigest() == info.md5

    run(main())


def test_file_layout_and_sweep(tmp_path: Path) -> None:
    async def main() -> None:
        store = FileBlobStore(tmp_path / "b")
        await store.write("0123456789abcdef", agen([b"x"]))
        path = store.path("0123456789abcdef")
        assert path is not None
        assert path.relative_to(store.root).parts[:2] != ("0123456789abcdef",)
        assert len(path.relative_to(store.root).parts) == 2  # one fan-out level
        stale = path.with_name(".tmp-0123456789abcdef-dead")
        stale.write_bytes(b"half")
        assert store.sweep_temp() == 1
        assert not stale.exists() and path.exists()

    run(main())


def test_file_store_finds_blobs_of_the_two_level_layout(tmp_path: Path) -> None:
    """Blobs written before the one-level layout are still read, sized and deleted."""
    store = FileBlobStore(tmp_path / "blobs")
    fan = hashlib.md5(b"old-key", usedforsecurity=False).hexdigest()
    legacy = tmp_path / "blobs" / fan[:2] / fan[2:4] / "old-key"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"from before")

    async def main() -> None:
        assert await store.exists("old-key") and await store.size("old-key") == 11
        assert store.path("old-key") == legacy
        assert await collect(await store.read("old-key", 5)) == b"before"
        await store.delete("old-key")
        assert not legacy.exists() and not await store.exists("old-key")
        await store.write("new-key", agen([b"now"]))
        new = store.path("new-key")
        assert new is not None and new.parent.parent == tmp_path / "blobs"

    run(main())
