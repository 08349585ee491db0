"""Load balancers in their subnets end to end, on both proxy drivers, with
real instances (network namespaces): a load balancer has its own address in
each subnet, on the host's bridge, where its name resolves; the host and an
instance of the VPC reach it there; it connects to its targets from its own
address, so an instance whose group lets in only the load balancer's group
answers through it, refuses the host, and refuses another load balancer in
another group; deleting a load balancer takes its addresses off the host."""

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.drivers import sockdir
from gureum.drivers.compute import hostnet
from gureum.testing.server import RunningGureum, running_gureum

from .ec2_support import (
    drop_bridge,
    ec2_gureum,
    leftovers,
    own_vpc,
    root_only,
    sweep,
    unprivileged_gureum,
    wait_for,
)
from .test_elb_support import DRIVERS, Backends, curl

pytestmark = pytest.mark.skipif(root_only or shutil.which("curl") is None,
                                reason="the namespace driver needs root; curl is needed")

SERVE = """#!/bin/bash
mkdir -p /srv/www && cd /srv/www && echo "hello from $(hostname)" > index.html
exec python3 -m http.server 80 --bind 0.0.0.0
"""


def host_addresses() -> str:
    return subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                          text=True, check=True).stdout


def on_host(address: str) -> bool:
    return f" {address}/32 " in host_addresses()


@pytest.fixture(scope="module", params=DRIVERS)
def cloud(request: pytest.FixtureRequest) -> Iterator[RunningGureum]:
    if request.param == "haproxy" and shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    with ec2_gureum(env={"GUREUM_PROXY_DRIVER": request.param}) as g:
        yield g


def forward_http(elb: Any, lb: dict[str, Any], name: str, instance_id: str,
                 vpc: str | None = None) -> str:
    """A target group of one instance on port 80 (checked every 5 s) and an
    HTTP:80 listener of ``lb`` forwarding to it; returns the group's ARN."""
    tg: str = elb.create_target_group(
        Name=name, Protocol="HTTP", Port=80, TargetType="instance",
        **({"VpcId": vpc} if vpc else {}),
        HealthCheckPath="/", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance_id}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return tg


