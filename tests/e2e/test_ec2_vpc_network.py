"""Instances in VPCs the user created, end to end through boto3 and curl: each
gets a private IP from its subnet, the host reaches it there, it reaches the
instances of its own VPC (across subnets), the host and the metadata service,
and not the instances of another VPC or of the default VPC. A VPC whose range
the host cannot route to it is refused, and nothing is left on the host."""

from __future__ import annotations

import http.server
import ipaddress
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.drivers.compute.hostnet import bridge_name
from gureum.testing.server import RunningGureum

from .ec2_support import USER_DATA, ec2_gureum, http_get, leftovers, root_only, wait_for

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")

VPC_A, VPC_B = "10.77.0.0/16", "10.78.0.0/16"


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def from_inside(instance_id: str, url: str) -> bool:
    """Whether an instance (entered by its network namespace) gets a 200 from ``url``."""
    r = subprocess.run(["ip", "netns", "exec", f"gureum-{instance_id}", "curl", "-s", "-m", "1",
                        "-o", "/dev/null", "-w", "%{http_code}", url],
                       capture_output=True, text=True)
    return r.stdout.strip() == "200"


def launch(ec2: Any, image: str, subnet_id: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"ImageId": image, "MinCount": 1, "MaxCount": 1,
                              "InstanceType": "t3.micro", "UserData": USER_DATA}
    if subnet_id:
        params["SubnetId"] = subnet_id
    instance: dict[str, Any] = ec2.run_instances(**params)["Instances"][0]
    return instance


def host_server(address: str) -> http.server.ThreadingHTTPServer:
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"host\n")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_instances_in_created_vpcs(cloud: RunningGureum) -> None:
    ec2 = cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    vpc_a = ec2.create_vpc(CidrBlock=VPC_A)["Vpc"]["VpcId"]
    vpc_b = ec2.create_vpc(CidrBlock=VPC_B)["Vpc"]["VpcId"]
    a1 = ec2.create_subnet(VpcId=vpc_a, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    a2 = ec2.create_subnet(VpcId=vpc_a, CidrBlock="10.77.2.0/24",
                           AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    b1 = ec2.create_subnet(VpcId=vpc_b, CidrBlock="10.78.1.0/24")["Subnet"]["SubnetId"]
    ids: list[str] = []
    server = None
    try:
        first = launch(ec2, image, a1)
        ids.append(first["InstanceId"])
        second = launch(ec2, image, a2)
        ids.append(second["InstanceId"])
        other = launch(ec2, image, b1)
        ids.append(other["InstanceId"])
        default = launch(ec2, image)
        ids.append(default["InstanceId"])
        ips = {i["InstanceId"]: i["PrivateIpAddress"] for i in (first, second, other, default)}
        for inst, (subnet, vpc, cidr) in zip(
                (first, second, other),
                [(a1, vpc_a, "10.77.1.0/24"), (a2, vpc_a, "10.77.2.0/24"),
                 (b1, vpc_b, "10.78.1.0/24")], strict=True):
            assert inst["SubnetId"] == subnet and inst["VpcId"] == vpc
            assert ipaddress.ip_address(inst["PrivateIpAddress"]) in ipaddress.ip_network(cidr)
            assert inst["PrivateDnsName"].startswith(
                "ip-" + inst["PrivateIpAddress"].replace(".", "-"))

        # The host reaches each at its private IP; the metadata service answered each.
        for iid, ip in ips.items():
            page = str(wait_for(lambda ip=ip: http_get(f"http://{ip}/"), timeout=30))
            assert f"id={iid}" in page and f"v1-ip={ip}" in page
        found = ec2.describe_instances(Filters=[{"Name": "vpc-id", "Values": [vpc_a]}])
        assert {i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]} == {
            first["InstanceId"], second["InstanceId"]}

        # Its own VPC (another subnet) and the host, yes; another VPC, no.
        assert from_inside(first["InstanceId"], f"http://{ips[second['InstanceId']]}/")
        server = host_server("10.77.0.1")
        assert from_inside(first["InstanceId"], f"http://10.77.0.1:{server.server_port}/")
        for src, dst in [(first, other), (other, first), (default, second), (second, default)]:
            assert not from_inside(src["InstanceId"], f"http://{ips[dst['InstanceId']]}/"), (
                src["PrivateIpAddress"], dst["PrivateIpAddress"])

        # A range the host already gives another VPC (or the default VPC) is refused.
        overlapping = ec2.create_vpc(CidrBlock="10.77.0.0/20")["Vpc"]["VpcId"]
        s = ec2.create_subnet(VpcId=overlapping, CidrBlock="10.77.0.0/24")["Subnet"]["SubnetId"]
        with pytest.raises(ClientError) as err:
            launch(ec2, image, s)
        assert err.value.response["Error"]["Code"] == "Unsupported"
        assert vpc_a in err.value.response["Error"]["Message"]
        ec2.delete_subnet(SubnetId=s)
        ec2.delete_vpc(VpcId=overlapping)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert leftovers(ids, cloud.data_dir) == []
    # The VPCs' bridges went with their last instances.
    for cidr in (VPC_A, VPC_B):
        assert not Path("/sys/class/net", bridge_name(cidr)).exists()
    for subnet in (a1, a2, b1):
        ec2.delete_subnet(SubnetId=subnet)
    for vpc in (vpc_a, vpc_b):
        ec2.delete_vpc(VpcId=vpc)
