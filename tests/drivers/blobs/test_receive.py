"""``FileBlobStore.write`` of a stream that offers a ``Receiver``: the body is
received by the store's own threads into reused buffers, hashed and written;
whatever fails (the sender's hash, the connection, a cancelled write) leaves
no file behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gureum.drivers.blobs import FileBlobStore
from gureum.drivers.blobs.base import Digests
from gureum.drivers.blobs.receive import MD5_NICE, SLOT, SLOTS

from . import ALL_CHECKSUMS, digests


class Mismatch(Exception):
    pass


class FakeReceiver:
    """Gives ``data`` in pieces of random sizes; SHA-256 observed and checked
    against ``declared``; ``fail_at``: the connection breaks after that many bytes."""

    def __init__(self, data: bytes, declared: str | None = None, fail_at: int | None = None,
                 block_at: int | None = None) -> None:
        self.data = data
        self.length = len(data)
        self.pos = 0
        self.declared = declared
        self.sha = hashlib.sha256()
        self.observes = declared is not None
        self.fail_at = fail_at
        self.block_at = block_at
        self.blocked = threading.Event()
        self.cancelled = threading.Event()
        self.closed = 0
        self.observe_threads: set[int] = set()
        self.receive_threads: set[int] = set()
        self.rng = random.Random(7)

    def receive_into(self, view: memoryview) -> int:
        self.receive_threads.add(threading.get_ident())
        if self.block_at is not None and self.pos >= self.block_at:
            self.blocked.set()
            if not self.cancelled.wait(10):
                raise AssertionError("never cancelled")
            raise ConnectionResetError("given up")
        if self.fail_at is not None and self.pos >= self.fail_at:
            raise ConnectionResetError("the client left")
        n = min(len(view), self.length - self.pos, self.rng.randint(1, 300_000))
        view[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n

    def observe(self, view: memoryview) -> None:
        self.observe_threads.add(threading.get_ident())
        self.sha.update(view)

    def verify(self) -> None:
        if self.declared is not None and self.sha.hexdigest() != self.declared:
            raise Mismatch

    def cancel(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        self.closed += 1


class Body:
    """A request body offering ``receiver`` once; iterated, it is empty (so a
    store that iterated it instead would store nothing and the test fail)."""

    def __init__(self, receiver: FakeReceiver | None) -> None:
        self._receiver = receiver

    def receiver(self) -> FakeReceiver | None:
        receiver, self._receiver = self._receiver, None
        return receiver

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._empty()

    async def _empty(self) -> AsyncIterator[bytes]:
        for _ in ():
            yield b""


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


SIZES = [1, SLOT - 1, SLOT, SLOT + 1, (SLOTS + 3) * SLOT + 12345]


@pytest.mark.parametrize("size", SIZES)
def test_a_received_body_is_stored_whole_with_its_digests(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    receiver = FakeReceiver(data, hashlib.sha256(data).hexdigest())
    store = FileBlobStore(tmp_path)

    async def main() -> None:
        info = await store.write("k1", Body(receiver), checksums=ALL_CHECKSUMS)
        md5, sums = digests(data)
        assert (info.size, info.md5, dict(info.checksums)) == (size, md5, sums)

    asyncio.run(main())
    assert receiver.closed == 1
    assert threading.get_ident() not in receiver.receive_threads
    assert threading.get_ident() not in receiver.observe_threads
    path = store.path("k1")
    assert path is not None and path.read_bytes() == data
    assert files_under(tmp_path) == [path]  # no temp file left


def test_md5_alone_needs_no_checksum_thread(tmp_path: Path) -> None:
    data = os.urandom(3 * SLOT + 5)
    receiver = FakeReceiver(data)
    store = FileBlobStore(tmp_path, fsync=False)
    info = asyncio.run(store.write("k2", Body(receiver)))
    assert info.md5 == hashlib.md5(data).hexdigest() and dict(info.checksums) == {}
    assert not receiver.observe_threads
    path = store.path("k2")
    assert path is not None and path.read_bytes() == data


def test_a_body_whose_declared_hash_is_wrong_leaves_nothing(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    receiver = FakeReceiver(os.urandom(2 * SLOT), "0" * 64)
    with pytest.raises(Mismatch):
        asyncio.run(store.write("k3", Body(receiver)))
    assert receiver.closed == 1
    assert files_under(tmp_path) == []


def test_a_connection_broken_mid_body_leaves_nothing(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    receiver = FakeReceiver(os.urandom(5 * SLOT), fail_at=2 * SLOT + 7)
    with pytest.raises(ConnectionResetError):
        asyncio.run(store.write("k4", Body(receiver), checksums=["crc32"]))
    assert receiver.closed == 1
    assert files_under(tmp_path) == []


def test_a_cancelled_write_stops_receiving_and_leaves_nothing(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    receiver = FakeReceiver(os.urandom(4 * SLOT), block_at=SLOT)

    async def main() -> bool:
        task = asyncio.create_task(store.write("k5", Body(receiver)))
        while not receiver.blocked.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.wait([task])
        return task.cancelled()

    assert asyncio.run(main())
    assert receiver.cancelled.is_set() and receiver.closed == 1
    assert files_under(tmp_path) == []


def test_a_stream_without_a_receiver_is_iterated(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)

    class Iterated(Body):
        async def _empty(self) -> AsyncIterator[bytes]:
            yield b"abc"
            yield b"def"

    info = asyncio.run(store.write("k6", Iterated(None)))
    assert info.size == 6 and info.md5 == hashlib.md5(b"abcdef").hexdigest()


def test_md5_runs_at_a_raised_priority_and_the_other_stages_do_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, set[int]] = {"md5": set(), "observe": set()}
    update_md5 = Digests.update_md5

    def recording(self: Digests, view: memoryview) -> None:
        seen["md5"].add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        update_md5(self, view)

    monkeypatch.setattr(Digests, "update_md5", recording)
    data = os.urandom(3 * SLOT + 5)

    class Recording(FakeReceiver):
        def observe(self, view: memoryview) -> None:
            seen["observe"].add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            super().observe(view)

    receiver = Recording(data, hashlib.sha256(data).hexdigest())
    info = asyncio.run(FileBlobStore(tmp_path, fsync=False).write("k3", Body(receiver)))
    assert info.md5 == hashlib.md5(data).hexdigest()
    base = os.getpriority(os.PRIO_PROCESS, 0)
    raisable = os.geteuid() == 0
    assert seen["md5"] == ({MD5_NICE} if raisable else {base})
    assert seen["observe"] == {base}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
