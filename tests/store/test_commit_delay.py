"""Commit delay: a WAL sync wanted while other requests are being handled waits
for them (``SYNC_HOLD`` at most), so that their writes share its group commit
and its one fdatasync, but not for requests that began after it was wanted;
a lone request's sync is never held."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from gureum.store import Store
from gureum.store import db as store_db

from . import counting_syncs


async def _request(store: Store, key: str, before_write: float = 0.0) -> float:
    """One request as the gateway handles it: counted in flight from its start,
    a grouped write after ``before_write`` seconds (its body arriving), then
    ``durable()``; returns when it was answered (loop time)."""
    number = store.request_began()
    try:
        if before_write:
            await asyncio.sleep(before_write)
        with store.tx(group=True):
            store.set_meta(key, "v")
    except BaseException:
        store.request_ended(number)
        raise
    store.request_ended(number)
    await store.durable()
    return asyncio.get_running_loop().time()


def test_a_sync_waits_for_the_requests_in_flight_and_covers_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_db, "SYNC_HOLD", 5.0)  # long: the late writers end it
    store = Store.open(tmp_path / "d.db")
    syncs = counting_syncs(monkeypatch)
    commits_before = store._commits

    async def main() -> None:
        # Three requests still reading their bodies when the fourth writes.
        await asyncio.gather(*[_request(store, f"w{i}", 0.02 * i) for i in range(1, 4)],
                             _request(store, "w0"))

    start = time.monotonic()
    try:
        asyncio.run(main())
        took = time.monotonic() - start
        assert len(syncs) == 1  # one sync for the four, not one for w0 and one more
        assert store._commits == commits_before + 1
        assert took < 2.0  # started when the last one joined, not after SYNC_HOLD
    finally:
        store.close()


def test_a_sync_is_held_no_longer_than_the_hold(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_db, "SYNC_HOLD", 0.05)
    store = Store.open(tmp_path / "d.db")
    syncs = counting_syncs(monkeypatch)

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        slow = asyncio.ensure_future(_request(store, "slow", 1.0))
        await asyncio.sleep(0)  # its request has begun
        answered = await _request(store, "fast")
        assert not slow.done()
        await slow
        return start, answered

    try:
        start, answered = asyncio.run(main())
        assert 0.04 <= answered - start < 0.9  # the hold, not the slow request
        assert len(syncs) == 2
    finally:
        store.close()


def test_a_lone_request_is_not_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_db, "SYNC_HOLD", 5.0)
    store = Store.open(tmp_path / "d.db")
    counting_syncs(monkeypatch)

    async def main() -> None:
        for i in range(5):
            await _request(store, f"w{i}")

    start = time.monotonic()
    try:
        asyncio.run(main())
        assert time.monotonic() - start < 2.0
    finally:
        store.close()


def _run_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              scenario: Callable[[Store, list[int]], Coroutine[Any, Any, None]]) -> None:
    """Run ``scenario(store, syncs)`` with a long ``SYNC_HOLD`` (only requests
    end a hold in time); then no request may be left counted in flight."""
    monkeypatch.setattr(store_db, "SYNC_HOLD", 5.0)
    store = Store.open(tmp_path / "d.db")
    syncs = counting_syncs(monkeypatch)
    try:
        asyncio.run(scenario(store, syncs))
        assert store._in_flight == 0
    finally:
        store.close()


def test_a_request_that_fails_or_is_cancelled_ends_its_hold(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(store: Store, syncs: list[int]) -> None:
        stuck = asyncio.ensure_future(_request(store, "stuck", 60.0))
        await asyncio.sleep(0)
        writer = asyncio.ensure_future(_request(store, "w"))
        await asyncio.sleep(0.05)
        assert not writer.done()  # held for the stuck request
        stuck.cancel()
        await asyncio.wait_for(writer, 2.0)
        with pytest.raises(asyncio.CancelledError):
            await stuck

    _run_held(tmp_path, monkeypatch, scenario)


def test_requests_begun_during_a_hold_do_not_prolong_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A steady stream of requests keeps some always in flight: the hold waits
    # for those it found, not for every one that comes after.
    async def scenario(store: Store, syncs: list[int]) -> None:
        loop = asyncio.get_running_loop()
        found = asyncio.ensure_future(_request(store, "found", 0.1))
        await asyncio.sleep(0)  # in flight when the sync is wanted
        start = loop.time()
        first = asyncio.ensure_future(_request(store, "first"))
        await asyncio.sleep(0.02)
        assert not first.done()  # held for "found"
        later = asyncio.ensure_future(_request(store, "later", 1.0))
        await asyncio.sleep(0)  # began during the hold, still in flight at its end
        answered = await first
        assert await found - start < 0.9
        assert 0.09 <= answered - start < 0.9  # when "found" ended, not "later"
        assert not later.done() and len(syncs) == 1
        await later
        assert len(syncs) == 2

    _run_held(tmp_path, monkeypatch, scenario)


def test_a_count_ended_without_its_number_ends_a_hold_it_may_hold(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # (The front's count of a request it answered itself ends without the
    # gateway; a caller that kept no number counts as one the hold waits for.)
    async def scenario(store: Store, syncs: list[int]) -> None:
        store.request_began()
        writer = asyncio.ensure_future(_request(store, "w"))
        await asyncio.sleep(0.05)
        assert not writer.done()
        store.request_ended()
        await asyncio.wait_for(writer, 2.0)

    _run_held(tmp_path, monkeypatch, scenario)
