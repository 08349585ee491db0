"""Store: opening, migrations, transactions, resources, meta and access keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.store import MIGRATIONS, Migration, Store, StoreError, register_migration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "data" / "gureum.db")
    yield s
    s.close()


def test_open_sets_wal_and_pragmas(store: Store) -> None:
    conn = store.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_migrations_applied_once_in_order(tmp_path: Path) -> None:
    log: list[int] = []

    def step(n: int) -> Migration:
        def run(conn: sqlite3.Connection) -> None:
            log.append(n)
            conn.execute(f"CREATE TABLE t{n} (x)")

        return Migration(n, f"t{n}", run)

    path = tmp_path / "gureum.db"
    base = list(MIGRATIONS)
    Store.open(path, migrations=[*base, step(11), step(10)]).close()
    assert log == [10, 11]

    s = Store.open(path, migrations=[*base, step(10), step(11)])
    assert log == [10, 11]  # nothing new
    s.close()

    sql_step = Migration(12, "t12", "CREATE TABLE t12 (x); CREATE INDEX t12x ON t12 (x);")
    s = Store.open(path, migrations=[*base, step(10), step(11), sql_step])
    assert log == [10, 11]
    assert s.schema_versions() == sorted([m.version for m in base] + [10, 11, 12])
    s.connection.execute("INSERT INTO t12 VALUES (1)")
    s.close()


def test_register_migration_is_applied_on_next_open(tmp_path: Path) -> None:
    path = tmp_path / "gureum.db"
    Store.open(path).close()
    migration = register_migration(9001, "widgets", "CREATE TABLE widgets (id TEXT PRIMARY KEY);")
    try:
        with pytest.raises(ValueError):
            register_migration(9001, "again", "SELECT 1;")
        s = Store.open(path)
        assert 9001 in s.schema_versions()
        s.connection.execute("INSERT INTO widgets VALUES ('w')")
        s.close()
    finally:
        MIGRATIONS.remove(migration)


def test_failed_migration_is_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "gureum.db"
    bad = Migration(20, "bad", "CREATE TABLE ok20 (x); CREATE TABLE nope (;")
    with pytest.raises(StoreError, match="migration 20"):
        Store.open(path, migrations=[*MIGRATIONS, bad])
    s = Store.open(path)
    assert 20 not in s.schema_versions()
    row = s.connection.execute("SELECT name FROM sqlite_master WHERE name = 'ok20'").fetchone()
    assert row is None
    s.close()


def test_open_unusable_paths(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store.open(junk)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store.open(blocker / "sub" / "gureum.db")


def test_tx_commits_and_rolls_back(store: Store) -> None:
    with store.tx():
        store.resources.put("thing", "111", "us-east-1", "a", {"n": 1})
    with pytest.raises(RuntimeError), store.tx():
        store.resources.put("thing", "111", "us-east-1", "b", {"n": 2})
        store.set_meta("k", "v")
        store.put_access_key("AKIDX", "secret", "111")
        raise RuntimeError("boom")
    assert store.resources.get("thing", "111", "us-east-1", "a") == {"n": 1}
    assert store.resources.get("thing", "111", "us-east-1", "b") is None
    assert store.get_meta("k") is None
    assert store.get_access_key("AKIDX") is None
    assert not store.in_transaction


def test_nested_tx_joins_outer(store: Store) -> None:
    with store.tx():
        store.resources.put("thing", "1", "", "outer", {})
        with pytest.raises(ValueError), store.tx():
            store.resources.put("thing", "1", "", "inner", {})
            raise ValueError
        with store.tx():
            store.resources.put("thing", "1", "", "inner2", {})
    assert store.resources.count("thing") == 2
    assert store.resources.get("thing", "1", "", "inner") is None

    with pytest.raises(KeyError), store.tx():
        with store.tx():
            store.resources.put("thing", "1", "", "gone", {})
        raise KeyError
    assert store.resources.get("thing", "1", "", "gone") is None


def test_rollbacks_are_counted(store: Store) -> None:
    """Caches kept in step with writes rebuild when a write they saw is undone."""
    with store.tx():
        store.resources.put("thing", "1", "", "kept", {})
    assert store.rollbacks == 0
    with pytest.raises(ValueError), store.tx():
        raise ValueError
    assert store.rollbacks == 1
    with store.tx(), pytest.raises(ValueError), store.tx():  # a savepoint undone counts too
        raise ValueError
    assert store.rollbacks == 2


def test_tx_refuses_other_task(store: Store) -> None:
    async def main() -> None:
        entered = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            with store.tx():
                entered.set()
                await release.wait()

        task = asyncio.create_task(holder())
        await entered.wait()
        with pytest.raises(StoreError, match="another task"), store.tx():
            pass
        release.set()
        await task

    asyncio.run(main())


def test_resources_crud(tmp_path: Path) -> None:
    clock = iter(float(i) for i in range(100))
    s = Store.open(tmp_path / "g.db", now=lambda: next(clock))
    r = s.resources
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    r.put("bucket", "111", "", "b2", {"name": "b2", "at": when, "raw": b"\x00\x01"})
    r.put("bucket", "111", "", "b1", {"name": "b1"})
    r.put("bucket", "222", "", "b3", {"name": "b3"})
    r.put("queue", "111", "eu-west-1", "q", {"name": "q"})
    doc = r.get("bucket", "111", "", "b2")
    assert doc == {"name": "b2", "at": "2024-01-02T03:04:05+00:00", "raw": "AAE="}
    assert [d["name"] for d in r.list("bucket")] == ["b2", "b1", "b3"]
    assert [d["name"] for d in r.list("bucket", "111")] == ["b2", "b1"]
    assert [d["name"] for d in r.list("bucket", where=lambda d: d["name"] > "b1")] == ["b2", "b3"]
    assert r.list("queue", "111", "us-east-1") == []
    assert r.count("bucket") == 3 and r.count("bucket", "222") == 1

    r.put("bucket", "111", "", "b2", {"name": "b2", "v": 2})  # replace keeps created order
    assert [d["name"] for d in r.list("bucket", "111")] == ["b2", "b1"]
    assert r.get("bucket", "111", "", "b2") == {"name": "b2", "v": 2}
    row = s.connection.execute(
        "SELECT created, updated FROM resources WHERE id = 'b2'"
    ).fetchone()
    assert row[0] < row[1]

    assert r.delete("bucket", "111", "", "b2") is True
    assert r.delete("bucket", "111", "", "b2") is False
    assert r.delete_all("bucket", "111") == 1
    assert r.delete_all() == 2
    assert r.count("bucket") == 0
    with pytest.raises(TypeError):
        r.put("bucket", "1", "", "x", {"bad": object()})
    s.close()


def test_meta(store: Store) -> None:
    assert store.get_meta("version") is None
    store.set_meta("version", "1")
    store.set_meta("version", "2")
    assert store.get_meta("version") == "2"


def test_access_keys(store: Store) -> None:
    assert store.get_access_key("AKIA1") is None  # cached miss ...
    key = store.put_access_key("AKIA1", "s1", "111", "alice")
    assert store.get_access_key("AKIA1") == key  # ... invalidated by the write
    assert key.status == "Active" and key.user_name == "alice"
    store.put_access_key("AKIA2", "s2", "111")
    store.put_access_key("AKIA3", "s3", "222")
    assert [k.access_key_id for k in store.list_access_keys("111")] == ["AKIA1", "AKIA2"]
    assert [k.access_key_id for k in store.list_access_keys("111", "alice")] == ["AKIA1"]
    store.put_access_key("AKIA1", "s1", "111", "alice", status="Inactive")
    assert store.get_access_key("AKIA1").status == "Inactive"  # type: ignore[union-attr]
    assert store.delete_access_key("AKIA1") is True
    assert store.delete_access_key("AKIA1") is False
    assert store.get_access_key("AKIA1") is None


def test_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "gureum.db"
    s = Store.open(path)
    with s.tx():
        s.resources.put("k", "1", "r", "x", {"a": [1, 2]})
    s.close()
    s = Store.open(path)
    assert s.resources.get("k", "1", "r", "x") == {"a": [1, 2]}
    s.close()


def test_durable_fsyncs_the_wal_once_for_concurrent_waiters(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An acknowledged write waits for a sync of the WAL; waiters share one."""
    synced: list[str] = []
    real_fsync = os.fdatasync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fdatasync", fsync)

    async def run() -> None:
        await store.durable()  # nothing committed since open: no fsync
        assert synced == []
        with store.tx():
            store.set_meta("k", "1")
        await asyncio.gather(*(store.durable() for _ in range(5)))
        assert len(synced) == 1 and synced[0].endswith("-wal")
        await store.durable()  # still covered
        assert len(synced) == 1
        with store.tx():
            store.set_meta("k", "2")
        await store.durable()
        assert len(synced) == 2

    asyncio.run(run())


def test_a_kinds_version_changes_with_its_writes_and_any_rollback(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "g.db")
    try:
        res = store.resources
        a0, b0 = res.version("a"), res.version("b")
        with store.tx():
            res.put("a", "1", "r", "x", {"n": 1})
        a1 = res.version("a")
        assert a1 != a0 and res.version("b") == b0  # (another kind's is unchanged)
        res.get("a", "1", "r", "x")
        res.list("a")
        assert res.version("a") == a1  # (reads change nothing)
        with store.tx():
            res.delete("a", "1", "r", "x")
        a2 = res.version("a")
        assert a2 != a1
        with pytest.raises(RuntimeError), store.tx():
            res.put("b", "1", "r", "y", {"n": 2})
            b1 = res.version("b")
            raise RuntimeError("undone")
        assert res.version("b") not in (b0, b1) and res.version("a") != a2
        res.delete_all()
        assert res.version("a") != a2
    finally:
        store.close()