def wait_healthy(elb: Any, tg: str) -> None:
    wait_for(lambda: elb.describe_target_health(TargetGroupArn=tg)[
        "TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy",
        timeout=90, interval=0.5)


def tear_down(elb: Any, ec2: Any, lbs: list[dict[str, Any]], ids: list[str]) -> None:
    """Delete the load balancers, then terminate the instances and wait until
    they are gone."""
    for lb in lbs:
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def in_netns(instance_id: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", f"gureum-{instance_id}", *argv],
                          capture_output=True, text=True, timeout=15)


def test_load_balancers_live_in_their_subnets(cloud: RunningGureum) -> None:
    ec2, elb = cloud.client("ec2"), cloud.client("elbv2")
    tag = uuid.uuid4().hex[:6]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnets = ec2.describe_subnets()["Subnets"][:2]
    cidrs = [ipaddress.IPv4Network(s["CidrBlock"]) for s in subnets]
    lb_sg = ec2.create_security_group(GroupName=f"lb-{tag}", Description="lb")["GroupId"]
    other_sg = ec2.create_security_group(GroupName=f"other-{tag}", Description="x")["GroupId"]
    web_sg = ec2.create_security_group(GroupName=f"web-{tag}", Description="web")["GroupId"]
    client_sg = ec2.create_security_group(GroupName=f"cl-{tag}", Description="x")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
         "UserIdGroupPairs": [{"GroupId": lb_sg}]}])
    ids: list[str] = []
    lbs: list[dict[str, Any]] = []
    try:
        web = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, UserData=SERVE,
                                SecurityGroupIds=[web_sg],
                                SubnetId=subnets[1]["SubnetId"])["Instances"][0]
        ids.append(web["InstanceId"])
        client = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                   SecurityGroupIds=[client_sg],
                                   SubnetId=subnets[0]["SubnetId"])["Instances"][0]
        ids.append(client["InstanceId"])
        for name, group in ((f"in-{tag}", lb_sg), (f"out-{tag}", other_sg)):
            lbs.append(elb.create_load_balancer(
                Name=name, Scheme="internal", SecurityGroups=[group],
                Subnets=[s["SubnetId"] for s in subnets])["LoadBalancers"][0])
        nlb = elb.create_load_balancer(Name=f"net-{tag}", Type="network", Scheme="internal",
                                       Subnets=[subnets[0]["SubnetId"]])["LoadBalancers"][0]
        lbs.append(nlb)
        # A network load balancer shows its address in its subnet (as AWS does).
        (shown,) = nlb["AvailabilityZones"][0]["LoadBalancerAddresses"]
        assert ipaddress.IPv4Address(shown["PrivateIPv4Address"]) in cidrs[0]
        groups = []
        for lb in lbs[:2]:
            groups.append(forward_http(elb, lb, lb["LoadBalancerName"], web["InstanceId"]))

        def health(tg: str) -> tuple[str, str]:
            (d,) = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            return d["TargetHealth"]["State"], d["TargetHealth"].get("Reason", "")

        wait_for(lambda: health(groups[0])[0] == "healthy", timeout=90, interval=0.5)
        # The other load balancer's group is not let in: its checks time out.
        wait_for(lambda: health(groups[1])[0] == "unhealthy", timeout=30, interval=0.5)
        assert health(groups[1]) == ("unhealthy", "Target.Timeout")

        # Its name resolves to its address in one of its subnets, held by the host.
        inner = lbs[0]
        address = socket.gethostbyname(inner["DNSName"])
        assert any(ipaddress.IPv4Address(address) in c for c in cidrs), address
        assert on_host(address)
        assert on_host(shown["PrivateIPv4Address"])
        private = {web["PrivateIpAddress"], client["PrivateIpAddress"]}
        assert address not in private and shown["PrivateIPv4Address"] not in private

        url = f"http://{inner['DNSName']}/"
        code, body = curl(url)  # from the host
        assert (code, body.split()[:2]) == (200, ["hello", "from"])
        # From an instance's network, by name (here the host's /etc/hosts; inside the
        # instance its own, see test_instance_names) and by address.
        for target in (url, f"http://{address}/"):
            out = in_netns(client["InstanceId"], "curl", "-s", "-m", "5", "-w",
                           "\n%{http_code}", target)
            assert out.stdout.endswith("\n200"), (target, out.stdout, out.stderr)
            assert out.stdout.startswith("hello from ip-")
        # From inside the instance (`gureum ssh`: its own namespaces and root).
        ssh = subprocess.run([sys.executable, "-m", "gureum", "ssh", client["InstanceId"],
                              "curl", "-s", "-m", "5", f"http://{address}/"],
                             capture_output=True, text=True, timeout=30,
                             env={**os.environ, "GUREUM_DATA_DIR": str(cloud.data_dir)})
        assert ssh.stdout.startswith("hello from ip-"), (ssh.stdout, ssh.stderr)
        # The instance refuses the host (its group lets in the load balancer only) ...
        assert curl(f"http://{web['PrivateIpAddress']}/", "-m", "3")[0] == 0
        # ... and the load balancer in the other group.
        assert curl(f"http://{lbs[1]['DNSName']}/")[0] == 503

        gone = [shown["PrivateIPv4Address"], address]
        for lb in lbs:
            elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        lbs = []
        wait_for(lambda: not any(on_host(a) for a in gone), timeout=15, interval=0.2)
    finally:
        tear_down(elb, ec2, lbs, ids)
    for g in (web_sg, client_sg, lb_sg, other_sg):
        ec2.delete_security_group(GroupId=g)
    assert leftovers(ids, cloud.data_dir) == []


def test_addresses_come_back_after_a_restart_once(tmp_path: Path) -> None:
    """gureum stopping takes the bridge (and the addresses) away; the next
    start puts each address back once, and the listener answers there again."""
    data_dir = tmp_path / "data"
    fixed = [{"Type": "fixed-response",
              "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "here"}}]
    try:
        with running_gureum(data_dir=data_dir, env={"GUREUM_PROXY_DRIVER": "builtin"}) as g:
            elb = g.client("elbv2")
            lb = elb.create_load_balancer(Name="again")["LoadBalancers"][0]
            elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP",
                                Port=80, DefaultActions=fixed)
            url = f"http://{lb['DNSName']}/"
            wait_for(lambda: curl(url) == (200, "here"), timeout=20, interval=0.2)
            address = socket.gethostbyname(lb["DNSName"])
            zones = len(lb["AvailabilityZones"])
            assert on_host(address)
        assert not on_host(address)
        with running_gureum(data_dir=data_dir, env={"GUREUM_PROXY_DRIVER": "builtin"}) as g:
            wait_for(lambda: curl(url) == (200, "here"), timeout=30, interval=0.2)
            bridge = hostnet.bridge_name(json.loads(
                (data_dir / "ec2" / "network.json").read_text())["cidr"])
            shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", bridge],
                                   capture_output=True, text=True).stdout
            assert shown.count("/32 ") == zones  # one per subnet, none twice
            assert shown.count(f" {address}/32 ") == 1
            g.client("elbv2").delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
            wait_for(lambda: not on_host(address), timeout=15, interval=0.2)
    finally:
        sweep(data_dir)
        drop_bridge(data_dir)


