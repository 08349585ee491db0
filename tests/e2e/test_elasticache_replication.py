"""Replication groups with cluster mode disabled, end to end: a primary and
replicas that really replicate, automatic failover when the primary is
SIGKILLed (the primary endpoint name follows the promoted replica), TestFailover,
replica count changes and deletion."""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .elasticache_support import cli, group, needs_redis, redis_pids, wait_for, wait_group

pytestmark = needs_redis


def node_dir(gureum: RunningGureum, member: str) -> Any:
    return gureum.data_dir / "elasticache" / "nodes" / f"000000000000-us-east-1-{member}"


def primary_of(g: dict[str, Any]) -> str:
    members = g["NodeGroups"][0]["NodeGroupMembers"]
    return str(next(m["CacheClusterId"] for m in members if m["CurrentRole"] == "primary"))


def role(host: str, port: int) -> str:
    out = cli(host, port, "ROLE", check=False)
    return out.split("\n")[0] if out else ""


def test_group_replicates_fails_over_and_resizes(gureum: RunningGureum) -> None:
    ec = gureum.client("elasticache")
    id = f"rg-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    out = ec.create_replication_group(
        ReplicationGroupId=id, ReplicationGroupDescription="test group",
        CacheNodeType="cache.t3.micro", Engine="redis", NumCacheClusters=3,
        AutomaticFailoverEnabled=True, MultiAZEnabled=True)["ReplicationGroup"]
    assert out["Status"] == "creating" and len(out["MemberClusters"]) == 3
    g = wait_group(ec, id)
    primary = g["NodeGroups"][0]["PrimaryEndpoint"]
    reader = g["NodeGroups"][0]["ReaderEndpoint"]
    assert primary["Address"].startswith(f"master.{id}.")
    assert reader["Address"].startswith(f"replica.{id}.")
    assert g["AutomaticFailover"] == "enabled" and g["MultiAZ"] == "enabled"
    assert g["ClusterEnabled"] is False
    roles = sorted(m["CurrentRole"] for m in g["NodeGroups"][0]["NodeGroupMembers"])
    assert roles == ["primary", "replica", "replica"]
    host, port = primary["Address"], primary["Port"]
    assert cli(host, port, "SET", "k", "v") == "OK"
    wait_for(lambda: cli(reader["Address"], port, "GET", "k") == "v", 10, "replication")
    print(f"create → writable and replicating: {time.monotonic() - started:.2f} s")
    assert cli(reader["Address"], port, "SET", "x", "y", check=False).startswith("READONLY")

    # Kill the primary: a replica is promoted and the endpoint name follows it.
    old = primary_of(g)
    [pid] = redis_pids(node_dir(gureum, old))
    for i in range(100):
        cli(host, port, "SET", f"before:{i}", str(i))
    wait_for(lambda: cli(reader["Address"], port, "GET", "before:99") == "99", 10, "sync")
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: cli(host, port, "SET", "after", "1", check=False) == "OK", 15,
             "a writable primary behind the endpoint")
    print(f"failover after SIGKILL → writable: {time.monotonic() - killed:.2f} s")
    assert cli(host, port, "GET", "before:42") == "42"
    g = group(ec, id)
    new = primary_of(g)
    assert new != old
    events = [e["Message"] for e in ec.describe_events(SourceIdentifier=id,
                                                       SourceType="replication-group")["Events"]]
    assert any("Failover" in e and old in e and new in e for e in events)
    # The old primary comes back as a replica of the new one.
    old_endpoint = next(m["ReadEndpoint"]["Address"] for m in g["NodeGroups"][0][
        "NodeGroupMembers"] if m["CacheClusterId"] == old)
    wait_for(lambda: role(old_endpoint, port) == "slave", 20, "old primary to rejoin")
    wait_for(lambda: cli(old_endpoint, port, "GET", "after") == "1", 10, "resync")

    # TestFailover: a planned switch with no write lost.
    ec.test_failover(ReplicationGroupId=id, NodeGroupId="0001")
    g = wait_group(ec, id)
    assert primary_of(g) != new
    wait_for(lambda: cli(host, port, "SET", "planned", "1", check=False) == "OK", 15,
             "writable after test failover")
    assert cli(host, port, "GET", "after") == "1"

    # Replica count up and down.
    ec.increase_replica_count(ReplicationGroupId=id, NewReplicaCount=3, ApplyImmediately=True)
    g = wait_group(ec, id)
    assert len(g["MemberClusters"]) == 4
    added = sorted(g["MemberClusters"])[-1]
    added_host = next(m["ReadEndpoint"]["Address"] for m in g["NodeGroups"][0][
        "NodeGroupMembers"] if m["CacheClusterId"] == added)
    wait_for(lambda: cli(added_host, port, "GET", "before:7") == "7", 15, "new replica sync")
    ec.decrease_replica_count(ReplicationGroupId=id, NewReplicaCount=1, ApplyImmediately=True)
    g = wait_group(ec, id)
    assert len(g["MemberClusters"]) == 2

    # Scale up: every node gets the new node type's memory, the data stays.
    ec.modify_replication_group(ReplicationGroupId=id, CacheNodeType="cache.t3.small",
                                ApplyImmediately=True)
    g = wait_group(ec, id)
    assert g["CacheNodeType"] == "cache.t3.small"
    for m in g["NodeGroups"][0]["NodeGroupMembers"]:
        memory = cli(m["ReadEndpoint"]["Address"], port, "CONFIG", "GET", "maxmemory")
        assert memory.split()[-1] == str(int(1.37 * 1024**3))
    assert cli(host, port, "GET", "before:42") == "42"

    with pytest.raises(ClientError) as e:
        ec.create_replication_group(ReplicationGroupId=id, ReplicationGroupDescription="x",
                                    NumCacheClusters=2, Engine="redis")
    assert e.value.response["Error"]["Code"] == "ReplicationGroupAlreadyExists"

    ec.delete_replication_group(ReplicationGroupId=id)
    wait_for(lambda: id not in [x["ReplicationGroupId"] for x in
                                ec.describe_replication_groups()["ReplicationGroups"]],
             30, "deletion")
    assert not [c for c in ec.describe_cache_clusters()["CacheClusters"]
                if c.get("ReplicationGroupId") == id]
    assert cli(host, port, "PING", check=False) != "PONG"


def test_group_errors(gureum: RunningGureum) -> None:
    ec = gureum.client("elasticache")

    def code(call: Any, **kw: Any) -> str:
        with pytest.raises(ClientError) as e:
            call(**kw)
        return str(e.value.response["Error"]["Code"])

    assert code(ec.describe_replication_groups, ReplicationGroupId="nope") == (
        "ReplicationGroupNotFoundFault")
    assert code(ec.create_replication_group, ReplicationGroupId="x1",
                ReplicationGroupDescription="d", NumCacheClusters=1,
                AutomaticFailoverEnabled=True) == "InvalidParameterValue"
    assert code(ec.create_replication_group, ReplicationGroupId="x1",
                ReplicationGroupDescription="d", NumCacheClusters=7) == "InvalidParameterValue"
    assert code(ec.create_replication_group, ReplicationGroupId="x1",
                ReplicationGroupDescription="d", NumCacheClusters=2,
                MultiAZEnabled=True, AutomaticFailoverEnabled=False) == (
        "InvalidParameterCombination")
    assert code(ec.test_failover, ReplicationGroupId="nope", NodeGroupId="0001") == (
        "ReplicationGroupNotFoundFault")
