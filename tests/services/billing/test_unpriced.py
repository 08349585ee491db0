"""Usage the price list has no price for is billed at $0 but not silently:
the meter names it ("no price for db.r6g.large — not billed") for the bill
page and ``gureum bill``; priced usage, and usage priced at 0 on purpose,
are not named."""

from __future__ import annotations

from typing import Any

import pytest

import gureum.services.elasticache
import gureum.services.rds  # noqa: F401  (registers the RDS usage source)
from gureum.services.billing.pricelist import prices
from gureum.services.elasticache.core import NODE

from .conftest import ACCOUNT, MARCH, Harness

REGION = "us-east-1"


def db(h: Harness, id: str, klass: str, **kw: Any) -> None:
    doc = {"id": id, "account": ACCOUNT, "region": REGION, "status": "available",
           "class": klass, "engine": "postgres", "multi_az": False, "storage": 20,
           "storage_type": "gp2", "tags": {}, **kw}
    with h.store.tx():
        h.store.resources.put("rds:instance", ACCOUNT, REGION, id, doc)


def node(h: Harness, id: str, node_type: str) -> None:
    with h.store.tx():
        h.store.resources.put(NODE, ACCOUNT, REGION, id, {
            "id": id, "account": ACCOUNT, "region": REGION, "node_type": node_type,
            "created": h.clock.now(), "tags": {}, "group": None, "status": "available"})


def month(h: Harness) -> list[Any]:
    return h.meter.unpriced(ACCOUNT, MARCH, MARCH + 31 * 86400)


def test_a_class_without_a_price_is_named_not_hidden(h: Harness) -> None:
    klass = "db.r6g.large"
    assert prices().product("AmazonRDS", f"InstanceUsage:{klass}") is None, \
        "the list prices it now: pick a class it lacks"
    db(h, "priced", "db.t3.micro")
    db(h, "unpriced", klass)
    h.advance(1800)
    totals = h.totals()
    assert totals[f"InstanceUsage:{klass}"] == (pytest.approx(0.5), 0.0)  # metered, $0
    found = month(h)
    assert [(u.service, u.usage_type, u.what) for u in found] == [
        ("AmazonRDS", f"InstanceUsage:{klass}", klass)]
    assert found[0].quantity == pytest.approx(0.5)
    assert found[0].message().startswith(f"no price for {klass} (")
    assert found[0].message().endswith("— not billed")
    # Another account's month has nothing of it.
    assert h.meter.unpriced("111111111111", MARCH, MARCH + 31 * 86400) == []


def test_cache_node_types_without_a_price_are_named(h: Harness) -> None:
    lacking = "cache.m7g.large"
    assert prices().product("AmazonElastiCache", f"NodeUsage:{lacking}") is None, \
        "the list prices it now: pick a type it lacks"
    node(h, "c1", "cache.t3.micro")
    node(h, "c2", lacking)
    h.advance(600)
    assert [u.what for u in month(h)] == [lacking]


def test_nothing_is_named_when_everything_has_a_price(h: Harness) -> None:
    h.instance("i-1")
    h.bucket("bkt", 1 << 30)
    db(h, "db1", "db.t3.micro")
    h.advance(3600)
    assert month(h) == []
