"""Load balancers on the billing meter with the fake clock: each hour or
partial hour from creation to deletion billed whole at the application or
network price, and each clock hour's LCU-hours from the hour's figures the
metric source keeps on the record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gureum.drivers.proxy import Counters
from gureum.services.elbv2.core import LB, ELBv2Core, backend_name
from gureum.services.elbv2.metrics import LoadBalancerMetrics, _Last, rule_evaluations
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


# Rule evaluations ----------------------------------------------------------


def tg(n: object) -> str:
    return f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/tg{n}/abc"


def forward(n: object) -> list[dict[str, str]]:
    return [{"Type": "forward", "TargetGroupArn": tg(n)}]


def test_rule_evaluations_count_the_rules_processed_until_one_matched() -> None:
    rules = [[tg(k)] for k in range(1, 41)]  # 40 rules, rule k forwards to tg k
    listener = (rules, [tg("default")])
    # Matched by rule 2: within the 10 free rules, nothing charged.
    assert rule_evaluations([listener], 500, {tg(2): 500}) == 0
    # Matched by rule 25: 15 charged each; by the default action: all 40, 30 charged.
    assert rule_evaluations([listener], 30, {tg(25): 10, tg("default"): 20}) == (
        10 * 15 + 20 * 30)
    # A fixed response at rule 12, answering what no target group counted.
    fixed = ([*rules[:11], [], *rules[11:]], [tg("default")])
    assert rule_evaluations([fixed], 7, {tg(1): 3}) == 4 * 2
    # A listener with no rules: nothing processed, nothing charged.
    assert rule_evaluations([([], [tg("default")])], 100, {tg("default"): 100}) == 0
    assert rule_evaluations([], 100, {}) == 0


def test_rule_evaluation_lcus_with_known_traffic(h: Harness) -> None:
    """An hour of 1,000 requests a minute matched by rule 40 of 40 (30
    charged each) and 100,000 a minute matched by rule 1: 500 charged
    evaluations a second, 0.5 LCU; counting every rule on every request (the
    old way) would be 50.5 LCU."""
    lb = arn("app", "rules")
    start = h.clock.now()
    put_lb(h, lb, "application")
    listener = {"arn": "listener", "default_actions": forward("default")}
    rules = [{"priority": k, "actions": forward(k)} for k in range(1, 41)]
    plane: Any = SimpleNamespace(
        store=h.store, _call=lambda arn: "call", listeners_of=lambda call, arn: [listener],
        rules_of=lambda call, arn: rules,
        actions_tgs=lambda actions: ELBv2Core.actions_tgs(None, actions))
    metrics = LoadBalancerMetrics(plane)
    doc = h.store.resources.get(LB, ACCOUNT, REGION, lb)
    assert doc is not None
    for _ in range(60):
        h.loop.run_until_complete(h.clock.advance(60))
        out = metrics.samples(
            doc, _Last(0.0, Counters(), {}), Counters(requests=101000),
            {backend_name(tg(40)): Counters(requests=1000),
             backend_name(tg(1)): Counters(requests=100000)}, {}, 60.0, h.clock.now())
        assert [s.value for s in out if s.name == "RuleEvaluations"] == [30000.0]
        h.meter.tick()
    h.advance(600)
    assert h.clock.now() - start >= 3600
    qty, dollars = cost(h, "LCUUsage", "LoadBalancing:Application")
    assert qty == pytest.approx(0.5)
    assert dollars == pytest.approx(0.5 * 0.008)
