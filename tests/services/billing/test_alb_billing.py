"""An application load balancer with known traffic, with the fake clock: it
costs each hour or partial hour it exists plus its LCU-hours computed per
clock hour as AWS computes them: each dimension's figure for the hour (new
connections per second averaged over the hour, 25 an LCU; active connections
averaged over the hour, 3,000 an LCU; GB processed in the hour, 1 an LCU;
rule evaluations per second beyond the 10 free rules averaged over the hour,
1,000 an LCU), the highest one billed for the hour. The traffic goes through
the metric source's own period code, as the proxy's counters would."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gureum.drivers.proxy import Counters
from gureum.services.billing.pricelist import prices
from gureum.services.elbv2.core import LB
from gureum.services.elbv2.metrics import LoadBalancerMetrics, _Last, hour_lcus, lcus

from .conftest import ACCOUNT, Harness

ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/web/abc"
OPERATION = "LoadBalancing:Application"


def price(usage_type: str) -> float:
    product = prices().product("AWSELB", usage_type, OPERATION)
    assert product is not None
    return product.tiers[0].price


def create(h: Harness) -> None:
    with h.store.tx():
        h.store.resources.put(LB, ACCOUNT, "us-east-1", ARN, {
            "arn": ARN, "account": ACCOUNT, "region": "us-east-1", "type": "application",
            "created": h.clock.now(), "tags": {}})


def delete(h: Harness) -> None:
    with h.store.tx():
        h.store.resources.delete(LB, ACCOUNT, "us-east-1", ARN)


def source(h: Harness) -> LoadBalancerMetrics:
    """The metric source on a stand-in data plane: the store, and no listeners
    (so no rules) behind the load balancer."""
    plane: Any = SimpleNamespace(store=h.store, _call=lambda arn: None)
    return LoadBalancerMetrics(plane)


def period(h: Harness, metrics: LoadBalancerMetrics, *, new: int = 0, active: int = 0,
           nbytes: int = 0) -> None:
    """One 60-second period with ``new`` connections, ``active`` open at its
    end and ``nbytes`` processed, published as the metric source does."""
    h.loop.run_until_complete(h.clock.advance(60))
    doc = h.store.resources.get(LB, ACCOUNT, "us-east-1", ARN)
    assert doc is not None
    metrics.samples(doc, _Last(0.0, Counters(), {}),
                    Counters(connections=new, active_connections=active, bytes_in=nbytes),
                    {}, {}, 60.0, h.clock.now())
    h.meter.tick()


def billed(h: Harness, usage_type: str) -> tuple[float, float]:
    row = h.store.connection.execute(
        "SELECT sum(quantity), sum(cost) FROM billing_usage WHERE usage_type = ?"
        " AND operation = ?", (usage_type, OPERATION)).fetchone()
    return float(row[0] or 0), float(row[1] or 0)


def by_hour(h: Harness) -> list[float]:
    rows = h.store.connection.execute(
        "SELECT quantity FROM billing_usage WHERE usage_type = 'LCUUsage' ORDER BY hour")
    return [float(r[0]) for r in rows]


def test_hour_lcus_are_the_highest_dimension_of_the_hours_averages() -> None:
    assert hour_lcus("application", 25 * 3600, 0, 0, 0) == 1.0  # 25 new a second
    assert hour_lcus("application", 0, 6000 * 3600, 0, 0) == 2.0  # 6,000 open all hour
    assert hour_lcus("application", 0, 0, 3e9, 0) == 3.0  # 3 GB in the hour
    assert hour_lcus("application", 0, 0, 0, 1000 * 3600) == 1.0  # 1,000 evaluations/s
    # Network: 800 new flows a second, 100,000 active flows, 1 GB an LCU.
    assert hour_lcus("network", 800 * 3600, 0, 0, 0) == 1.0
    assert hour_lcus("network", 0, 100000 * 3600, 0, 0) == 1.0
    assert hour_lcus("network", 0, 0, 1e9, 10**12) == 1.0  # no rules on a network one


def test_alb_with_known_traffic_costs_hours_plus_lcus(h: Harness) -> None:
    # Each second: 1 new connection lasting 2 minutes (120 active), 300 kB
    # processed (1.08 GB an hour). Per dimension: 0.04, 0.04 and 1.08 LCU.
    assert lcus("application", 60, new=60, active=120, nbytes=300e3 * 60,
                rule_evals=0) == pytest.approx(1.08)
    h.advance(1800)  # created half way through an hour ...
    create(h)
    metrics = source(h)
    for _ in range(90):  # ... runs 90 minutes with the same traffic ...
        period(h, metrics, new=60, active=120, nbytes=300 * 1000 * 60)
    delete(h)  # ... and is deleted on the hour
    h.advance(3600)
    hours, hours_cost = billed(h, "LoadBalancerUsage")
    lcu_hours, lcu_cost = billed(h, "LCUUsage")
    assert hours == 2.0  # a partial hour and a whole one
    assert by_hour(h) == [pytest.approx(0.54), pytest.approx(1.08)]  # 0.54 GB, then 1.08
    assert lcu_hours == pytest.approx(1.08 * 1.5)
    assert hours_cost + lcu_cost == pytest.approx(
        2 * price("LoadBalancerUsage") + 1.08 * 1.5 * price("LCUUsage"))


def test_the_busiest_dimension_changing_within_an_hour_is_not_added_up(h: Harness) -> None:
    # First half hour: 1 GB an hour's rate of bytes and nothing else; second
    # half: 25 new connections a second and no bytes. Each minute's highest
    # dimension is 1 LCU all hour long (1 LCU-hour if added up), but the
    # hour's figures are 0.5 GB and 12.5 new connections a second: 0.5 LCU
    # each, and 0.5 LCU-hours is what the hour costs.
    create(h)
    metrics = source(h)
    for _ in range(30):
        period(h, metrics, nbytes=int(1e9 / 60))
    for _ in range(30):
        period(h, metrics, new=25 * 60)
    h.advance(600)
    assert by_hour(h) == [pytest.approx(0.5)]
    assert billed(h, "LCUUsage")[1] == pytest.approx(0.5 * price("LCUUsage"))


def test_an_hours_figure_is_billed_once_however_often_the_meter_ticks(h: Harness) -> None:
    create(h)
    metrics = source(h)
    for _ in range(10):  # 10 minutes at 6,000 open connections: 6000 / 6 / 3000
        period(h, metrics, active=6000)
        h.meter.tick()
        h.meter.tick()
    h.advance(3600, tick_every=7)
    assert by_hour(h) == [pytest.approx(1000 / 3000)]


def test_an_alb_alive_for_a_minute_pays_an_hour(h: Harness) -> None:
    create(h)
    h.advance(60)
    delete(h)
    h.advance(7200)
    assert billed(h, "LoadBalancerUsage") == (1.0, pytest.approx(price("LoadBalancerUsage")))
    assert billed(h, "LCUUsage") == (0.0, 0.0)
