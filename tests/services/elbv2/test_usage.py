"""Load balancers on the billing meter with the fake clock: each hour or
partial hour from creation to deletion billed whole at the application or
network price, and each clock hour's LCU-hours from the hour's figures the
metric source keeps on the record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.services.elbv2.core import LB
from gureum.services.elbv2.usage import LoadBalancerUsage

from ..billing.conftest import ACCOUNT, Harness

REGION = "us-east-1"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    assert any(isinstance(s, LoadBalancerUsage) for s in harness.meter.sources)
    harness.meter.tick()
    yield harness
    harness.loop.close()
    harness.store.close()


def arn(kind: str, name: str) -> str:
    return f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/{kind}/{name}/abc"


def put_lb(h: Harness, lb_arn: str, kind: str,
           hours: dict[str, list[float]] | None = None) -> None:
    """Write a load balancer; ``hours``: its hourly LCU figures (hour start ->
    new connections, active connection-seconds, bytes, rule evaluations)."""
    with h.store.tx():
        doc = h.store.resources.get(LB, ACCOUNT, REGION, lb_arn) or {
            "arn": lb_arn, "account": ACCOUNT, "region": REGION, "type": kind,
            "created": h.clock.now(), "tags": {}}
        doc["lcu_hours"] = hours or {}
        h.store.resources.put(LB, ACCOUNT, REGION, lb_arn, doc)


def cost(h: Harness, usage_type: str, operation: str) -> tuple[float, float]:
    row = h.store.connection.execute(
        "SELECT sum(quantity), sum(cost) FROM billing_usage WHERE usage_type = ?"
        " AND operation = ?", (usage_type, operation)).fetchone()
    return float(row[0] or 0), float(row[1] or 0)


def test_hours_and_lcu_hours(h: Harness) -> None:
    alb, nlb = arn("app", "web"), arn("net", "tcp")
    put_lb(h, alb, "application")
    first = int(h.clock.now())
    second = first + 3600
    # The network one: 400 new flows a second for the hour (0.5 NLCU), then
    # 0.25 GB in the next (0.25 NLCU) and nothing after.
    put_lb(h, nlb, "network", {str(first): [400 * 3600, 0, 0, 0]})
    h.advance(1800)
    # The application one: 2 GB in the first hour's second half (2 LCU).
    put_lb(h, alb, "application", {str(first): [0, 0, 2e9, 0]})
    put_lb(h, nlb, "network", {str(first): [400 * 3600, 0, 0, 0],
                               str(second): [0, 0, 0.25e9, 0]})
    h.advance(3600)
    with h.store.tx():
        h.store.resources.delete(LB, ACCOUNT, REGION, alb)
    h.advance(3600)

    # 90 minutes from the start of an hour: two hours begun, two hours billed.
    qty, dollars = cost(h, "LoadBalancerUsage", "LoadBalancing:Application")
    assert qty == 2.0
    assert dollars == pytest.approx(2.0 * 0.0225)
    qty, dollars = cost(h, "LCUUsage", "LoadBalancing:Application")
    assert qty == pytest.approx(2.0)
    assert dollars == pytest.approx(2.0 * 0.008)
    assert cost(h, "LoadBalancerUsage", "LoadBalancing:Network")[0] == 3.0  # 2.5 h begun
    qty, dollars = cost(h, "LCUUsage", "LoadBalancing:Network")
    assert qty == pytest.approx(0.75)
    assert dollars == pytest.approx(0.75 * 0.006)


def test_figures_of_hours_long_gone_are_not_billed_again(h: Harness) -> None:
    """After the meter's usage is wiped, an hour the record still remembers
    from well before is not billed again."""
    lb = arn("app", "old")
    start = int(h.clock.now())
    put_lb(h, lb, "application", {str(start): [0, 0, 1e9, 0]})
    h.advance(3 * 3600)
    assert cost(h, "LCUUsage", "LoadBalancing:Application")[0] == pytest.approx(1.0)
    h.meter.wipe()
    h.advance(600)
    assert cost(h, "LCUUsage", "LoadBalancing:Application")[0] == 0.0
