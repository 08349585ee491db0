"""The store holds its database in exclusive locking mode: the WAL index lives
in gureum's memory (no -shm file) and no transaction takes file locks; another
connection is refused while the store is open, and reads it all once closed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gureum.store import Store


def test_the_database_is_held_exclusively_while_open(tmp_path: Path) -> None:
    path = tmp_path / "gureum.db"
    store = Store.open(path)
    try:
        with store.tx():
            store.set_meta("k", "v")
        assert store.connection.execute("PRAGMA locking_mode").fetchone()[0] == "exclusive"
        assert Path(f"{path}-wal").exists()
        assert not Path(f"{path}-shm").exists()
        other = sqlite3.connect(path, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("SELECT value FROM meta").fetchall()
        finally:
            other.close()
        # The store's own reads and writes go on.
        with store.tx():
            store.set_meta("k", "w")
    finally:
        store.close()
    conn = sqlite3.connect(path, timeout=0)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'k'").fetchone() == ("w",)
    finally:
        conn.close()
    reopened = Store.open(path)
    try:
        assert reopened.get_meta("k") == "w"
    finally:
        reopened.close()
