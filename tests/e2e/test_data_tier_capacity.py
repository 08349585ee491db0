"""End to end: a gureum on a host with no range left for its instances'
network answers AWS's capacity errors through boto3, not 500 InternalError.

The host's real ranges are not exhausted for this: a first gureum claims
one, and a second is told (``GUREUM_INSTANCE_RANGES``) that only that range
may be its own. The second then has none: RunInstances, DescribeVpcs and
CreateSubnet answer ``InsufficientInstanceCapacity`` (500, a server error as
on AWS), CreateDBInstance ``InsufficientDBInstanceCapacity`` and
CreateCacheCluster ``InsufficientCacheClusterCapacity`` (400); nothing is
made, it claims nothing, and the first keeps its range."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.drivers.compute import hostnet
from gureum.services.ec2.catalog import default_image_id
from gureum.testing.server import RunningGureum, running_gureum

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="instance networks need root")

@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[RunningGureum, RunningGureum, str]]:
    with running_gureum() as first:
        first.client("ec2").describe_vpcs()  # (the default VPC takes its range)
        cidr = json.loads((first.data_dir / "ec2" / "network.json").read_text())["cidr"]
        with running_gureum(env={"GUREUM_INSTANCE_RANGES": cidr}) as second:
            yield first, second, cidr


def refused(call: Any, code: str, status: int, **params: Any) -> None:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code,
                                                                                    status)
    assert "no free private range for instances on this host" in error["Error"]["Message"]


def test_no_range_left_answers_capacity_errors_and_makes_nothing(
        pair: tuple[RunningGureum, RunningGureum, str]) -> None:
    first, second, cidr = pair
    ec2 = second.client("ec2")
    rds = second.client("rds")
    cache = second.client("elasticache")
    no_room = "InsufficientInstanceCapacity"
    refused(ec2.run_instances, no_room, 500, ImageId=default_image_id(), MinCount=1,
            MaxCount=1)
    refused(ec2.describe_vpcs, no_room, 500)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]  # (needs no host network)
    refused(ec2.create_subnet, no_room, 500, VpcId=vpc, CidrBlock="10.9.1.0/24")
    refused(rds.create_db_instance, "InsufficientDBInstanceCapacity", 400,
            DBInstanceIdentifier="db1", Engine="postgres", DBInstanceClass="db.t3.micro",
            AllocatedStorage=20, MasterUsername="master", MasterUserPassword="password1")
    refused(cache.create_cache_cluster, "InsufficientCacheClusterCapacity", 400,
            CacheClusterId="c1", Engine="redis", CacheNodeType="cache.t3.micro",
            NumCacheNodes=1)
    assert ec2.describe_instances()["Reservations"] == []
    assert rds.describe_db_instances()["DBInstances"] == []
    assert cache.describe_cache_clusters()["CacheClusters"] == []
    # The second claims nothing and remembers no range; the first keeps its own.
    assert not (second.data_dir / "ec2" / "network.json").exists()
    assert hostnet.claimed_by(second.data_dir / "ec2") == []
    assert hostnet.claimed_by(first.data_dir / "ec2") == [cidr]
