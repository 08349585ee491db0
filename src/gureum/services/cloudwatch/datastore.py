"""Where CloudWatch keeps its numbers: the metric and datapoint tables.

A metric is one (account, region, namespace, name, dimension set); its id is
a small integer. A datapoint row is one submitted datum at whole-second
resolution: ``value`` is its sum; ``n``/``lo``/``hi`` (count, minimum,
maximum) are NULL for a single value (count 1, min = max = value), which
keeps the common row small; ``vals`` holds the (value, count) pairs of a
``Values``/``Counts`` datum, packed as doubles, so percentiles stay exact.
Inserts are batched with ``executemany`` inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gureum.store import register_migration

UNITS: tuple[str, ...] = (
    "None", "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
    "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent",
    "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second",
)
UNIT_CODE: dict[str, int] = {u: i for i, u in enumerate(UNITS)}

register_migration(
    2000,
    "cloudwatch_metrics",
    """
    CREATE TABLE cw_metrics (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        dims TEXT NOT NULL,
        last_put REAL NOT NULL,
        UNIQUE (account, region, namespace, name, dims)
    );
    CREATE TABLE cw_datapoints (
        metric INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        unit INTEGER NOT NULL,
        res INTEGER NOT NULL,
        value REAL NOT NULL,
        n REAL,
        lo REAL,
        hi REAL,
        vals BLOB
    );
    CREATE INDEX cw_datapoints_by_metric ON cw_datapoints (metric, ts);
    CREATE INDEX cw_datapoints_by_res ON cw_datapoints (res, ts);
    CREATE TABLE cw_alarm_history (
        seq INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        alarm TEXT NOT NULL,
        ts REAL NOT NULL,
        type TEXT NOT NULL,
        summary TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX cw_alarm_history_by_alarm ON cw_alarm_history (account, region, alarm, ts);
    CREATE INDEX cw_alarm_history_by_time ON cw_alarm_history (account, region, ts);
    """,
)


@dataclass(frozen=True)
class MetricKey:
    """A metric's identity; ``dims`` is the canonical sorted tuple of (name, value)."""

    account: str
    region: str
    namespace: str
    name: str
    dims: tuple[tuple[str, str], ...]

    @property
    def dims_text(self) -> str:
        return json.dumps(self.dims, separators=(",", ":"))

    def dimensions(self) -> list[dict[str, str]]:
        return [{"Name": k, "Value": v} for k, v in self.dims]


@dataclass(frozen=True)
class Row:
    """One stored datapoint as read back."""

    ts: int
    unit: str
    count: float
    sum: float
    min: float
    max: float
    values: tuple[tuple[float, float], ...] | None  # (value, count) pairs, if known


DimTuple = tuple[tuple[str, str], ...]

# (metric id, ts, unit code, resolution, value, n, lo, hi, vals)
NewRow = tuple[int, int, int, int, float, float | None, float | None, float | None, bytes | None]


def pack_values(pairs: Sequence[tuple[float, float]]) -> bytes:
    flat = array("d")
    for v, c in pairs:
        flat.append(v)
        flat.append(c)
    return flat.tobytes()


def unpack_values(blob: bytes) -> tuple[tuple[float, float], ...]:
    flat = array("d")
    flat.frombytes(blob)
    return tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))


