"""Cluster mode enabled, end to end: shards behind a configuration endpoint
that ``redis-cli -c`` follows; adding and removing shards migrates slots
online and loses no key."""

from __future__ import annotations

import os
import signal
import uuid

from gureum.testing.server import RunningGureum

from .elasticache_support import cli, needs_redis, redis_pids, wait_for, wait_group

pytestmark = needs_redis

KEYS = 3000


def total_keys(g: dict[str, object], port: int) -> int:
    total = 0
    for shard in g["NodeGroups"]:  # type: ignore[attr-defined]
        for m in shard["NodeGroupMembers"]:
            out = cli(m["ReadEndpoint"]["Address"], port, "ROLE")
            if out.startswith("master"):
                total += int(cli(m["ReadEndpoint"]["Address"], port, "DBSIZE"))
    return total


def test_shards_and_online_resharding(gureum: RunningGureum) -> None:
    ec = gureum.client("elasticache")
    id = f"cm-{uuid.uuid4().hex[:6]}"
    ec.create_replication_group(
        ReplicationGroupId=id, ReplicationGroupDescription="sharded",
        CacheNodeType="cache.t3.micro", Engine="redis", NumNodeGroups=2,
        ReplicasPerNodeGroup=1, AutomaticFailoverEnabled=True)
    g = wait_group(ec, id, timeout=60)
    assert g["ClusterEnabled"] is True and len(g["NodeGroups"]) == 2
    assert sorted(s["Slots"] for s in g["NodeGroups"]) == ["0-8191", "8192-16383"]
    cfg = g["ConfigurationEndpoint"]
    host, port = cfg["Address"], cfg["Port"]
    assert host.startswith(f"clustercfg.{id}.")
    assert cli(host, port, "CLUSTER", "INFO").splitlines()[0].strip() == "cluster_state:ok"
    payload = "".join(f"SET key:{i} {i}\n" for i in range(KEYS))
    cli(host, port, cluster=True, input=payload)
    assert total_keys(g, port) == KEYS

    # Kill a shard's primary: Redis Cluster promotes its replica, gureum records it.
    shard = g["NodeGroups"][0]
    old = next(m["CacheClusterId"] for m in shard["NodeGroupMembers"]
               if cli(m["ReadEndpoint"]["Address"], port, "ROLE").startswith("master"))
    node_dir = gureum.data_dir / "elasticache" / "nodes" / f"000000000000-us-east-1-{old}"
    [pid] = redis_pids(node_dir)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: any("Failover" in e["Message"] and old in e["Message"] for e in
                         ec.describe_events(SourceIdentifier=id)["Events"]), 30,
             "the cluster to fail over")
    wait_for(lambda: cli(host, port, "SET", "after-failover", "1", cluster=True,
                         check=False) == "OK", 20, "writes after failover")
    wait_for(lambda: len(redis_pids(node_dir)) == 1, 40, "the old primary to come back")
    old_host = next(m["ReadEndpoint"]["Address"] for m in shard["NodeGroupMembers"]
                    if m["CacheClusterId"] == old)
    wait_for(lambda: cli(old_host, port, "ROLE", check=False).startswith("slave"), 20,
             "the old primary to rejoin as a replica")
    g = wait_group(ec, id)
    assert total_keys(g, port) == KEYS + 1

    ec.modify_replication_group_shard_configuration(
        ReplicationGroupId=id, NodeGroupCount=3, ApplyImmediately=True)
    g = wait_group(ec, id, timeout=120)
    assert len(g["NodeGroups"]) == 3 and all(s["Slots"] for s in g["NodeGroups"])
    assert total_keys(g, port) == KEYS + 1
    assert cli(host, port, "GET", "key:2024", cluster=True) == "2024"

    ec.modify_replication_group_shard_configuration(
        ReplicationGroupId=id, NodeGroupCount=2, NodeGroupsToRemove=["0001"],
        ApplyImmediately=True)
    g = wait_group(ec, id, timeout=120)
    assert sorted(s["NodeGroupId"] for s in g["NodeGroups"]) == ["0002", "0003"]
    wait_for(lambda: total_keys(ec.describe_replication_groups(ReplicationGroupId=id)[
        "ReplicationGroups"][0], port) == KEYS + 1, 20, "all keys on the remaining shards")
    host = g["ConfigurationEndpoint"]["Address"]
    assert all(cli(host, port, "GET", f"key:{i}", cluster=True) == str(i)
               for i in range(0, KEYS, 97))
    ec.delete_replication_group(ReplicationGroupId=id)
    wait_for(lambda: id not in [x["ReplicationGroupId"] for x in
                                ec.describe_replication_groups()["ReplicationGroups"]],
             30, "deletion")
