"""A host with no range left for the default VPC's network (every candidate
routed by the host or claimed by another gureum): the real choice of range
says so (``NoFreeRange``, nothing claimed or remembered), and the calls that
need the default VPC answer AWS's capacity errors -- EC2's
``InsufficientInstanceCapacity`` (500), RDS's ``InsufficientDBInstanceCapacity``
and ElastiCache's ``InsufficientCacheClusterCapacity`` (400) -- instead of a
500 ``InternalError``, and create nothing. Calls that need no host network
(CreateVpc) still work."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gureum.config import Settings
from gureum.drivers.compute import NetworkPlan, NoFreeNetwork, hostnet
from gureum.drivers.compute.fake import FakeComputeDriver
from gureum.drivers.hostfw import FakeHostFirewall
from gureum.drivers.postgres import FakePostgres
from gureum.drivers.redis.fake import FakeRedis
from gureum.errors import AWSError
from gureum.services.common.ingress import FIREWALL_KEY
from gureum.services.common.private import KIND
from gureum.services.ec2.catalog import default_image_id
from gureum.services.elasticache import ElastiCache
from gureum.services.elasticache.core import DRIVER_KEY as REDIS_KEY
from gureum.services.rds import RDS
from gureum.services.rds.core import DRIVER_KEY as POSTGRES_KEY

from .world import ServiceWorld, call


def test_no_free_range_claims_and_remembers_nothing(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    claims = tmp_path / "claims"
    monkeypatch.setattr(hostnet, "CLAIMS", claims)
    # (with claims of its own, the sweep of unclaimed bridges would see the
    # bridges of this host's gureums as orphans: it must not run here)
    monkeypatch.setattr(hostnet, "_drop_orphan_bridges", lambda: None)
    other, mine = tmp_path / "other", tmp_path / "mine"
    other.mkdir()
    cidr = "10.251.0.0/16"  # (a range no host here routes: only the claim stands in the way)
    hostnet.claim(cidr, other)
    with pytest.raises(NoFreeNetwork, match="no free private range"):
        hostnet.choose(mine, [cidr])
    assert not (mine / "network.json").exists()
    assert hostnet.claimed_by(mine) == []
    # The claimant's directory gone, the range is free again: claimed and remembered.
    other.rmdir()
    plan = hostnet.choose(mine, [cidr])
    assert (plan.cidr, plan.gateway) == (cidr, "10.251.0.1")
    assert hostnet.claimed_by(mine) == [cidr] and (mine / "network.json").exists()
    assert hostnet.choose(mine, ["10.252.0.0/16"]) == plan  # (remembered)


def test_instance_ranges_setting() -> None:
    given = Settings.load({"GUREUM_INSTANCE_RANGES": "10.201.0.0/16, 172.20.0.0/16"})
    assert given.instance_ranges == ("10.201.0.0/16", "172.20.0.0/16")
    assert Settings.load({}).instance_ranges == ()
    for bad in ("10.201.0.0/24", "8.8.0.0/16", "nonsense"):
        with pytest.raises(ValueError, match="GUREUM_INSTANCE_RANGES"):
            Settings.load({"GUREUM_INSTANCE_RANGES": bad})


class FullHost(FakeComputeDriver):
    """A compute driver on a host with no range left for its network."""

    def network(self) -> NetworkPlan:
        raise NoFreeNetwork("no free private range for instances on this host")


def world(tmp: Path) -> ServiceWorld:
    return ServiceWorld(tmp, {"rds": RDS, "elasticache": ElastiCache},
                        {POSTGRES_KEY: FakePostgres(), REDIS_KEY: FakeRedis(),
                         FIREWALL_KEY: FakeHostFirewall()}, compute=FullHost())


def refused(code: str, status: int, operation: Any, params: dict[str, Any]) -> None:
    with pytest.raises(AWSError) as caught:
        operation(params)
    assert (caught.value.code, caught.value.status) == (code, status)
    assert "no free private range" in caught.value.message


def test_calls_that_need_the_default_vpc_answer_capacity_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await w.start()
        try:
            ec2, rds, cache = (w.env.extras["services"][n] for n in ("ec2", "rds", "elasticache"))
            e, r, c = call("ec2"), call("rds"), call("elasticache")
            no_room = "InsufficientInstanceCapacity"
            refused(no_room, 500, lambda p: ec2.run_instances(e, p),
                    {"ImageId": default_image_id(), "MinCount": 1, "MaxCount": 1})
            refused(no_room, 500, lambda p: ec2.describe_vpcs(e, p), {})
            vpc = ec2.create_vpc(e, {"CidrBlock": "10.9.0.0/16"})["Vpc"]["VpcId"]
            refused(no_room, 500, lambda p: ec2.create_subnet(e, p),
                    {"VpcId": vpc, "CidrBlock": "10.9.1.0/24"})
            refused(no_room, 500, lambda p: ec2.create_security_group(e, p),
                    {"GroupName": "web", "Description": "web"})
            refused("InsufficientDBInstanceCapacity", 400,
                    lambda p: rds.create_db_instance(r, p),
                    {"DBInstanceIdentifier": "db1", "Engine": "postgres",
                     "DBInstanceClass": "db.t3.micro", "AllocatedStorage": 20,
                     "MasterUsername": "master", "MasterUserPassword": "password1"})
            refused("InsufficientDBInstanceCapacity", 400,
                    lambda p: rds.describe_db_subnet_groups(r, p), {})
            refused("InsufficientCacheClusterCapacity", 400,
                    lambda p: cache.create_cache_cluster(c, p),
                    {"CacheClusterId": "c1", "Engine": "redis",
                     "CacheNodeType": "cache.t3.micro", "NumCacheNodes": 1})
            refused("InsufficientCacheClusterCapacity", 400,
                    lambda p: cache.create_replication_group(c, p),
                    {"ReplicationGroupId": "g1", "ReplicationGroupDescription": "g",
                     "CacheNodeType": "cache.t3.micro", "NumCacheClusters": 2})
            # Nothing was made (or half made) by the refused calls.
            assert ec2.describe_instances(e, {})["Reservations"] == []
            assert rds.describe_db_instances(r, {})["DBInstances"] == []
            assert cache.describe_cache_clusters(c, {})["CacheClusters"] == []
            assert cache.describe_replication_groups(c, {})["ReplicationGroups"] == []
            assert w.store.resources.list(KIND) == []
            assert w.store.resources.list("ec2:subnet") == []
            assert w.store.resources.list("ec2:security-group") == []
        finally:
            await w.stop()
    asyncio.run(scenario())
