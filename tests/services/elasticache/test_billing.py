"""ElastiCache node hours on the billing meter with the fake clock: each
node is billed by its node type from creation, each clock hour or part of
one as a full node-hour (AWS's on-demand rule), a resize moves the hours to
the new type, and a deletion stops them in the hour it was asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gureum.services.elasticache  # noqa: F401  (registers the usage source)
from gureum.services.billing.pricelist import prices
from gureum.services.elasticache.core import NODE

from ..billing.conftest import ACCOUNT, Harness

REGION = "us-east-1"


def put(h: Harness, id: str, status: str = "available", **kw: Any) -> None:
    doc = h.store.resources.get(NODE, ACCOUNT, REGION, id) or {
        "id": id, "account": ACCOUNT, "region": REGION, "node_type": "cache.t3.micro",
        "created": h.clock.now(), "tags": {}, "group": None}
    doc.update(kw, status=status)
    with h.store.tx():
        h.store.resources.put(NODE, ACCOUNT, REGION, id, doc)


def delete(h: Harness, id: str) -> None:
    with h.store.tx():
        h.store.resources.delete(NODE, ACCOUNT, REGION, id)


def hourly(node_type: str) -> float:
    product = prices().product("AmazonElastiCache", f"NodeUsage:{node_type}",
                               "CreateCacheCluster:0002")
    assert product is not None
    return product.tiers[0].price


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.meter.tick()
    yield harness
    harness.loop.close()
    harness.store.close()


def test_two_nodes_for_two_hours(h: Harness) -> None:
    put(h, "c1", status="creating")
    put(h, "g-001", group="g")
    h.advance(2 * 3600, tick_every=300)
    qty, cost = h.totals()["NodeUsage:cache.t3.micro"]
    assert qty == pytest.approx(4.0)
    assert cost == pytest.approx(4.0 * hourly("cache.t3.micro"))


def test_a_resize_moves_the_hours_to_the_new_type(h: Harness) -> None:
    put(h, "c1")
    h.advance(3600, tick_every=600)
    put(h, "c1", status="modifying", node_type="cache.m5.large")
    h.advance(1800, tick_every=600)
    totals = h.totals()
    assert totals["NodeUsage:cache.t3.micro"][0] == pytest.approx(1.0)
    # Half an hour of the new type is a partial node-hour: billed as a full one.
    assert totals["NodeUsage:cache.m5.large"][0] == 1.0
    assert totals["NodeUsage:cache.m5.large"][1] == pytest.approx(hourly("cache.m5.large"))


def test_deletion_stops_the_hours_when_it_was_asked(h: Harness) -> None:
    put(h, "c1")
    h.advance(3600, tick_every=600)
    h.loop.run_until_complete(h.clock.advance(120))
    put(h, "c1", status="deleting")  # between two ticks
    h.advance(480, tick_every=None)  # deleting for eight minutes: not billed
    delete(h, "c1")
    h.advance(3600, tick_every=600)
    # An hour and two minutes: the second hour begun is billed whole, no third.
    assert h.totals()["NodeUsage:cache.t3.micro"][0] == 2.0


def test_a_node_for_ten_minutes_pays_a_node_hour(h: Harness) -> None:
    h.advance(1500)  # created at 00:25 ...
    put(h, "c1")
    h.advance(600, tick_every=60)  # ... deleted at 00:35
    put(h, "c1", status="deleting")
    h.advance(60)
    delete(h, "c1")
    h.advance(2 * 3600, tick_every=300)
    assert h.totals()["NodeUsage:cache.t3.micro"] == (
        1.0, pytest.approx(hourly("cache.t3.micro")))


def test_partial_hours_at_both_ends_are_full_hours(h: Harness) -> None:
    h.advance(3000)  # created at 00:50, asked to delete at 02:10: 3 hours begun
    put(h, "c1")
    h.advance(4800, tick_every=45)
    put(h, "c1", status="deleting")
    h.advance(3600, tick_every=300)
    assert h.totals()["NodeUsage:cache.t3.micro"][0] == 3.0
