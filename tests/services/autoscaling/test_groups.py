"""The group loop on the real EC2 service and the fake compute driver, with a
fake clock: convergence, zone balance, replacement of dead or unhealthy
instances, scale-in by termination policy, and the API's errors."""

from __future__ import annotations

import pytest

from gureum.errors import AWSError
from gureum.services.base import Call

from .world import World, scenario


@scenario
async def test_group_launches_to_desired_balanced_across_zones(w: World) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=1, MaxSize=6, DesiredCapacity=4,
          AvailabilityZones=["us-east-1a", "us-east-1b"],
          Tags=[{"Key": "team", "Value": "blue", "PropagateAtLaunch": True},
                {"Key": "secret", "Value": "x", "PropagateAtLaunch": False}])
    await w.settle(steps=3)
    ids = w.members()
    assert len(ids) == 4
    assert sorted(w.running()) == ids
    zones = [i["AvailabilityZone"] for i in w.group()["Instances"]]
    assert zones.count("us-east-1a") == zones.count("us-east-1b") == 2
    out = w.ec2.describe_instances(w_call(), {"InstanceIds": ids[:1]})
    tags = {t["Key"]: t["Value"] for t in out["Reservations"][0]["Instances"][0]["Tags"]}
    assert tags["team"] == "blue" and tags["aws:autoscaling:groupName"] == "web"
    assert "secret" not in tags
    acts = w.activities()
    assert len(acts) == 4
    assert all(a["StatusCode"] == "Successful" for a in acts)
    assert "increasing the capacity from 0 to 4" in acts[0]["Cause"]
    rows = w.api("DescribeAutoScalingInstances", InstanceIds=ids[:1])["AutoScalingInstances"]
    assert rows[0]["AutoScalingGroupName"] == "web"
    assert rows[0]["LaunchConfigurationName"] == "lc"


def w_call() -> Call:
    from .world import call

    return call("ec2")


@scenario
async def test_dead_and_terminated_instances_are_replaced(w: World) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=2, MaxSize=2, AvailabilityZones=["us-east-1a"])
    await w.settle(steps=3)
    first, second = w.members()
    w.driver.crash(first)  # its init died: EC2 reports it stopped
    w.ec2.terminate_instances(w_call(), {"InstanceIds": [second]})
    await w.settle(seconds=11, steps=3)
    await w.settle(steps=3)
    now = w.members()
    assert len(now) == 2 and first not in now and second not in now
    assert w.ec2_state(first) in ("shutting-down", "terminated")
    causes = " ".join(a["Cause"] for a in w.activities())
    assert "EC2 health check indicating it has been stopped" in causes
    assert "EC2 health check indicating it has been terminated" in causes


@scenario
async def test_scale_in_balances_zones_and_honours_policies(w: World) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=0, MaxSize=5, DesiredCapacity=3, AvailabilityZones=["us-east-1a",
                                                                      "us-east-1b"],
          TerminationPolicies=["NewestInstance"])
    await w.settle(steps=3)
    before = {i["InstanceId"]: i["AvailabilityZone"] for i in w.group()["Instances"]}
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=2)
    await w.settle(steps=3)
    after = {i["InstanceId"]: i["AvailabilityZone"] for i in w.group()["Instances"]}
    assert sorted(after.values()) == ["us-east-1a", "us-east-1b"]
    gone = set(before) - set(after)
    assert len(gone) == 1
    assert "user request explicitly set group desired capacity" in w.activities()[0]["Cause"]
    # Protected instances are never picked for scale-in.
    keep = sorted(after)
    w.api("SetInstanceProtection", AutoScalingGroupName="web", InstanceIds=keep,
          ProtectedFromScaleIn=True)
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=0)
    await w.settle(steps=3)
    assert w.members() == keep


