"""Snapshots end to end: an RDB file taken from a live node, restored into a
new cluster and into a new replication group; a final snapshot at delete."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .elasticache_support import cli, needs_redis, wait_cluster, wait_for, wait_group

pytestmark = needs_redis


def endpoint(ec: object, id: str) -> str:
    c = ec.describe_cache_clusters(  # type: ignore[attr-defined]
        CacheClusterId=id, ShowCacheNodeInfo=True)["CacheClusters"][0]
    return str(c["CacheNodes"][0]["Endpoint"]["Address"])


def snapshot_status(ec: object, name: str) -> str:
    return str(ec.describe_snapshots(  # type: ignore[attr-defined]
        SnapshotName=name)["Snapshots"][0]["SnapshotStatus"])


def test_snapshot_and_restore(gureum: RunningGureum) -> None:
    ec = gureum.client("elasticache")
    tag = uuid.uuid4().hex[:6]
    src, snap = f"src-{tag}", f"snap-{tag}"
    ec.create_cache_cluster(CacheClusterId=src, CacheNodeType="cache.t3.micro", Engine="redis")
    wait_cluster(ec, src)
    host = endpoint(ec, src)
    cli(host, 6379, input="".join(f"SET k{i} {i}\n" for i in range(500)))
    out = ec.create_snapshot(CacheClusterId=src, SnapshotName=snap)["Snapshot"]
    assert out["SnapshotStatus"] == "creating" and out["CacheClusterId"] == src
    wait_for(lambda: snapshot_status(ec, snap) == "available", 20, "the snapshot")
    copy = ec.copy_snapshot(SourceSnapshotName=snap, TargetSnapshotName=f"copy-{tag}")
    assert copy["Snapshot"]["SnapshotStatus"] == "available"
    ec.delete_snapshot(SnapshotName=f"copy-{tag}")
    with pytest.raises(ClientError) as e:
        ec.create_snapshot(CacheClusterId=src, SnapshotName=snap)
    assert e.value.response["Error"]["Code"] == "SnapshotAlreadyExistsFault"

    restored = f"rst-{tag}"
    ec.create_cache_cluster(CacheClusterId=restored, CacheNodeType="cache.t3.small",
                            Engine="redis", SnapshotName=snap)
    wait_cluster(ec, restored)
    assert cli(endpoint(ec, restored), 6379, "GET", "k123") == "123"
    assert cli(endpoint(ec, restored), 6379, "DBSIZE") == "500"

    group = f"grs-{tag}"
    ec.create_replication_group(ReplicationGroupId=group, ReplicationGroupDescription="r",
                                NumCacheClusters=2, AutomaticFailoverEnabled=True,
                                SnapshotName=snap)
    g = wait_group(ec, group)
    reader = g["NodeGroups"][0]["ReaderEndpoint"]["Address"]
    wait_for(lambda: cli(reader, 6379, "GET", "k7") == "7", 10, "replica has the restored data")

    final = f"final-{tag}"
    ec.delete_cache_cluster(CacheClusterId=src, FinalSnapshotIdentifier=final)
    wait_for(lambda: snapshot_status(ec, final) == "available", 20, "the final snapshot")
    ec.delete_snapshot(SnapshotName=snap)
    with pytest.raises(ClientError) as e:
        ec.describe_snapshots(SnapshotName=snap)
    assert e.value.response["Error"]["Code"] == "SnapshotNotFoundFault"
    ec.delete_cache_cluster(CacheClusterId=restored)
    ec.delete_replication_group(ReplicationGroupId=group)
