"""Where metered usage lives: the ``billing_usage`` table (one row per account,
region, service, usage type, resource and hour, with its quantity and cost),
the meter's progress (``billing_meter``) and the runs it is in the middle of
(``billing_runs``).

The meter adds to usage rows and moves its watermark in one transaction, so
a crash at any moment leaves either the whole tick or none of it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gureum.store import register_migration

HOUR = 3600.0

register_migration(
    8000,
    "billing_usage",
    """
    CREATE TABLE billing_usage (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        service TEXT NOT NULL,
        usage_type TEXT NOT NULL,
        resource TEXT NOT NULL,
        hour INTEGER NOT NULL,
        operation TEXT NOT NULL,
        unit TEXT NOT NULL,
        quantity REAL NOT NULL,
        cost REAL NOT NULL,
        attrs TEXT NOT NULL,
        PRIMARY KEY (account, region, service, usage_type, resource, hour)
    );
    CREATE INDEX billing_usage_by_hour ON billing_usage (account, hour);
    CREATE TABLE billing_meter (
        name TEXT PRIMARY KEY,
        watermark REAL NOT NULL
    );
    CREATE TABLE billing_runs (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        service TEXT NOT NULL,
        usage_type TEXT NOT NULL,
        resource TEXT NOT NULL,
        started REAL NOT NULL,
        topup REAL NOT NULL,
        PRIMARY KEY (account, region, service, usage_type, resource)
    );
    """,
)


def hour_of(t: float) -> int:
    return int(t // HOUR * HOUR)


def month_start(t: float) -> float:
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp()


def hours_in_month(t: float) -> int:
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return calendar.monthrange(d.year, d.month)[1] * 24


def hour_pieces(start: float, end: float) -> Iterator[tuple[int, float]]:
    """``[start, end)`` cut at hour boundaries: (hour, seconds in it)."""
    t = start
    while t < end:
        hour = hour_of(t)
        stop = min(end, hour + HOUR)
        yield hour, stop - t
        t = stop


@dataclass(frozen=True)
class Key:
    """What a usage row is of (every part of its primary key but the hour)."""

    account: str
    region: str
    service: str
    usage_type: str
    resource: str


@dataclass
class Line:
    """A usage row as Cost Explorer and Budgets read it."""

    account: str
    region: str
    service: str
    usage_type: str
    resource: str
    hour: int
    operation: str
    unit: str
    quantity: float
    cost: float
    # The attributes' JSON, parsed on first use (most queries never look).
    attrs_text: str = "{}"
    _attrs: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def attrs(self) -> dict[str, Any]:
        if self._attrs is None:
            self._attrs = json.loads(self.attrs_text)
        return self._attrs

    @property
    def tags(self) -> dict[str, str]:
        tags = self.attrs.get("tags") or {}
        return {str(k): str(v) for k, v in tags.items()}


class Usage:
    """Reads and writes of the billing tables (inside the caller's transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def add(self, key: Key, hour: int, operation: str, unit: str, quantity: float,
            cost: float, attrs: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO billing_usage (account, region, service, usage_type, resource, hour,"
            " operation, unit, quantity, cost, attrs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (account, region, service, usage_type, resource, hour) DO UPDATE SET"
            " quantity = quantity + excluded.quantity, cost = cost + excluded.cost,"
            " attrs = excluded.attrs, operation = excluded.operation",
            (key.account, key.region, key.service, key.usage_type, key.resource, hour,
             operation, unit, quantity, cost, json.dumps(attrs, sort_keys=True)),
        )

    def billed(self, key: Key, hour: int) -> bool:
        """Whether ``key`` has a usage row in ``hour``."""
        row = self.conn.execute(
            "SELECT 1 FROM billing_usage WHERE account = ? AND region = ? AND service = ?"
            " AND usage_type = ? AND resource = ? AND hour = ?",
            (key.account, key.region, key.service, key.usage_type, key.resource, hour),
        ).fetchone()
        return row is not None

    def quantity(self, key: Key, hour: int) -> float:
        """The quantity ``key`` is billed in ``hour`` (0 without a row)."""
        row = self.conn.execute(
            "SELECT quantity FROM billing_usage WHERE account = ? AND region = ? AND service = ?"
            " AND usage_type = ? AND resource = ? AND hour = ?",
            (key.account, key.region, key.service, key.usage_type, key.resource, hour),
        ).fetchone()
        return 0.0 if row is None else float(row[0])

    def month_to_date(self, account: str, service: str, usage_type: str, t: float) -> float:
        """Units of a usage type the account used this month before hour ``hour_of(t)``
        ends (what tiered prices are counted over)."""
        row = self.conn.execute(
            "SELECT coalesce(sum(quantity), 0) FROM billing_usage WHERE account = ?"
            " AND service = ? AND usage_type = ? AND hour >= ? AND hour <= ?",
            (account, service, usage_type, int(month_start(t)), hour_of(t)),
        ).fetchone()
        return float(row[0])

    def lines(self, account: str | None, start: float, end: float) -> list[Line]:
        """Usage rows whose hour starts in ``[start, end)``."""
        sql = ("SELECT account, region, service, usage_type, resource, hour, operation, unit,"
               " quantity, cost, attrs FROM billing_usage WHERE hour >= ? AND hour < ?")
        args: list[Any] = [start, end]
        if account is not None:
            sql += " AND account = ?"
            args.append(account)
        rows = self.conn.execute(sql + " ORDER BY hour, service, usage_type, resource",
                                 args).fetchall()
        return [Line(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], float(r[8]),
                     float(r[9]), r[10]) for r in rows]

    def totals(self, account: str, start: float, end: float, cost: bool = True,
               apart: frozenset[str] = frozenset()) -> tuple[int, int]:
        """Sums of the cost (or quantity) of the rows whose hour starts in
        ``[start, end)``, each row rounded to 10 places as Cost Explorer counts
        it, in units of 1e-10: (rows of the usage types in ``apart``, the
        others). Summed by SQLite: no row is read into Python."""
        column = "cost" if cost else "quantity"
        marks = ", ".join("?" for _ in apart) or "NULL"
        rows = self.conn.execute(
            f"SELECT usage_type IN ({marks}), sum(CAST(round({column} * 1e10) AS INTEGER))"
            " FROM billing_usage WHERE account = ? AND hour >= ? AND hour < ? GROUP BY 1",
            (*sorted(apart), account, start, end)).fetchall()
        found = {bool(r[0]): int(r[1] or 0) for r in rows}
        return found.get(True, 0), found.get(False, 0)

    def kinds(self, account: str, start: float, end: float
              ) -> list[tuple[str, str, str, str, float]]:
        """(region, service, usage type, unit, quantity) of each usage type the
        account used in the hours that start in ``[start, end)``."""
        rows = self.conn.execute(
            "SELECT region, service, usage_type, unit, sum(quantity) FROM billing_usage"
            " WHERE account = ? AND hour >= ? AND hour < ? AND quantity > 0"
            " GROUP BY region, service, usage_type, unit ORDER BY service, usage_type, region",
            (account, start, end)).fetchall()
        return [(r[0], r[1], r[2], r[3], float(r[4])) for r in rows]

    def first_hour(self, account: str) -> int | None:
        row = self.conn.execute(
            "SELECT min(hour) FROM billing_usage WHERE account = ?", (account,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    # -- progress -----------------------------------------------------------

    def watermark(self, name: str = "meter") -> float | None:
        row = self.conn.execute(
            "SELECT watermark FROM billing_meter WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else float(row[0])

    def set_watermark(self, t: float, name: str = "meter") -> None:
        self.conn.execute(
            "INSERT INTO billing_meter (name, watermark) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET watermark = excluded.watermark",
            (name, t),
        )

    def runs(self) -> dict[Key, tuple[float, float]]:
        """Runs in progress: key -> (started, seconds of minimum still prepaid)."""
        rows = self.conn.execute(
            "SELECT account, region, service, usage_type, resource, started, topup"
            " FROM billing_runs"
        ).fetchall()
        return {Key(*r[:5]): (float(r[5]), float(r[6])) for r in rows}

    def put_run(self, key: Key, started: float, topup: float) -> None:
        self.conn.execute(
            "INSERT INTO billing_runs (account, region, service, usage_type, resource, started,"
            " topup) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, service,"
            " usage_type, resource) DO UPDATE SET started = excluded.started,"
            " topup = excluded.topup",
            (key.account, key.region, key.service, key.usage_type, key.resource, started, topup),
        )

    def end_run(self, key: Key) -> None:
        self.conn.execute(
            "DELETE FROM billing_runs WHERE account = ? AND region = ? AND service = ?"
            " AND usage_type = ? AND resource = ?",
            (key.account, key.region, key.service, key.usage_type, key.resource),
        )

    def wipe(self) -> None:
        for table in ("billing_usage", "billing_meter", "billing_runs"):
            self.conn.execute(f"DELETE FROM {table}")
