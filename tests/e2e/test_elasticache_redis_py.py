"""redis-py against the endpoints: the cluster client writes without pause
while a shard is added (no key lost), and a plain client keeps writing
through the primary endpoint across a failover."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest

from gureum.testing.server import RunningGureum

from .elasticache_support import needs_redis, redis_pids, wait_for, wait_group

redis = pytest.importorskip("redis")
pytestmark = needs_redis


def test_cluster_client_writes_through_resharding(gureum: RunningGureum) -> None:
    from redis.cluster import RedisCluster

    ec = gureum.client("elasticache")
    id = f"py-{uuid.uuid4().hex[:6]}"
    ec.create_replication_group(ReplicationGroupId=id, ReplicationGroupDescription="py",
                                NumNodeGroups=2, ReplicasPerNodeGroup=0,
                                CacheNodeType="cache.t3.micro")
    g = wait_group(ec, id)
    cfg = g["ConfigurationEndpoint"]
    client = RedisCluster(host=cfg["Address"], port=cfg["Port"], decode_responses=True)
    written: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set() and n < 20000:
            key = f"live:{n}"
            client.set(key, str(n))
            written.append(key)
            n += 1
            time.sleep(0.001)  # a bounded load

    for i in range(1000):
        client.set(f"pre:{i}", str(i))
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        ec.modify_replication_group_shard_configuration(
            ReplicationGroupId=id, NodeGroupCount=3, ApplyImmediately=True)
        g = wait_group(ec, id, timeout=120)
    finally:
        stop.set()
        thread.join()
    assert len(g["NodeGroups"]) == 3
    assert written, "the writer made progress"
    fresh = RedisCluster(host=cfg["Address"], port=cfg["Port"], decode_responses=True)
    missing = [k for k in written if fresh.get(k) != k.split(":")[1]]
    assert missing == []
    assert all(fresh.get(f"pre:{i}") == str(i) for i in range(1000))
    client.close()
    fresh.close()
    ec.delete_replication_group(ReplicationGroupId=id)


def test_plain_client_keeps_writing_across_failover(gureum: RunningGureum) -> None:
    ec = gureum.client("elasticache")
    id = f"pf-{uuid.uuid4().hex[:6]}"
    ec.create_replication_group(ReplicationGroupId=id, ReplicationGroupDescription="py",
                                NumCacheClusters=2, AutomaticFailoverEnabled=True)
    g = wait_group(ec, id)
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    r = redis.Redis(host=ep["Address"], port=ep["Port"], decode_responses=True,
                    socket_timeout=2)
    r.set("before", "1")
    r.wait(1, 1000)  # replicated before the crash
    primary = next(m["CacheClusterId"] for m in g["NodeGroups"][0]["NodeGroupMembers"]
                   if m["CurrentRole"] == "primary")
    node_dir = gureum.data_dir / "elasticache" / "nodes" / f"000000000000-us-east-1-{primary}"
    [pid] = redis_pids(node_dir)
    os.kill(pid, signal.SIGKILL)

    def write() -> bool:
        try:
            fresh = redis.Redis(host=ep["Address"], port=ep["Port"], decode_responses=True,
                                socket_timeout=2)
            ok = bool(fresh.set("after", "1"))
            fresh.close()
            return ok
        except redis.RedisError:
            return False

    wait_for(write, 15, "writes after failover")
    assert redis.Redis(host=ep["Address"], port=ep["Port"], decode_responses=True).get(
        "before") == "1"
    ec.delete_replication_group(ReplicationGroupId=id)
