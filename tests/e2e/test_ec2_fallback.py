"""The fallback compute driver, end to end: a gureum without root (run as
``nobody``) picks it by itself and says so in /_gureum/health; an instance is
a process tree of that user on its own loopback address, its user data serves
a page there, stop/start keep its volume and rerun its per-boot script,
GetConsoleOutput shows its boot, and terminate leaves no process or file."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .ec2_support import NOBODY, http_get, session_pids, unprivileged_gureum, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")

USER_DATA = """#!/bin/sh
mkdir -p "$GUREUM_VOLUME/www" "$GUREUM_VOLUME/etc"
echo "hello from $HOSTNAME id=$GUREUM_INSTANCE_ID" > "$GUREUM_VOLUME/www/index.html"
cat > "$GUREUM_VOLUME/etc/rc.local" <<'EOF'
#!/bin/sh
cd "$GUREUM_VOLUME/www" && exec python3 -m http.server 8080 --bind "$GUREUM_ADDRESS"
EOF
chmod +x "$GUREUM_VOLUME/etc/rc.local"
exec "$GUREUM_VOLUME/etc/rc.local"
"""


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with unprivileged_gureum() as g:
        yield g


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(pid)


def test_chosen_without_root_and_reported(cloud: RunningGureum) -> None:
    assert cloud.health()["drivers"]["ec2"] == "process"
    ec2: Any = cloud.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    assert vpc["CidrBlock"] == "127.31.0.0/16"
    # Only the default VPC has loopback addresses.
    own = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=own, CidrBlock="10.90.1.0/24")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)
    assert err.value.response["Error"]["Code"] == "Unsupported"
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=own)


def test_instance_lifecycle_on_a_loopback_address(cloud: RunningGureum) -> None:
    ec2: Any = cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                             UserData=USER_DATA)["Instances"][0]
    iid, ip = inst["InstanceId"], inst["PrivateIpAddress"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.31.0.0/16")
    waiter = {"Delay": 1, "MaxAttempts": 30}
    try:
        page = str(wait_for(lambda: http_get(f"http://{ip}:8080/")))
        assert page.strip() == f"hello from ip-{ip.replace('.', '-')} id={iid}"
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=waiter)
        leader = int((cloud.data_dir / "ec2" / "guests" / iid / "pid").read_text())
        assert uid_of(leader) == NOBODY  # gureum's user: no root anywhere
        console = ec2.get_console_output(InstanceId=iid)["Output"]
        assert "running user data" in console and "boot finished" in console

        ec2.stop_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=waiter)
        assert session_pids(cloud.data_dir) == []
        with pytest.raises(OSError):
            http_get(f"http://{ip}:8080/", timeout=0.5)

        ec2.start_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=waiter)
        # The volume was kept and its per-boot script serves it again; user data ran once.
        assert str(wait_for(lambda: http_get(f"http://{ip}:8080/"))) == page
        console = ec2.get_console_output(InstanceId=iid)["Output"]
        assert console.count("running user data") == 1 and console.count("booting") == 2
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=waiter)
    assert session_pids(cloud.data_dir) == []
    assert not (cloud.data_dir / "ec2" / "guests" / iid).exists()