def test_without_root_a_load_balancer_keeps_its_loopback_address() -> None:
    """No instance network (gureum without root): one loopback address, as before."""
    echo = Backends()
    echo.start_echo("127.213.9.1", 9001)
    try:
        with unprivileged_gureum() as g:
            elb = g.client("elbv2")
            lb = elb.create_load_balancer(Name="lo", Type="network")["LoadBalancers"][0]
            addresses = {a["IpAddress"] for z in lb["AvailabilityZones"]
                         for a in z["LoadBalancerAddresses"]}
            (address,) = addresses
            assert address.startswith("127.")
            tg = elb.create_target_group(Name="lo", Protocol="TCP", Port=9001,
                                         TargetType="ip", HealthCheckIntervalSeconds=5,
                                         HealthyThresholdCount=2)["TargetGroups"][0][
                                             "TargetGroupArn"]
            elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.213.9.1"}])
            elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP",
                                Port=9002, DefaultActions=[{"Type": "forward",
                                                            "TargetGroupArn": tg}])

            def echoed() -> bool:
                with contextlib.suppress(OSError), \
                        socket.create_connection((address, 9002), timeout=2) as conn:
                    conn.sendall(b"ping")
                    return conn.recv(4) == b"ping"
                return False

            wait_for(echoed, timeout=30, interval=0.3)
            assert not on_host(address)  # (nothing was put on an interface)
    finally:
        echo.close()


def test_a_load_balancer_in_a_vpc_of_ones_own(cloud: RunningGureum) -> None:
    """In a VPC the user made, the addresses are on that VPC's bridge, kept
    while the load balancer lives (even with no instance there), and the
    VPC's instances and the host reach it."""
    ec2, elb = cloud.client("ec2"), cloud.client("elbv2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tag, second, vpc, subnets = own_vpc(ec2)
    lb_sg = ec2.create_security_group(GroupName=f"vlb-{tag}", Description="lb",
                                      VpcId=vpc)["GroupId"]
    web_sg = ec2.create_security_group(GroupName=f"vweb-{tag}", Description="web",
                                       VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
         "UserIdGroupPairs": [{"GroupId": lb_sg}]}])
    bridge = hostnet.bridge_name(f"10.{second}.0.0/16")
    ids: list[str] = []
    lb: dict[str, Any] = {}
    try:
        web = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, UserData=SERVE,
                                SecurityGroupIds=[web_sg], SubnetId=subnets[1]
                                )["Instances"][0]
        ids.append(web["InstanceId"])
        client = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                   SubnetId=subnets[0])["Instances"][0]
        ids.append(client["InstanceId"])
        lb = elb.create_load_balancer(Name=f"vpc-{tag}", Scheme="internal",
                                      SecurityGroups=[lb_sg], Subnets=subnets
                                      )["LoadBalancers"][0]
        assert lb["VpcId"] == vpc
        wait_healthy(elb, forward_http(elb, lb, f"vpc-{tag}", web["InstanceId"], vpc))
        address = socket.gethostbyname(lb["DNSName"])
        assert address.startswith(f"10.{second}.")
        shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", bridge],
                               capture_output=True, text=True).stdout
        assert f" {address}/32 " in shown
        url = f"http://{lb['DNSName']}/"
        code, body = curl(url)
        assert (code, body.split()[:2]) == (200, ["hello", "from"])
        out = in_netns(client["InstanceId"], "curl", "-s", "-m", "5", "-w", "\n%{http_code}",
                       url)
        assert out.stdout.endswith("\n200"), (out.stdout, out.stderr)
        # The web instance refuses the host: it lets in the load balancer only.
        assert curl(f"http://{web['PrivateIpAddress']}/", "-m", "3")[0] == 0

        # With no instance left in the VPC, the network stays for the load balancer.
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        assert on_host(address)
        # (no healthy target: once the load balancer's checks saw the targets go --
        # until then a request may wait on a target's address and time out, as on AWS)
        wait_for(lambda: curl(url)[0] == 503, timeout=30.0, interval=0.5)
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        lb = {}
        wait_for(lambda: not on_host(address), timeout=15, interval=0.2)
        wait_for(lambda: not hostnet.link_exists(bridge), timeout=15, interval=0.2)
    finally:
        if lb:
            elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    wait_for(lambda: not hostnet.link_exists(bridge), timeout=15, interval=0.2)
    for g in (web_sg, lb_sg):
        ec2.delete_security_group(GroupId=g)
    for s in subnets:
        ec2.delete_subnet(SubnetId=s)
    ec2.delete_vpc(VpcId=vpc)
    assert leftovers(ids, cloud.data_dir) == []