@scenario
async def test_terminate_instance_and_set_health(w: World) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=1, MaxSize=3, DesiredCapacity=3, AvailabilityZones=["us-east-1a"],
          HealthCheckGracePeriod=60)
    await w.settle(steps=3)
    a, b, c = w.members()
    out = w.api("TerminateInstanceInAutoScalingGroup", InstanceId=a,
                ShouldDecrementDesiredCapacity=True)
    assert out["Activity"]["Description"] == f"Terminating EC2 instance: {a}"
    assert w.group()["DesiredCapacity"] == 2
    w.api("TerminateInstanceInAutoScalingGroup", InstanceId=b,
          ShouldDecrementDesiredCapacity=False)
    await w.settle(steps=4)
    left = w.members()
    assert len(left) == 2 and a not in left and b not in left and c in left
    # Within the grace period an Unhealthy report is ignored unless told otherwise.
    w.api("SetInstanceHealth", InstanceId=c, HealthStatus="Unhealthy")
    await w.settle(steps=2)
    assert c in w.members()
    w.api("SetInstanceHealth", InstanceId=c, HealthStatus="Unhealthy",
          ShouldRespectGracePeriod=False)
    await w.settle(steps=4)
    assert c not in w.members() and len(w.members()) == 2
    with pytest.raises(AWSError) as err:
        w.api("TerminateInstanceInAutoScalingGroup", InstanceId="i-0123456789abcdef0",
              ShouldDecrementDesiredCapacity=True)
    assert err.value.code == "ValidationError"


@scenario
async def test_errors(w: World) -> None:
    w.config()
    with pytest.raises(AWSError) as err:
        w.config()
    assert err.value.code == "AlreadyExists"
    base = dict(AutoScalingGroupName="web", LaunchConfigurationName="lc",
                AvailabilityZones=["us-east-1a"])
    for bad in ({"MinSize": 3, "MaxSize": 1}, {"MinSize": 1, "MaxSize": 2, "DesiredCapacity": 5},
                {"MinSize": 1, "MaxSize": 2, "LaunchConfigurationName": "nope"},
                {"MinSize": 1, "MaxSize": 2, "AvailabilityZones": []},
                {"MinSize": 1, "MaxSize": 2, "VPCZoneIdentifier": "subnet-nope"},
                {"MinSize": 1, "MaxSize": 2, "TerminationPolicies": ["Whatever"]}):
        with pytest.raises(AWSError) as err:
            w.api("CreateAutoScalingGroup", **{**base, **bad})
        assert err.value.code == "ValidationError", bad
    w.api("CreateAutoScalingGroup", **base, MinSize=1, MaxSize=2, DefaultCooldown=120)
    with pytest.raises(AWSError) as err:
        w.api("CreateAutoScalingGroup", **base, MinSize=1, MaxSize=2)
    assert err.value.code == "AlreadyExists"
    with pytest.raises(AWSError) as err:
        w.api("DeleteLaunchConfiguration", LaunchConfigurationName="lc")
    assert err.value.code == "ResourceInUse"
    with pytest.raises(AWSError) as err:  # the launch is in progress
        w.api("DeleteAutoScalingGroup", AutoScalingGroupName="web")
    assert err.value.code == "ScalingActivityInProgress"
    await w.settle(steps=3)
    with pytest.raises(AWSError) as err:
        w.api("DeleteAutoScalingGroup", AutoScalingGroupName="web")
    assert err.value.code == "ResourceInUse"
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=2,
          HonorCooldown=True)
    with pytest.raises(AWSError) as err:
        w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=1,
              HonorCooldown=True)
    assert err.value.code == "ScalingActivityInProgress"
    await w.settle(seconds=121)
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=1,
          HonorCooldown=True)
    with pytest.raises(AWSError) as err:
        w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=3)
    assert err.value.code == "ValidationError"


