"""``BatchWorker``: batches applied in order in a thread of their own, the
loop held back only above the queued-bytes limit, errors handed back."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from gureum.drivers.blobs import FileBlobStore
from gureum.drivers.blobs.files import FLUSH_BYTES
from gureum.drivers.blobs.pipeline import BatchWorker

from . import ALL_CHECKSUMS, digests


def test_batches_are_applied_in_order_off_the_loop() -> None:
    seen: list[bytes] = []
    threads: set[int] = set()

    def fn(batch: list[bytes]) -> None:
        threads.add(threading.get_ident())
        seen.extend(batch)

    async def main() -> None:
        worker = BatchWorker(fn)
        for i in range(100):
            worker.put([bytes([i]), bytes([i, i])], 3)
            await worker.room()
        await worker.finish()

    asyncio.run(main())
    assert seen == [b for i in range(100) for b in (bytes([i]), bytes([i, i]))]
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_room_waits_while_more_than_the_limit_is_queued() -> None:
    gate = threading.Event()

    async def main() -> None:
        worker = BatchWorker(lambda batch: gate.wait(10), limit=10)
        worker.put([b"x" * 8], 8)
        await asyncio.wait_for(worker.room(), 5)  # 8 <= 10: no wait
        worker.put([b"x" * 8], 8)
        waiting = asyncio.ensure_future(worker.room())
        await asyncio.sleep(0.05)
        assert not waiting.done()  # 16 queued > 10
        gate.set()
        await asyncio.wait_for(waiting, 5)
        await worker.finish()

    asyncio.run(main())


def test_an_error_is_raised_by_room_and_finish_and_later_batches_dropped() -> None:
    calls: list[int] = []

    def fn(batch: list[bytes]) -> None:
        calls.append(len(batch))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")

    async def main() -> None:
        worker = BatchWorker(fn, limit=0)
        worker.put([b"a"], 1)
        await worker.room()
        worker.put([b"b"], 1)
        with pytest.raises(OSError, match="No space"):
            await worker.room()
        worker.put([b"c"], 1)
        with pytest.raises(OSError, match="No space"):
            await worker.finish()

    asyncio.run(main())
    assert calls == [1, 1]


def test_a_failing_disk_write_fails_the_blob_write_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writing worker's error reaches ``write``; the temp file is removed."""
    store = FileBlobStore(tmp_path / "b")
    writes = [0]

    def failing(self: FileBlobStore, f: int, batch: list[bytes]) -> None:
        writes[0] += 1
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FileBlobStore, "_write_and_flush", failing)

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"z" * FLUSH_BYTES

    async def main() -> None:
        with pytest.raises(OSError, match="No space"):
            await store.write("k", chunks())

    asyncio.run(main())
    assert writes[0] >= 1
    assert not store.path("k")
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_a_large_blob_gets_its_md5_and_every_checksum_from_the_worker_threads(
    tmp_path: Path,
) -> None:
    """Beyond the first batch, MD5 and the other checksums are computed by two
    workers fed the same batches: every value is the digest of all the bytes."""
    import os

    pieces = [os.urandom(100_000 + i) for i in range(60)]  # ~6 MiB, odd sizes
    body = b"".join(pieces)
    store = FileBlobStore(tmp_path / "b")

    async def chunks():  # type: ignore[no-untyped-def]
        for piece in pieces:
            yield piece

    async def main() -> None:
        info = await store.write("k", chunks(), checksums=ALL_CHECKSUMS)
        assert info.size == len(body) > 4 * FLUSH_BYTES
        assert (info.md5, info.checksums) == digests(body)
        path = store.path("k")
        assert path is not None and path.read_bytes() == body

    asyncio.run(main())
