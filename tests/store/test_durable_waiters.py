"""Store.durable's waiters: each caller waits on a future of its own, settled
by the sync that covers its commit; a cancelled caller leaves the others
waiting, and a failed sync fails only the callers it covered."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gureum.store import Store
from gureum.store import db as store_db

from . import counting_syncs


def _write(store: Store, n: int) -> None:
    with store.tx():
        store.set_meta(f"k{n}", str(n))


def test_a_cancelled_waiter_leaves_the_others_waiting(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path / "g.db")
    syncs = counting_syncs(monkeypatch)

    async def main() -> None:
        _write(store, 1)
        waiters = [asyncio.ensure_future(store.durable()) for _ in range(4)]
        await asyncio.sleep(0)  # every waiter is waiting for the sync asked for
        waiters[1].cancel()
        done = await asyncio.gather(*waiters, return_exceptions=True)
        assert [isinstance(d, asyncio.CancelledError) for d in done] == [
            False, True, False, False]
        assert len(syncs) == 1  # one sync for all of them
        await store.durable()  # covered: no sync
        assert len(syncs) == 1

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_a_commit_made_during_a_sync_waits_for_the_next(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "g.db")

    async def main() -> None:
        _write(store, 1)
        first = asyncio.ensure_future(store.durable())
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the sync has started: it covers commit 1 only
        _write(store, 2)
        second = asyncio.ensure_future(store.durable())
        await first
        assert store._synced >= 1
        await second
        assert store._synced == 2 and not store._waiters and not store._sync_asked

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_a_failed_sync_fails_its_waiters_and_the_next_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path / "g.db")
    real = os.fdatasync
    failures = [OSError(5, "Input/output error")]

    def fdatasync(fd: int) -> None:
        if failures:
            raise failures.pop()
        real(fd)

    monkeypatch.setattr(store_db.os, "fdatasync", fdatasync)

    async def main() -> None:
        _write(store, 1)
        results = await asyncio.gather(store.durable(), store.durable(),
                                       return_exceptions=True)
        assert all(isinstance(r, OSError) for r in results)
        assert store._synced == 0
        await store.durable()  # synced again, this time to disk
        assert store._synced == 1

    try:
        asyncio.run(main())
    finally:
        store.close()
