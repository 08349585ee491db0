"""Load balancers on the billing meter with the fake clock: each hour or
partial hour from creation to deletion billed whole at the application or
network price, and LCU-hours at the rate the metric source last measured."""

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


def put_lb(h: Harness, lb_arn: str, kind: str, lcu: float = 0.0) -> None:
    with h.store.tx():
        h.store.resources.put(LB, ACCOUNT, REGION, lb_arn, {
            "arn": lb_arn, "account": ACCOUNT, "region": REGION, "type": kind,
            "created": h.clock.now(), "lcu": lcu, "tags": {}})


def cost(h: Harness, usage_type: str, operation: str) -> tuple[float, float]:
    row = h.store.connection.execute(
        "SELECT sum(quantity), sum(cost) FROM billing_usage WHERE usage_type = ?"
        " AND operation = ?", (usage_type, operation)).fetchone()
    return float(row[0] or 0), float(row[1] or 0)


def test_hours_and_lcu_hours(h: Harness) -> None:
    alb, nlb = arn("app", "web"), arn("net", "tcp")
    put_lb(h, alb, "application")
    put_lb(h, nlb, "network", lcu=0.5)
    h.advance(1800)
    put_lb(h, alb, "application", lcu=2.0)  # the metric source measured 2 LCUs
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
    assert qty == pytest.approx(1.25)
    assert dollars == pytest.approx(1.25 * 0.006)
