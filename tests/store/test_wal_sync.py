"""The WAL is synced through a descriptor kept from one sync to the next,
and the file itself is synced again once SQLite has replaced it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gureum.store import Store
from gureum.store import db as store_db


def _synced_inodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    inodes: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        inodes.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(store_db.os, "fdatasync", fdatasync)
    return inodes


def test_the_wal_descriptor_is_kept_between_syncs(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "g.db"
    path.write_bytes(b"")
    wal = Path(f"{path}-wal")
    wal.write_bytes(b"frames")
    inodes = _synced_inodes(monkeypatch)
    open_fds = len(os.listdir("/proc/self/fd"))
    opened: list[str] = []
    real_open = os.open

    def counting_open(name: str, flags: int, *args: int) -> int:
        opened.append(str(name))
        return real_open(name, flags, *args)

    monkeypatch.setattr(store_db.os, "open", counting_open)
    fd = store_db._sync_wal(path, None)
    assert fd is not None
    assert store_db._sync_wal(path, fd) == fd
    assert opened == [str(wal)]  # opened once, synced twice
    assert inodes == [wal.stat().st_ino] * 2
    # SQLite removes the WAL when its last connection closes, and makes a new one.
    wal.unlink()
    wal.write_bytes(b"new frames")
    fd2 = store_db._sync_wal(path, fd)
    assert fd2 is not None
    assert inodes[-1] == wal.stat().st_ino != inodes[0]
    assert len(os.listdir("/proc/self/fd")) == open_fds + 1  # the stale one was closed
    # No WAL at all: the database file itself is synced, nothing is kept.
    wal.unlink()
    assert store_db._sync_wal(path, fd2) is None
    assert inodes[-1] == path.stat().st_ino
    assert len(os.listdir("/proc/self/fd")) == open_fds


def test_durable_syncs_the_live_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inodes = _synced_inodes(monkeypatch)
    store = Store.open(tmp_path / "g.db")
    try:
        async def writes() -> None:
            for i in range(5):
                with store.tx():
                    store.set_meta("n", str(i))
                await store.durable()

        asyncio.run(writes())
        wal = Path(f"{store.path}-wal")
        assert inodes == [wal.stat().st_ino] * 5
    finally:
        store.close()


def test_commits_of_one_loop_pass_share_one_sync(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    inodes = _synced_inodes(monkeypatch)
    store = Store.open(tmp_path / "g.db")
    try:
        async def writer(i: int) -> None:
            with store.tx():
                store.set_meta(f"w{i}", str(i))
            await store.durable()

        async def writers() -> None:
            # Eight requests ready in the same pass: the first one's sync waits
            # for the others' commits, so one fdatasync covers all eight.
            await asyncio.gather(*(writer(i) for i in range(8)))
            assert len(inodes) == 1
            # ... and each of them was acknowledged only after it.
            await writer(8)
            assert len(inodes) == 2

        asyncio.run(writers())
    finally:
        store.close()


def test_a_sync_asked_for_just_before_close_starts_no_thread(tmp_path: Path) -> None:
    import threading

    store = Store.open(tmp_path / "g.db")

    async def last_write() -> None:
        with store.tx():
            store.set_meta("last", "1")
        waiting = asyncio.ensure_future(store.durable())
        await asyncio.sleep(0)  # durable() asked for a sync at the next pass...
        store.close()  # ... and the store closes first
        await waiting

    before = {t.name for t in threading.enumerate()}
    asyncio.run(last_write())
    assert "store-sync" not in {t.name for t in threading.enumerate()} - before
