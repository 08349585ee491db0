"""A reset wipes every service's state and leaves no process, namespace or
file behind; 12-digit accounts do not see each other's instances."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import running_gureum

# What a reset may keep: the host network gureum claimed, and prepared
# templates that are not anyone's data (an initdb'd PostgreSQL cluster).
KEPT = re.compile(r"^(ec2/network\.json|rds/engines/\.template-[^/]+/)")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="instances and engines need root")


def wait(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def host_addresses() -> str:
    return subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                          text=True).stdout


def resolves(name: str) -> bool:
    try:
        socket.gethostbyname(name)
    except OSError:
        return False
    return True


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def test_accounts_do_not_see_each_others_instances(gureum) -> None:  # type: ignore[no-untyped-def]
    a = gureum.client("ec2", access_key="444444444444", secret_key="x")
    b = gureum.client("ec2", access_key="555555555555", secret_key="x")
    image = a.describe_images()["Images"][0]["ImageId"]
    instance = a.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                               InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    try:
        mine = [i["InstanceId"] for r in a.describe_instances()["Reservations"]
                for i in r["Instances"]]
        theirs = [i["InstanceId"] for r in b.describe_instances()["Reservations"]
                  for i in r["Instances"]]
        assert instance in mine and instance not in theirs
        with pytest.raises(ClientError) as err:
            b.terminate_instances(InstanceIds=[instance])
        assert err.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    finally:
        a.terminate_instances(InstanceIds=[instance])


@pytest.mark.skipif(
    not (shutil.which("haproxy") and shutil.which("redis-server")
         and Path("/usr/lib/postgresql/15/bin/postgres").exists()),
    reason="haproxy, redis-server and postgresql are installed by .ci/run",
)
def test_reset_stops_everything_it_started() -> None:
    with running_gureum() as g:
        ec2, rds, cache = g.client("ec2"), g.client("rds"), g.client("elasticache")
        elb, s3 = g.client("elbv2"), g.client("s3")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                     InstanceType="t3.micro")["Instances"][0]["InstanceId"]
        rds.create_db_instance(DBInstanceIdentifier="resetdb", Engine="postgres",
                               DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                               MasterUsername="admin1", MasterUserPassword="secret-pass-1",
                               BackupRetentionPeriod=0)
        cache.create_cache_cluster(CacheClusterId="resetcache", Engine="redis",
                                   CacheNodeType="cache.t3.micro", NumCacheNodes=1)
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]]
        lb = elb.create_load_balancer(Name="reset-lb", Subnets=subnets[:2])[
            "LoadBalancers"][0]
        group = elb.create_target_group(Name="reset-tg", Protocol="HTTP", Port=80,
                                        VpcId=lb["VpcId"], TargetType="ip")["TargetGroups"][0]
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward",
                                             "TargetGroupArn": group["TargetGroupArn"]}])
        s3.create_bucket(Bucket="reset-bucket")
        s3.put_object(Bucket="reset-bucket", Key="k", Body=b"bytes" * 1000)

        def instance_state() -> str:
            reservations = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
            return str(reservations[0]["Instances"][0]["State"]["Name"])

        wait(lambda: instance_state() == "running")
        wait(lambda: rds.describe_db_instances(DBInstanceIdentifier="resetdb")["DBInstances"][
            0]["DBInstanceStatus"] == "available", 120)
        wait(lambda: cache.describe_cache_clusters(CacheClusterId="resetcache")[
            "CacheClusters"][0]["CacheClusterStatus"] == "available")
        wait(lambda: elb.describe_load_balancers(Names=["reset-lb"])["LoadBalancers"][0][
            "State"]["Code"] == "active")
        names = {p.name() for p in children(g.pid)}
        assert {"postgres", "redis-server", "haproxy"} <= names, names
        lb_address = socket.gethostbyname(lb["DNSName"])  # in its subnet, on the host
        assert f" {lb_address}/" in host_addresses()
        # A database's and a cache's servers too (where instances reach them).
        db = rds.describe_db_instances(DBInstanceIdentifier="resetdb")["DBInstances"][0]
        node = cache.describe_cache_clusters(CacheClusterId="resetcache", ShowCacheNodeInfo=True)[
            "CacheClusters"][0]["CacheNodes"][0]
        data_addresses = [socket.gethostbyname(db["Endpoint"]["Address"]),
                          socket.gethostbyname(node["Endpoint"]["Address"])]
        for address in data_addresses:
            assert f" {address}/" in host_addresses()
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout

        g.reset()

        wait(lambda: not [p for p in children(g.pid)
                          if p.name() in {"postgres", "redis-server", "haproxy"}], 30)
        assert not [p for p in children(g.pid) if p.status() != psutil.STATUS_ZOMBIE]
        after = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert len(after.splitlines()) < len(netns.splitlines()) or instance not in after
        assert ec2.describe_instances()["Reservations"] == []
        assert rds.describe_db_instances()["DBInstances"] == []
        assert cache.describe_cache_clusters()["CacheClusters"] == []
        assert elb.describe_load_balancers()["LoadBalancers"] == []
        assert f" {lb_address}/" not in host_addresses()
        for address in data_addresses:
            assert f" {address}/" not in host_addresses()
        # Their names are gone, and so is the filter their security groups made.
        wait(lambda: not any(resolves(n) for n in (db["Endpoint"]["Address"],
                                                   node["Endpoint"]["Address"])), 5)
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert "gureum_data_" + json.loads((g.data_dir / "ec2" / "network.json").read_text())[
            "cidr"].replace(".", "_").replace("/", "_") not in tables
        assert s3.list_buckets()["Buckets"] == []
        leftover = [p for p in files_under(g.data_dir)
                    if not p.name.startswith(("gureum.", "test-server.log"))
                    and not KEPT.search(str(p.relative_to(g.data_dir)))]
        assert leftover == [], leftover[:20]
