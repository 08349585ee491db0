"""Load balancer LCUs on the bill, end to end: real requests through an
application load balancer (HAProxy, or gureum's own proxy without it), the
proxy's counters read each minute, and Cost Explorer's ``LCUUsage`` equal to
what AWS's rule makes of the same traffic as CloudWatch reports it: per
clock hour, the highest of new connections per second (25 an LCU), active
connections (3,000), GB processed (1) and rule evaluations per second
(1,000, none here: one default action) averaged over the hour."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gureum.testing.server import RunningGureum

from .test_elb import NET, make_alb, make_tg, states, unique, wait_active
from .test_elb_support import Backends, curl, gureum_with, wait_for

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is needed")

REQUESTS = 120


@pytest.fixture
def cloud() -> Iterator[RunningGureum]:
    driver = "haproxy" if shutil.which("haproxy") else "builtin"
    yield from gureum_with(driver, {"GUREUM_METER_INTERVAL": "0.5", "GUREUM_TIME_SCALE": "12"})


@pytest.fixture
def backends() -> Iterator[Backends]:
    b = Backends()
    yield b
    b.close()


def metric(cw: Any, name: str, dims: dict[str, str]) -> float:
    now = dt.datetime.now(dt.UTC)
    points = cw.get_metric_statistics(
        Namespace="AWS/ApplicationELB", MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(hours=2), EndTime=now + dt.timedelta(minutes=5),
        Period=60, Statistics=["Sum"])["Datapoints"]
    return float(sum(p["Sum"] for p in points))


def lcu_hours(ce: Any) -> float:
    day = dt.datetime.now(dt.UTC).date()
    out = ce.get_cost_and_usage(
        TimePeriod={"Start": str(day - dt.timedelta(days=1)),
                    "End": str(day + dt.timedelta(days=1))},
        Granularity="DAILY", Metrics=["UsageQuantity"],
        Filter={"Dimensions": {"Key": "USAGE_TYPE", "Values": ["LCUUsage"]}})
    return sum(float(r["Total"]["UsageQuantity"]["Amount"]) for r in out["ResultsByTime"])


def test_lcu_hours_follow_the_traffic_as_aws_computes_them(cloud: RunningGureum,
                                                          backends: Backends) -> None:
    elb, cw, ce = cloud.client("elbv2"), cloud.client("cloudwatch"), cloud.client("ce")
    host = f"{NET}.41"
    backends.start(host)
    lb = make_alb(elb, unique("lcu"))
    tg = make_tg(elb, unique("lcu"))
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": host}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    wait_active(elb, lb["LoadBalancerArn"])
    wait_for(lambda: {s for s, _ in states(elb, tg).values()} == {"healthy"}, 30, "healthy")
    assert lcu_hours(ce) == 0.0  # no traffic, no LCUs
    url = f"http://{lb['DNSName']}/x"
    deadline = time.monotonic() + 60
    for _ in range(REQUESTS):  # each curl is a new connection
        assert curl(url)[0] == 200
        assert time.monotonic() < deadline, "the requests took too long"

    dims = {"LoadBalancer": lb["LoadBalancerArn"].split(":loadbalancer/")[1]}
    # The load balancer publishes once a minute: wait for the period with the requests.
    wait_for(lambda: metric(cw, "RequestCount", dims) >= REQUESTS, 90, "RequestCount")
    new = metric(cw, "NewConnectionCount", dims)
    nbytes = metric(cw, "ProcessedBytes", dims)
    active = metric(cw, "ActiveConnectionCount", dims)  # sampled at each minute's end
    assert new >= REQUESTS and nbytes > 0
    # Each dimension over the hour; the traffic's mix is the same throughout, so
    # the same dimension leads in every hour it touched and the hours add up.
    expected = max(new / 3600 / 25, active * 60 / 3600 / 3000, nbytes / 1e9)
    assert expected == new / 3600 / 25  # new connections lead for this traffic
    wait_for(lambda: lcu_hours(ce) > 0, 10, "LCU-hours metered")
    assert lcu_hours(ce) == pytest.approx(expected, rel=1e-3)
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for(lambda: curl(url)[0] == 0, 10, "proxy gone")
    elb.delete_target_group(TargetGroupArn=tg)


def test_rule_evaluations_count_the_rules_processed_until_one_matched(
        cloud: RunningGureum, backends: Backends) -> None:
    """15 rules: requests for /a match rule 1 (within the 10 free rules),
    requests for /b match rule 15 (5 charged each), as AWS counts them; not
    every rule on every request."""
    elb, cw = cloud.client("elbv2"), cloud.client("cloudwatch")
    host = f"{NET}.42"
    backends.start(host)
    lb = make_alb(elb, unique("rules"))
    tg_a, tg_b = make_tg(elb, unique("ra")), make_tg(elb, unique("rb"))
    for tg in (tg_a, tg_b):
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": host}])
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_b}])["Listeners"][0]
    for priority in range(1, 16):
        path = "/a" if priority == 1 else "/b" if priority == 15 else f"/never{priority}"
        elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=priority,
                        Conditions=[{"Field": "path-pattern", "Values": [path]}],
                        Actions=[{"Type": "forward",
                                  "TargetGroupArn": tg_b if priority == 15 else tg_a}])
    wait_active(elb, lb["LoadBalancerArn"])
    for tg in (tg_a, tg_b):
        wait_for(lambda tg=tg: {s for s, _ in states(elb, tg).values()} == {"healthy"}, 30,
                 "healthy")
    deadline = time.monotonic() + 60
    for path, n in (("/a", 30), ("/b", 12)):
        for _ in range(n):
            assert curl(f"http://{lb['DNSName']}{path}")[0] == 200
            assert time.monotonic() < deadline, "the requests took too long"
    dims = {"LoadBalancer": lb["LoadBalancerArn"].split(":loadbalancer/")[1]}
    wait_for(lambda: metric(cw, "RequestCount", dims) >= 42, 90, "RequestCount")
    assert metric(cw, "RuleEvaluations", dims) == 12 * 5  # not 42 * 5
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for(lambda: curl(f"http://{lb['DNSName']}/a")[0] == 0, 10, "proxy gone")
    for tg in (tg_a, tg_b):
        elb.delete_target_group(TargetGroupArn=tg)
