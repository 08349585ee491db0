"""ElastiCache cache clusters end to end: boto3 creates a real Redis node that
redis-cli reaches by its endpoint name; modify, reboot, delete and errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .elasticache_support import cli, needs_redis, redis_pids, wait_cluster, wait_for

pytestmark = needs_redis


@pytest.fixture
def ec(gureum: RunningGureum) -> Iterator[Any]:
    yield gureum.client("elasticache")


def unique(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def node_endpoint(ec: Any, id: str) -> tuple[str, int]:
    c = ec.describe_cache_clusters(CacheClusterId=id, ShowCacheNodeInfo=True)["CacheClusters"][0]
    ep = c["CacheNodes"][0]["Endpoint"]
    return ep["Address"], ep["Port"]


def test_create_use_modify_reboot_delete(ec: Any, gureum: RunningGureum) -> None:
    id = unique()
    out = ec.create_cache_cluster(
        CacheClusterId=id, CacheNodeType="cache.t3.micro", Engine="redis", Port=6390,
        SnapshotRetentionLimit=3, Tags=[{"Key": "team", "Value": "cache"}])["CacheCluster"]
    assert out["CacheClusterStatus"] == "creating"
    assert out["NumCacheNodes"] == 1 and out["Engine"] == "redis"
    wait_cluster(ec, id)
    c = ec.describe_cache_clusters(CacheClusterId=id, ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert c["SnapshotRetentionLimit"] == 3
    assert c["EngineVersion"].startswith("7.")
    host, port = node_endpoint(ec, id)
    assert host.startswith(f"{id}.") and host.endswith(".cache.localhost") and port == 6390
    assert cli(host, port, "SET", "greeting", "hello") == "OK"
    assert cli(host, port, "GET", "greeting") == "hello"
    # cache.t3.micro has 0.5 GiB
    assert cli(host, port, "CONFIG", "GET", "maxmemory").split()[-1] == str(512 * 1024 * 1024)
    tags = ec.list_tags_for_resource(ResourceName=c["ARN"])["TagList"]
    assert tags == [{"Key": "team", "Value": "cache"}]

    # Scale up: the data stays, maxmemory follows the node type.
    ec.modify_cache_cluster(CacheClusterId=id, CacheNodeType="cache.t3.small",
                            SnapshotRetentionLimit=5, ApplyImmediately=True)
    wait_cluster(ec, id)
    c = ec.describe_cache_clusters(CacheClusterId=id)["CacheClusters"][0]
    assert c["CacheNodeType"] == "cache.t3.small" and c["SnapshotRetentionLimit"] == 5
    assert cli(host, port, "CONFIG", "GET", "maxmemory").split()[-1] == str(
        int(1.37 * 1024**3))
    assert cli(host, port, "GET", "greeting") == "hello"

    # Reboot: a cache without persistence comes back empty, as on AWS.
    # (A local node restarts in milliseconds, so a describe right after may
    # already read "available": the answer to the call itself is checked.)
    out = ec.reboot_cache_cluster(CacheClusterId=id, CacheNodeIdsToReboot=["0001"])
    assert out["CacheCluster"]["CacheClusterStatus"] == "rebooting cache cluster nodes"
    wait_cluster(ec, id)
    assert cli(host, port, "PING") == "PONG"
    assert cli(host, port, "GET", "greeting") == ""

    ec.delete_cache_cluster(CacheClusterId=id)
    wait_for(lambda: not ec.describe_cache_clusters()["CacheClusters"]
             or id not in [x["CacheClusterId"] for x in
                           ec.describe_cache_clusters()["CacheClusters"]], 30, "deletion")
    assert cli(host, port, "PING", check=False) != "PONG"
    events = [e["Message"] for e in ec.describe_events(SourceIdentifier=id)["Events"]]
    assert "Cache cluster created" in events and "Cache cluster deleted" in events
    nodes = gureum.data_dir / "elasticache" / "nodes"
    assert not redis_pids(nodes / f"000000000000-us-east-1-{id}")


def test_a_killed_node_is_restarted(ec: Any, gureum: RunningGureum) -> None:
    import os
    import signal

    id = unique()
    ec.create_cache_cluster(CacheClusterId=id, CacheNodeType="cache.t3.micro", Engine="redis")
    wait_cluster(ec, id)
    host, port = node_endpoint(ec, id)
    node_dir = gureum.data_dir / "elasticache" / "nodes" / f"000000000000-us-east-1-{id}"
    [pid] = redis_pids(node_dir)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: redis_pids(node_dir) and redis_pids(node_dir) != [pid], 15, "restart")
    wait_for(lambda: cli(host, port, "PING", check=False) == "PONG", 15, "PONG")
    ec.delete_cache_cluster(CacheClusterId=id)


def err(call: Any, **kw: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"][
        "HTTPStatusCode"]


def test_errors(ec: Any) -> None:
    id = unique()
    assert err(ec.describe_cache_clusters, CacheClusterId="nope-nope") == (
        "CacheClusterNotFound", 404)
    assert err(ec.create_cache_cluster, CacheClusterId=id, CacheNodeType="cache.x9.huge",
               Engine="redis")[0] == "InvalidParameterValue"
    assert err(ec.create_cache_cluster, CacheClusterId="1bad--id", Engine="redis")[0] == (
        "InvalidParameterValue")
    assert err(ec.create_cache_cluster, CacheClusterId=id, Engine="memcached")[0] == (
        "InvalidParameterValue")
    assert err(ec.create_cache_cluster, CacheClusterId=id, Engine="redis",
               NumCacheNodes=2)[0] == "InvalidParameterValue"
    ec.create_cache_cluster(CacheClusterId=id, CacheNodeType="cache.t3.micro", Engine="redis")
    assert err(ec.create_cache_cluster, CacheClusterId=id, Engine="redis")[0] == (
        "CacheClusterAlreadyExists")
    wait_cluster(ec, id)
    assert err(ec.reboot_cache_cluster, CacheClusterId=id,
               CacheNodeIdsToReboot=["0002"])[0] == "InvalidParameterValue"
    ec.delete_cache_cluster(CacheClusterId=id)
    # While it is "deleting" a second delete is refused; once the node is gone
    # (it can be that fast) the cluster is not found.
    assert err(ec.delete_cache_cluster, CacheClusterId=id)[0] in (
        "InvalidCacheClusterState", "CacheClusterNotFound")
    assert err(ec.delete_cache_cluster, CacheClusterId="nope-nope")[0] == "CacheClusterNotFound"


def test_aws_cli_lists_clusters(gureum: RunningGureum, ec: Any) -> None:
    id = unique()
    ec.create_cache_cluster(CacheClusterId=id, CacheNodeType="cache.t3.micro", Engine="redis")
    wait_cluster(ec, id)
    out = gureum.aws("elasticache", "describe-cache-clusters", "--cache-cluster-id", id,
                     "--show-cache-node-info", check=True)
    assert f'"CacheClusterId": "{id}"' in out.stdout and "cache.localhost" in out.stdout
    ec.delete_cache_cluster(CacheClusterId=id)
