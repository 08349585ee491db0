"""Private addresses of DB instances and cache nodes, with the real EC2, RDS
and ElastiCache services on fake drivers (a compute driver whose network is
isolated, as the namespace driver's): each server gets an address of the
default subnet of its zone from EC2's allocator (never given to an instance),
put on the host before its engine starts, published under its endpoint name,
taken off the host on delete, on a reset, and when its owner is gone; VPC
security groups are checked, defaulted and described; on a loopback network,
loopback addresses as before."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gureum.drivers.hostfw import FakeHostFirewall
from gureum.drivers.postgres import FakePostgres
from gureum.drivers.redis.fake import FakeRedis
from gureum.errors import AWSError
from gureum.services.common.ingress import FIREWALL_KEY
from gureum.services.common.private import KIND
from gureum.services.elasticache import ElastiCache
from gureum.services.elasticache.core import DRIVER_KEY as REDIS_KEY
from gureum.services.elasticache.core import node_name
from gureum.services.rds import RDS
from gureum.services.rds.core import DRIVER_KEY as POSTGRES_KEY

from .world import ACCOUNT, ServiceWorld, call


class World(ServiceWorld):
    def __init__(self, tmp: Path, isolated: bool = True) -> None:
        self.postgres, self.redis = FakePostgres(), FakeRedis()
        self.firewall = FakeHostFirewall()
        super().__init__(tmp, {"rds": RDS, "elasticache": ElastiCache},
                         {POSTGRES_KEY: self.postgres, REDIS_KEY: self.redis,
                          FIREWALL_KEY: self.firewall}, isolated=isolated)
        self.rds: RDS = self.env.extras["services"]["rds"]
        self.cache: ElastiCache = self.env.extras["services"]["elasticache"]

    async def settle(self, seconds: float = 1.0) -> None:
        for _ in range(int(seconds / 0.25)):
            await self.clock.advance(0.25)
            await self.loops.idle()

    def web_and_data(self, rules: Callable[[str], list[dict[str, Any]]]) -> tuple[str, str]:
        """Security groups "web" and "data"; data lets in ``rules(web's id)``."""
        web, data = (self.ec2.create_security_group(call("ec2"), {
            "GroupName": name, "Description": name})["GroupId"] for name in ("web", "data"))
        self.ec2.authorize_security_group_ingress(call("ec2"), {
            "GroupId": data, "IpPermissions": rules(web)})
        return web, data

    def create_db(self, id: str = "db1", **kw: Any) -> dict[str, Any]:
        params = {"DBInstanceIdentifier": id, "Engine": "postgres",
                  "DBInstanceClass": "db.t3.micro", "AllocatedStorage": 20,
                  "MasterUsername": "master", "MasterUserPassword": "password1",
                  "BackupRetentionPeriod": 0, **kw}
        out: dict[str, Any] = self.rds.create_db_instance(call("rds"), params)["DBInstance"]
        return out

    def create_cache(self, id: str = "c1", **kw: Any) -> dict[str, Any]:
        params = {"CacheClusterId": id, "Engine": "redis", "CacheNodeType": "cache.t3.micro",
                  "NumCacheNodes": 1, **kw}
        out: dict[str, Any] = self.cache.create_cache_cluster(call("elasticache"), params)[
            "CacheCluster"]
        return out

    def create_group(self, id: str, **kw: Any) -> None:
        self.cache.create_replication_group(call("elasticache"), {
            "ReplicationGroupId": id, "ReplicationGroupDescription": "d",
            "CacheNodeType": "cache.t3.micro", **kw})

    def db_doc(self, id: str = "db1") -> dict[str, Any]:
        found = self.rds.find(ACCOUNT, "us-east-1", id)
        assert found is not None
        return found

    def cache_doc(self, id: str = "c1") -> dict[str, Any]:
        found = self.cache.find_node(ACCOUNT, "us-east-1", id)
        assert found is not None
        return found

    def subnet(self, zone: str) -> ipaddress.IPv4Network:
        for s in self.ec2.default_subnets(ACCOUNT, "us-east-1"):
            if s["AvailabilityZone"] == zone:
                return ipaddress.IPv4Network(s["CidrBlock"])
        raise AssertionError(zone)


def run(tmp: Path, body: Any, isolated: bool = True) -> None:
    async def main() -> None:
        world = World(tmp, isolated)
        await world.start()
        try:
            await body(world)
        finally:
            await world.stop()
    asyncio.run(main())


def test_servers_get_private_addresses_in_their_zones_subnet(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        w.create_db(AvailabilityZone="us-east-1b")
        w.create_cache(PreferredAvailabilityZone="us-east-1c")
        await w.settle()
        db_address, cache_address = w.db_doc()["address"], w.cache_doc()["address"]
        assert ipaddress.IPv4Address(db_address) in w.subnet("us-east-1b")
        assert ipaddress.IPv4Address(cache_address) in w.subnet("us-east-1c")
        # On the host before the engines listen there, and under their names.
        assert {db_address, cache_address} <= w.compute.addresses
        assert w.postgres.engines_[w.db_doc()["engine_id"]].spec.address == db_address
        assert w.names.names()[w.db_doc()["host"]] == db_address
        assert w.names.names()[node_name(w.cache_doc())] == cache_address
        # EC2 never gives them to an instance.
        assert {db_address, cache_address} <= w.ec2.used_addresses()
        # Deleting takes them off the host and forgets them.
        w.rds.delete_db_instance(call("rds"), {"DBInstanceIdentifier": "db1",
                                               "SkipFinalSnapshot": True})
        w.cache.delete_cache_cluster(call("elasticache"), {"CacheClusterId": "c1"})
        await w.settle()
        assert w.compute.addresses == set()
        assert w.store.resources.list(KIND) == []
        assert not {db_address, cache_address} & w.ec2.used_addresses()
    run(tmp_path, body)


def test_reset_and_orphans_release_addresses(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        w.create_db()
        w.create_cache()
        await w.settle()
        assert len(w.compute.addresses) == 2
        await w.cache.reset()
        await w.rds.reset()
        assert w.compute.addresses == set()
        assert w.store.resources.list(KIND) == []
        # An address whose owner is gone (a crash between the two) goes at the next resync.
        w.create_cache("c2")
        await w.settle()
        (address,) = w.compute.addresses
        with w.store.tx():
            w.store.resources.delete("elasticache:cluster", ACCOUNT, "us-east-1", "c2")
        await w.settle(35.0)
        assert address not in w.compute.addresses
        assert w.store.resources.list(KIND) == []
    run(tmp_path, body)


def test_security_groups_are_checked_defaulted_and_described(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        default = w.ec2.default_group(ACCOUNT, "us-east-1",
                                      w.ec2.default_vpc(ACCOUNT, "us-east-1")["VpcId"])["id"]
        db = w.create_db()
        assert db["VpcSecurityGroups"] == [{"VpcSecurityGroupId": default, "Status": "active"}]
        assert db["DBSubnetGroup"]["DBSubnetGroupName"] == "default"
        assert len(db["DBSubnetGroup"]["Subnets"]) == len(
            w.ec2.default_subnets(ACCOUNT, "us-east-1"))
        sg = w.ec2.create_security_group(call("ec2"), {"GroupName": "data",
                                                       "Description": "d"})["GroupId"]
        cache = w.create_cache(SecurityGroupIds=[sg])
        assert cache["SecurityGroups"] == [{"SecurityGroupId": sg, "Status": "active"}]
        assert cache["CacheSubnetGroupName"] == "default"
        with pytest.raises(AWSError) as err:
            w.create_db("db2", VpcSecurityGroupIds=["sg-0000000000000000f"])
        assert err.value.code == "InvalidParameterValue"
        with pytest.raises(AWSError) as err:
            w.create_db("db3", DBSubnetGroupName="mine")
        assert (err.value.code, err.value.status) == ("DBSubnetGroupNotFoundFault", 404)
        with pytest.raises(AWSError) as err:
            w.create_cache("c2", CacheSubnetGroupName="mine")
        assert err.value.code == "CacheSubnetGroupNotFoundFault"
        await w.settle()
        w.rds.modify_db_instance(call("rds"), {"DBInstanceIdentifier": "db1",
                                               "VpcSecurityGroupIds": [sg]})
        assert w.db_doc()["security_groups"] == [sg]
    run(tmp_path, body)


def test_on_a_loopback_network_servers_keep_loopback_addresses(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        w.create_db()
        w.create_cache()
        await w.settle()
        assert w.db_doc()["address"].startswith("127.251.")
        assert w.cache_doc()["address"].startswith("127.251.")
        assert w.compute.addresses == set()
        assert w.store.resources.list(KIND) == []
    run(tmp_path, body, isolated=False)


def test_a_read_replica_has_an_address_of_its_own(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        w.create_db(BackupRetentionPeriod=1)
        await w.settle(2.0)
        w.rds.create_db_instance_read_replica(call("rds"), {
            "DBInstanceIdentifier": "db1-ro", "SourceDBInstanceIdentifier": "db1"})
        await w.settle(2.0)
        primary, replica = w.db_doc()["address"], w.db_doc("db1-ro")["address"]
        assert primary != replica and {primary, replica} <= w.compute.addresses
        assert w.names.names()[w.db_doc("db1-ro")["host"]] == replica
    run(tmp_path, body)


def test_security_groups_make_the_host_filter(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        web, data = w.web_and_data(lambda web: [
            {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
             "UserIdGroupPairs": [{"GroupId": web}]},
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "IpRanges": [{"CidrIp": "172.31.99.0/24"}]}])
        w.create_db(VpcSecurityGroupIds=[data])
        w.create_cache(SecurityGroupIds=[data])
        await w.settle()
        db, node = w.db_doc()["address"], w.cache_doc()["address"]
        # The filter is there before the engines listen, and lets in what the rules say.
        assert set(w.firewall.endpoints) == {(db, 5432), (node, 6379)}
        assert w.firewall.admits(db, 5432, "172.31.99.7")
        assert not w.firewall.admits(db, 5432, "172.31.0.77")
        assert not w.firewall.admits(node, 6379, "172.31.0.77")
        # An instance of the web group is let in to the cache (within the loop's period).
        image = w.ec2.describe_images(call("ec2"), {})["Images"][0]["ImageId"]
        inst = w.ec2.run_instances(call("ec2"), {
            "ImageId": image, "MinCount": 1, "MaxCount": 1,
            "SecurityGroupIds": [web]})["Instances"][0]
        await w.settle(3.0)
        ip = inst["PrivateIpAddress"]
        assert w.firewall.admits(node, 6379, ip) and not w.firewall.admits(db, 5432, ip)
        # The endpoints are members of their group: it cannot be deleted.
        with pytest.raises(AWSError) as err:
            w.ec2.delete_security_group(call("ec2"), {"GroupId": data})
        assert err.value.code == "DependencyViolation"
        # Gone with them.
        w.rds.delete_db_instance(call("rds"), {"DBInstanceIdentifier": "db1",
                                               "SkipFinalSnapshot": True})
        w.cache.delete_cache_cluster(call("elasticache"), {"CacheClusterId": "c1"})
        await w.settle()
        assert w.firewall.endpoints == {}
    run(tmp_path, body)


def test_subnet_groups_place_servers_in_their_subnets(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        rds, cache = call("rds"), call("elasticache")
        default = w.rds.describe_db_subnet_groups(rds, {})["DBSubnetGroups"]
        assert [g["DBSubnetGroupName"] for g in default] == ["default"]
        with pytest.raises(AWSError) as err:
            w.rds.delete_db_subnet_group(rds, {"DBSubnetGroupName": "default"})
        assert err.value.code == "InvalidDBSubnetGroupStateFault"
        vpc = w.ec2.create_vpc(call("ec2"), {"CidrBlock": "10.200.0.0/16"})["Vpc"]["VpcId"]
        own = [w.ec2.create_subnet(call("ec2"), {"VpcId": vpc, "CidrBlock": cidr,
                                                 "AvailabilityZone": zone})["Subnet"]
               for cidr, zone in (("10.200.1.0/24", "us-east-1a"),
                                  ("10.200.2.0/24", "us-east-1c"))]
        ids = [s["SubnetId"] for s in own]
        w.rds.create_db_subnet_group(rds, {"DBSubnetGroupName": "Mine",
                                           "DBSubnetGroupDescription": "m", "SubnetIds": ids})
        with pytest.raises(AWSError) as err:
            w.rds.create_db_subnet_group(rds, {"DBSubnetGroupName": "mine",
                                               "DBSubnetGroupDescription": "m",
                                               "SubnetIds": ids})
        assert err.value.code == "DBSubnetGroupAlreadyExists"
        w.cache.create_cache_subnet_group(cache, {"CacheSubnetGroupName": "mine",
                                                  "CacheSubnetGroupDescription": "m",
                                                  "SubnetIds": ids[1:]})
        # A security group of another VPC is refused.
        with pytest.raises(AWSError) as err:
            w.create_db("db0", DBSubnetGroupName="mine", VpcSecurityGroupIds=[
                w.ec2.default_group(ACCOUNT, "us-east-1",
                                    w.ec2.default_vpc(ACCOUNT, "us-east-1")["VpcId"])["id"]])
        assert err.value.code == "InvalidParameterValue"
        db = w.create_db(DBSubnetGroupName="mine")
        w.create_cache(CacheSubnetGroupName="mine")
        await w.settle()
        assert db["DBSubnetGroup"]["VpcId"] == vpc
        assert db["VpcSecurityGroups"][0]["VpcSecurityGroupId"] == w.ec2.default_group(
            ACCOUNT, "us-east-1", vpc)["id"]
        db_address, cache_address = w.db_doc()["address"], w.cache_doc()["address"]
        assert db_address.startswith("10.200.1.") and cache_address.startswith("10.200.2.")
        assert w.compute.address_networks[db_address] == "10.200.0.0/16"
        with pytest.raises(AWSError) as err:
            w.cache.delete_cache_subnet_group(cache, {"CacheSubnetGroupName": "mine"})
        assert err.value.code == "CacheSubnetGroupInUse"
        with pytest.raises(AWSError) as err:
            w.ec2.delete_subnet(call("ec2"), {"SubnetId": ids[0]})
        assert err.value.code == "DependencyViolation"
        w.rds.delete_db_instance(rds, {"DBInstanceIdentifier": "db1",
                                       "SkipFinalSnapshot": True})
        w.cache.delete_cache_cluster(cache, {"CacheClusterId": "c1"})
        await w.settle()
        assert w.compute.addresses == set()
        w.rds.delete_db_subnet_group(rds, {"DBSubnetGroupName": "mine"})
        w.cache.delete_cache_subnet_group(cache, {"CacheSubnetGroupName": "mine"})
        with pytest.raises(AWSError) as err:
            w.rds.describe_db_subnet_groups(rds, {"DBSubnetGroupName": "mine"})
        assert (err.value.code, err.value.status) == ("DBSubnetGroupNotFoundFault", 404)
    run(tmp_path, body)


def test_a_multi_az_standby_has_an_address_of_its_own(tmp_path: Path) -> None:
    """In its zone's subnet, on the host, closed to instances; a failover
    keeps the endpoint's address with the primary and each server on one of
    the two; Multi-AZ turned off releases the standby's."""
    async def body(w: World) -> None:
        w.create_db(MultiAZ=True)
        await w.settle()
        doc = w.db_doc()
        primary, standby = doc["address"], doc["standby_address"]
        assert ipaddress.IPv4Address(primary) in w.subnet(doc["az"])
        assert ipaddress.IPv4Address(standby) in w.subnet(doc["secondary_az"])
        assert {primary, standby} <= w.compute.addresses
        assert w.postgres.engines_[doc["standby_id"]].spec.address == standby
        assert not w.firewall.admits(standby, 5432, "172.31.0.77")
        await w.postgres.kill(doc["engine_id"])
        await w.settle(6.0)
        after = w.db_doc()
        assert after["engine_id"] == doc["standby_id"]
        assert (after["address"], after["standby_address"]) == (primary, standby)
        assert w.names.names()[after["host"]] == primary
        assert w.postgres.engines_[after["engine_id"]].spec.address == primary
        assert w.postgres.engines_[after["standby_id"]].spec.address == standby
        w.rds.modify_db_instance(call("rds"), {"DBInstanceIdentifier": "db1",
                                               "MultiAZ": False, "ApplyImmediately": True})
        await w.settle()
        assert w.db_doc()["standby_address"] is None
        assert w.compute.addresses == {primary}
        assert standby not in w.ec2.used_addresses()
    run(tmp_path, body)


def test_replication_group_members_spread_over_zones(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        w.create_group("g1", NumCacheClusters=3)
        w.create_group("g2", NumCacheClusters=2,
                       PreferredCacheClusterAZs=["us-east-1c", "us-east-1a"])
        await w.settle()
        zones = [s["AvailabilityZone"] for s in w.ec2.default_subnets(ACCOUNT, "us-east-1")]
        for group, expected in (("g1", zones[:3]), ("g2", ["us-east-1c", "us-east-1a"])):
            members = sorted(w.cache.members(w.cache.find_group(ACCOUNT, "us-east-1", group)
                                             or {}), key=lambda d: d["id"])
            assert [m["az"] for m in members] == expected
            for m in members:
                assert ipaddress.IPv4Address(m["address"]) in w.subnet(m["az"])
    run(tmp_path, body)


def test_cluster_shards_spread_their_primaries_over_zones(tmp_path: Path) -> None:
    """Without zones asked for, the i-th shard's primary is in the i-th zone of
    the subnet group and its replicas in the zones after it (as AWS spreads
    them); zones a shard's configuration names are kept."""
    async def body(w: World) -> None:
        cache = call("elasticache")
        w.create_group("cl", ClusterMode="enabled", NumNodeGroups=3, ReplicasPerNodeGroup=1)
        w.create_group(
            "asked", ClusterMode="enabled", NodeGroupConfiguration=[
                {"ReplicaCount": 1, "PrimaryAvailabilityZone": "us-east-1c",
                 "ReplicaAvailabilityZones": ["us-east-1c"]},
                {"ReplicaCount": 1, "ReplicaAvailabilityZones": ["us-east-1a"]}])
        await w.settle()
        zones = [s["AvailabilityZone"] for s in w.ec2.default_subnets(ACCOUNT, "us-east-1")]
        assert len(zones) >= 3

        def z(i: int) -> str:
            return zones[i % len(zones)]

        for group_id, expected in (
                ("cl", [[z(0), z(1)], [z(1), z(2)], [z(2), z(3)]]),
                ("asked", [["us-east-1c", "us-east-1c"], [z(1), "us-east-1a"]])):
            group = w.cache.find_group(ACCOUNT, "us-east-1", group_id) or {}
            nodes = {m["id"]: m for m in w.cache.members(group)}
            placed = [[nodes[s["primary"]]["az"], *(nodes[m]["az"] for m in s["members"]
                                                   if m != s["primary"])]
                      for s in group["shards"]]
            assert placed == expected
            for m in nodes.values():
                assert ipaddress.IPv4Address(m["address"]) in w.subnet(m["az"])
            shown = w.cache.describe_cache_clusters(cache, {})["CacheClusters"]
            assert {c["CacheClusterId"]: c["PreferredAvailabilityZone"] for c in shown
                    if c.get("ReplicationGroupId") == group_id} == {
                        i: m["az"] for i, m in nodes.items()}
    run(tmp_path, body)


def test_a_cluster_nodes_bus_port_is_guarded_as_its_client_port(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        _, data = w.web_and_data(lambda web: [
            {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
             "IpRanges": [{"CidrIp": "172.31.99.0/24"}]}])
        w.create_group("cl", ClusterMode="enabled", NumNodeGroups=2, ReplicasPerNodeGroup=0,
                       SecurityGroupIds=[data])
        w.create_cache(SecurityGroupIds=[data])  # (not in cluster mode: no bus)
        await w.settle()
        group = w.cache.find_group(ACCOUNT, "us-east-1", "cl") or {}
        nodes = [m["address"] for m in w.cache.members(group)]
        single = w.cache_doc()["address"]
        assert len(nodes) == 2 and set(w.firewall.endpoints) == {
            (a, 6379) for a in [*nodes, single]}
        for a in nodes:
            assert w.firewall.admits(a, 16379, "172.31.99.7")
            assert not w.firewall.admits(a, 16379, "172.31.0.77")
            assert not w.firewall.admits(a, 16379, "172.31.5.5")
        assert w.firewall.admits(single, 16379, "172.31.0.77")  # (nothing filtered there)
    run(tmp_path, body)


@pytest.mark.parametrize("service", ["rds", "elasticache"])
def test_subnet_groups_are_made_and_modified_with_each_services_faults(
        tmp_path: Path, service: str) -> None:
    """One helper behind both services' subnet groups: a name taken, subnets
    moved to another VPC while a server uses the group, each in the service's
    own words; a new description and subnets in the same VPC are taken."""
    rds = service == "rds"
    key = "DBSubnetGroup" if rds else "CacheSubnetGroup"
    exists, moved = (("DBSubnetGroupAlreadyExists", "InvalidDBSubnetGroupStateFault") if rds
                     else ("CacheSubnetGroupAlreadyExists", "SubnetInUse"))

    async def body(w: World) -> None:
        c = call(service)
        ops = w.rds if rds else w.cache
        create = ops.create_db_subnet_group if rds else ops.create_cache_subnet_group
        modify = ops.modify_db_subnet_group if rds else ops.modify_cache_subnet_group
        subnets = {}
        for n in (1, 2):
            vpc = w.ec2.create_vpc(call("ec2"), {"CidrBlock": f"10.{n}.0.0/16"})["Vpc"]["VpcId"]
            subnets[n] = [w.ec2.create_subnet(call("ec2"), {
                "VpcId": vpc, "CidrBlock": f"10.{n}.{i}.0/24",
                "AvailabilityZone": zone})["Subnet"]["SubnetId"]
                for i, zone in ((1, "us-east-1a"), (2, "us-east-1b"), (3, "us-east-1c"))]
        made = create(c, {f"{key}Name": "g", f"{key}Description": "one",
                          "SubnetIds": subnets[1][:2]})[key]
        assert len(made["Subnets"]) == 2
        with pytest.raises(AWSError) as err:
            create(c, {f"{key}Name": "G", f"{key}Description": "x", "SubnetIds": subnets[1]})
        assert err.value.code == exists
        changed = modify(c, {f"{key}Name": "g", f"{key}Description": "two",
                             "SubnetIds": subnets[1]})[key]
        assert (changed[f"{key}Description"], len(changed["Subnets"])) == ("two", 3)
        if rds:
            w.create_db(DBSubnetGroupName="g")
        else:
            w.create_cache(CacheSubnetGroupName="g")
        with pytest.raises(AWSError) as err:
            modify(c, {f"{key}Name": "g", "SubnetIds": subnets[2]})
        assert err.value.code == moved
        shown = modify(c, {f"{key}Name": "g", "SubnetIds": subnets[1][1:]})[key]
        assert shown[f"{key}Description"] == "two" and len(shown["Subnets"]) == 2
    run(tmp_path, body)


def test_shards_added_by_resharding_spread_or_go_where_asked(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        cache = call("elasticache")
        w.create_group("cl", ClusterMode="enabled", NumNodeGroups=2, ReplicasPerNodeGroup=1)
        await w.settle(3.0)
        w.cache.modify_replication_group_shard_configuration(cache, {
            "ReplicationGroupId": "cl", "NodeGroupCount": 4, "ApplyImmediately": True,
            "ReshardingConfiguration": [
                {}, {}, {"PreferredAvailabilityZones": ["us-east-1b", "us-east-1b"]}]})
        zones = [s["AvailabilityZone"] for s in w.ec2.default_subnets(ACCOUNT, "us-east-1")]
        group = w.cache.find_group(ACCOUNT, "us-east-1", "cl") or {}
        nodes = {m["id"]: m for m in w.cache.members(group)}
        placed = [[nodes[m]["az"] for m in s["members"]] for s in group["shards"][2:]]
        assert placed == [["us-east-1b", "us-east-1b"],
                          [zones[3 % len(zones)], zones[4 % len(zones)]]]
    run(tmp_path, body)
