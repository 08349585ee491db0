"""An application load balancer with known traffic, with the fake clock: it
costs each hour or partial hour it exists plus its LCU-hours, the LCUs being
the highest of AWS's four dimensions (25 new connections a second, 3,000
active connections a minute, 1 GB processed an hour, 1,000 rule evaluations
a second beyond the 10 free rules), priced from the price list."""

from __future__ import annotations

import pytest

from gureum.services.billing.pricelist import prices
from gureum.services.elbv2.core import LB
from gureum.services.elbv2.metrics import lcus

from .conftest import ACCOUNT, Harness

ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/web/abc"
OPERATION = "LoadBalancing:Application"


def price(usage_type: str) -> float:
    product = prices().product("AWSELB", usage_type, OPERATION)
    assert product is not None
    return product.tiers[0].price


def put(h: Harness, lcu: float) -> None:
    with h.store.tx():
        doc = h.store.resources.get(LB, ACCOUNT, "us-east-1", ARN) or {
            "arn": ARN, "account": ACCOUNT, "region": "us-east-1", "type": "application",
            "created": h.clock.now(), "tags": {}}
        doc["lcu"] = round(lcu, 6)  # as the metric source keeps it
        h.store.resources.put(LB, ACCOUNT, "us-east-1", ARN, doc)


def billed(h: Harness, usage_type: str) -> tuple[float, float]:
    row = h.store.connection.execute(
        "SELECT sum(quantity), sum(cost) FROM billing_usage WHERE usage_type = ?"
        " AND operation = ?", (usage_type, OPERATION)).fetchone()
    return float(row[0] or 0), float(row[1] or 0)


def test_alb_with_known_traffic_costs_hours_plus_lcus(h: Harness) -> None:
    # Each second: 1 new connection lasting 2 minutes (120 active), 5 requests
    # through 60 rules (50 evaluated beyond the free 10: 250 a second), 300 kB
    # processed (1.08 GB an hour). Per dimension: 0.04, 0.04, 1.08 and 0.25
    # LCU; the highest, 1.08, is billed.
    per_minute = lcus("application", 60, new=60, active=120, nbytes=300e3 * 60,
                      rule_evals=5 * 50 * 60)
    assert per_minute == pytest.approx(1.08)
    h.advance(1800)  # created half way through an hour ...
    put(h, per_minute)
    for _ in range(90):  # ... runs 90 minutes with the same traffic ...
        h.advance(60)
        put(h, per_minute)
    with h.store.tx():  # ... and is deleted on the hour
        h.store.resources.delete(LB, ACCOUNT, "us-east-1", ARN)
    h.advance(3600)
    hours, hours_cost = billed(h, "LoadBalancerUsage")
    lcu_hours, lcu_cost = billed(h, "LCUUsage")
    assert hours == 2.0  # a partial hour and a whole one
    assert lcu_hours == pytest.approx(1.08 * 1.5)
    assert hours_cost + lcu_cost == pytest.approx(
        2 * price("LoadBalancerUsage") + 1.08 * 1.5 * price("LCUUsage"))


def test_an_alb_alive_for_a_minute_pays_an_hour(h: Harness) -> None:
    put(h, 0.0)
    h.advance(60)
    with h.store.tx():
        h.store.resources.delete(LB, ACCOUNT, "us-east-1", ARN)
    h.advance(7200)
    assert billed(h, "LoadBalancerUsage") == (1.0, pytest.approx(price("LoadBalancerUsage")))
    assert billed(h, "LCUUsage") == (0.0, 0.0)
