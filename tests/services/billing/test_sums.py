"""Unfiltered sums done by SQLite equal Cost Explorer's per-row sums exactly."""

from __future__ import annotations

import random
from decimal import Decimal

from gureum.services.billing.usage import Key, Usage
from gureum.services.ce import query, spend
from gureum.services.ce.forecast import HOURLY

from .conftest import ACCOUNT, MARCH, Harness


def test_sqlite_sums_equal_the_per_row_sums(h: Harness) -> None:
    rnd = random.Random(7)
    usage = Usage(h.store.connection)
    types = ["BoxUsage:t3.micro", "CW:AlarmMonitorUsage", "Requests-Tier1", "TimedStorage"]
    with h.store.tx():
        for i in range(3000):
            cost = rnd.choice([rnd.random() * 10 ** rnd.randint(-9, 3), 0.1, 1 / 3, 5e-11,
                               0.0104 * 1.5, 2 / 744 * 0.3])
            key = Key(ACCOUNT, "us-east-1", "AmazonX", rnd.choice(types), f"r{i % 50}")
            usage.add(key, int(MARCH + 3600 * (i // 50)), "", "Hrs", cost * 3, cost, {})
    end = MARCH + 3600 * 70
    lines = usage.lines(ACCOUNT, MARCH, end)
    by_rows = sum((query.line_value(ln, "UnblendedCost") for ln in lines), Decimal(0))
    assert spend(usage, ACCOUNT, MARCH, end, None) == by_rows
    hourly, other = usage.totals(ACCOUNT, MARCH, end, cost=False, apart=HOURLY)
    assert Decimal(hourly).scaleb(-10) == sum(
        (query.line_value(ln, "UsageQuantity") for ln in lines if ln.usage_type in HOURLY),
        Decimal(0))
    assert Decimal(other).scaleb(-10) == sum(
        (query.line_value(ln, "UsageQuantity") for ln in lines
         if ln.usage_type not in HOURLY), Decimal(0))
