"""The node and replication group loops on the fake Redis driver, with a fake
clock: creation, restart of a dead node, failover of a dead primary with the
endpoint name following, holding a dead primary until it is replaced, scale
up, replica counts, resharding bookkeeping and deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.drivers.names import MemoryNames
from gureum.drivers.redis.fake import FakeRedis
from gureum.errors import AWSError
from gureum.services.base import Call, Env, Identity
from gureum.services.common.addresses import AddressPool
from gureum.services.elasticache import ElastiCache
from gureum.services.elasticache.core import DRIVER_KEY, group_name, node_name
from gureum.store import Store

CALL = Call("elasticache", "X", "000000000000", "us-east-1", Identity.root("000000000000"), "r")


class World:
    def __init__(self, tmp: Path) -> None:
        self.clock = FakeClock()
        self.driver = FakeRedis()
        self.store = Store.open(tmp / "gureum.db")
        self.loops = LoopRunner()
        self.names = MemoryNames()
        env = Env(settings=Settings(data_dir=tmp), store=self.store, clock=self.clock,
                  loops=self.loops, names=self.names,
                  addresses=AddressPool(self.store, "127.77"), extras={DRIVER_KEY: self.driver})
        self.ec = ElastiCache(env)

    async def start(self) -> None:
        await self.ec.start()
        self.loops.start()

    async def settle(self, seconds: float = 1.0) -> None:
        for _ in range(int(seconds / 0.1)):
            await self.clock.advance(0.1)

    async def stop(self) -> None:
        await self.loops.stop()
        await self.ec.stop()
        self.store.close()

    def did(self, id: str) -> str:
        return f"000000000000-us-east-1-{id}"

    def group(self, id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.ec.describe_replication_groups(
            CALL, {"ReplicationGroupId": id})["ReplicationGroups"][0]
        return out


def run(test: Callable[[World], Awaitable[None]], tmp: Path) -> None:
    async def main() -> None:
        world = World(tmp)
        await world.start()
        try:
            await test(world)
        finally:
            await world.stop()

    asyncio.run(main())


def test_cluster_lifecycle(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        w.ec.create_cache_cluster(CALL, {"CacheClusterId": "c1", "CacheNodeType":
                                         "cache.t3.micro"})
        await w.settle()
        c = w.ec.describe_cache_clusters(CALL, {"CacheClusterId": "c1",
                                                "ShowCacheNodeInfo": True})["CacheClusters"][0]
        assert c["CacheClusterStatus"] == "available"
        doc = w.ec.find_node("000000000000", "us-east-1", "c1")
        assert doc is not None and w.names.names()[node_name(doc)] == doc["address"]
        w.driver.kill(w.did("c1"))
        await w.settle()
        assert w.driver.running(w.did("c1")) and w.driver.starts.count(w.did("c1")) == 2
        w.ec.modify_cache_cluster(CALL, {"CacheClusterId": "c1",
                                         "CacheNodeType": "cache.r6g.large"})
        await w.settle()
        assert w.driver.config[w.did("c1")]["maxmemory"] == str(int(13.07 * 1024**3))
        with pytest.raises(AWSError) as e:
            w.ec.modify_cache_cluster(CALL, {"CacheClusterId": "c1",
                                             "CacheNodeType": "cache.t3.micro"})
        assert e.value.code == "InvalidParameterCombination"
        w.ec.delete_cache_cluster(CALL, {"CacheClusterId": "c1"})
        await w.settle()
        assert w.driver.nodes() == [] and w.names.names() == {}
        assert w.ec.describe_cache_clusters(CALL, {})["CacheClusters"] == []

    run(body, tmp_path)


def test_failover_moves_the_primary_endpoint(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        w.ec.create_replication_group(CALL, {
            "ReplicationGroupId": "g", "ReplicationGroupDescription": "d",
            "NumCacheClusters": 3, "AutomaticFailoverEnabled": True})
        await w.settle()
        g = w.group("g")
        assert g["Status"] == "available"
        doc = w.ec.find_group("000000000000", "us-east-1", "g")
        assert doc is not None
        first = doc["shards"][0]["primary"]
        assert w.driver.primary_of[w.did("g-002")] is not None
        w.driver.kill(w.did(first))
        await w.settle(2.0)
        doc = w.ec.find_group("000000000000", "us-east-1", "g")
        assert doc is not None
        new = doc["shards"][0]["primary"]
        assert new != first and w.driver.primary_of[w.did(new)] is None
        new_doc = w.ec.find_node("000000000000", "us-east-1", new)
        assert new_doc is not None
        assert w.names.names()[group_name("master", doc)] == new_doc["address"]
        # the old primary was restarted as a replica of the new one
        assert w.driver.running(w.did(first))
        assert w.driver.primary_of[w.did(first)] == (new_doc["address"], 6379)
        events = [e["Message"] for e in w.ec.describe_events(CALL, {})["Events"]]
        assert any("Failover" in e for e in events)

        w.ec.increase_replica_count(CALL, {"ReplicationGroupId": "g", "NewReplicaCount": 4})
        await w.settle()
        assert w.group("g")["Status"] == "available"
        assert len(w.group("g")["MemberClusters"]) == 5
        w.ec.decrease_replica_count(CALL, {"ReplicationGroupId": "g", "NewReplicaCount": 1})
        await w.settle()
        assert len(w.group("g")["MemberClusters"]) == 2
        w.ec.modify_replication_group(CALL, {"ReplicationGroupId": "g",
                                             "CacheNodeType": "cache.m5.large"})
        await w.settle()
        assert w.group("g")["CacheNodeType"] == "cache.m5.large"
        assert w.group("g")["Status"] == "available"
        w.ec.delete_replication_group(CALL, {"ReplicationGroupId": "g"})
        await w.settle()
        assert w.ec.describe_replication_groups(CALL, {})["ReplicationGroups"] == []
        assert w.driver.nodes() == []

    run(body, tmp_path)


def test_cluster_mode_reshard_bookkeeping(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        w.ec.create_replication_group(CALL, {
            "ReplicationGroupId": "cm", "ReplicationGroupDescription": "d",
            "NumNodeGroups": 2, "ReplicasPerNodeGroup": 1})
        await w.settle()
        g = w.group("cm")
        assert g["Status"] == "available" and g["ClusterEnabled"]
        assert [s["Slots"] for s in g["NodeGroups"]] == ["0-8191", "8192-16383"]
        w.ec.modify_replication_group_shard_configuration(CALL, {
            "ReplicationGroupId": "cm", "NodeGroupCount": 4, "ApplyImmediately": True})
        await w.settle()
        g = w.group("cm")
        assert g["Status"] == "available" and len(g["NodeGroups"]) == 4
        assert all(s["Slots"] for s in g["NodeGroups"])
        w.ec.modify_replication_group_shard_configuration(CALL, {
            "ReplicationGroupId": "cm", "NodeGroupCount": 3,
            "NodeGroupsToRemove": ["0002"], "ApplyImmediately": True})
        await w.settle()
        g = w.group("cm")
        assert [s["NodeGroupId"] for s in g["NodeGroups"]] == ["0001", "0003", "0004"]
        assert len(g["MemberClusters"]) == 6
        with pytest.raises(AWSError) as e:
            w.ec.modify_replication_group_shard_configuration(CALL, {
                "ReplicationGroupId": "cm", "NodeGroupCount": 3})
        assert e.value.code == "InvalidParameterValue"

    run(body, tmp_path)


def test_validation(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"CacheClusterId": "x", "CacheNodeType": "cache.nope"}, "InvalidParameterValue"),
            ({"CacheClusterId": "x", "Port": 80}, "InvalidParameterValue"),
            ({"CacheClusterId": "x", "EngineVersion": "99.0"}, "InvalidParameterValue"),
            ({"CacheClusterId": "x", "SnapshotRetentionLimit": 40}, "InvalidParameterValue"),
            ({"CacheClusterId": "x", "SnapshotName": "none"}, "SnapshotNotFoundFault"),
        ]
        for params, code in cases:
            with pytest.raises(AWSError) as e:
                w.ec.create_cache_cluster(CALL, params)
            assert e.value.code == code, params
        w.ec.create_cache_cluster(CALL, {"CacheClusterId": "Upper", "EngineVersion": "7.0"})
        assert w.ec.describe_cache_clusters(CALL, {"CacheClusterId": "upper"})[
            "CacheClusters"][0]["CacheClusterId"] == "upper"

    run(body, tmp_path)


def test_parameter_groups_apply_live(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        ec = w.ec
        ec.create_cache_parameter_group(CALL, {"CacheParameterGroupName": "lru",
                                               "CacheParameterGroupFamily": "redis7",
                                               "Description": "d"})
        with pytest.raises(AWSError) as e:
            ec.create_cache_parameter_group(CALL, {"CacheParameterGroupName": "lru",
                                                   "CacheParameterGroupFamily": "redis7",
                                                   "Description": "d"})
        assert e.value.code == "CacheParameterGroupAlreadyExists"
        with pytest.raises(AWSError) as e:
            ec.modify_cache_parameter_group(CALL, {"CacheParameterGroupName": "lru",
                                                   "ParameterNameValues": [{
                                                       "ParameterName": "maxmemory-policy",
                                                       "ParameterValue": "sometimes"}]})
        assert e.value.code == "InvalidParameterValue"
        with pytest.raises(AWSError) as e:
            ec.create_cache_cluster(CALL, {"CacheClusterId": "c0",
                                           "CacheParameterGroupName": "nope"})
        assert e.value.code == "CacheParameterGroupNotFound"
        with pytest.raises(AWSError) as e:
            ec.modify_cache_parameter_group(CALL, {"CacheParameterGroupName": "default.redis7",
                                                   "ParameterNameValues": [{
                                                       "ParameterName": "timeout",
                                                       "ParameterValue": "30"}]})
        assert e.value.code == "InvalidCacheParameterGroupState"
        ec.modify_cache_parameter_group(CALL, {"CacheParameterGroupName": "lru",
                                               "ParameterNameValues": [{
                                                   "ParameterName": "maxmemory-policy",
                                                   "ParameterValue": "allkeys-lru"}]})
        ec.create_cache_cluster(CALL, {"CacheClusterId": "c1", "CacheParameterGroupName": "lru"})
        ec.create_cache_cluster(CALL, {"CacheClusterId": "c2"})
        await w.settle()
        assert w.driver.config[w.did("c1")]["maxmemory-policy"] == "allkeys-lru"
        assert "maxmemory-policy" not in w.driver.config[w.did("c2")]
        ec.modify_cache_parameter_group(CALL, {"CacheParameterGroupName": "lru",
                                               "ParameterNameValues": [{
                                                   "ParameterName": "timeout",
                                                   "ParameterValue": "60"}]})
        await w.settle()
        assert w.driver.config[w.did("c1")]["timeout"] == "60"
        rows = ec.describe_cache_parameters(CALL, {"CacheParameterGroupName": "lru",
                                                   "Source": "user"})["Parameters"]
        assert {r["ParameterName"] for r in rows} == {"maxmemory-policy", "timeout"}
        ec.modify_cache_cluster(CALL, {"CacheClusterId": "c2",
                                       "CacheParameterGroupName": "lru"})
        await w.settle()
        assert w.driver.config[w.did("c2")]["maxmemory-policy"] == "allkeys-lru"
        with pytest.raises(AWSError) as e:
            ec.delete_cache_parameter_group(CALL, {"CacheParameterGroupName": "lru"})
        assert e.value.code == "InvalidCacheParameterGroupState"
        ec.reset_cache_parameter_group(CALL, {"CacheParameterGroupName": "lru",
                                              "ResetAllParameters": True})
        await w.settle()
        assert w.driver.config[w.did("c1")]["maxmemory-policy"] == "volatile-lru"
        assert w.driver.config[w.did("c1")]["timeout"] == "0"
        names = [g["CacheParameterGroupName"] for g in ec.describe_cache_parameter_groups(
            CALL, {})["CacheParameterGroups"]]
        assert names == ["default.redis7", "default.redis7.cluster.on", "lru"]
        defaults = ec.describe_engine_default_parameters(
            CALL, {"CacheParameterGroupFamily": "redis7"})["EngineDefaults"]["Parameters"]
        assert any(p["ParameterName"] == "maxmemory-policy" for p in defaults)
        for c in ("c1", "c2"):
            ec.delete_cache_cluster(CALL, {"CacheClusterId": c})
        await w.settle()
        ec.delete_cache_parameter_group(CALL, {"CacheParameterGroupName": "lru"})
        with pytest.raises(AWSError) as e:
            ec.describe_cache_parameters(CALL, {"CacheParameterGroupName": "lru"})
        assert e.value.code == "CacheParameterGroupNotFound"

    run(body, tmp_path)


def test_copy_and_automatic_snapshots(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        ec = w.ec
        # The fake clock starts at 22:13 UTC.
        ec.create_cache_cluster(CALL, {"CacheClusterId": "c1", "SnapshotRetentionLimit": 2,
                                       "SnapshotWindow": "22:00-23:00"})
        ec.create_cache_cluster(CALL, {"CacheClusterId": "c2"})
        await w.settle()
        ec.create_snapshot(CALL, {"CacheClusterId": "c2", "SnapshotName": "s1"})
        await w.settle()
        with pytest.raises(AWSError) as e:
            ec.copy_snapshot(CALL, {"SourceSnapshotName": "nope", "TargetSnapshotName": "s2"})
        assert e.value.code == "SnapshotNotFoundFault"
        copied = ec.copy_snapshot(CALL, {"SourceSnapshotName": "s1",
                                         "TargetSnapshotName": "s2"})["Snapshot"]
        assert copied["SnapshotName"] == "s2" and copied["SnapshotStatus"] == "available"
        with pytest.raises(AWSError) as e:
            ec.copy_snapshot(CALL, {"SourceSnapshotName": "s1", "TargetSnapshotName": "s2"})
        assert e.value.code == "SnapshotAlreadyExistsFault"
        files = list((tmp_path / "elasticache" / "snapshots").rglob("s2.rdb"))
        assert len(files) == 1

        def automatic() -> list[str]:
            return [s["SnapshotName"] for s in ec.describe_snapshots(
                CALL, {"SnapshotSource": "automated"})["Snapshots"]]

        for day in range(4):
            ec.automatic_snapshots()
            await w.settle(0.5)
            ec.automatic_snapshots()  # once a day only
            assert len(automatic()) == min(day + 1, 2)
            w.clock.set(w.clock.now() + 86400)
        names = automatic()
        assert names[-1].startswith("automatic.c1-2023-11-17-22")
        assert all(n.startswith("automatic.c1-") for n in names)
        left = sorted(p.name for p in (tmp_path / "elasticache" / "snapshots").rglob(
            "automatic.*"))
        assert left == sorted(f"{n}.rdb" for n in names)
        w.clock.set(w.clock.now() + 3600 * 3)  # out of the window
        ec.automatic_snapshots()
        assert len(automatic()) == 2

    run(body, tmp_path)
