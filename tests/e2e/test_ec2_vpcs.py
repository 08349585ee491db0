"""VPCs and subnets through boto3: CIDR validation, overlaps, dependencies,
each VPC's own default security group, and the documented limit that a VPC
whose range the host already gives to the default VPC has no instances."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, root_only

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    value: str = err.value.response["Error"]["Code"]
    return value


def test_vpcs_and_subnets(cloud: RunningGureum) -> None:
    ec2 = cloud.client("ec2")
    for bad, expected in [("10.0.0.0/8", "InvalidVpc.Range"), ("10.0.0.0/29", "InvalidVpc.Range"),
                          ("10.0.0.1/16", "InvalidParameterValue"),
                          ("nonsense", "InvalidParameterValue")]:
        with pytest.raises(ClientError) as err:
            ec2.create_vpc(CidrBlock=bad)
        assert code(err) == expected, bad
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "lab"}]}])["Vpc"]
    vpc_id = vpc["VpcId"]
    assert vpc["CidrBlock"] == "10.1.0.0/16" and not vpc["IsDefault"]
    ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["lab"]}])["Vpcs"][0][
        "VpcId"] == vpc_id

    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.1.0/24",
                               AvailabilityZone="us-east-1b")["Subnet"]
    assert subnet["AvailableIpAddressCount"] == 251 and subnet["AvailabilityZone"] == "us-east-1b"
    for cidr, expected in [("10.2.0.0/24", "InvalidSubnet.Range"),
                           ("10.1.1.128/25", "InvalidSubnet.Conflict"),
                           ("10.1.0.0/30", "InvalidSubnet.Range")]:
        with pytest.raises(ClientError) as err:
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr)
        assert code(err) == expected, cidr
    with pytest.raises(ClientError) as err:
        ec2.create_subnet(VpcId="vpc-0123456789abcdef0", CidrBlock="10.1.2.0/24")
    assert code(err) == "InvalidVpcID.NotFound"
    listed = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert [s["SubnetId"] for s in listed] == [subnet["SubnetId"]]

    # Each VPC has its own default group; a group of another VPC cannot be used in it.
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    assert [g["GroupName"] for g in groups["SecurityGroups"]] == ["default"]
    sg = ec2.create_security_group(GroupName="lab-sg", Description="x", VpcId=vpc_id)["GroupId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SecurityGroupIds=[sg])
    assert code(err) == "InvalidParameter"
    # The host gives the default VPC's range to its instances: a VPC of that range cannot
    # have instances on this host.
    default_cidr = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])[
        "Vpcs"][0]["CidrBlock"]
    clash = ec2.create_vpc(CidrBlock=default_cidr)["Vpc"]["VpcId"]
    clash_subnet = ec2.create_subnet(VpcId=clash, CidrBlock=default_cidr.replace("/16", "/24"))
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                          SubnetId=clash_subnet["Subnet"]["SubnetId"])
    assert code(err) == "Unsupported"
    ec2.delete_subnet(SubnetId=clash_subnet["Subnet"]["SubnetId"])
    ec2.delete_vpc(VpcId=clash)

    with pytest.raises(ClientError) as err:
        ec2.delete_vpc(VpcId=vpc_id)
    assert code(err) == "DependencyViolation"
    ec2.delete_security_group(GroupId=sg)
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)
    with pytest.raises(ClientError) as err:
        ec2.describe_vpcs(VpcIds=[vpc_id])
    assert code(err) == "InvalidVpcID.NotFound"
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    with pytest.raises(ClientError) as err:
        ec2.delete_vpc(VpcId=default[0]["VpcId"])
    assert code(err) == "OperationNotPermitted"
