"""Cloud-config user data, end to end through boto3: ``write_files`` and
``runcmd`` run at first boot (the init reads the YAML with the image's
python3-yaml, a site package it loads only for cloud-config), ``packages``
said to be unsupported, all of it in the console output."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from gureum.drivers.compute.namespaces import host_python
from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, root_only, wait_for


def host_has_yaml() -> bool:
    done = subprocess.run([host_python(), "-c", "import yaml"], capture_output=True)
    return done.returncode == 0


pytestmark = [
    pytest.mark.skipif(root_only, reason="the namespace driver needs root"),
    pytest.mark.skipif(not host_has_yaml(), reason="the host's python3 has no yaml"),
]

CLOUD_CONFIG = """#cloud-config
write_files:
  - path: /srv/hello.txt
    content: hello from cloud-config
packages:
  - nginx
runcmd:
  - echo "runcmd saw $(cat /srv/hello.txt)"
  - [sh, -c, "echo listed-form-ran"]
"""


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def test_cloud_config_writes_files_and_runs_commands(cloud: RunningGureum) -> None:
    ec2 = cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    iid = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                            UserData=CLOUD_CONFIG)["Instances"][0]["InstanceId"]
    try:
        def console() -> str:
            text: str = ec2.get_console_output(InstanceId=iid).get("Output", "")
            return text

        wait_for(lambda: "listed-form-ran" in console())
        out = console()
        assert "cloud-config: wrote /srv/hello.txt" in out
        assert "runcmd saw hello from cloud-config" in out
        assert "unsupported by this image" in out
        assert "needs python3-yaml" not in out
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1})
