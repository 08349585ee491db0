"""`ssh -i key.pem` into instances launched with a key pair (RSA and ED25519,
made by CreateKeyPair), on port 22 of their private IP, as ec2-user and root;
another key is refused, and so is a password-less try without a key."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, leftovers, root_only, wait_for

pytestmark = [
    pytest.mark.skipif(root_only, reason="the namespace driver needs root"),
    pytest.mark.skipif(not Path("/usr/sbin/sshd").exists() or not shutil.which("ssh"),
                       reason="needs openssh-server and the ssh client"),
]


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def ssh(key: Path, user: str, ip: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(key), "-p", "22", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", f"{user}@{ip}", command],
        capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_ssh_with_the_key_pair(cloud: RunningGureum, key_type: str) -> None:
    ec2: Any = cloud.client("ec2")
    name = f"ssh-{key_type}"
    material = ec2.create_key_pair(KeyName=name, KeyType=key_type)["KeyMaterial"]
    key = cloud.data_dir / f"{name}.pem"
    key.write_text(material)
    key.chmod(0o600)
    other = cloud.data_dir / f"{name}-other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    group = ec2.create_security_group(GroupName=f"ssh-{key_type}", Description="ssh")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                             KeyName=name, SecurityGroupIds=[group])["Instances"][0]
    iid, ip = inst["InstanceId"], inst["PrivateIpAddress"]
    try:
        out = wait_for(lambda: (r := ssh(key, "ec2-user", ip, "id -un; hostname")).returncode == 0
                       and r, timeout=30)
        assert isinstance(out, subprocess.CompletedProcess)
        assert out.stdout.split() == ["ec2-user", "ip-" + ip.replace(".", "-")]
        as_root = ssh(key, "root", ip, "id -u; cat /proc/1/cmdline | tr '\\0' ' '")
        assert as_root.returncode == 0, as_root.stderr
        uid, init = as_root.stdout.split("\n", 1)
        assert uid == "0" and "guest.py" in init  # inside: PID 1 is the instance's own init
        refused = ssh(other, "ec2-user", ip, "true")
        assert refused.returncode == 255 and "Permission denied" in refused.stderr
        # Port 22 closed by the security group: no answer.
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        wait_for(lambda: ssh(key, "ec2-user", ip, "true").returncode == 255, timeout=15)
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_terminated").wait(
            InstanceIds=[iid], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ec2.delete_security_group(GroupId=group)
        ec2.delete_key_pair(KeyName=name)
    assert leftovers([iid], cloud.data_dir) == []
