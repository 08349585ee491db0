"""Group commit: grouped writes made until the next WAL sync share one
transaction (a savepoint each), committed once and synced once; a writer that
fails undoes only its own writes; a group whose commit fails fails every
writer in it, undoes them all (on disk too) and tells whoever keeps reads."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gureum.store import Store, StoreError

from . import counting_syncs


def _open(path: Path) -> Store:
    store = Store.open(path)
    # A deferred foreign key is checked only at COMMIT: a row breaking it makes
    # the group's commit itself fail, as a full disk or an I/O error would.
    store.connection.execute(
        "CREATE TABLE IF NOT EXISTS poison (ref TEXT REFERENCES meta (key)"
        " DEFERRABLE INITIALLY DEFERRED)"
    )
    return store


async def _put(store: Store, key: str, *, fail: bool = False, poison: bool = False,
               savepoint: bool = True, fail_first: bool = False) -> None:
    """One writer: a grouped write, then awaiting its durability (as the gateway does)."""
    with store.tx(group=True, savepoint=savepoint):
        if fail_first:
            raise ValueError("this writer fails before writing")
        store.set_meta(key, "v")
        if poison:
            store.connection.execute("INSERT INTO poison (ref) VALUES ('nothing')")
        if fail:
            raise ValueError("this writer fails")
    await store.durable()


def _committed(path: Path) -> dict[str, str]:
    """What another connection reads from the database file (committed only)."""
    conn = sqlite3.connect(str(path))
    try:
        return {str(k): str(v) for k, v in conn.execute(
            "SELECT key, value FROM meta WHERE key LIKE 'w%'")}
    finally:
        conn.close()


def test_writers_of_one_pass_share_one_commit_and_one_sync(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _open(tmp_path / "g.db")
    syncs = counting_syncs(monkeypatch)
    commits_before = store._commits

    async def main() -> None:
        await asyncio.gather(*[_put(store, f"w{i}") for i in range(8)])

    try:
        asyncio.run(main())
        assert len(syncs) == 1
        assert store._commits == commits_before + 1  # one transaction for all eight
        assert not store.connection.in_transaction
    finally:
        store.close()
    assert _committed(tmp_path / "g.db") == {f"w{i}": "v" for i in range(8)}


def test_writers_arriving_during_a_sync_are_committed_before_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _open(tmp_path / "g.db")
    syncs = counting_syncs(monkeypatch)

    async def main() -> None:
        first = asyncio.ensure_future(_put(store, "w0"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # w0's group is committed, its sync under way
        later = [asyncio.ensure_future(_put(store, f"w{i}")) for i in range(1, 6)]
        await asyncio.gather(first, *later)
        # The five later writers were one group, under one more sync.
        assert store.connection.execute(
            "SELECT count(*) FROM meta WHERE key LIKE 'w%'").fetchone()[0] == 6

    try:
        asyncio.run(main())
        assert len(syncs) == 2
    finally:
        store.close()
    assert len(_committed(tmp_path / "g.db")) == 6


def test_a_failing_writer_does_not_lose_the_others(tmp_path: Path) -> None:
    store = _open(tmp_path / "g.db")

    async def main() -> list[object]:
        return await asyncio.gather(
            _put(store, "w0"), _put(store, "w1", fail=True), _put(store, "w2"),
            return_exceptions=True)

    try:
        done = asyncio.run(main())
        assert done[0] is None and done[2] is None
        assert isinstance(done[1], ValueError)
    finally:
        store.close()
    assert _committed(tmp_path / "g.db") == {"w0": "v", "w2": "v"}


def test_a_failed_group_commit_fails_every_writer_in_it(tmp_path: Path) -> None:
    store = _open(tmp_path / "g.db")
    undone: list[int] = []
    store.on_undo(lambda: undone.append(1))
    rollbacks = store.rollbacks

    async def main() -> tuple[list[object], list[object]]:
        # w0 is committed and synced before the failing group starts.
        await _put(store, "w0")
        failed = await asyncio.gather(
            _put(store, "w1"), _put(store, "w2", poison=True), _put(store, "w3"),
            return_exceptions=True)
        # The store goes on: the next writers form a new group.
        after = await asyncio.gather(_put(store, "w4"), _put(store, "w5"),
                                     return_exceptions=True)
        return failed, after

    try:
        failed, after = asyncio.run(main())
        assert all(isinstance(f, StoreError) for f in failed), failed
        assert after == [None, None]
        assert undone == [1]
        assert store.rollbacks > rollbacks
        # This connection no longer sees the undone writes either.
        assert store.get_meta("w1") is None and store.get_meta("w3") is None
        assert store.get_meta("w0") == "v" and store.get_meta("w5") == "v"
    finally:
        store.close()
    assert _committed(tmp_path / "g.db") == {"w0": "v", "w4": "v", "w5": "v"}


def test_an_ungrouped_transaction_commits_the_open_group_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _open(tmp_path / "g.db")
    syncs = counting_syncs(monkeypatch)

    async def main() -> None:
        with store.tx(group=True):
            store.set_meta("w0", "v")
        assert store.connection.in_transaction  # pending in the group
        commits = store._commits
        with store.tx():
            store.set_meta("w1", "v")
        assert store._commits == commits + 2  # the group's commit, then its own
        assert not store.connection.in_transaction
        await store.durable()  # the grouped writer's: covered by one sync
        assert len(syncs) == 1

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_a_group_nobody_waits_for_is_committed_at_the_next_pass(tmp_path: Path) -> None:
    store = _open(tmp_path / "g.db")

    async def main() -> None:
        with store.tx(group=True):
            store.set_meta("w0", "v")
        assert store.connection.in_transaction
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not store.connection.in_transaction

    try:
        asyncio.run(main())
    finally:
        store.close()
    assert _committed(tmp_path / "g.db") == {"w0": "v"}


def test_closing_commits_the_open_group(tmp_path: Path) -> None:
    store = _open(tmp_path / "g.db")

    async def main() -> None:
        with store.tx(group=True):
            store.set_meta("w0", "v")
        store.close()

    asyncio.run(main())
    assert _committed(tmp_path / "g.db") == {"w0": "v"}


def test_without_a_running_loop_a_grouped_write_commits_at_once(tmp_path: Path) -> None:
    store = _open(tmp_path / "g.db")
    try:
        with store.tx(group=True):
            store.set_meta("w0", "v")
        assert not store.connection.in_transaction
    finally:
        store.close()
    assert _committed(tmp_path / "g.db") == {"w0": "v"}


def test_a_failing_first_writer_does_not_lose_those_after_it(tmp_path: Path) -> None:
    store = _open(tmp_path / "g.db")

    async def main() -> list[object]:
        return await asyncio.gather(
            _put(store, "w0", fail=True), _put(store, "w1"), _put(store, "w2"),
            return_exceptions=True)

    try:
        done = asyncio.run(main())
        assert isinstance(done[0], ValueError) and done[1:] == [None, None]
    finally:
        store.close()
    assert _committed(tmp_path / "g.db") == {"w1": "v", "w2": "v"}


def _statements(store: Store) -> list[str]:
    seen: list[str] = []
    store.connection.set_trace_callback(seen.append)
    return seen


def test_joiners_without_a_savepoint_share_the_group_with_no_savepoint_statement(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _open(tmp_path / "g.db")
    syncs = counting_syncs(monkeypatch)
    commits_before = store._commits
    seen = _statements(store)

    async def main() -> None:
        await asyncio.gather(*[_put(store, f"w{i}", savepoint=False) for i in range(6)])

    try:
        asyncio.run(main())
        assert len(syncs) == 1
        assert store._commits == commits_before + 1
        assert not [s for s in seen if "SAVEPOINT" in s or "RELEASE" in s], seen
        assert sum(1 for s in seen if s.startswith("BEGIN")) == 1
    finally:
        store.close()
    assert _committed(tmp_path / "g.db") == {f"w{i}": "v" for i in range(6)}


def test_a_joiner_without_a_savepoint_failing_before_writing_loses_nothing(
        tmp_path: Path) -> None:
    store = _open(tmp_path / "g.db")
    rollbacks = store.rollbacks

    async def main() -> list[object]:
        return await asyncio.gather(
            _put(store, "w0", savepoint=False), _put(store, "w1", savepoint=False, fail_first=True),
            _put(store, "w2", savepoint=False), return_exceptions=True)

    try:
        done = asyncio.run(main())
        assert done[0] is None and done[2] is None
        assert isinstance(done[1], ValueError)
        assert store.rollbacks == rollbacks  # nothing was undone
    finally:
        store.close()
    assert _committed(tmp_path / "g.db") == {"w0": "v", "w2": "v"}


def test_a_joiner_without_a_savepoint_failing_after_writing_fails_its_whole_group(
        tmp_path: Path) -> None:
    store = _open(tmp_path / "g.db")
    undone: list[int] = []
    store.on_undo(lambda: undone.append(1))

    async def main() -> tuple[list[object], list[object]]:
        await _put(store, "w0")  # committed and synced before the group
        failed = await asyncio.gather(
            _put(store, "w1", savepoint=False), _put(store, "w2", savepoint=False, fail=True),
            _put(store, "w3", savepoint=False), return_exceptions=True)
        after = await asyncio.gather(_put(store, "w4", savepoint=False),
                                     _put(store, "w5", savepoint=False),
                                     return_exceptions=True)
        return failed, after

    try:
        failed, after = asyncio.run(main())
        # Its own error for the writer that failed, the store's for the one
        # that wrote in the group before it; the next writer opens a new group.
        assert isinstance(failed[1], ValueError)
        assert isinstance(failed[0], StoreError), failed
        assert failed[2] is None and after == [None, None]
        assert undone == [1]
        assert store.get_meta("w1") is None and store.get_meta("w2") is None
        assert store.get_meta("w3") == "v" and store.get_meta("w5") == "v"
    finally:
        store.close()
    assert _committed(tmp_path / "g.db") == {"w0": "v", "w3": "v", "w4": "v", "w5": "v"}
