"""Where the WAL's sync runs: in the event loop's own thread while the disk
answers quickly; in the store's sync thread, never blocking the loop, once two
syncs in a row took longer than ``INLINE_SYNC_MAX``, until none has for
``SLOW_SYNC_BACKOFF`` seconds."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from gureum.store import Store
from gureum.store import db as store_db


class Disk:
    """``os.fdatasync`` as the store calls it, recording each call's thread;
    the next ``slow`` calls take ``delay`` seconds each."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay: float = 0.15) -> None:
        self.threads: list[int] = []
        self.slow = 0
        self.delay = delay
        real = os.fdatasync

        def fdatasync(fd: int) -> None:
            self.threads.append(threading.get_ident())
            if self.slow:
                self.slow -= 1
                time.sleep(self.delay)
            real(fd)

        monkeypatch.setattr(store_db.os, "fdatasync", fdatasync)


async def _write(store: Store, i: int) -> None:
    with store.tx():
        store.set_meta("n", str(i))
    await store.durable()


def test_quick_syncs_run_in_the_loops_thread(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(monkeypatch)
    monkeypatch.setattr(store_db, "INLINE_SYNC_MAX", 10.0)  # however busy the disk
    before = set(threading.enumerate())
    store = Store.open(tmp_path / "g.db")
    try:
        async def writes() -> int:
            for i in range(5):
                await _write(store, i)
            return threading.get_ident()

        loop_thread = asyncio.run(writes())
        assert disk.threads == [loop_thread] * 5
        started = set(threading.enumerate()) - before
        assert "store-sync" not in {t.name for t in started}
    finally:
        store.close()


def test_after_two_slow_syncs_the_next_ones_leave_the_loop_until_the_disk_is_quick_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(monkeypatch)
    # (Margins wide enough for a busy machine's own syncs to count as quick.)
    monkeypatch.setattr(store_db, "INLINE_SYNC_MAX", 0.1)
    monkeypatch.setattr(store_db, "SLOW_SYNC_BACKOFF", 0.3)
    store = Store.open(tmp_path / "g.db")
    try:
        async def writes() -> tuple[int, list[int]]:
            loop_thread = threading.get_ident()
            disk.slow = 1
            await _write(store, 0)  # slow, in the loop's thread: a hiccup...
            await _write(store, 1)  # ... quick again: the next stays in the loop
            disk.slow = 2
            await _write(store, 2)
            await _write(store, 3)  # two slow in a row: the disk is slow
            # The loop keeps answering while the next (slow) sync runs elsewhere.
            disk.slow = 1
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.001)
                    ticks += 1

            tick = asyncio.create_task(ticker())
            await _write(store, 4)
            tick.cancel()
            seen = [ticks]
            await _write(store, 5)  # quick, but within the backoff of the slow one
            await asyncio.sleep(0.4)
            await _write(store, 6)  # the backoff has passed: in the loop again
            return loop_thread, seen

        loop_thread, (ticks,) = asyncio.run(writes())
        away = disk.threads[4]
        assert away != loop_thread
        assert disk.threads == [loop_thread] * 4 + [away, away, loop_thread]
        assert ticks >= 10  # the loop ran its timers during the 150 ms sync
    finally:
        store.close()