@scenario
async def test_force_delete_terminates_everything(w: World) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=2, MaxSize=2, AvailabilityZones=["us-east-1a"])
    await w.settle(steps=3)
    ids = w.members()
    w.api("DeleteAutoScalingGroup", AutoScalingGroupName="web", ForceDelete=True)
    assert w.group()["Status"] == "Delete in progress"
    await w.settle(steps=4)
    assert w.api("DescribeAutoScalingGroups")["AutoScalingGroups"] == []
    assert all(w.ec2_state(i) == "terminated" for i in ids)
    assert w.running() == []
    # The history of a deleted group is shown only when asked for.
    assert w.activities() == []
    old = w.api("DescribeScalingActivities", AutoScalingGroupName="web",
                IncludeDeletedGroups=True)["Activities"]
    assert len(old) == 4 and {a["StatusCode"] for a in old} == {"Successful"}
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=0, MaxSize=1, DesiredCapacity=1, AvailabilityZones=["us-east-1a"])
    await w.settle(steps=3)
    assert len(w.activities()) == 1  # a new group of the same name starts afresh
    assert len(w.api("DescribeScalingActivities", IncludeDeletedGroups=True)[
        "Activities"]) == 5
    w.api("DeleteAutoScalingGroup", AutoScalingGroupName="web", ForceDelete=True)
    await w.settle(steps=4)


@scenario
async def test_update_moves_bounds_and_source(w: World) -> None:
    w.config()
    w.config("lc2", InstanceType="t3.small")
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=1, MaxSize=4, AvailabilityZones=["us-east-1a"])
    await w.settle(steps=3)
    (old,) = w.members()
    w.api("UpdateAutoScalingGroup", AutoScalingGroupName="web", MinSize=2,
          LaunchConfigurationName="lc2")
    await w.settle(steps=3)
    group = w.group()
    assert group["DesiredCapacity"] == 2 and group["LaunchConfigurationName"] == "lc2"
    assert len(w.members()) == 2
    # Scale-in takes the instance of the old launch configuration first.
    w.api("UpdateAutoScalingGroup", AutoScalingGroupName="web", MinSize=1, DesiredCapacity=1)
    await w.settle(steps=3)
    (kept,) = w.members()
    assert kept != old
    rows = w.api("DescribeAutoScalingInstances")["AutoScalingInstances"]
    assert [r["LaunchConfigurationName"] for r in rows] == ["lc2"]


@scenario
async def test_groups_from_launch_templates(w: World) -> None:
    from gureum.services.ec2.catalog import default_image_id

    from .world import call

    ec2 = call("ec2")
    template = w.ec2.create_launch_template(ec2, {
        "LaunchTemplateName": "web-lt",
        "LaunchTemplateData": {"ImageId": default_image_id(), "InstanceType": "t3.micro"}})
    template_id = template["LaunchTemplate"]["LaunchTemplateId"]
    w.ec2.create_launch_template_version(ec2, {
        "LaunchTemplateId": template_id, "SourceVersion": "1",
        "LaunchTemplateData": {"InstanceType": "t3.small"}})
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="latest", MinSize=1, MaxSize=1,
          LaunchTemplate={"LaunchTemplateName": "web-lt", "Version": "$Latest"},
          AvailabilityZones=["us-east-1a"])
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="default", MinSize=1, MaxSize=1,
          LaunchTemplate={"LaunchTemplateId": template_id}, AvailabilityZones=["us-east-1a"])
    await w.settle(steps=3)
    latest, default = w.group("latest"), w.group("default")
    assert latest["LaunchTemplate"] == {"LaunchTemplateId": template_id,
                                        "LaunchTemplateName": "web-lt", "Version": "$Latest"}
    assert latest["Instances"][0]["InstanceType"] == "t3.small"
    assert latest["Instances"][0]["LaunchTemplate"]["Version"] == "2"
    assert default["Instances"][0]["InstanceType"] == "t3.micro"
    assert default["LaunchTemplate"]["Version"] == "$Default"
    with pytest.raises(AWSError) as err:
        w.api("CreateAutoScalingGroup", AutoScalingGroupName="bad", MinSize=1, MaxSize=1,
              LaunchTemplate={"LaunchTemplateName": "nope"}, AvailabilityZones=["us-east-1a"])
    assert err.value.code == "ValidationError"
    for name in ("latest", "default"):
        w.api("DeleteAutoScalingGroup", AutoScalingGroupName=name, ForceDelete=True)
    await w.settle(steps=4)
    assert w.running() == []
