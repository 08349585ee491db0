"""Node metrics on the fake Redis driver: the first look is a baseline, then
counters become deltas per window, CPU a percent of one CPU, and replicas
report their lag as their primary sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gureum.services.cloudwatch.sources import sources
from gureum.services.elasticache.metrics import NodeMetrics, replica_lags

from .test_loops import CALL, World, run


def values(samples: Any, dims: int = 1) -> dict[tuple[str, str], float]:
    return {(dict(s.dimensions)["CacheClusterId"], s.name): s.value
            for s in samples if len(s.dimensions) == dims}


def test_counters_are_deltas_and_cpu_a_percent(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        source = sources(w.ec.env).sources[NodeMetrics.name]
        assert isinstance(source, NodeMetrics) and source.interval == 60.0
        w.ec.create_cache_cluster(CALL, {"CacheClusterId": "c1",
                                         "CacheNodeType": "cache.t3.micro"})
        await w.settle()
        w.driver.info[w.did("c1")] = {
            "used_cpu_sys": "1.0", "used_cpu_user": "2.0", "keyspace_hits": "10",
            "keyspace_misses": "4", "evicted_keys": "0", "connected_clients": "3",
            "used_memory": "1000"}
        assert list(await source.collect(w.clock.now())) == []  # the baseline
        await w.clock.advance(60.0)
        w.driver.info[w.did("c1")] = {
            "used_cpu_sys": "4.0", "used_cpu_user": "5.0", "keyspace_hits": "25",
            "keyspace_misses": "5", "evicted_keys": "2", "connected_clients": "2",
            "used_memory": "2048"}
        samples = list(await source.collect(w.clock.now()))
        got = values(samples)
        assert got == {("c1", "CPUUtilization"): 10.0, ("c1", "CurrConnections"): 2.0,
                       ("c1", "CacheHits"): 15.0, ("c1", "CacheMisses"): 1.0,
                       ("c1", "Evictions"): 2.0, ("c1", "BytesUsedForCache"): 2048.0}
        assert values(samples, 2) == got
        assert {s.namespace for s in samples} == {"AWS/ElastiCache"}
        # Too early for the next datapoint; then a restarted node counts from zero.
        assert list(await source.collect(w.clock.now())) == []
        await w.clock.advance(60.0)
        w.driver.info[w.did("c1")].update(keyspace_hits="7")
        assert values(await source.collect(w.clock.now()))[("c1", "CacheHits")] == 7.0

    run(body, tmp_path)


def test_replicas_report_lag(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        source = sources(w.ec.env).sources[NodeMetrics.name]
        w.ec.create_replication_group(CALL, {
            "ReplicationGroupId": "g", "ReplicationGroupDescription": "d",
            "NumCacheClusters": 2})
        await w.settle()
        doc = w.ec.find_group("000000000000", "us-east-1", "g")
        assert doc is not None
        primary = doc["shards"][0]["primary"]
        replica = next(m for m in doc["shards"][0]["members"] if m != primary)
        node = w.ec.find_node("000000000000", "us-east-1", replica)
        assert node is not None
        w.driver.info[w.did(primary)] = {
            "slave0": f"ip={node['address']},port={node['port']},state=online,offset=9,lag=3"}
        await source.collect(w.clock.now())
        await w.clock.advance(60.0)
        got = values(await source.collect(w.clock.now()))
        assert got[(replica, "ReplicationLag")] == 3.0
        assert (primary, "ReplicationLag") not in got

    run(body, tmp_path)


def test_replica_lags_parses_slave_lines() -> None:
    assert replica_lags({"slave0": "ip=127.0.0.2,port=6379,state=online,offset=1,lag=0",
                         "slave_read_only": "1", "role": "master"}) == {("127.0.0.2", 6379): 0.0}
