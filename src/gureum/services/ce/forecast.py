"""A simple linear forecast: the spend rate of the recent past (up to 14 days,
from the first metered hour) carried forward over the forecast period."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from ..billing.usage import HOUR, Line, Usage, hour_of
from . import query

WINDOW = 14 * 86400.0
# Usage types billed for a whole hour at its first moment (prorated by the hour).
HOURLY = frozenset({"CW:MetricMonitorUsage", "CW:AlarmMonitorUsage",
                    "CW:HighResAlarmMonitorUsage", "CW:CompositeAlarmMonitorUsage",
                    "LoadBalancerUsage"})
Forecast = tuple[Decimal, list[tuple[dt.datetime, dt.datetime, Decimal, Decimal, Decimal]]]


def rate(usage: Usage, account: str, now: float, test: Callable[[Line], bool],
         cost: bool) -> Decimal | None:
    """Units (USD or usage) per second over the recent past; None without history."""
    first = usage.first_hour(account)
    if first is None:
        return None
    since = max(now - WINDOW, float(first))
    if test is query.everything:  # no filter: SQLite sums
        hourly, other = usage.totals(account, since, now + 1, cost, HOURLY)
        ahead, so_far = Decimal(hourly).scaleb(-10), Decimal(other).scaleb(-10)
    else:
        ahead, so_far = Decimal(0), Decimal(0)
        for ln in usage.lines(account, since, now + 1):
            if test(ln):
                value = query.exact(ln.cost if cost else ln.quantity)
                if ln.usage_type in HOURLY:
                    ahead += value
                else:
                    so_far += value
    # Usage billed by the whole hour as soon as the hour begins (CloudWatch
    # metrics and alarms, load balancer hours) has paid for the current hour to its end.
    paid_to = hour_of(now) + HOUR
    return (so_far / Decimal(max(60.0, now - since))
            + ahead / Decimal(max(60.0, paid_to - since)))


def forecast(usage: Usage, account: str, now: float, start: dt.datetime, end: dt.datetime,
             granularity: str, test: Callable[[Line], bool], cost: bool,
             level: int) -> Forecast | None:
    per_second = rate(usage, account, now, test, cost)
    if per_second is None:
        return None
    spread = Decimal(level - 50) / Decimal(100)
    by_time = []
    total = Decimal(0)
    for lo, hi in query.periods(start, end, granularity):
        ahead = max(0.0, hi.timestamp() - max(lo.timestamp(), now))
        mean = (per_second * Decimal(ahead)).quantize(query.PLACES)
        total += mean
        by_time.append((lo, hi, mean, (mean * (1 - spread)).quantize(query.PLACES),
                        (mean * (1 + spread)).quantize(query.PLACES)))
    return total, by_time
