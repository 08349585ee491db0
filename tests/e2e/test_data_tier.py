"""The web tier reaches the data tier: a real instance (network namespace)
connects by endpoint name to an RDS PostgreSQL and to an ElastiCache Redis,
whose servers listen on private addresses of the default VPC held on the
host's bridge; what it writes the host reads back through the same names. A
Multi-AZ failover keeps the name (and the address) the instance connects to;
deleting the database and the cache takes their addresses off the host and
their names out of /etc/hosts. MariaDB and a replication group's primary and
reader endpoints are reached the same way; VPC security groups let in only
the instances they allow (the host always)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.drivers.compute import hostnet
from gureum.testing.server import RunningGureum, running_gureum

from .ec2_support import drop_bridge, ec2_gureum, leftovers, own_vpc, root_only, sweep, wait_for
from .rds_support import PASSWORD, wait_gone, wait_status
from .test_elb_network import on_host

pytestmark = pytest.mark.skipif(
    root_only or not all(shutil.which(p) for p in ("psql", "redis-cli", "redis-server"))
    or not os.path.exists("/usr/lib/postgresql/15/bin/postgres"),
    reason="the namespace driver needs root; postgresql and redis-server must be installed")

USER = "webapp"


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def inside(cloud: RunningGureum, instance_id: str, *argv: str,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside the instance (its own namespaces and root: `gureum ssh`)."""
    prefix = ["env", *(f"{k}={v}" for k, v in (env or {}).items())]
    return subprocess.run([sys.executable, "-m", "gureum", "ssh", instance_id, *prefix, *argv],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GUREUM_DATA_DIR": str(cloud.data_dir)})


def psql(host: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", "-h", host, "-U", USER, "-d", "app", "-At", "-c", sql],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "5"})


def redis(host: str, *args: str) -> str:
    return subprocess.run(["redis-cli", "-h", host, "-p", "6379", *args], capture_output=True,
                          text=True, timeout=30).stdout.strip()


def resolves(name: str) -> str | None:
    try:
        return socket.gethostbyname(name)
    except OSError:
        return None


def listening(port: int) -> list[str]:
    """The IPv4 addresses something listens on at ``port``."""
    out = subprocess.run(["ss", "-Hltn4", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    return [line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()]


def in_default_vpc(ec2: Any, address: str) -> bool:
    cidrs = [ipaddress.IPv4Network(s["CidrBlock"]) for s in ec2.describe_subnets()["Subnets"]]
    return any(ipaddress.IPv4Address(address) in c for c in cidrs)


def tear_down(cloud: RunningGureum, dbs: Sequence[str] = (), caches: Sequence[str] = (),
              groups: Sequence[str] = (), instances: Sequence[str] = ()) -> None:
    """Delete what a test made and has not deleted itself (also when it failed)."""
    rds, cache, ec2 = cloud.client("rds"), cloud.client("elasticache"), cloud.client("ec2")
    for id in dbs:
        with contextlib.suppress(rds.exceptions.DBInstanceNotFoundFault):
            rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True)
    for id in caches:
        with contextlib.suppress(cache.exceptions.CacheClusterNotFoundFault):
            cache.delete_cache_cluster(CacheClusterId=id)
    for id in groups:
        cache.delete_replication_group(ReplicationGroupId=id)
    if instances:
        ec2.terminate_instances(InstanceIds=list(instances))
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=list(instances), WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def delete_and_wait(cloud: RunningGureum, dbs: Sequence[str], caches: Sequence[str]) -> None:
    """Delete databases and caches, and wait until every one of them is gone."""
    rds, cache = cloud.client("rds"), cloud.client("elasticache")
    for id in dbs:
        rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True)
    for id in caches:
        cache.delete_cache_cluster(CacheClusterId=id)
    for id in dbs:
        wait_gone(rds, id)
    wait_for(lambda: not any(c["CacheClusterId"] in caches
                             for c in cache.describe_cache_clusters()["CacheClusters"]),
             timeout=30)


def user_data(db: str, cache: str) -> str:
    return f"""#!/bin/bash
export PGPASSWORD='{PASSWORD}' PGCONNECT_TIMEOUT=5
for i in $(seq 1 50); do
  psql -h {db} -U {USER} -d app -c \\
    "create table if not exists visits (who text); insert into visits values ('$(hostname)')" \\
    && break
  sleep 0.5
done > /tmp/db.log 2>&1
for i in $(seq 1 50); do
  [ "$(redis-cli -h {cache} -p 6379 set last-visit "$(hostname)")" = OK ] && break
  sleep 0.5
done > /tmp/cache.log 2>&1
"""


def test_an_instance_reaches_its_database_and_cache_by_name(cloud: RunningGureum) -> None:
    ec2, rds, cache = cloud.client("ec2"), cloud.client("rds"), cloud.client("elasticache")
    tag = uuid.uuid4().hex[:6]
    db_id, cache_id = f"tier-db-{tag}", f"tier-cache-{tag}"
    rds.create_db_instance(DBInstanceIdentifier=db_id, Engine="postgres", MultiAZ=True,
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20, DBName="app",
                           MasterUsername=USER, MasterUserPassword=PASSWORD,
                           BackupRetentionPeriod=0)
    cache.create_cache_cluster(CacheClusterId=cache_id, Engine="redis",
                               CacheNodeType="cache.t3.micro", NumCacheNodes=1)
    ids: list[str] = []
    dbs, caches = [db_id], [cache_id]
    try:
        db = wait_status(rds, db_id, timeout=120)
        wait_for(lambda: cache.describe_cache_clusters(CacheClusterId=cache_id)[
            "CacheClusters"][0]["CacheClusterStatus"] == "available", timeout=60)
        node = cache.describe_cache_clusters(CacheClusterId=cache_id, ShowCacheNodeInfo=True)[
            "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]
        db_name, cache_name = db["Endpoint"]["Address"], node["Address"]
        assert (db["Endpoint"]["Port"], node["Port"]) == (5432, 6379)
        # Both live on private addresses of the default VPC, held by the host.
        db_address, cache_address = resolves(db_name), resolves(cache_name)
        assert db_address and cache_address and db_address != cache_address
        for address in (db_address, cache_address):
            assert in_default_vpc(ec2, address), address
            assert on_host(address), address

        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        web = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                UserData=user_data(db_name, cache_name))["Instances"][0]
        ids.append(web["InstanceId"])
        # No instance is ever given an endpoint's address.
        assert web["PrivateIpAddress"] not in (db_address, cache_address)
        hostname = "ip-" + web["PrivateIpAddress"].replace(".", "-")

        # What the instance wrote, read from the host through the same names.
        wait_for(lambda: psql(db_name, "select who from visits").stdout.strip() == hostname,
                 timeout=60, interval=0.5)
        wait_for(lambda: redis(cache_name, "get", "last-visit") == hostname, timeout=30,
                 interval=0.5)

        # The standby has an address of its own (in the default VPC), which lets no
        # instance in: nothing connects to a standby.
        standby = [a for a in listening(5432) if in_default_vpc(ec2, a) and a != db_address]
        assert len(standby) == 1 and on_host(standby[0]), standby
        out = inside(cloud, web["InstanceId"], "psql", "-h", standby[0], "-U", USER, "-d",
                     "app", "-Atc", "select 1",
                     env={"PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "2"})
        assert out.returncode != 0 and out.stdout.strip() != "1"

        # A Multi-AZ failover: the standby takes over behind the same name and address,
        # and the instance's next connection by that name works.
        rds.reboot_db_instance(DBInstanceIdentifier=db_id, ForceFailover=True)
        wait_for(lambda: any("failover" in e["Message"] for e in rds.describe_events(
            SourceIdentifier=db_id, SourceType="db-instance", Duration=60)["Events"]),
            timeout=90, interval=0.5)
        after = wait_status(rds, db_id, timeout=90)
        assert after["AvailabilityZone"] == db["SecondaryAvailabilityZone"]
        assert resolves(db_name) == db_address
        out = inside(cloud, web["InstanceId"], "psql", "-h", db_name, "-U", USER, "-d", "app",
                     "-c", "insert into visits values ('after-failover')",
                     env={"PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "5"})
        assert out.returncode == 0, (out.stdout, out.stderr)
        assert psql(db_name, "select count(*) from visits").stdout.strip() == "2"
        out = inside(cloud, web["InstanceId"], "redis-cli", "-h", cache_name, "-p", "6379",
                     "get", "last-visit")
        assert out.stdout.strip() == hostname, (out.stdout, out.stderr)

        # Deleting them takes their addresses off the host and their names away.
        delete_and_wait(cloud, dbs, caches)
        dbs, caches = [], []
        wait_for(lambda: not on_host(db_address) and not on_host(cache_address), timeout=15,
                 interval=0.2)
        wait_for(lambda: resolves(db_name) is None and resolves(cache_name) is None,
                 timeout=15, interval=0.2)
    finally:
        tear_down(cloud, dbs=dbs, caches=caches, instances=ids)
    assert leftovers(ids, cloud.data_dir) == []


def data_table(cloud: RunningGureum) -> str:
    """The name of this gureum's host filter for its data tier."""
    cidr = json.loads((cloud.data_dir / "ec2" / "network.json").read_text())["cidr"]
    return "gureum_data_" + cidr.replace(".", "_").replace("/", "_")


def host_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def test_security_groups_guard_the_database_and_the_cache(cloud: RunningGureum) -> None:
    """Only instances their VPC security groups let in reach them; the host
    always does; a rule added lets another group in; the filter goes with them."""
    if shutil.which("nft") is None:
        pytest.skip("nftables is not installed")
    ec2, rds, cache = cloud.client("ec2"), cloud.client("rds"), cloud.client("elasticache")
    tag = uuid.uuid4().hex[:6]
    web_sg = ec2.create_security_group(GroupName=f"web-{tag}", Description="web")["GroupId"]
    other_sg = ec2.create_security_group(GroupName=f"other-{tag}", Description="x")["GroupId"]
    data_sg = ec2.create_security_group(GroupName=f"data-{tag}", Description="data")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=data_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "UserIdGroupPairs": [{"GroupId": web_sg}]},
        {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
         "UserIdGroupPairs": [{"GroupId": web_sg}]}])
    db_id, cache_id = f"guarded-db-{tag}", f"guarded-cache-{tag}"
    rds.create_db_instance(DBInstanceIdentifier=db_id, Engine="postgres", DBName="app",
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername=USER, MasterUserPassword=PASSWORD,
                           BackupRetentionPeriod=0, VpcSecurityGroupIds=[data_sg])
    cache.create_cache_cluster(CacheClusterId=cache_id, Engine="redis",
                               CacheNodeType="cache.t3.micro", NumCacheNodes=1,
                               SecurityGroupIds=[data_sg])
    ids: list[str] = []
    dbs, caches = [db_id], [cache_id]
    try:
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        web, other = (ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                        SecurityGroupIds=[g])["Instances"][0]
                      for g in (web_sg, other_sg))
        ids += [web["InstanceId"], other["InstanceId"]]
        db = wait_status(rds, db_id, timeout=120)
        assert db["VpcSecurityGroups"] == [{"VpcSecurityGroupId": data_sg, "Status": "active"}]
        wait_for(lambda: cache.describe_cache_clusters(CacheClusterId=cache_id)[
            "CacheClusters"][0]["CacheClusterStatus"] == "available", timeout=60)
        found = cache.describe_cache_clusters(CacheClusterId=cache_id, ShowCacheNodeInfo=True)[
            "CacheClusters"][0]
        assert found["SecurityGroups"] == [{"SecurityGroupId": data_sg, "Status": "active"}]
        db_name, cache_name = db["Endpoint"]["Address"], found["CacheNodes"][0]["Endpoint"][
            "Address"]
        ec2.get_waiter("instance_running").wait(InstanceIds=ids,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 60})

        def reaches(instance: str) -> tuple[bool, bool]:
            pg = inside(cloud, instance, "psql", "-h", db_name, "-U", USER, "-d", "app",
                        "-Atc", "select 1",
                        env={"PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "2"})
            rd = inside(cloud, instance, "timeout", "3", "redis-cli", "-h", cache_name,
                        "-p", "6379", "ping")
            return pg.stdout.strip() == "1", rd.stdout.strip() == "PONG"

        assert reaches(web["InstanceId"]) == (True, True)
        assert reaches(other["InstanceId"]) == (False, False)
        # The host is not an instance: its clients always get in.
        assert psql(db_name, "select 1").stdout.strip() == "1"
        assert redis(cache_name, "ping") == "PONG"

        # A rule added lets the other group in (within a few seconds).
        ec2.authorize_security_group_ingress(GroupId=data_sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
             "UserIdGroupPairs": [{"GroupId": other_sg}]}])
        wait_for(lambda: reaches(other["InstanceId"]) == (False, True), timeout=20,
                 interval=0.5)

        assert data_table(cloud) in host_tables()
        # A group guarding a database is in use (as on AWS).
        with pytest.raises(ClientError) as err:
            ec2.delete_security_group(GroupId=data_sg)
        assert err.value.response["Error"]["Code"] == "DependencyViolation"
        delete_and_wait(cloud, dbs, caches)
        dbs, caches = [], []
        wait_for(lambda: data_table(cloud) not in host_tables(), timeout=10, interval=0.2)
    finally:
        tear_down(cloud, dbs=dbs, caches=caches, instances=ids)
    for g in (data_sg, web_sg, other_sg):  # (data's rules name the two others)
        ec2.delete_security_group(GroupId=g)
    assert leftovers(ids, cloud.data_dir) == []


def connects(cloud: RunningGureum, instance: str, address: str, port: int) -> bool:
    """Whether a TCP connection from inside ``instance`` gets through."""
    out = inside(cloud, instance, "timeout", "5", "python3", "-c",
                 "import socket, sys; socket.create_connection((sys.argv[1], "
                 "int(sys.argv[2])), 2)", address, str(port))
    return out.returncode == 0


def test_a_cluster_spreads_its_shards_and_guards_its_bus(cloud: RunningGureum) -> None:
    """A cluster-mode replication group: its shards' primaries are in different
    zones (each node's address in its zone's subnet); a node's cluster bus
    (port + 10000) lets in only what its security groups let in to the
    client port, while the nodes still gossip (the cluster is ok)."""
    if shutil.which("nft") is None:
        pytest.skip("nftables is not installed")
    ec2, cache = cloud.client("ec2"), cloud.client("elasticache")
    tag = uuid.uuid4().hex[:6]
    web_sg = ec2.create_security_group(GroupName=f"cweb-{tag}", Description="web")["GroupId"]
    other_sg = ec2.create_security_group(GroupName=f"cother-{tag}", Description="x")[
        "GroupId"]
    data_sg = ec2.create_security_group(GroupName=f"cdata-{tag}", Description="d")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=data_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
         "UserIdGroupPairs": [{"GroupId": web_sg}]}])
    group_id = f"cl-{tag}"
    cache.create_replication_group(
        ReplicationGroupId=group_id, ReplicationGroupDescription="c", ClusterMode="enabled",
        NumNodeGroups=2, ReplicasPerNodeGroup=1, CacheNodeType="cache.t3.micro",
        SecurityGroupIds=[data_sg])
    ids: list[str] = []
    groups = [group_id]
    try:
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        web, other = (ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                        SecurityGroupIds=[g])["Instances"][0]["InstanceId"]
                      for g in (web_sg, other_sg))
        ids += [web, other]
        group = wait_for(lambda: (g := cache.describe_replication_groups(
            ReplicationGroupId=group_id)["ReplicationGroups"][0])["Status"] == "available"
            and g, timeout=120, interval=0.5)
        assert isinstance(group, dict)
        nodes = {c["CacheClusterId"]: c for c in cache.describe_cache_clusters(
            ShowCacheNodeInfo=True)["CacheClusters"] if c.get("ReplicationGroupId") == group_id}
        subnets = {s["AvailabilityZone"]: ipaddress.IPv4Network(s["CidrBlock"])
                   for s in ec2.describe_subnets()["Subnets"] if s["DefaultForAz"]}
        zone_of: dict[str, str] = {}  # node address -> its zone
        for node in nodes.values():
            address = resolves(node["CacheNodes"][0]["Endpoint"]["Address"])
            zone = node["PreferredAvailabilityZone"]
            assert address and ipaddress.IPv4Address(address) in subnets[zone], (address, zone)
            zone_of[address] = zone
        addresses = sorted(zone_of)
        some = addresses[0]
        # The shards' primaries (as the cluster itself says, once a replica's new
        # role has reached this node by gossip) are in two zones.

        def masters() -> list[str]:
            return [line.split()[1].split(":")[0] for line in
                    redis(some, "cluster", "nodes").splitlines()
                    if "master" in line.split()[2].split(",")]

        wait_for(lambda: len(masters()) == 2, timeout=20, interval=0.3)
        assert len({zone_of[m] for m in masters()}) == 2, masters()
        ec2.get_waiter("instance_running").wait(InstanceIds=ids,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        assert connects(cloud, web, some, 6379) and connects(cloud, web, some, 16379)
        for address in addresses:
            assert not connects(cloud, other, address, 16379), address
        assert not connects(cloud, other, some, 6379)
        listed = subprocess.run(["nft", "list", "table", "ip", data_table(cloud)],
                                capture_output=True, text=True).stdout
        assert all(f"ip daddr {a} tcp dport 16379" in listed for a in addresses)
        # The nodes themselves still reach each other's bus (from the host).
        assert "cluster_state:ok" in redis(some, "cluster", "info")
        known = redis(some, "cluster", "nodes").splitlines()
        assert len(known) == 4 and all(" connected" in line for line in known), known
    finally:
        tear_down(cloud, groups=groups, instances=ids)
    wait_for(lambda: not any(g["ReplicationGroupId"] == group_id for g in
                             cache.describe_replication_groups()["ReplicationGroups"]),
             timeout=60)
    for g in (data_sg, web_sg, other_sg):
        ec2.delete_security_group(GroupId=g)
    assert leftovers(ids, cloud.data_dir) == []


def test_an_instance_reaches_mariadb_and_a_replication_group(cloud: RunningGureum) -> None:
    """MariaDB on 3306 and a Redis replication group's primary and reader
    endpoints, from inside an instance by name."""
    if shutil.which("mariadbd") is None and not os.path.exists("/usr/sbin/mariadbd"):
        pytest.skip("mariadb-server is not installed")
    ec2, rds, cache = cloud.client("ec2"), cloud.client("rds"), cloud.client("elasticache")
    tag = uuid.uuid4().hex[:6]
    db_id, group_id = f"maria-{tag}", f"grp-{tag}"
    rds.create_db_instance(DBInstanceIdentifier=db_id, Engine="mariadb", DBName="app",
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername=USER, MasterUserPassword=PASSWORD,
                           BackupRetentionPeriod=0)
    cache.create_replication_group(ReplicationGroupId=group_id, ReplicationGroupDescription="g",
                                   NumCacheClusters=2, CacheNodeType="cache.t3.micro")
    ids: list[str] = []
    dbs, groups = [db_id], [group_id]
    try:
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        web = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
        ids.append(web["InstanceId"])
        db = wait_status(rds, db_id, timeout=180)
        assert db["Endpoint"]["Port"] == 3306
        group = wait_for(lambda: (g := cache.describe_replication_groups(
            ReplicationGroupId=group_id)["ReplicationGroups"][0])["Status"] == "available"
            and g, timeout=120, interval=0.5)
        assert isinstance(group, dict)
        shard = group["NodeGroups"][0]
        primary, reader = shard["PrimaryEndpoint"]["Address"], shard["ReaderEndpoint"][
            "Address"]
        members = {resolves(m["ReadEndpoint"]["Address"]) for m in shard["NodeGroupMembers"]}
        assert len(members) == 2 and all(a and in_default_vpc(ec2, a) for a in members)
        assert {resolves(primary), resolves(reader)} == members
        ec2.get_waiter("instance_running").wait(InstanceIds=ids,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 60})

        name = db["Endpoint"]["Address"]
        out = inside(cloud, web["InstanceId"], "mysql", "-h", name, "-P", "3306", "-u", USER,
                     f"-p{PASSWORD}", "app", "-e",
                     "create table t (v text); insert into t values ('from-instance')")
        assert out.returncode == 0, (out.stdout, out.stderr)
        read = subprocess.run(["mysql", "-h", name, "-u", USER, f"-p{PASSWORD}", "app", "-N",
                               "-e", "select v from t"], capture_output=True, text=True,
                              timeout=30)
        assert read.stdout.strip() == "from-instance", read.stderr

        out = inside(cloud, web["InstanceId"], "redis-cli", "-h", primary, "set", "k", "v1")
        assert out.stdout.strip() == "OK", (out.stdout, out.stderr)
        wait_for(lambda: inside(cloud, web["InstanceId"], "redis-cli", "-h", reader,
                                "get", "k").stdout.strip() == "v1", timeout=10, interval=0.3)
        assert redis(reader, "get", "k") == "v1"
    finally:
        tear_down(cloud, dbs=dbs, groups=groups, instances=ids)
    wait_gone(rds, db_id)
    wait_for(lambda: not cache.describe_replication_groups()["ReplicationGroups"], timeout=60)
    assert not any(on_host(a) for a in members if a)
    assert leftovers(ids, cloud.data_dir) == []


