"""Access keys: the credentials SigV4 verification looks up on every request.

Lookups are served from a small in-process cache; every write through this
repository, and every rolled-back transaction, clears it. (Keys written by
another process are seen once this process next writes a key or restarts;
gureum writes keys only through the API, in the one server process.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    account_id: str
    user_name: str | None = None
    status: str = "Active"
    created: float = 0.0


class AccessKeys:
    """CRUD on the ``access_keys`` table, with a read cache for ``get``."""

    def __init__(self, conn: sqlite3.Connection, now: Callable[[], float]) -> None:
        self._conn = conn
        self._now = now
        self._cache: dict[str, AccessKey | None] = {}

    def invalidate(self) -> None:
        self._cache.clear()

    def put(
        self,
        access_key_id: str,
        secret_access_key: str,
        account_id: str,
        user_name: str | None = None,
        status: str = "Active",
    ) -> AccessKey:
        """Insert or replace a key (``created`` is kept on replace)."""
        self._cache.clear()
        self._conn.execute(
            "INSERT INTO access_keys"
            " (access_key_id, secret_access_key, account_id, user_name, status, created)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (access_key_id) DO UPDATE SET"
            " secret_access_key = excluded.secret_access_key,"
            " account_id = excluded.account_id, user_name = excluded.user_name,"
            " status = excluded.status",
            (access_key_id, secret_access_key, account_id, user_name, status, self._now()),
        )
        key = self._load(access_key_id)
        assert key is not None
        return key

    def get(self, access_key_id: str) -> AccessKey | None:
        try:
            return self._cache[access_key_id]
        except KeyError:
            pass
        key = self._load(access_key_id)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[access_key_id] = key
        return key

    def list(self, account_id: str, user_name: str | None = None) -> list[AccessKey]:
        """Keys of an account (of one user when ``user_name`` is given), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM access_keys WHERE account_id = ?"
        params: list[str] = [account_id]
        if user_name is not None:
            sql += " AND user_name = ?"
            params.append(user_name)
        rows = self._conn.execute(sql + " ORDER BY created, access_key_id", params).fetchall()
        return [AccessKey(*row) for row in rows]

    def delete(self, access_key_id: str) -> bool:
        self._cache.clear()
        cur = self._conn.execute(
            "DELETE FROM access_keys WHERE access_key_id = ?", (access_key_id,)
        )
        return cur.rowcount > 0

    def _load(self, access_key_id: str) -> AccessKey | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM access_keys WHERE access_key_id = ?", (access_key_id,)
        ).fetchone()
        return None if row is None else AccessKey(*row)


_COLUMNS = "access_key_id, secret_access_key, account_id, user_name, status, created"