def test_set_subnets_moves_the_listeners(cloud: RunningGureum) -> None:
    ec2, elb = cloud.client("ec2"), cloud.client("elbv2")
    subnets = ec2.describe_subnets()["Subnets"][:3]
    cidrs = {s["SubnetId"]: ipaddress.IPv4Network(s["CidrBlock"]) for s in subnets}
    ids = [s["SubnetId"] for s in subnets]
    lb = elb.create_load_balancer(Name=f"move-{uuid.uuid4().hex[:6]}", Subnets=ids[:2])[
        "LoadBalancers"][0]
    try:
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                                "StatusCode": "200", "MessageBody": "moved"}}])

        def mine() -> dict[str, str]:
            """Subnet -> the load balancer's address there, as held by the host."""
            found = {}
            for line in host_addresses().splitlines():
                address = line.split()[3].split("/")[0]
                for subnet, net in cidrs.items():
                    if line.split()[3].endswith("/32") and \
                            ipaddress.IPv4Address(address) in net:
                        found[subnet] = address
            return found

        wait_for(lambda: set(mine()) >= set(ids[:2]), timeout=20, interval=0.2)
        first = mine()
        out = elb.set_subnets(LoadBalancerArn=lb["LoadBalancerArn"], Subnets=ids[1:])
        assert [z["SubnetId"] for z in out["AvailabilityZones"]] == ids[1:]
        wait_for(lambda: ids[2] in mine() and ids[0] not in mine(), timeout=20, interval=0.2)
        assert mine()[ids[1]] == first[ids[1]]
        url = f"http://{lb['DNSName']}/"
        assert curl(url) == (200, "moved")
        assert curl(f"http://{mine()[ids[2]]}/") == (200, "moved")
        assert curl(f"http://{first[ids[0]]}/", "-m", "2")[0] == 0
    finally:
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])


def test_purge_after_a_crash_takes_the_addresses_away(tmp_path: Path) -> None:
    """gureum killed with SIGKILL leaves its bridge and the load balancers'
    addresses on it; `gureum down --purge` removes them with the data dir."""
    data_dir = tmp_path / "data"
    bridge = ""
    try:
        with running_gureum(data_dir=data_dir, env={"GUREUM_PROXY_DRIVER": "builtin"}) as g:
            elb = g.client("elbv2")
            lb = elb.create_load_balancer(Name="crash")["LoadBalancers"][0]
            bridge = hostnet.bridge_name(json.loads(
                (data_dir / "ec2" / "network.json").read_text())["cidr"])
            wait_for(lambda: elb.describe_load_balancers(Names=["crash"])["LoadBalancers"][0][
                "State"]["Code"] == "active", timeout=20, interval=0.2)
            address = socket.gethostbyname(lb["DNSName"])
            g.stop(kill=True)
        assert on_host(address)  # (nothing ran to take it away)
        down = subprocess.run([sys.executable, "-m", "gureum", "down", "--purge"],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "GUREUM_DATA_DIR": str(data_dir)})
        assert down.returncode == 0, down.stderr
        assert not on_host(address)
        assert not data_dir.exists()
        assert not hostnet.link_exists(bridge)
        # (nor a short link to its proxy's socket directory, dangling now)
        assert not [p for p in sockdir.link_root().glob("*") if str(
            os.readlink(p)).startswith(str(data_dir))]
    finally:
        sweep(data_dir)
        drop_bridge(data_dir)
        if bridge and hostnet.link_exists(bridge) and not hostnet.has_members(bridge):
            subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
