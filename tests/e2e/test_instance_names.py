"""gureum's names resolve inside instances (their own namespaces and root, as
`gureum ssh` gives them): a load balancer's DNS name gives its address in its
subnet and serves a target's page by name; a name published after the
instance booted resolves there too, and a deleted load balancer's name goes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.testing.server import RunningGureum, running_gureum

from .ec2_support import drop_bridge, ec2_gureum, leftovers, root_only, sweep, wait_for
from .test_elb_network import SERVE, forward_http, tear_down, wait_healthy

pytestmark = pytest.mark.skipif(root_only or shutil.which("curl") is None,
                                reason="the namespace driver needs root; curl is needed")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum(env={"GUREUM_PROXY_DRIVER": "builtin"}) as g:
        yield g


def inside(cloud: RunningGureum, instance_id: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gureum", "ssh", instance_id, *argv],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "GUREUM_DATA_DIR": str(cloud.data_dir)})


def resolved(cloud: RunningGureum, instance_id: str, name: str) -> str | None:
    out = inside(cloud, instance_id, "getent", "hosts", name)
    return out.stdout.split()[0] if out.returncode == 0 and out.stdout else None


def test_names_resolve_inside_instances(cloud: RunningGureum) -> None:
    ec2, elb = cloud.client("ec2"), cloud.client("elbv2")
    tag = uuid.uuid4().hex[:6]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"][:2]]
    ids: list[str] = []
    lbs: list[dict[str, Any]] = []
    try:
        web = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, UserData=SERVE,
                                SubnetId=subnets[1])["Instances"][0]
        ids.append(web["InstanceId"])
        client = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                   SubnetId=subnets[0])["Instances"][0]
        ids.append(client["InstanceId"])
        me = client["InstanceId"]
        ec2.get_waiter("instance_running").wait(
            InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        # Its own lines are there, the host's loopback-only names are not.
        hosts = inside(cloud, me, "cat", "/etc/hosts").stdout
        assert f"{client['PrivateIpAddress']} {client['PrivateDnsName']}" in hosts, hosts
        assert "127.0.0.1 localhost" in hosts
        assert not [line for line in hosts.splitlines()
                    if line.startswith("127.") and "localhost" not in line], hosts

        # A load balancer made after the instance booted: its name resolves inside.
        lb = elb.create_load_balancer(Name=f"names-{tag}", Scheme="internal",
                                      Subnets=subnets)["LoadBalancers"][0]
        lbs.append(lb)
        wait_healthy(elb, forward_http(elb, lb, f"names-{tag}", web["InstanceId"]))
        address = resolved(cloud, me, lb["DNSName"])
        addresses = {a["IpAddress"] for z in lb["AvailabilityZones"]
                     for a in z.get("LoadBalancerAddresses", [])}
        assert address is not None and not address.startswith("127."), address
        assert address in addresses or not addresses
        page = inside(cloud, me, "curl", "-s", "-m", "5", f"http://{lb['DNSName']}/")
        assert page.stdout.startswith("hello from ip-"), (page.stdout, page.stderr)
        # The target instance resolves it as well (every instance's file follows).
        assert resolved(cloud, web["InstanceId"], lb["DNSName"]) == address

        # A second one comes and goes: its name appears, then disappears.
        other = elb.create_load_balancer(Name=f"later-{tag}", Scheme="internal",
                                         Subnets=subnets)["LoadBalancers"][0]
        lbs.append(other)
        wait_for(lambda: resolved(cloud, me, other["DNSName"]) is not None,
                 timeout=15, interval=0.3)
        elb.delete_load_balancer(LoadBalancerArn=other["LoadBalancerArn"])
        lbs.remove(other)
        wait_for(lambda: resolved(cloud, me, other["DNSName"]) is None,
                 timeout=15, interval=0.3)
        assert resolved(cloud, me, lb["DNSName"]) == address
    finally:
        tear_down(elb, ec2, lbs, ids)
    assert leftovers(ids, cloud.data_dir) == []


def host_resolves(name: str) -> str | None:
    try:
        return socket.gethostbyname(name)
    except OSError:
        return None


def test_private_dns_names_resolve_until_terminated(cloud: RunningGureum) -> None:
    """An instance's private DNS name gives its private address on the host
    (a page is served by name) and inside another instance, until it is
    terminated."""
    ec2 = cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids: list[str] = []
    try:
        web = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                UserData=SERVE)["Instances"][0]
        ids.append(web["InstanceId"])
        other = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
        ids.append(other["InstanceId"])
        ec2.get_waiter("instance_running").wait(
            InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        name, address = web["PrivateDnsName"], web["PrivateIpAddress"]
        assert name.endswith(".ec2.internal") and address
        wait_for(lambda: host_resolves(name) == address, timeout=15, interval=0.2)
        url = f"http://{name}/"

        def page() -> str:
            return subprocess.run(["curl", "-s", "-m", "3", url], capture_output=True,
                                  text=True, timeout=10).stdout

        wait_for(lambda: page().startswith("hello from ip-"), timeout=30, interval=0.5)
        wait_for(lambda: resolved(cloud, other["InstanceId"], name) == address,
                 timeout=15, interval=0.3)

        ec2.terminate_instances(InstanceIds=[web["InstanceId"]])
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=[web["InstanceId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        wait_for(lambda: host_resolves(name) is None, timeout=15, interval=0.2)
        wait_for(lambda: resolved(cloud, other["InstanceId"], name) is None,
                 timeout=15, interval=0.3)
        # The other one's name still resolves.
        assert host_resolves(other["PrivateDnsName"]) == other["PrivateIpAddress"]
    finally:
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert leftovers(ids, cloud.data_dir) == []
    wait_for(lambda: host_resolves(other["PrivateDnsName"]) is None, timeout=15, interval=0.2)


def test_an_adopted_instance_follows_names_after_a_restart(tmp_path: Path) -> None:
    """gureum killed and started again finds the instance still running (its
    hosts file still bound): names published by the new gureum reach it."""
    data_dir = tmp_path / "data"
    fixed = [{"Type": "fixed-response",
              "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "named"}}]
    try:
        with running_gureum(data_dir=data_dir, env={"GUREUM_PROXY_DRIVER": "builtin"}) as g:
            ec2 = g.client("ec2")
            image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
            iid, name = inst["InstanceId"], inst["PrivateDnsName"]
            ec2.get_waiter("instance_running").wait(
                InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            before = inside(g, iid, "cat", "/proc/1/stat").stdout.split()[21]
            wait_for(lambda: host_resolves(name) == inst["PrivateIpAddress"],
                     timeout=15, interval=0.2)

            g.restart(kill=True)
            assert inside(g, iid, "cat", "/proc/1/stat").stdout.split()[21] == before
            # Its private DNS name is published again by the new gureum.
            wait_for(lambda: host_resolves(name) == inst["PrivateIpAddress"],
                     timeout=15, interval=0.2)
            elb = g.client("elbv2")
            lb = elb.create_load_balancer(Name="after-restart")["LoadBalancers"][0]
            elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP",
                                Port=80, DefaultActions=fixed)
            wait_for(lambda: resolved(g, iid, lb["DNSName"]) is not None,
                     timeout=15, interval=0.3)
            url = f"http://{lb['DNSName']}/"
            wait_for(lambda: inside(g, iid, "curl", "-s", "-m", "3", url).stdout == "named",
                     timeout=20, interval=0.3)
            elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
            wait_for(lambda: resolved(g, iid, lb["DNSName"]) is None, timeout=15, interval=0.3)
            ec2 = g.client("ec2")
            ec2.terminate_instances(InstanceIds=[iid])
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            assert leftovers([iid], data_dir) == []
    finally:
        sweep(data_dir)
        drop_bridge(data_dir)
