"""Security groups through boto3: the API and its errors, and ingress enforced
inside the instances' namespaces — a port opened and closed for curl from the
host, the default group letting its members and the host in, a group
reference letting one instance reach another."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, http_get, leftovers, root_only, wait_for

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")

SERVE = """#!/bin/bash
mkdir -p /srv/www && cd /srv/www && echo "hello from $(hostname)" > index.html
python3 -m http.server 8080 --bind 0.0.0.0 &
exec python3 -m http.server 80 --bind 0.0.0.0
"""


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
    found: str = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return found


def reachable(url: str) -> bool:
    try:
        http_get(url, timeout=0.5)
        return True
    except OSError:
        return False


def from_inside(instance_id: str, url: str) -> bool:
    """Whether an instance (entered by its network namespace) reaches ``url``."""
    ns = f"gureum-{instance_id}"
    r = subprocess.run(["ip", "netns", "exec", ns, "curl", "-s", "-m", "1", "-o", "/dev/null",
                        "-w", "%{http_code}", url], capture_output=True, text=True)
    return r.stdout.strip() == "200"


def test_api_and_errors(ec2: Any) -> None:
    default = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    assert default["VpcId"] == vpc_id
    sources = [p["UserIdGroupPairs"] for p in default["IpPermissions"]]
    assert [{"GroupId": default["GroupId"], "UserId": "000000000000"}] in sources
    assert default["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]

    gid = ec2.create_security_group(GroupName="api-sg", Description="test")["GroupId"]
    with pytest.raises(ClientError) as err:
        ec2.create_security_group(GroupName="api-sg", Description="again")
    assert code(err) == "InvalidGroup.Duplicate"
    perm = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
            "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "office"}]}
    rules = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm])
    assert rules["Return"] and rules["SecurityGroupRules"][0]["CidrIpv4"] == "10.0.0.0/8"
    with pytest.raises(ClientError) as err:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[perm])
    assert code(err) == "InvalidPermission.Duplicate"
    with pytest.raises(ClientError) as err:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2,
             "IpRanges": [{"CidrIp": "10.0.0.300/8"}]}])
    assert code(err) == "InvalidParameterValue"
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": default["GroupId"]}]}])
    ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
         "IpRanges": [{"CidrIp": "172.31.0.0/16"}]}])
    got = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
            "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "office"}],
            "Ipv6Ranges": [], "UserIdGroupPairs": [], "PrefixListIds": []} \
        in got["IpPermissions"]
    assert len(got["IpPermissionsEgress"]) == 2
    assert ec2.describe_security_groups(Filters=[
        {"Name": "ip-permission.from-port", "Values": ["80"]}])["SecurityGroups"][0][
        "GroupId"] == gid

    # The default group is referenced by api-sg: it cannot go, and nor can a used one.
    with pytest.raises(ClientError) as err:
        ec2.delete_security_group(GroupId=default["GroupId"])
    assert code(err) == "CannotDelete"
    other = ec2.create_security_group(GroupName="ref-sg", Description="x")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "UserIdGroupPairs": [{"GroupId": other}]}])
    with pytest.raises(ClientError) as err:
        ec2.delete_security_group(GroupId=other)
    assert code(err) == "DependencyViolation"
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "UserIdGroupPairs": [{"GroupId": other}]}])
    with pytest.raises(ClientError) as err:
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "UserIdGroupPairs": [{"GroupId": other}]}])
    assert code(err) == "InvalidPermission.NotFound"
    ec2.delete_security_group(GroupId=other)
    ec2.delete_security_group(GroupName="api-sg")
    for bad in ({"GroupIds": [gid]}, {"GroupNames": ["api-sg"]}):
        with pytest.raises(ClientError) as err:
            ec2.describe_security_groups(**bad)
        assert code(err) == "InvalidGroup.NotFound"
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId=image(ec2), MinCount=1, MaxCount=1, SecurityGroupIds=[gid])
    assert code(err) == "InvalidGroup.NotFound"


def test_port_opened_and_closed_for_the_host(ec2: Any, cloud: RunningGureum) -> None:
    gid = ec2.create_security_group(GroupName="web-sg", Description="web")["GroupId"]
    default = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    ids: list[str] = []
    try:
        web = ec2.run_instances(ImageId=image(ec2), MinCount=1, MaxCount=1, UserData=SERVE,
                                SecurityGroupIds=[gid])["Instances"][0]
        ids.append(web["InstanceId"])
        peer = ec2.run_instances(ImageId=image(ec2), MinCount=1, MaxCount=1,
                                 UserData=SERVE)["Instances"][0]  # the default group
        ids.append(peer["InstanceId"])
        assert web["SecurityGroups"] == [{"GroupId": gid, "GroupName": "web-sg"}]
        ip, peer_ip = web["PrivateIpAddress"], peer["PrivateIpAddress"]
        # The default group lets the host in: the peer answers at once.
        wait_for(lambda: reachable(f"http://{peer_ip}/"))
        # web-sg has no ingress rule: nothing gets in, though the server runs.
        wait_for(lambda: from_inside(web["InstanceId"], "http://127.0.0.1/"))
        assert not reachable(f"http://{ip}/")

        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        wait_for(lambda: reachable(f"http://{ip}/"), timeout=10)
        assert not reachable(f"http://{ip}:8080/")  # only port 80 was opened
        # The instance's launcher applied them (gureum wrote them and sent SIGHUP).
        assert "tcp dport 80 accept" in (
            cloud.data_dir / "ec2" / "guests" / web["InstanceId"] / "rules.nft").read_text()
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        wait_for(lambda: not reachable(f"http://{ip}/"), timeout=10)

        # A group reference: members of the default group reach port 8080 of web.
        assert not from_inside(peer["InstanceId"], f"http://{ip}:8080/")
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8100,
             "UserIdGroupPairs": [{"GroupId": default}]}])
        wait_for(lambda: from_inside(peer["InstanceId"], f"http://{ip}:8080/"),
                 timeout=10)
        assert not reachable(f"http://{ip}:8080/")  # the host is not in the default group

        # ModifyInstanceAttribute Groups: web joins the default group, the host gets in.
        ec2.modify_instance_attribute(InstanceId=web["InstanceId"], Groups=[gid, default])
        wait_for(lambda: reachable(f"http://{ip}/"), timeout=10)
        groups = ec2.describe_instance_attribute(InstanceId=web["InstanceId"],
                                                 Attribute="groupSet")["Groups"]
        assert {g["GroupId"] for g in groups} == {gid, default}
        with pytest.raises(ClientError) as err:
            ec2.delete_security_group(GroupId=gid)
        assert code(err) == "DependencyViolation"
    finally:
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8100,
         "UserIdGroupPairs": [{"GroupId": default}]}])
    ec2.delete_security_group(GroupId=gid)
    assert leftovers(ids, cloud.data_dir) == []
