"""Statistics over stored datapoints: period rules, per-period aggregation and
percentiles, shared by GetMetricStatistics, GetMetricData and alarms."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

from gureum.errors import AWSError

from .datastore import MetricStore, Row

BASIC = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
HIGH_RES_PERIODS = (1, 5, 10, 30)
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100(\.0{1,2})?)$")
MAX_DATAPOINTS = 1440


def check_period(period: int, name: str = "Period") -> None:
    """AWS's rule: 1, 5, 10, 30 (high resolution) or a multiple of 60."""
    if period < 1 or (period < 60 and period not in HIGH_RES_PERIODS) or (
        period >= 60 and period % 60
    ):
        raise AWSError(
            "InvalidParameterValue",
            f"The parameter {name} must be 1, 5, 10, 30, or a multiple of 60.",
        )


def check_stat(stat: str, name: str = "Stat") -> None:
    if stat not in BASIC and not PERCENTILE.match(stat):
        raise AWSError(
            "InvalidParameterValue", f"The value {stat} for parameter {name} is invalid."
        )


def align_start(start: float, period: int, now: float) -> int:
    """StartTime rounded down as AWS does: to the period (high resolution) or to
    the minute, and to 5 minutes / 1 hour for data older than 15 / 63 days."""
    age = now - start
    if age > 63 * 86400:
        step = 3600
    elif age > 15 * 86400:
        step = 300
    else:
        step = period if period < 60 else 60
    return int(start // step * step)


def percentile(pairs: list[tuple[float, float]], p: float) -> float | None:
    """Nearest-rank percentile of weighted values ``(value, count)``."""
    if not pairs:
        return None
    ordered = sorted(pairs)
    total = sum(c for _, c in ordered)
    if total <= 0:
        return None
    rank = max(1.0, math.ceil(p / 100.0 * total - 1e-9))
    seen = 0.0
    for value, count in ordered:
        seen += count
        if seen >= rank:
            return value
    return ordered[-1][0]


@dataclass
class Bucket:
    """The aggregate of one period (and unit)."""

    ts: int
    unit: str
    count: float = 0.0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    pairs: list[tuple[float, float]] | None = None

    def stat(self, name: str) -> float | None:
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.sum
        if name == "Average":
            return self.sum / self.count if self.count else None
        if name == "Minimum":
            return self.min
        if name == "Maximum":
            return self.max
        if name.startswith("p") and self.pairs is not None:
            return percentile(self.pairs, float(name[1:]))
        return None


def buckets(store: MetricStore, metrics: list[int], start: int, end: int, period: int,
            unit: str | None, *, by_unit: bool, values: bool) -> list[Bucket]:
    """Per-period aggregates of ``metrics`` in [start, end), ordered by time.

    Basic statistics are computed by SQLite; ``values`` also gathers the
    individual values each period holds, for percentiles."""
    out: dict[tuple[int, str], Bucket] = {}
    if not values:
        for metric in metrics:
            for ts, u, count, total, lo, hi in store.aggregate(metric, start, end, period, unit):
                b = out.setdefault((ts, u if by_unit else ""), Bucket(ts, u))
                b.count += count
                b.sum += total
                b.min = min(b.min, lo)
                b.max = max(b.max, hi)
        return [out[k] for k in sorted(out)]
    rows: dict[tuple[int, str], list[Row]] = defaultdict(list)
    for metric in metrics:
        for row in store.rows(metric, start, end, unit):
            ts = start + (row.ts - start) // period * period
            rows[(ts, row.unit if by_unit else "")].append(row)
    for key in sorted(rows):
        group = rows[key]
        b = Bucket(key[0], group[0].unit, pairs=[])
        for row in group:
            b.count += row.count
            b.sum += row.sum
            b.min = min(b.min, row.min)
            b.max = max(b.max, row.max)
            if row.values is not None and b.pairs is not None:
                b.pairs.extend(row.values)
        if b.pairs == [] and any(row.values is None for row in group):
            b.pairs = None
        out[key] = b
    return [out[k] for k in sorted(out)]
