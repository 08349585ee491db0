"""A meter on an in-memory store with a fake clock; EC2 and S3 records are
written as those services write them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gureum.services  # noqa: F401  (every service's migrations)
from gureum.config import Settings
from gureum.control.clock import FakeClock
from gureum.services.base import Call, Env, Identity
from gureum.services.billing.meter import Meter
from gureum.services.billing.pricelist import prices
from gureum.store import Store
from gureum.store.db import MEMORY

ACCOUNT = "000000000000"
# 2026-03-01T00:00:00Z: a 31-day month starts
MARCH = 1772323200.0


def price(service: str, usage_type: str, operation: str = "", tier: int = 0) -> float:
    """The listed price of a usage type (of its ``tier``-th tier): tests read
    prices from the price list rather than repeat them."""
    product = prices().product(service, usage_type, operation)
    assert product is not None, (service, usage_type, operation)
    return product.tiers[tier].price


class Harness:
    def __init__(self, tmp: Path, start: float = MARCH) -> None:
        self.clock = FakeClock(start)
        self.store = Store.open(MEMORY, now=self.clock.now)
        self.env = Env(settings=Settings(data_dir=tmp), store=self.store, clock=self.clock,
                       loops=None)
        self.meter = Meter(self.env)
        self.env.extras["billing.meter"] = self.meter
        self.loop = asyncio.new_event_loop()

    def advance(self, seconds: float, tick_every: float | None = 60.0) -> None:
        """Move time, ticking the meter every ``tick_every`` seconds (None: once at the end)."""
        step = seconds if tick_every is None else tick_every
        left = seconds
        while left > 1e-9:
            d = min(step, left)
            self.loop.run_until_complete(self.clock.advance(d))
            left -= d
            self.meter.tick()

    def instance(self, iid: str, state: str = "running", itype: str = "t3.micro",
                 region: str = "us-east-1", **extra: Any) -> None:
        with self.store.tx():
            self.store.resources.put("ec2:instance", ACCOUNT, region, iid, {
                "id": iid, "account": ACCOUNT, "region": region, "type": itype,
                "state": state, "launch_time": self.clock.now(), "tags": extra.get("tags", {}),
            })

    def set_state(self, iid: str, state: str, region: str = "us-east-1") -> None:
        with self.store.tx():
            doc = self.store.resources.get("ec2:instance", ACCOUNT, region, iid)
            assert doc is not None
            doc["state"] = state
            self.store.resources.put("ec2:instance", ACCOUNT, region, iid, doc)

    def bucket(self, name: str, size: int, region: str = "us-east-1") -> None:
        with self.store.tx():
            self.store.resources.put("s3:bucket", "", "", name, {
                "Name": name, "Owner": ACCOUNT, "Region": region, "CreationDate": 0})
            self.store.connection.execute(
                "INSERT INTO s3_objects (bucket, key, size, etag, modified, blobs, meta)"
                " VALUES (?, 'k', ?, '\"e\"', 0, '[]', '{}') ON CONFLICT (bucket, key)"
                " DO UPDATE SET size = excluded.size", (name, size))

    def totals(self, usage_type: str | None = None) -> dict[str, tuple[float, float]]:
        sql = "SELECT usage_type, sum(quantity), sum(cost) FROM billing_usage"
        args: list[str] = []
        if usage_type:
            sql += " WHERE usage_type = ?"
            args.append(usage_type)
        rows = self.store.connection.execute(sql + " GROUP BY usage_type", args).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def call(self, service: str, operation: str, account: str = ACCOUNT) -> Call:
        return Call(service, operation, account, "us-east-1", Identity.root(account), "req")

    def run(self, service: Any, operation: str, **params: Any) -> Any:
        method = getattr(service, operation)

        async def invoke() -> Any:
            result = method(self.call(service.name, operation), params)
            return await result if asyncio.iscoroutine(result) else result

        return self.loop.run_until_complete(invoke())


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.meter.tick()  # the meter's first tick: nothing before it is billed
    yield harness
    harness.loop.close()
    harness.store.close()
