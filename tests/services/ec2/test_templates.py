"""``resolve_launch_template``, the seam Auto Scaling launches through: version
selectors, network interface parameters, AWS's errors, and overriding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.drivers.compute.fake import FakeComputeDriver
from gureum.errors import AWSError
from gureum.services.base import Call, Env, Identity
from gureum.services.ec2 import EC2
from gureum.services.ec2.core import DRIVER_KEY
from gureum.services.ec2.templates import merge_run_params, resolve_launch_template
from gureum.store import Store

ACCOUNT, REGION = "000000000000", "us-east-1"
CALL = Call("ec2", "CreateLaunchTemplate", ACCOUNT, REGION, Identity.root(ACCOUNT), "req")


@pytest.fixture
def ec2(tmp_path: Path) -> Any:
    store = Store.open(tmp_path / "gureum.db")
    env = Env(settings=Settings(data_dir=tmp_path), store=store, clock=FakeClock(),
              loops=LoopRunner(), extras={DRIVER_KEY: FakeComputeDriver()})
    yield EC2(env)
    store.close()


def test_resolve_versions_and_overrides(ec2: Any) -> None:
    tid = ec2.create_launch_template(CALL, {
        "LaunchTemplateName": "asg-tpl",
        "LaunchTemplateData": {"ImageId": "ami-1", "InstanceType": "t3.micro",
                               "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-1",
                                                      "Groups": ["sg-1"]}]},
    })["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(CALL, {"LaunchTemplateId": tid, "SourceVersion": "1",
                                              "LaunchTemplateData": {"InstanceType": "c5.large"}})
    store = ec2.store
    default = resolve_launch_template(store, ACCOUNT, REGION, {"LaunchTemplateId": tid})
    assert default["InstanceType"] == "t3.micro"
    assert default["SubnetId"] == "subnet-1" and default["SecurityGroupIds"] == ["sg-1"]
    assert "NetworkInterfaces" not in default
    assert default["LaunchTemplate"] == {"LaunchTemplateId": tid, "Version": "1"}
    latest = resolve_launch_template(store, ACCOUNT, REGION,
                                     {"LaunchTemplateName": "asg-tpl", "Version": "$Latest"})
    assert latest["InstanceType"] == "c5.large" and latest["ImageId"] == "ami-1"
    assert resolve_launch_template(store, ACCOUNT, REGION, {
        "LaunchTemplateId": tid, "Version": "2"})["LaunchTemplate"]["Version"] == "2"
    merged = merge_run_params(latest, {"InstanceType": "t3.nano", "MinCount": 2})
    assert merged["InstanceType"] == "t3.nano" and merged["ImageId"] == "ami-1"

    for spec, expected in [
        ({"LaunchTemplateId": tid, "Version": "7"}, "InvalidLaunchTemplateId.VersionNotFound"),
        ({"LaunchTemplateId": "lt-0123456789abcdef0"}, "InvalidLaunchTemplateId.NotFound"),
        ({"LaunchTemplateId": "nope"}, "InvalidLaunchTemplateId.Malformed"),
        ({"LaunchTemplateName": "other"}, "InvalidLaunchTemplateName.NotFoundException"),
        ({}, "MissingParameter"),
    ]:
        with pytest.raises(AWSError) as err:
            resolve_launch_template(store, ACCOUNT, REGION, spec)
        assert err.value.code == expected
