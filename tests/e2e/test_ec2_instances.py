"""Instances that really run, end to end through boto3 and the AWS CLI: user
data serving a page on the private IP, the metadata service answering from
inside, stop/start keeping the root volume, terminate leaving nothing, and
gureum restarts (SIGTERM and SIGKILL) bringing running instances back once."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.drivers.compute.hostnet import bridge_name
from gureum.drivers.compute.namespaces import veth_name
from gureum.testing.server import RunningGureum

from .ec2_support import (
    USER_DATA,
    ec2_gureum,
    guest_pids,
    http_get,
    init_pid,
    leftovers,
    root_only,
    wait_for,
)

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


def image_id(ec2: Any) -> str:
    image: str = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return image


def launch(ec2: Any, **kw: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"ImageId": image_id(ec2), "MinCount": 1, "MaxCount": 1,
                              "InstanceType": "t3.micro", "UserData": USER_DATA}
    params.update(kw)
    instance: dict[str, Any] = ec2.run_instances(**params)["Instances"][0]
    return instance


def state(ec2: Any, instance_id: str) -> str:
    r = ec2.describe_instances(InstanceIds=[instance_id])
    name: str = r["Reservations"][0]["Instances"][0]["State"]["Name"]
    return name


def test_user_data_web_server_metadata_stop_start_terminate(cloud: RunningGureum) -> None:
    ec2 = cloud.client("ec2")
    inst = launch(ec2, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}])
    iid, ip = inst["InstanceId"], inst["PrivateIpAddress"]
    assert inst["State"]["Name"] == "pending"
    assert ip.startswith("172.") and inst["PrivateDnsName"].startswith("ip-")
    try:
        page = str(wait_for(lambda: http_get(f"http://{ip}/")))
        hostname = "ip-" + ip.replace(".", "-")
        assert f"hello from {hostname}" in page
        assert f"id={iid}" in page  # IMDSv2 from inside the instance
        assert f"v1-ip={ip}" in page  # IMDSv1
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        console = ec2.get_console_output(InstanceId=iid)["Output"]
        assert "running user data" in console and "GET / HTTP" in console

        # The hostname resolves inside the instance (its own /etc/hosts).
        pid = str(init_pid(cloud.data_dir, iid))
        hosts = subprocess.run(["nsenter", "-t", pid, "-m", "-u", "-p", "-r", "cat", "/etc/hosts"],
                               capture_output=True, text=True).stdout
        assert hostname in hosts and ip in hosts
        ps = subprocess.run(["nsenter", "-t", pid, "-m", "-u", "-p", "-r", "ps", "-eo", "pid,args"],
                            capture_output=True, text=True).stdout
        assert "1 /usr/bin/python3" in ps and "http.server" in ps  # its own init is PID 1

        ec2.stop_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        with pytest.raises(OSError):
            http_get(f"http://{ip}/", timeout=0.5)
        assert leftovers([iid], cloud.data_dir) == []

        ec2.start_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        # The page written at first boot is on the kept root volume; user data did not rerun.
        again = str(wait_for(lambda: http_get(f"http://{ip}/")))
        assert again == page
        console = ec2.get_console_output(InstanceId=iid)["Output"]
        assert console.count("running user data") == 1
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert leftovers([iid], cloud.data_dir) == []
    assert not (cloud.data_dir / "ec2" / "guests" / iid).exists()
    # Terminated instances stay visible for a while.
    assert state(ec2, iid) == "terminated"


def test_limits_from_instance_type_and_resize_while_stopped(cloud: RunningGureum) -> None:
    ec2 = cloud.client("ec2")
    inst = launch(ec2, InstanceType="t2.micro", UserData="")
    iid = inst["InstanceId"]
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        cg = "/sys/fs/cgroup"
        assert read(f"{cg}/cpu/gureum/{iid}/cpu.cfs_quota_us").strip() == "100000"
        limit = int(read(f"{cg}/memory/gureum/{iid}/memory.limit_in_bytes"))
        assert limit == 1024 * 1024 * 1024
        assert int(read(f"{cg}/cpuacct/gureum/{iid}/cpuacct.usage")) > 0
        with pytest.raises(ec2.exceptions.ClientError) as err:
            ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.large"})
        assert err.value.response["Error"]["Code"] == "IncorrectInstanceState"
        ec2.stop_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.large"})
        ec2.start_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        assert read(f"{cg}/cpu/gureum/{iid}/cpu.cfs_quota_us").strip() == "200000"
        limit = int(read(f"{cg}/memory/gureum/{iid}/memory.limit_in_bytes"))
        assert limit == 8192 * 1024 * 1024
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid],
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert leftovers([iid], cloud.data_dir) == []


def test_aws_cli_runs_an_instance_with_a_key_pair(cloud: RunningGureum) -> None:
    key = cloud.aws("ec2", "create-key-pair", "--key-name", "cli-key", "--key-type", "ed25519",
                    "--output", "json", check=True)
    assert "OPENSSH PRIVATE KEY" in json.loads(key.stdout)["KeyMaterial"]
    ec2 = cloud.client("ec2")
    user_data = ("#!/bin/bash\ncurl -s http://169.254.169.254/latest/meta-data/public-keys/0/"
                 "openssh-key > /root/key.pub\n")
    ud_file = cloud.data_dir / "ud.sh"
    ud_file.write_text(user_data)
    out = cloud.aws("ec2", "run-instances", "--image-id", image_id(ec2), "--count", "1",
                    "--instance-type", "t3.nano", "--key-name", "cli-key",
                    "--user-data", f"file://{ud_file}", "--output", "json", check=True)
    iid = json.loads(out.stdout)["Instances"][0]["InstanceId"]
    try:
        cloud.aws("ec2", "wait", "instance-running", "--instance-ids", iid, check=True)
        public = ec2.describe_key_pairs(KeyNames=["cli-key"], IncludePublicKey=True)
        expected = public["KeyPairs"][0]["PublicKey"]
        upper = cloud.data_dir / "ec2" / "guests" / iid / "volume" / "upper" / "root" / "key.pub"
        assert str(wait_for(lambda: upper.exists() and upper.read_text())).strip() == expected
        listed = cloud.aws("ec2", "describe-instances", "--filters",
                           "Name=key-name,Values=cli-key", "--output", "json", check=True)
        ids = [i["InstanceId"] for r in json.loads(listed.stdout)["Reservations"]
               for i in r["Instances"]]
        assert ids == [iid]
    finally:
        cloud.aws("ec2", "terminate-instances", "--instance-ids", iid, check=True)
        cloud.aws("ec2", "wait", "instance-terminated", "--instance-ids", iid, check=True)
        ec2.delete_key_pair(KeyName="cli-key")
    assert leftovers([iid], cloud.data_dir) == []


def test_the_bridge_keeps_its_address_as_instances_come_and_go(cloud: RunningGureum) -> None:
    """A bridge left to itself takes the lowest MAC of its ports: when that port's
    instance goes, its neighbours keep the old address in their ARP caches and
    answer the host into the void for up to a minute."""
    ec2 = cloud.client("ec2")
    first, second = launch(ec2), launch(ec2)
    ids = [first["InstanceId"], second["InstanceId"]]
    try:
        for inst in (first, second):
            wait_for(lambda ip=inst["PrivateIpAddress"]: http_get(f"http://{ip}/"))
        cidr = json.loads((cloud.data_dir / "ec2" / "network.json").read_text())["cidr"]
        bridge = Path("/sys/class/net", bridge_name(cidr), "address")
        before = bridge.read_text()
        veths = {i: read(f"/sys/class/net/{veth_name(i)}/address") for i in ids}
        # The instance whose veth lends the bridge its address, if one does, goes.
        gone = next((i for i in ids if veths[i] == before), ids[0])
        kept = next(inst for inst in (first, second) if inst["InstanceId"] != gone)
        ec2.terminate_instances(InstanceIds=[gone])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[gone], WaiterConfig={"Delay": 1})
        assert bridge.read_text() == before
        assert "hello from" in http_get(f"http://{kept['PrivateIpAddress']}/", timeout=3.0)
    finally:
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
    assert leftovers(ids, cloud.data_dir) == []


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_restart_brings_running_instances_back_once(kill: bool) -> None:
    with ec2_gureum() as g:
        ec2 = g.client("ec2")
        running = launch(ec2)
        stopped = launch(ec2, UserData="")
        ids = [running["InstanceId"], stopped["InstanceId"]]
        ip = running["PrivateIpAddress"]
        wait_for(lambda: http_get(f"http://{ip}/"))
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
        ec2.stop_instances(InstanceIds=[ids[1]])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[ids[1]], WaiterConfig={"Delay": 1})
        before = sorted(guest_pids(g.data_dir))

        g.restart(kill=kill)
        ec2 = g.client("ec2")
        if kill:  # the instance kept running: adopted, not booted twice
            assert sorted(guest_pids(g.data_dir)) == before
        else:  # stopped with gureum, booted again when it came back
            assert state(ec2, ids[0]) == "running"
        page = str(wait_for(lambda: http_get(f"http://{ip}/")))
        assert "hello from" in page
        ec2.get_waiter("instance_running").wait(InstanceIds=[ids[0]], WaiterConfig={"Delay": 1})
        assert state(ec2, ids[1]) == "stopped"
        launchers = [p for p in guest_pids(g.data_dir)
                     if "launch" in read(f"/proc/{p}/cmdline")]
        assert len(launchers) == 2  # one launcher and one init: one instance, not two
        console = ec2.get_console_output(InstanceId=ids[0])["Output"]
        assert console.count("running user data") == 1
        assert len(ec2.describe_instances()["Reservations"]) == 2
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
        assert leftovers(ids, g.data_dir) == []
        data_dir = g.data_dir
    assert leftovers(ids, data_dir) == []


def test_user_data_base64_is_what_the_instance_sees(cloud: RunningGureum) -> None:
    ec2 = cloud.client("ec2")
    inst = launch(ec2, UserData="#!/bin/sh\necho from-user-data\n",
                  MetadataOptions={"HttpTokens": "required"})
    iid = inst["InstanceId"]
    try:
        attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
        assert base64.b64decode(attr["UserData"]["Value"]) == b"#!/bin/sh\necho from-user-data\n"
        wait_for(lambda: "from-user-data" in ec2.get_console_output(InstanceId=iid)["Output"])
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1})
