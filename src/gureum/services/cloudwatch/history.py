"""Alarm history: configuration updates, state changes and actions, kept in
their own table (indexed by alarm and by time) and read back newest first."""

from __future__ import annotations

import sqlite3
from typing import Any

HISTORY_TYPES = ("ConfigurationUpdate", "StateUpdate", "Action")


def record(conn: sqlite3.Connection, account: str, region: str, alarm: str, ts: float,
           kind: str, summary: str, data: str) -> None:
    conn.execute(
        "INSERT INTO cw_alarm_history (account, region, alarm, ts, type, summary, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (account, region, alarm, ts, kind, summary, data),
    )


def query(conn: sqlite3.Connection, account: str, region: str, *, alarm: str | None,
          kind: str | None, start: float | None, end: float | None, descending: bool,
          after: int | None, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """(sequence number, AlarmHistoryItem) pairs, ``limit`` of them after ``after``."""
    clauses = ["account = ?", "region = ?"]
    params: list[Any] = [account, region]
    for clause, value in (("alarm = ?", alarm), ("type = ?", kind), ("ts >= ?", start),
                          ("ts <= ?", end)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if after is not None:
        clauses.append("seq < ?" if descending else "seq > ?")
        params.append(after)
    order = "DESC" if descending else "ASC"
    rows = conn.execute(
        "SELECT seq, alarm, ts, type, summary, data FROM cw_alarm_history WHERE "
        + " AND ".join(clauses) + f" ORDER BY seq {order} LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [
        (int(seq), {"AlarmName": name, "AlarmType": "MetricAlarm", "Timestamp": ts,
                    "HistoryItemType": kind, "HistorySummary": summary, "HistoryData": data})
        for seq, name, ts, kind, summary, data in rows
    ]


def prune(conn: sqlite3.Connection, before: float) -> int:
    return conn.execute("DELETE FROM cw_alarm_history WHERE ts < ?", (before,)).rowcount
