"""`gureum ssh` enters a running instance; `gureum down --purge` leaves nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gureum.testing.server import running_gureum

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="instances need root")


def gureum_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gureum", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "GUREUM_DATA_DIR": str(data_dir)},
    )


def test_ssh_and_purge() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="gureum-purge-"))
    with running_gureum(data_dir=data_dir) as g:
        ec2 = g.client("ec2")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                     InstanceType="t3.micro")["Instances"][0]["InstanceId"]
        ec2.get_waiter("instance_running").wait(
            InstanceIds=[instance], WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
        )
        out = gureum_cli("ssh", instance, "hostname", data_dir=data_dir)
        assert out.returncode == 0, out.stderr
        private_ip = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0][
            "Instances"][0]["PrivateIpAddress"]
        assert out.stdout.strip() == "ip-" + private_ip.replace(".", "-")
        elb = g.client("elbv2")
        lb = elb.create_load_balancer(Name="purge-lb")["LoadBalancers"][0]
        deadline = time.monotonic() + 20
        while elb.describe_load_balancers(Names=["purge-lb"])["LoadBalancers"][0]["State"][
                "Code"] != "active":
            assert time.monotonic() < deadline, "load balancer not active"
            time.sleep(0.1)
        lb_address = socket.gethostbyname(lb["DNSName"])  # on the host, in its subnet
        assert f" {lb_address}/32 " in subprocess.run(
            ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
        out = gureum_cli("ssh", "i-0000000000000000f", data_dir=data_dir)
        assert out.returncode == 1 and "not running" in out.stderr
        down = gureum_cli("down", "--purge", "--port", str(g.port), data_dir=data_dir)
        assert down.returncode == 0, down.stderr
        g.proc = None  # stopped by the CLI
    deadline = time.monotonic() + 10
    while data_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not data_dir.exists()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert instance not in netns
    addresses = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                               text=True).stdout
    assert f" {lb_address}/" not in addresses
