"""The EC2 API around instances through boto3: errors, filters and pagination,
idempotency, images, instance types, the default VPC, key pairs and tags."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, leftovers, root_only

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


@pytest.fixture
def ec2(cloud: RunningGureum) -> Any:
    return cloud.client("ec2")


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    value: str = err.value.response["Error"]["Code"]
    return value


def image(ec2: Any) -> str:
    found: str = ec2.describe_images(Owners=["self", "amazon"])["Images"][0]["ImageId"]
    return found


@pytest.mark.parametrize(("params", "expected"), [
    ({"ImageId": "ami-12345678901234567"}, "InvalidAMIID.NotFound"),
    ({"ImageId": "nope"}, "InvalidAMIID.Malformed"),
    ({"InstanceType": "z9.huge"}, "InvalidParameterValue"),
    ({"MinCount": 3, "MaxCount": 2}, "InvalidParameterValue"),
    ({"KeyName": "missing"}, "InvalidKeyPair.NotFound"),
    ({"SubnetId": "subnet-00000000000000000"}, "InvalidSubnetID.NotFound"),
    ({"UserData": "#!/bin/sh\n" + "#" * 17000}, "InvalidParameterValue"),
])
def test_run_instances_rejects_bad_input(ec2: Any, params: dict[str, Any], expected: str) -> None:
    full = {"ImageId": image(ec2), "MinCount": 1, "MaxCount": 1, **params}
    with pytest.raises(ClientError) as err:
        ec2.run_instances(**full)
    assert code(err) == expected


def test_instance_id_errors(ec2: Any) -> None:
    with pytest.raises(ClientError) as err:
        ec2.describe_instances(InstanceIds=["i-0000000000000000a"])
    assert code(err) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as err:
        ec2.stop_instances(InstanceIds=["bogus"])
    assert code(err) == "InvalidInstanceID.Malformed"
    with pytest.raises(ClientError) as err:
        ec2.describe_instances(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert code(err) == "InvalidParameterValue"


def test_many_instances_filters_pagination_tags_and_idempotency(
    cloud: RunningGureum, ec2: Any
) -> None:
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    subnets = sorted(subnets["Subnets"], key=lambda s: s["AvailabilityZone"])
    vpc = ec2.describe_vpcs()["Vpcs"][0]
    # 172.31.0.0/16 unless another gureum on this host holds it (then 172.30, ...).
    net = vpc["CidrBlock"].rsplit(".", 2)[0]
    assert vpc["IsDefault"] and vpc["CidrBlock"] == f"{net}.0.0/16"
    assert [s["CidrBlock"] for s in subnets] == [
        f"{net}.0.0/20", f"{net}.16.0/20", f"{net}.32.0/20"]
    r = ec2.run_instances(
        ImageId=image(ec2), MinCount=3, MaxCount=3, InstanceType="t3.nano",
        SubnetId=subnets[1]["SubnetId"], ClientToken="token-1",
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "role", "Value": "batch"}]}],
    )
    ids = [i["InstanceId"] for i in r["Instances"]]
    try:
        again = ec2.run_instances(ImageId=image(ec2), MinCount=3, MaxCount=3,
                                  InstanceType="t3.nano", ClientToken="token-1")
        assert [i["InstanceId"] for i in again["Instances"]] == ids
        assert {i["SubnetId"] for i in r["Instances"]} == {subnets[1]["SubnetId"]}
        assert all(i["PrivateIpAddress"].startswith(f"{net}.1") for i in r["Instances"])
        assert len({i["PrivateIpAddress"] for i in r["Instances"]}) == 3
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})

        def listed(**kw: Any) -> list[str]:
            out = ec2.describe_instances(**kw)
            return sorted(i["InstanceId"] for res in out["Reservations"] for i in res["Instances"])

        assert listed(Filters=[{"Name": "tag:role", "Values": ["batch"]}]) == sorted(ids)
        assert listed(Filters=[{"Name": "instance-type", "Values": ["t3.nano"]},
                               {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                               {"Name": "image-id", "Values": [image(ec2)]},
                               {"Name": "instance-state-name", "Values": ["running"]}]
                      ) == sorted(ids)
        ip = r["Instances"][0]["PrivateIpAddress"]
        assert listed(Filters=[{"Name": "private-ip-address", "Values": [ip]}]) == [ids[0]]
        assert listed(Filters=[{"Name": "subnet-id", "Values": [subnets[0]["SubnetId"]]}]) == []

        pages = ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5})
        seen = [i["InstanceId"] for p in pages for res in p["Reservations"]
                for i in res["Instances"]]
        assert sorted(set(seen)) == sorted(seen) and set(ids) <= set(seen)

        ec2.create_tags(Resources=ids[:1], Tags=[{"Key": "Name", "Value": "first"}])
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ids[0]]}])["Tags"]
        assert {(t["Key"], t["Value"]) for t in tags} == {("role", "batch"), ("Name", "first")}
        ec2.delete_tags(Resources=ids[:1], Tags=[{"Key": "role"}])
        assert listed(Filters=[{"Name": "tag:role", "Values": ["batch"]}]) == sorted(ids[1:])

        status = ec2.describe_instance_status(InstanceIds=ids)["InstanceStatuses"]
        assert {s["InstanceState"]["Name"] for s in status} == {"running"}

        ec2.modify_instance_attribute(InstanceId=ids[0], DisableApiTermination={"Value": True})
        with pytest.raises(ClientError) as err:
            ec2.terminate_instances(InstanceIds=ids)
        assert code(err) == "OperationNotPermitted"
        ec2.modify_instance_attribute(InstanceId=ids[0], DisableApiTermination={"Value": False})
    finally:
        ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
    with pytest.raises(ClientError) as err:
        ec2.start_instances(InstanceIds=ids[:1])
    assert code(err) == "IncorrectInstanceState"
    assert leftovers(ids, cloud.data_dir) == []


def test_images_and_instance_types(ec2: Any) -> None:
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    assert len(images) == 1 and "host" in images[0]["Name"]
    assert images[0]["State"] == "available"
    with pytest.raises(ClientError) as err:
        ec2.describe_images(ImageIds=["ami-00000000000000000"])
    assert code(err) == "InvalidAMIID.NotFound"
    types = ec2.describe_instance_types(InstanceTypes=["t3.micro", "m5.large"])["InstanceTypes"]
    by_name = {t["InstanceType"]: t for t in types}
    assert by_name["t3.micro"]["VCpuInfo"]["DefaultVCpus"] == 2
    assert by_name["m5.large"]["MemoryInfo"]["SizeInMiB"] == 8192
    every = [t["InstanceType"]
             for p in ec2.get_paginator("describe_instance_types").paginate()
             for t in p["InstanceTypes"]]
    assert "t2.micro" in every and len(every) == len(set(every))


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_key_pairs(ec2: Any, key_type: str) -> None:
    name = f"key-{key_type}"
    made = ec2.create_key_pair(KeyName=name, KeyType=key_type)
    assert "PRIVATE KEY" in made["KeyMaterial"] and made["KeyPairId"].startswith("key-")
    with pytest.raises(ClientError) as err:
        ec2.create_key_pair(KeyName=name)
    assert code(err) == "InvalidKeyPair.Duplicate"
    found = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"][0]
    assert found["KeyFingerprint"] == made["KeyFingerprint"] and found["KeyType"] == key_type
    imported = ec2.import_key_pair(KeyName=f"{name}-copy",
                                   PublicKeyMaterial=found["PublicKey"].encode())
    assert imported["KeyFingerprint"] == made["KeyFingerprint"]
    ec2.delete_key_pair(KeyName=name)
    ec2.delete_key_pair(KeyName=f"{name}-copy")
    with pytest.raises(ClientError) as err:
        ec2.describe_key_pairs(KeyNames=[name])
    assert code(err) == "InvalidKeyPair.NotFound"
