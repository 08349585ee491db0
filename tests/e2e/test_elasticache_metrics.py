"""Cache metrics in CloudWatch, read from a real Redis node's INFO: GETs
that hit and miss show up as CacheHits and CacheMisses. The clocks run 60
times faster (GUREUM_TIME_SCALE), so a node publishes every second."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gureum.testing.server import running_gureum

from .elasticache_support import cli, needs_redis, redis_pids, wait_cluster, wait_for

pytestmark = needs_redis


def total(cw: Any, id: str, name: str, node: bool = False) -> float:
    now = dt.datetime.now(dt.UTC)
    dims = [{"Name": "CacheClusterId", "Value": id}]
    if node:
        dims.append({"Name": "CacheNodeId", "Value": "0001"})
    points = cw.get_metric_statistics(
        Namespace="AWS/ElastiCache", MetricName=name, Dimensions=dims,
        StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=1),
        Period=60, Statistics=["Sum"])["Datapoints"]
    return float(sum(p["Sum"] for p in points))


def test_hits_and_misses_reach_cloudwatch() -> None:
    with running_gureum(env={"GUREUM_TIME_SCALE": "60"}) as g:
        try:
            ec, cw = g.client("elasticache"), g.client("cloudwatch")
            ec.create_cache_cluster(CacheClusterId="metered", CacheNodeType="cache.t3.micro",
                                    Engine="redis")
            wait_cluster(ec, "metered")
            c = ec.describe_cache_clusters(CacheClusterId="metered", ShowCacheNodeInfo=True)[
                "CacheClusters"][0]
            ep = c["CacheNodes"][0]["Endpoint"]
            host, port = ep["Address"], ep["Port"]
            # Let the first look (the baseline) pass before the traffic.
            wait_for(lambda: total(cw, "metered", "BytesUsedForCache") > 0, 30, "first datapoint")
            cli(host, port, "SET", "k", "v")
            script = "".join("GET k\n" for _ in range(5)) + "".join(
                f"GET missing{i}\n" for i in range(3))
            cli(host, port, input=script)
            wait_for(lambda: total(cw, "metered", "CacheHits") >= 5, 30, "CacheHits")
            wait_for(lambda: total(cw, "metered", "CacheMisses") >= 3, 30, "CacheMisses")
            assert total(cw, "metered", "CacheHits") == 5
            assert total(cw, "metered", "CacheMisses") == 3
            assert total(cw, "metered", "CacheHits", node=True) == 5
            names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/ElastiCache")[
                "Metrics"]}
            assert {"CPUUtilization", "CurrConnections", "Evictions",
                    "BytesUsedForCache"} <= names
            ec.delete_cache_cluster(CacheClusterId="metered")
            wait_for(lambda: not ec.describe_cache_clusters()["CacheClusters"], 30, "deleted")
        finally:
            g.stop()
        wait_for(lambda: redis_pids(g.data_dir) == [], 10, "no redis-server left")
