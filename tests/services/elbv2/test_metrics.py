"""The load-balancer metric source on the fake proxy driver: counters become
deltas per period (a reloaded proxy restarts them), target codes are told from
the load balancer's own, health counts and requests per target are published
per target group, and the capacity units used are kept for billing."""

from __future__ import annotations

from pathlib import Path

from gureum.drivers.proxy import Counters
from gureum.services.cloudwatch.sources import Sample
from gureum.services.elbv2.core import LB, backend_name, proxy_name
from gureum.services.elbv2.metrics import LoadBalancerMetrics, dimension, lcus

from .test_dataplane import CALL, World, run


def by(samples: list[Sample], name: str, *dims: tuple[str, str]) -> float:
    found = [s.value for s in samples if s.name == name and s.dimensions == dims]
    assert len(found) == 1, (name, dims, found)
    return found[0]


def test_deltas_codes_health_and_lcu(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        elb = w.elb
        lb = elb.create_load_balancer(CALL, {"Name": "web"})["LoadBalancers"][0]
        tg = elb.create_target_group(CALL, {"Name": "tg", "Protocol": "HTTP", "Port": 80,
                                            "TargetType": "ip"})["TargetGroups"][0]
        tg_arn = tg["TargetGroupArn"]
        elb.register_targets(CALL, {"TargetGroupArn": tg_arn,
                                    "Targets": [{"Id": "10.0.0.1"}, {"Id": "10.0.0.2"}]})
        elb.create_listener(CALL, {"LoadBalancerArn": lb["LoadBalancerArn"], "Protocol": "HTTP",
                                   "Port": 80, "DefaultActions": [
                                       {"Type": "forward", "TargetGroupArn": tg_arn}]})
        await w.settle()
        w.driver.set_health("10.0.0.1", 80, "healthy")
        w.driver.set_health("10.0.0.2", 80, "healthy")
        name = proxy_name({"arn": lb["LoadBalancerArn"]})
        bname = backend_name(tg_arn)
        source = LoadBalancerMetrics(elb, time_scale=60.0)
        assert source.interval == 1.0

        w.driver.proxy_totals[name] = Counters(
            requests=100, responses={"2xx": 90, "5xx": 10}, active_connections=3,
            connections=50, bytes_in=1000, bytes_out=9000)
        w.driver.backend_counters[name] = {bname: Counters(
            requests=96, responses={"2xx": 90, "5xx": 6}, response_time_ms=20.0)}
        samples = list(await source.collect(w.clock.now()))
        lb_dim = ("LoadBalancer", dimension(lb["LoadBalancerArn"]))
        tg_dim = ("TargetGroup", dimension(tg_arn))
        assert lb_dim[1].startswith("app/web/") and tg_dim[1].startswith("targetgroup/tg/")
        assert {s.namespace for s in samples} == {"AWS/ApplicationELB"}
        assert by(samples, "RequestCount", lb_dim) == 100
        assert by(samples, "HTTPCode_Target_2XX_Count", lb_dim) == 90
        assert by(samples, "HTTPCode_Target_5XX_Count", lb_dim) == 6
        assert by(samples, "HTTPCode_ELB_5XX_Count", lb_dim) == 4
        assert by(samples, "ActiveConnectionCount", lb_dim) == 3
        assert by(samples, "NewConnectionCount", lb_dim) == 50
        assert by(samples, "ProcessedBytes", lb_dim) == 10000
        assert by(samples, "TargetResponseTime", lb_dim) == 0.02
        assert by(samples, "HealthyHostCount", tg_dim, lb_dim) == 2
        assert by(samples, "UnHealthyHostCount", tg_dim, lb_dim) == 0
        assert by(samples, "RequestCount", tg_dim, lb_dim) == 96
        assert by(samples, "RequestCountPerTarget", tg_dim) == 48

        # The next period publishes only what is new; a reload restarts the counters.
        await w.clock.advance(1.0)
        w.driver.proxy_totals[name] = Counters(requests=130, connections=60)
        w.driver.set_health("10.0.0.2", 80, "unhealthy", "timeout")
        samples = list(await source.collect(w.clock.now()))
        assert by(samples, "RequestCount", lb_dim) == 30
        assert by(samples, "NewConnectionCount", lb_dim) == 10
        assert by(samples, "UnHealthyHostCount", tg_dim, lb_dim) == 1
        assert by(samples, "RequestCount", tg_dim, lb_dim) == 0
        await w.clock.advance(1.0)
        w.driver.proxy_totals[name] = Counters(requests=7, connections=2)
        samples = list(await source.collect(w.clock.now()))
        assert by(samples, "RequestCount", lb_dim) == 7

        # Billing's hourly figures: every new connection of the three periods.
        doc = w.store.resources.get(LB, CALL.account, CALL.region, lb["LoadBalancerArn"])
        assert doc is not None
        assert sum(f[0] for f in doc["lcu_hours"].values()) == 50 + 10 + 2
        await w.stop()

    run(scenario())


def test_lcu_dimensions() -> None:
    assert lcus("application", 60, 25 * 60, 0, 0, 0) == 1.0
    assert lcus("application", 60, 0, 6000, 0, 0) == 2.0
    assert lcus("application", 3600, 0, 0, 3e9, 0) == 3.0
    assert lcus("application", 10, 0, 0, 0, 10000) == 1.0
    assert lcus("network", 1, 800, 0, 0, 10**9) == 1.0
