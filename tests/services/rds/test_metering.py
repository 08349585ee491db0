"""RDS usage on the billing meter with the fake clock: instance hours by
class, engine and deployment, the ten-minute minimum, stopped instances
paying only storage, and allocated storage in GB-months."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.services.billing.pricelist import prices

from ..billing.conftest import ACCOUNT, Harness

REGION = "us-east-1"


def put(h: Harness, id: str, status: str = "available", **kw: Any) -> None:
    doc = {"id": id, "account": ACCOUNT, "region": REGION, "status": status,
           "class": "db.t3.micro", "engine": "postgres", "multi_az": False, "storage": 20,
           "storage_type": "gp2", "tags": {}}
    found = h.store.resources.get("rds:instance", ACCOUNT, REGION, id)
    doc.update(found or {})
    doc.update(kw, status=status)
    with h.store.tx():
        h.store.resources.put("rds:instance", ACCOUNT, REGION, id, doc)


def price(usage_type: str, operation: str = "") -> float:
    product = prices().product("AmazonRDS", usage_type, operation)
    assert product is not None
    return product.tiers[0].price


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.meter.tick()
    yield harness
    harness.loop.close()
    harness.store.close()


def test_postgres_instance_hours_and_storage(h: Harness) -> None:
    put(h, "db1")
    h.advance(2 * 3600, tick_every=300)
    totals = h.totals()
    qty, cost = totals["InstanceUsage:db.t3.micro"]
    assert qty == pytest.approx(2.0)
    assert cost == pytest.approx(2.0 * price("InstanceUsage:db.t3.micro",
                                              "CreateDBInstance:0014"))
    gb_months = totals["RDS:GP2-Storage"][0]
    assert gb_months == pytest.approx(20 * 2 / (31 * 24))
    assert totals["RDS:GP2-Storage"][1] == pytest.approx(gb_months * price("RDS:GP2-Storage"))


def test_multi_az_mariadb_is_billed_as_multi_az(h: Harness) -> None:
    put(h, "db1", engine="mariadb", multi_az=True, **{"class": "db.t3.small"})
    h.advance(3600)
    totals = h.totals()
    qty, cost = totals["Multi-AZUsage:db.t3.small"]
    assert qty == pytest.approx(1.0)
    assert cost == pytest.approx(price("Multi-AZUsage:db.t3.small", "CreateDBInstance:0018"))
    assert "InstanceUsage:db.t3.small" not in totals
    assert totals["RDS:Multi-AZ-GP2-Storage"][0] == pytest.approx(20 / (31 * 24))


def test_stopped_pays_storage_only_and_each_start_has_a_minimum(h: Harness) -> None:
    put(h, "db1", "creating")
    h.advance(600)
    assert h.totals() == {}  # nothing provisioned yet
    put(h, "db1", "available")
    h.advance(120, tick_every=60)
    put(h, "db1", "stopped")
    h.advance(3600, tick_every=60)
    totals = h.totals()
    assert totals["InstanceUsage:db.t3.micro"][0] == pytest.approx(600 / 3600)
    assert totals["RDS:GP2-Storage"][0] == pytest.approx(20 * (3720 / 3600) / (31 * 24))


def test_deleted_instance_stops_costing(h: Harness) -> None:
    put(h, "db1")
    h.advance(1800)
    with h.store.tx():
        h.store.resources.delete("rds:instance", ACCOUNT, REGION, "db1")
    h.advance(3600)
    totals = h.totals()
    assert totals["InstanceUsage:db.t3.micro"][0] == pytest.approx(0.5)
    assert totals["RDS:GP2-Storage"][0] == pytest.approx(20 * 0.5 / (31 * 24))
