"""Minimum charges per start with the fake clock, as AWS bills on-demand
compute: an RDS DB instance per second with a ten-minute minimum each time
it starts (and after a billable class change), an EC2 Linux instance per
second with a 60-second minimum each time it starts."""

from __future__ import annotations

from typing import Any

import pytest

import gureum.services.rds  # noqa: F401  (registers the RDS usage source)

from .conftest import ACCOUNT, Harness

REGION = "us-east-1"
MICRO = "InstanceUsage:db.t3.micro"


def db(h: Harness, status: str, **kw: Any) -> None:
    doc = h.store.resources.get("rds:instance", ACCOUNT, REGION, "db1") or {
        "id": "db1", "account": ACCOUNT, "region": REGION, "class": "db.t3.micro",
        "engine": "postgres", "multi_az": False, "storage": 20, "storage_type": "gp2",
        "tags": {}}
    doc.update(kw, status=status)
    with h.store.tx():
        h.store.resources.put("rds:instance", ACCOUNT, REGION, "db1", doc)


def hours(h: Harness, usage_type: str) -> float:
    return float(h.totals(usage_type).get(usage_type, (0.0, 0.0))[0])


def test_rds_each_start_after_a_stop_has_its_own_ten_minutes(h: Harness) -> None:
    db(h, "available")
    h.advance(120, tick_every=15)  # up 2 minutes: billed 10
    db(h, "stopping")
    h.advance(30, tick_every=15)
    db(h, "stopped")
    h.advance(3600, tick_every=60)
    assert hours(h, MICRO) == pytest.approx(600 / 3600)
    db(h, "starting")
    h.advance(60, tick_every=15)  # starting is not billed: AWS bills from available
    db(h, "available")
    h.advance(240, tick_every=15)  # up 4 minutes: another 10
    db(h, "stopped")
    h.advance(600, tick_every=60)
    assert hours(h, MICRO) == pytest.approx(1200 / 3600)
    db(h, "available")
    h.advance(1500, tick_every=15)  # up 25 minutes: past the minimum, per second
    db(h, "stopped")
    h.advance(600, tick_every=60)
    assert hours(h, MICRO) == pytest.approx((1200 + 1500) / 3600)


def test_rds_a_class_change_has_a_ten_minute_minimum(h: Harness) -> None:
    db(h, "available")
    h.advance(1800, tick_every=15)
    db(h, "modifying", **{"class": "db.t3.small"})  # scaled: the new class from here
    h.advance(120, tick_every=15)
    db(h, "stopped")
    h.advance(600, tick_every=60)
    assert hours(h, MICRO) == pytest.approx(1800 / 3600)
    assert hours(h, "InstanceUsage:db.t3.small") == pytest.approx(600 / 3600)


def test_ec2_start_stop_start_each_start_a_new_minute(h: Harness) -> None:
    h.instance("i-1")
    h.advance(300, tick_every=15)  # five minutes
    h.set_state("i-1", "stopping")
    h.advance(15, tick_every=15)
    h.set_state("i-1", "stopped")
    h.advance(120, tick_every=15)
    h.set_state("i-1", "pending")
    h.advance(15, tick_every=15)
    h.set_state("i-1", "running")
    h.advance(20, tick_every=5)  # 20 seconds: billed a minute
    h.set_state("i-1", "stopped")
    h.advance(120, tick_every=15)
    h.set_state("i-1", "running")
    h.advance(75, tick_every=15)  # 75 seconds: past the minimum
    h.set_state("i-1", "terminated")
    h.advance(120, tick_every=15)
    assert hours(h, "BoxUsage:t3.micro") == pytest.approx((300 + 60 + 75) / 3600)
