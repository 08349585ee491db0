"""Standby, attach and detach on the fake clock: members leave and rejoin
service without being terminated, and the desired capacity follows
ShouldDecrementDesiredCapacity."""

from __future__ import annotations

import pytest

from gureum.errors import AWSError
from gureum.services.ec2.catalog import default_image_id

from .world import World, call, scenario


def group(w: World, desired: int = 2) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=0, MaxSize=3, DesiredCapacity=desired, AvailabilityZones=["us-east-1a"])


async def finish(w: World) -> None:
    w.api("UpdateAutoScalingGroup", AutoScalingGroupName="web", MinSize=0, DesiredCapacity=0)
    await w.settle(steps=3)


@scenario
async def test_standby_keeps_or_replaces_capacity(w: World) -> None:
    group(w)
    await w.settle(steps=3)
    first, second = w.members()
    out = w.api("EnterStandby", AutoScalingGroupName="web", InstanceIds=[first],
                ShouldDecrementDesiredCapacity=True)
    assert out["Activities"][0]["Description"] == f"Moving EC2 instance to Standby: {first}"
    await w.settle(steps=3)
    assert w.members() == [second] and w.members(state="Standby") == [first]
    assert w.group()["DesiredCapacity"] == 1 and w.ec2_state(first) == "running"
    w.api("ExitStandby", AutoScalingGroupName="web", InstanceIds=[first])
    await w.settle(steps=3)
    assert w.members() == [first, second] and w.group()["DesiredCapacity"] == 2
    w.api("EnterStandby", AutoScalingGroupName="web", InstanceIds=[second],
          ShouldDecrementDesiredCapacity=False)
    await w.settle(steps=3)
    assert len(w.members()) == 2 and second not in w.members()  # a replacement came
    w.api("ExitStandby", AutoScalingGroupName="web", InstanceIds=[second])
    await w.settle(steps=3)
    assert len(w.members()) == 3 and w.group()["DesiredCapacity"] == 3
    with pytest.raises(AWSError, match="not in Standby"):
        w.api("ExitStandby", AutoScalingGroupName="web", InstanceIds=[second])
    w.api("EnterStandby", AutoScalingGroupName="web", InstanceIds=[second],
          ShouldDecrementDesiredCapacity=True)
    w.api("UpdateAutoScalingGroup", AutoScalingGroupName="web", MaxSize=2)
    with pytest.raises(AWSError, match="max size"):
        w.api("ExitStandby", AutoScalingGroupName="web", InstanceIds=[second])
    w.api("TerminateInstanceInAutoScalingGroup", InstanceId=second,
          ShouldDecrementDesiredCapacity=False)
    await finish(w)
    assert w.running() == []


@scenario
async def test_attach_and_detach(w: World) -> None:
    group(w, desired=1)
    await w.settle(steps=3)
    [own] = w.members()
    out = w.ec2.run_instances(call("ec2"), {"ImageId": default_image_id(), "MinCount": 1,
                                            "MaxCount": 1, "InstanceType": "t3.micro",
                                            "Placement": {"AvailabilityZone": "us-east-1a"}})
    outsider = out["Instances"][0]["InstanceId"]
    with pytest.raises(AWSError, match="running"):
        w.api("AttachInstances", AutoScalingGroupName="web", InstanceIds=[outsider])
    await w.settle(steps=3)
    w.api("AttachInstances", AutoScalingGroupName="web", InstanceIds=[outsider])
    await w.settle(steps=3)
    assert w.members() == sorted([own, outsider]) and w.group()["DesiredCapacity"] == 2
    assert any(a["Description"] == f"Attaching an existing EC2 instance: {outsider}"
               and a["StatusCode"] == "Successful" for a in w.activities())
    with pytest.raises(AWSError, match="already part"):
        w.api("AttachInstances", AutoScalingGroupName="web", InstanceIds=[outsider])
    w.api("DetachInstances", AutoScalingGroupName="web", InstanceIds=[outsider],
          ShouldDecrementDesiredCapacity=True)
    await w.settle(steps=3)
    assert w.members(state=None) == [own] and w.group()["DesiredCapacity"] == 1
    assert w.ec2_state(outsider) == "running"
    w.api("DetachInstances", AutoScalingGroupName="web", InstanceIds=[own],
          ShouldDecrementDesiredCapacity=False)
    await w.settle(steps=3)
    [replacement] = w.members()
    assert replacement not in (own, outsider) and w.ec2_state(own) == "running"
    w.ec2.terminate_instances(call("ec2"), {"InstanceIds": [own, outsider]})
    await finish(w)
    assert w.running() == []