class MetricStore:
    """The metric repository over the store's connection (the caller holds the tx)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._ids: dict[MetricKey, int] = {}
        # Ids by (name, dims) within one (account, region, namespace): what
        # ingestion looks up once per datum, keyed by plain tuples.
        self._scoped: dict[tuple[str, str, str], dict[tuple[str, DimTuple], int]] = {}

    def forget(self) -> None:
        self._ids.clear()
        self._scoped.clear()

    def ids_in(self, account: str, region: str, namespace: str
               ) -> dict[tuple[str, DimTuple], int]:
        """The known metric ids of one namespace by (name, dims); the caller
        adds what ``metric_id`` creates."""
        return self._scoped.setdefault((account, region, namespace), {})

    def metric_id(self, key: MetricKey, now: float) -> int:
        """The id of ``key``, created on first use; ``last_put`` moves to ``now``."""
        mid = self._ids.get(key)
        if mid is not None:
            return mid
        row = self.conn.execute(
            "SELECT id FROM cw_metrics WHERE account = ? AND region = ? AND namespace = ?"
            " AND name = ? AND dims = ?",
            (key.account, key.region, key.namespace, key.name, key.dims_text),
        ).fetchone()
        if row is None:
            cur = self.conn.execute(
                "INSERT INTO cw_metrics (account, region, namespace, name, dims, last_put)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key.account, key.region, key.namespace, key.name, key.dims_text, now),
            )
            mid = int(cur.lastrowid or 0)
        else:
            mid = int(row[0])
        self._ids[key] = mid
        return mid

    def touch(self, ids: Iterable[int], now: float) -> None:
        self.conn.executemany(
            "UPDATE cw_metrics SET last_put = ? WHERE id = ?", [(now, i) for i in set(ids)]
        )

    def insert(self, rows: Sequence[NewRow]) -> None:
        self.conn.executemany(
            "INSERT INTO cw_datapoints (metric, ts, unit, res, value, n, lo, hi, vals)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def find(self, account: str, region: str, namespace: str | None = None,
             name: str | None = None, since: float | None = None) -> list[tuple[int, MetricKey]]:
        clauses = ["account = ?", "region = ?"]
        params: list[object] = [account, region]
        for column, value in (("namespace", namespace), ("name", name)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("last_put >= ?")
            params.append(since)
        rows = self.conn.execute(
            "SELECT id, namespace, name, dims FROM cw_metrics WHERE "
            + " AND ".join(clauses) + " ORDER BY namespace, name, dims",
            params,
        ).fetchall()
        return [
            (int(r[0]), MetricKey(account, region, r[1], r[2],
                                  tuple((str(k), str(v)) for k, v in json.loads(r[3]))))
            for r in rows
        ]

    def lookup(self, key: MetricKey) -> int | None:
        if key in self._ids:
            return self._ids[key]
        row = self.conn.execute(
            "SELECT id FROM cw_metrics WHERE account = ? AND region = ? AND namespace = ?"
            " AND name = ? AND dims = ?",
            (key.account, key.region, key.namespace, key.name, key.dims_text),
        ).fetchone()
        return None if row is None else int(row[0])

    def aggregate(self, metric: int, start: int, end: int, period: int,
                  unit: str | None) -> list[tuple[int, str, float, float, float, float]]:
        """(bucket start, unit, count, sum, min, max) per period, computed by SQLite."""
        sql = (
            "SELECT ? + ((ts - ?) / ?) * ? AS b, unit, TOTAL(COALESCE(n, 1)), TOTAL(value),"
            " MIN(COALESCE(lo, value)), MAX(COALESCE(hi, value))"
            " FROM cw_datapoints WHERE metric = ? AND ts >= ? AND ts < ?"
        )
        params: list[object] = [start, start, period, period, metric, start, end]
        if unit is not None:
            sql += " AND unit = ?"
            params.append(UNIT_CODE.get(unit, -1))
        # Ordered as grouped, so SQLite sorts once (ORDER BY b alone sorted twice).
        sql += " GROUP BY b, unit ORDER BY b, unit"
        units = UNITS
        rows = self.conn.execute(sql, params)
        return [(b, units[u], c, s, lo, hi) for b, u, c, s, lo, hi in rows]

    def rows(self, metric: int, start: int, end: int, unit: str | None) -> list[Row]:
        sql = (
            "SELECT ts, unit, COALESCE(n, 1), value, COALESCE(lo, value), COALESCE(hi, value),"
            " vals, n IS NULL FROM cw_datapoints WHERE metric = ? AND ts >= ? AND ts < ?"
        )
        params: list[object] = [metric, start, end]
        if unit is not None:
            sql += " AND unit = ?"
            params.append(UNIT_CODE.get(unit, -1))
        sql += " ORDER BY ts"
        out: list[Row] = []
        for ts, u, c, s, lo, hi, vals, single in self.conn.execute(sql, params):
            if vals is not None:
                pairs: tuple[tuple[float, float], ...] | None = unpack_values(vals)
            elif single:
                pairs = ((float(s), 1.0),)
            else:
                pairs = None  # a statistic set: no individual values
            out.append(Row(int(ts), UNITS[u], float(c), float(s), float(lo), float(hi), pairs))
        return out

    def wipe(self) -> None:
        self.conn.execute("DELETE FROM cw_datapoints")
        self.conn.execute("DELETE FROM cw_metrics")
        self.conn.execute("DELETE FROM cw_alarm_history")
        self.forget()
