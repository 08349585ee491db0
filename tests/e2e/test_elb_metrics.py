"""ELB metrics end to end: requests through an application load balancer show
up in CloudWatch as RequestCount, target response codes and HealthyHostCount
(time running 60 times faster, so the load balancer publishes every second)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from gureum.testing.server import RunningGureum

from .test_elb import NET, make_alb, make_tg, states, unique, wait_active
from .test_elb_support import DRIVERS, Backends, curl, gureum_with, wait_for

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is needed")


@pytest.fixture(scope="module", params=DRIVERS)
def cloud(request: pytest.FixtureRequest) -> Iterator[RunningGureum]:
    yield from gureum_with(request.param, {"GUREUM_TIME_SCALE": "60"})


@pytest.fixture
def backends() -> Iterator[Backends]:
    b = Backends()
    yield b
    b.close()


def total(cw: Any, name: str, dims: dict[str, str], stat: str = "Sum") -> float:
    now = dt.datetime.now(dt.UTC)
    points = cw.get_metric_statistics(
        Namespace="AWS/ApplicationELB", MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=1),
        Period=60, Statistics=[stat])["Datapoints"]
    return max((p[stat] for p in points), default=0.0) if stat == "Maximum" else \
        sum(p[stat] for p in points)


def test_requests_and_health_reach_cloudwatch(cloud: RunningGureum, backends: Backends) -> None:
    elb, cw = cloud.client("elbv2"), cloud.client("cloudwatch")
    hosts = [f"{NET}.31", f"{NET}.32"]
    for h in hosts:
        backends.start(h)
    lb = make_alb(elb, unique("metrics"))
    tg = make_tg(elb, unique("metrics"))
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": h} for h in hosts])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    wait_active(elb, lb["LoadBalancerArn"])
    wait_for(lambda: {s for s, _ in states(elb, tg).values()} == {"healthy"}, 30, "healthy")
    url = f"http://{lb['DNSName']}/x"
    for _ in range(10):
        assert curl(url)[0] == 200

    lb_dims = {"LoadBalancer": lb["LoadBalancerArn"].split(":loadbalancer/")[1]}
    tg_dims = {"TargetGroup": "targetgroup/" + tg.split(":targetgroup/")[1], **lb_dims}
    wait_for(lambda: total(cw, "RequestCount", lb_dims) >= 10, 20, "RequestCount")
    assert total(cw, "RequestCount", lb_dims) == 10
    assert total(cw, "HTTPCode_Target_2XX_Count", lb_dims) == 10
    assert total(cw, "RequestCount", tg_dims) == 10
    wait_for(lambda: total(cw, "HealthyHostCount", tg_dims, "Maximum") == 2, 20,
             "HealthyHostCount")
    per_target = {"TargetGroup": tg_dims["TargetGroup"]}
    assert total(cw, "RequestCountPerTarget", per_target) == 5
    names = {m["MetricName"] for m in cw.list_metrics(
        Namespace="AWS/ApplicationELB", Dimensions=[
            {"Name": "LoadBalancer", "Value": lb_dims["LoadBalancer"]}])["Metrics"]}
    assert {"ActiveConnectionCount", "NewConnectionCount", "ProcessedBytes",
            "HTTPCode_ELB_5XX_Count", "TargetResponseTime"} <= names

    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for(lambda: curl(url)[0] == 0, 10, "proxy gone")
    elb.delete_target_group(TargetGroupArn=tg)