def test_subnet_groups_in_a_vpc_of_ones_own(cloud: RunningGureum) -> None:
    """A DB subnet group and a cache subnet group over subnets of a VPC the
    user made: the servers' addresses are in those subnets, on that VPC's
    bridge, and its instances reach them by name; groups in use cannot be
    deleted; the bridge goes with the last of them."""
    ec2, rds, cache = cloud.client("ec2"), cloud.client("rds"), cloud.client("elasticache")
    tag, second, vpc, subnets = own_vpc(ec2)
    app_sg = ec2.create_security_group(GroupName=f"app-{tag}", Description="app",
                                       VpcId=vpc)["GroupId"]
    data_sg = ec2.create_security_group(GroupName=f"data-{tag}", Description="data",
                                        VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=data_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
         "UserIdGroupPairs": [{"GroupId": app_sg}]} for port in (5432, 6379)])
    bridge = hostnet.bridge_name(f"10.{second}.0.0/16")
    with pytest.raises(ClientError) as err:  # one zone is not enough for RDS
        rds.create_db_subnet_group(DBSubnetGroupName=f"one-{tag}", DBSubnetGroupDescription="x",
                                   SubnetIds=subnets[:1])
    assert err.value.response["Error"]["Code"] == "DBSubnetGroupDoesNotCoverEnoughAZs"
    with pytest.raises(ClientError) as err:
        cache.create_cache_subnet_group(CacheSubnetGroupName=f"bad-{tag}",
                                        CacheSubnetGroupDescription="x",
                                        SubnetIds=["subnet-0123456789abcdef0"])
    assert err.value.response["Error"]["Code"] == "InvalidSubnet"
    db_group = rds.create_db_subnet_group(
        DBSubnetGroupName=f"db-{tag}", DBSubnetGroupDescription="db",
        SubnetIds=subnets)["DBSubnetGroup"]
    assert (db_group["VpcId"], len(db_group["Subnets"])) == (vpc, 2)
    # (the AWS CLI too)
    out = cloud.aws("elasticache", "create-cache-subnet-group", "--cache-subnet-group-name",
                    f"cache-{tag}", "--cache-subnet-group-description", "cache",
                    "--subnet-ids", *subnets, "--output", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["CacheSubnetGroup"]["VpcId"] == vpc
    out = cloud.aws("rds", "describe-db-subnet-groups", "--output", "json")
    assert out.returncode == 0, out.stderr
    names = [g["DBSubnetGroupName"] for g in json.loads(out.stdout)["DBSubnetGroups"]]
    assert "default" in names and f"db-{tag}" in names
    db_id, cache_id = f"vpcdb-{tag}", f"vpccache-{tag}"
    rds.create_db_instance(DBInstanceIdentifier=db_id, Engine="postgres", DBName="app",
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername=USER, MasterUserPassword=PASSWORD,
                           BackupRetentionPeriod=0, DBSubnetGroupName=f"db-{tag}",
                           VpcSecurityGroupIds=[data_sg], AvailabilityZone="us-east-1b")
    cache.create_cache_cluster(CacheClusterId=cache_id, Engine="redis",
                               CacheNodeType="cache.t3.micro", NumCacheNodes=1,
                               CacheSubnetGroupName=f"cache-{tag}", SecurityGroupIds=[data_sg])
    ids: list[str] = []
    dbs, caches = [db_id], [cache_id]
    try:
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        app = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnets[0],
                                SecurityGroupIds=[app_sg])["Instances"][0]
        ids.append(app["InstanceId"])
        db = wait_status(rds, db_id, timeout=120)
        assert db["DBSubnetGroup"]["DBSubnetGroupName"] == f"db-{tag}"
        assert db["DBSubnetGroup"]["VpcId"] == vpc
        wait_for(lambda: cache.describe_cache_clusters(CacheClusterId=cache_id)[
            "CacheClusters"][0]["CacheClusterStatus"] == "available", timeout=60)
        found = cache.describe_cache_clusters(CacheClusterId=cache_id, ShowCacheNodeInfo=True)[
            "CacheClusters"][0]
        assert found["CacheSubnetGroupName"] == f"cache-{tag}"
        db_name, cache_name = db["Endpoint"]["Address"], found["CacheNodes"][0]["Endpoint"][
            "Address"]
        db_address, cache_address = resolves(db_name), resolves(cache_name)
        # The DB instance in its zone's subnet, the cache in the group's first.
        assert db_address and db_address.startswith(f"10.{second}.2.")
        assert cache_address and cache_address.startswith(f"10.{second}.1.")
        shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", bridge],
                               capture_output=True, text=True).stdout
        assert f" {db_address}/32 " in shown and f" {cache_address}/32 " in shown

        ec2.get_waiter("instance_running").wait(InstanceIds=ids,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        out = inside(cloud, app["InstanceId"], "psql", "-h", db_name, "-U", USER, "-d", "app",
                     "-Atc", "select 41 + 1",
                     env={"PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "5"})
        assert out.stdout.strip() == "42", (out.stdout, out.stderr)
        out = inside(cloud, app["InstanceId"], "redis-cli", "-h", cache_name, "ping")
        assert out.stdout.strip() == "PONG", (out.stdout, out.stderr)

        for call, code in ((lambda: rds.delete_db_subnet_group(DBSubnetGroupName=f"db-{tag}"),
                            "InvalidDBSubnetGroupStateFault"),
                           (lambda: cache.delete_cache_subnet_group(
                               CacheSubnetGroupName=f"cache-{tag}"), "CacheSubnetGroupInUse"),
                           (lambda: ec2.delete_subnet(SubnetId=subnets[1]),
                            "DependencyViolation")):
            with pytest.raises(ClientError) as err:
                call()
            assert err.value.response["Error"]["Code"] == code

        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        assert hostnet.link_exists(bridge)  # (kept for the database and the cache)
        delete_and_wait(cloud, dbs, caches)
        dbs, caches = [], []
        wait_for(lambda: not hostnet.link_exists(bridge), timeout=15, interval=0.2)
        rds.delete_db_subnet_group(DBSubnetGroupName=f"db-{tag}")
        cache.delete_cache_subnet_group(CacheSubnetGroupName=f"cache-{tag}")
    finally:
        tear_down(cloud, dbs=dbs, caches=caches, instances=ids)
    for g in (data_sg, app_sg):
        ec2.delete_security_group(GroupId=g)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
    assert leftovers(ids, cloud.data_dir) == []


def test_the_data_tier_comes_back_after_a_restart() -> None:
    """gureum killed and started again: the engines start again on their
    addresses (put back on the host), their names and security groups' filter
    are back, and the instance that outlived gureum reaches them by name."""
    # (a data dir of its own, short: PostgreSQL's socket path is at most 107 bytes)
    with running_gureum() as g:
        data_dir = g.data_dir
        try:
            ec2, rds, cache = g.client("ec2"), g.client("rds"), g.client("elasticache")
            app_sg = ec2.create_security_group(GroupName="app", Description="a")["GroupId"]
            other_sg = ec2.create_security_group(GroupName="other", Description="o")[
                "GroupId"]
            data_sg = ec2.create_security_group(GroupName="data", Description="d")["GroupId"]
            ec2.authorize_security_group_ingress(GroupId=data_sg, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                 "UserIdGroupPairs": [{"GroupId": app_sg}]} for port in (5432, 6379)])
            rds.create_db_instance(DBInstanceIdentifier="kept", Engine="postgres",
                                   DBName="app", DBInstanceClass="db.t3.micro",
                                   AllocatedStorage=20, MasterUsername=USER,
                                   MasterUserPassword=PASSWORD, BackupRetentionPeriod=0,
                                   VpcSecurityGroupIds=[data_sg])
            cache.create_cache_cluster(CacheClusterId="kept", Engine="redis",
                                       CacheNodeType="cache.t3.micro", NumCacheNodes=1,
                                       SecurityGroupIds=[data_sg])
            image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            app = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                    SecurityGroupIds=[app_sg])["Instances"][0]["InstanceId"]
            db = wait_status(rds, "kept", timeout=120)
            wait_for(lambda: cache.describe_cache_clusters(CacheClusterId="kept")[
                "CacheClusters"][0]["CacheClusterStatus"] == "available", timeout=60)
            node = cache.describe_cache_clusters(CacheClusterId="kept", ShowCacheNodeInfo=True)[
                "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]["Address"]
            name = db["Endpoint"]["Address"]
            addresses = (resolves(name), resolves(node))
            ec2.get_waiter("instance_running").wait(
                InstanceIds=[app], WaiterConfig={"Delay": 1, "MaxAttempts": 60})

            def reaches(instance: str) -> tuple[bool, bool]:
                pg = inside(g, instance, "psql", "-h", name, "-U", USER, "-d", "app", "-Atc",
                            "select 1", env={"PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "2"})
                rd = inside(g, instance, "timeout", "3", "redis-cli", "-h", node, "ping")
                return pg.stdout.strip() == "1", rd.stdout.strip() == "PONG"

            assert reaches(app) == (True, True)

            g.restart(kill=True)
            rds, cache, ec2 = g.client("rds"), g.client("elasticache"), g.client("ec2")
            wait_for(lambda: reaches(app) == (True, True), timeout=60, interval=0.5)
            assert (resolves(name), resolves(node)) == addresses
            assert all(a and on_host(a) for a in addresses)
            assert data_table(g) in host_tables()
            other = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                      SecurityGroupIds=[other_sg])["Instances"][0]["InstanceId"]
            ec2.get_waiter("instance_running").wait(
                InstanceIds=[other], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            assert reaches(other) == (False, False)

            delete_and_wait(g, ["kept"], ["kept"])
            ec2.terminate_instances(InstanceIds=[app, other])
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=[app, other], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            wait_for(lambda: not any(on_host(a) for a in addresses if a), timeout=30,
                     interval=0.2)
            assert leftovers([app, other], data_dir) == []
        finally:
            g.stop()
            sweep(data_dir)
            drop_bridge(data_dir)
