"""Retention and rollup, applied by a loop as CloudWatch does: 1-second data
is kept 3 hours and then rolled up to 1 minute; 1-minute data 15 days, then
5 minutes; 5-minute data 63 days, then 1 hour; hourly data 455 days.

A rollup merges the rows of one (metric, unit, coarser period) into one row
with count/sum/min/max, and keeps the individual values (merged by value) when
there are few enough of them, so percentiles survive the rollup. Work is done
in bounded transactions so the API never waits long for the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from gureum.control import Loop

from ..base import Env
from .datastore import NewRow, pack_values, unpack_values
from .history import prune

log = logging.getLogger("gureum.cloudwatch")

LOOP_NAME = "cloudwatch-retention"
KEY = "retention"
# (resolution, kept for seconds, rolled up into resolution or None: dropped)
TIERS: tuple[tuple[int, int, int | None], ...] = (
    (1, 3 * 3600, 60),
    (60, 15 * 86400, 300),
    (300, 63 * 86400, 3600),
    (3600, 455 * 86400, None),
)
HISTORY_DAYS = 30
BATCH = 20_000
MAX_PAIRS = 1000
INTERVAL = 60.0


def rollup(env: Env, now: float, batch: int = BATCH) -> int:
    """One bounded step of retention work; returns how many rows it handled."""
    conn = env.store.connection
    done = 0
    for res, keep, into in TIERS:
        coarse = into or res
        cutoff = int((now - keep) // coarse * coarse)
        with env.store.tx():
            rows = conn.execute(
                "SELECT rowid, metric, ts, unit, value, n, lo, hi, vals FROM cw_datapoints"
                " WHERE res = ? AND ts < ? ORDER BY metric, unit, ts LIMIT ?",
                (res, cutoff, batch),
            ).fetchall()
            if not rows:
                continue
            if into is not None:
                if len(rows) == batch:  # do not split the last period between two steps
                    last = rows[-1]
                    edge = (last[1], last[3], last[2] // into)
                    rows = [r for r in rows if (r[1], r[3], r[2] // into) != edge] or rows
                conn.executemany(
                    "INSERT INTO cw_datapoints (metric, ts, unit, res, value, n, lo, hi, vals)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", merge(rows, into),
                )
            conn.executemany("DELETE FROM cw_datapoints WHERE rowid = ?",
                             [(r[0],) for r in rows])
            done += len(rows)
    with env.store.tx():
        prune(conn, now - HISTORY_DAYS * 86400)
    return done


def merge(rows: Iterable[Any], into: int) -> list[NewRow]:
    groups: dict[tuple[int, int, int], list[Any]] = {}
    for row in rows:
        metric, ts, unit = int(row[1]), int(row[2]), int(row[3])
        groups.setdefault((metric, unit, ts // into * into), []).append(row)
    out: list[NewRow] = []
    for (metric, unit, ts), group in groups.items():
        count: float = 0.0
        total: float = 0.0
        lo, hi = float("inf"), float("-inf")
        pairs: dict[float, float] | None = {}
        for _, _, _, _, value, n, rlo, rhi, vals in group:
            v = float(value)
            count += 1.0 if n is None else float(n)
            total += v
            lo = min(lo, v if rlo is None else float(rlo))
            hi = max(hi, v if rhi is None else float(rhi))
            if pairs is None:
                continue
            if vals is not None:
                for pv, pc in unpack_values(vals):
                    pairs[pv] = pairs.get(pv, 0.0) + pc
            elif n is None:
                pairs[v] = pairs.get(v, 0.0) + 1.0
            else:
                pairs = None  # a statistic set has no values to keep
            if pairs is not None and len(pairs) > MAX_PAIRS:
                pairs = None
        blob = pack_values(sorted(pairs.items())) if pairs else None
        out.append((metric, ts, unit, into, total, count, lo, hi, blob))
    return out


class RetentionLoop:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.loop = Loop(LOOP_NAME, self.reconcile, clock=env.clock, resync=self.resync,
                         resync_interval=INTERVAL)

    async def resync(self) -> Iterable[str]:
        return [KEY]

    async def reconcile(self, key: str) -> float | None:
        handled = rollup(self.env, self.env.clock.now())
        if handled:
            log.debug("cloudwatch retention: %d rows rolled up or dropped", handled)
        return 0.0 if handled else None  # more may be waiting: look again at once
