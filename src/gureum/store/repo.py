"""The generic resource repository: JSON documents keyed by (kind, account, region, id).

Services that need no tables of their own keep their records here. ``data``
is stored as JSON; besides JSON-native values it may hold ``datetime``/``date``
(stored as ISO-8601 strings), ``bytes`` (stored as base64 strings), sets
(stored as sorted lists) and enums (stored as their value). Decoding gives
back plain JSON values: the service converts them back if it needs to.
"""

from __future__ import annotations

import base64
import builtins
import datetime as dt
import enum
import json
import sqlite3
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

Document = dict[str, Any]


def _encode_default(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot store a {type(value).__name__} in a resource document")


def c_encoder(default: Callable[[Any], object], *,
              sort_keys: bool) -> Callable[[Any, int], Any] | None:
    """json's C encoder with compact separators (``","`` and ``":"``), made
    once (``json.dumps`` with arguments builds an encoder object and this C
    encoder at every call: about a quarter of an instance record's 8.7 us),
    or None where there is none; ``"".join(encoder(value, 0))`` is the text.
    It keeps no circular-reference marks (shared marks would be state shared
    by threads): a value that holds itself fails with a RecursionError rather
    than json's ValueError."""
    if c_make_encoder is None:
        return None
    maker: Any = c_make_encoder
    return maker(  # type: ignore[no-any-return]
        None, default, encode_basestring_ascii, None, ":", ",", sort_keys, False, True)


_ENCODER = c_encoder(_encode_default, sort_keys=True)


def encode(data: Document) -> str:
    """JSON-encode a document (see the module docstring for accepted values)."""
    if _ENCODER is None or type(data) is not dict:
        return json.dumps(data, default=_encode_default, separators=(",", ":"), sort_keys=True)
    return "".join(_ENCODER(data, 0))


def decode(text: str) -> Document:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise TypeError("a resource document must be a JSON object")
    return value


class Resources:
    """CRUD on the ``resources`` table. ``region`` is ``""`` for global resources."""

    def __init__(self, conn: sqlite3.Connection, now: Callable[[], float]) -> None:
        self._conn = conn
        self._now = now
        # Bumped by every write of a kind (and, all at once, by a rollback): what
        # ``version`` returns, for caches of what a kind's documents say.
        self._versions: dict[str, int] = {}
        self._epoch = 0

    def version(self, kind: str) -> tuple[int, int]:
        """A value that changes whenever a document of ``kind`` may have changed
        (a put or delete of that kind, in this process; any rollback). A cache
        of what those documents say is valid while it stays the same."""
        return self._epoch, self._versions.get(kind, 0)

    def invalidate(self) -> None:
        """Writes were undone (a rollback): every kind's version changes."""
        self._epoch += 1

    def _wrote(self, kind: str) -> None:
        self._versions[kind] = self._versions.get(kind, 0) + 1

    def put(self, kind: str, account: str, region: str, id: str, data: Document) -> None:
        """Insert or replace; ``created`` is kept from the first put."""
        text = encode(data)
        self._wrote(kind)
        now = self._now()
        self._conn.execute(
            "INSERT INTO resources (account, region, kind, id, data, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (account, region, kind, id)"
            " DO UPDATE SET data = excluded.data, updated = excluded.updated",
            (account, region, kind, id, text, now, now),
        )

    def get(self, kind: str, account: str, region: str, id: str) -> Document | None:
        row = self._conn.execute(
            "SELECT data FROM resources WHERE account = ? AND region = ? AND kind = ? AND id = ?",
            (account, region, kind, id),
        ).fetchone()
        return None if row is None else decode(row[0])

    def list(
        self,
        kind: str,
        account: str | None = None,
        region: str | None = None,
        *,
        where: Callable[[Document], bool] | None = None,
    ) -> builtins.list[Document]:
        """Documents of ``kind`` (optionally in one account/region), oldest first."""
        sql, params = self._filter(kind, account, region)
        rows = self._conn.execute(
            f"SELECT data FROM resources WHERE {sql} ORDER BY created, id", params
        ).fetchall()
        docs = [decode(r[0]) for r in rows]
        return docs if where is None else [d for d in docs if where(d)]

    def count(self, kind: str, account: str | None = None, region: str | None = None) -> int:
        sql, params = self._filter(kind, account, region)
        row = self._conn.execute(f"SELECT count(*) FROM resources WHERE {sql}", params).fetchone()
        return int(row[0])

    def delete(self, kind: str, account: str, region: str, id: str) -> bool:
        """Delete one document; True if it existed."""
        self._wrote(kind)
        cur = self._conn.execute(
            "DELETE FROM resources WHERE account = ? AND region = ? AND kind = ? AND id = ?",
            (account, region, kind, id),
        )
        return cur.rowcount > 0

    def delete_all(self, kind: str | None = None, account: str | None = None) -> int:
        """Delete every document (of a kind, of an account); return how many."""
        if kind is None:
            self.invalidate()
        else:
            self._wrote(kind)
        clauses: builtins.list[str] = []
        params: builtins.list[str] = []
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if account is not None:
            clauses.append("account = ?")
            params.append(account)
        sql = " AND ".join(clauses) or "1"
        return self._conn.execute(f"DELETE FROM resources WHERE {sql}", params).rowcount

    @staticmethod
    def _filter(
        kind: str, account: str | None, region: str | None
    ) -> tuple[str, builtins.list[str]]:
        clauses = ["kind = ?"]
        params = [kind]
        if account is not None:
            clauses.append("account = ?")
            params.append(account)
        if region is not None:
            clauses.append("region = ?")
            params.append(region)
        return " AND ".join(clauses), params
