"""The foundation through real clients: identity, regions and zones, health,
durability across restarts and kill -9."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum, running_gureum

STANDARD = {"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1",
            "ap-northeast-1", "ap-southeast-1", "ap-southeast-2", "sa-east-1", "ca-central-1"}


def test_caller_identity_boto3(gureum: RunningGureum) -> None:
    ident = gureum.client("sts").get_caller_identity()
    assert ident["Account"] == "000000000000"
    assert ident["Arn"] == "arn:aws:iam::000000000000:root"


def test_caller_identity_aws_cli(gureum: RunningGureum) -> None:
    out = gureum.aws("sts", "get-caller-identity", "--output", "json", check=True)
    assert json.loads(out.stdout)["Account"] == "000000000000"


def test_describe_regions(gureum: RunningGureum) -> None:
    regions = gureum.client("ec2").describe_regions()["Regions"]
    names = {r["RegionName"] for r in regions}
    assert names >= STANDARD
    assert all(r["Endpoint"] == f"ec2.{r['RegionName']}.amazonaws.com" for r in regions)
    every = gureum.client("ec2").describe_regions(AllRegions=True)["Regions"]
    assert {r["OptInStatus"] for r in every} == {"opt-in-not-required", "not-opted-in"}
    assert len(every) > len(regions)
    only = gureum.client("ec2").describe_regions(
        Filters=[{"Name": "region-name", "Values": ["us-*"]}]
    )["Regions"]
    assert {r["RegionName"] for r in only} == {"us-east-1", "us-east-2", "us-west-1", "us-west-2"}


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-northeast-2"])
def test_three_zones_per_region(gureum: RunningGureum, region: str) -> None:
    zones = gureum.client("ec2", region=region).describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == [f"{region}a", f"{region}b", f"{region}c"]
    assert all(z["State"] == "available" and z["RegionName"] == region for z in zones)
    assert len({z["ZoneId"] for z in zones}) == 3


def test_zones_cli_and_filters(gureum: RunningGureum) -> None:
    out = gureum.aws(
        "ec2", "describe-availability-zones", "--region", "us-west-2",
        "--filters", "Name=zone-name,Values=us-west-2b", "--output", "json", check=True,
    )
    zones = json.loads(out.stdout)["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-west-2b"]
    assert zones[0]["ZoneId"] == "usw2-az2"


def test_unknown_zone_and_region_are_aws_errors(gureum: RunningGureum) -> None:
    ec2 = gureum.client("ec2")
    with pytest.raises(ClientError) as err:
        ec2.describe_availability_zones(ZoneNames=["us-east-1z"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        ec2.describe_regions(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_health_names_every_service(gureum: RunningGureum) -> None:
    health = gureum.health()
    assert health["status"] == "running"
    for name in ("sts", "ec2", "s3"):
        assert health["services"][name] in ("available", "starting")
    assert health["drivers"].get("ec2") in {"namespace", "process", "fake"}
    assert set(health["services"]) >= {"s3", "ec2", "elbv2", "autoscaling", "cloudwatch",
                                       "rds", "elasticache", "iam", "sts", "ce"}


@pytest.mark.parametrize("kill", [False, True], ids=["down-up", "kill-9"])
def test_state_survives_restart(kill: bool) -> None:
    with running_gureum() as g:
        names = [f"keep-{uuid.uuid4().hex[:12]}" for _ in range(5)]
        s3 = g.client("s3")
        for name in names:
            s3.create_bucket(Bucket=name)
        g.restart(kill=kill)
        listed = {b["Name"] for b in g.client("s3").list_buckets()["Buckets"]}
        assert set(names) <= listed
