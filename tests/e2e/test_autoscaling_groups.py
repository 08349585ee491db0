"""Auto Scaling groups end to end through boto3, with real instances: a group
converges on its desired capacity with instances that serve their user
data's page, replaces an instance whose processes were killed, scales in,
and a forced delete leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from gureum.testing.server import RunningGureum

from .ec2_support import USER_DATA, ec2_gureum, http_get, init_pid, leftovers, root_only, wait_for

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def in_service(asg: Any, name: str) -> list[str]:
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return sorted(i["InstanceId"] for i in group["Instances"]
                  if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy")


def ip_of(ec2: Any, instance_id: str) -> str:
    r = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    ip: str = r["PrivateIpAddress"]
    return ip


def error_code(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    code: str = exc.value.response["Error"]["Code"]
    return code


def test_group_lifecycle_with_real_instances(cloud: RunningGureum) -> None:
    asg, ec2 = cloud.client("autoscaling"), cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="web-lc", ImageId=image,
                                    InstanceType="t3.micro", UserData=USER_DATA)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        asg.create_launch_configuration(LaunchConfigurationName="web-lc", ImageId=image,
                                        InstanceType="t3.micro")
    assert error_code(err) == "AlreadyExists"
    subnets = ec2.describe_subnets()["Subnets"][:2]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web", LaunchConfigurationName="web-lc", MinSize=1, MaxSize=3,
        DesiredCapacity=2, VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets),
        Tags=[{"Key": "app", "Value": "web", "PropagateAtLaunch": True}])
    with pytest.raises(botocore.exceptions.ClientError) as err:
        asg.create_auto_scaling_group(AutoScalingGroupName="web",
                                      LaunchConfigurationName="web-lc", MinSize=1, MaxSize=3,
                                      AvailabilityZones=["us-east-1a"])
    assert error_code(err) == "AlreadyExists"
    ids: Any = wait_for(lambda: len(in_service(asg, "web")) == 2 and in_service(asg, "web"),
                        timeout=30)
    zones = {s["AvailabilityZone"] for s in subnets}
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    assert {i["AvailabilityZone"] for i in group["Instances"]} == zones
    for i in ids:
        page: Any = wait_for(lambda i=i: http_get(f"http://{ip_of(ec2, i)}/"), timeout=30)
        assert f"id={i}" in page
    tagged = ec2.describe_instances(Filters=[{"Name": "tag:aws:autoscaling:groupName",
                                              "Values": ["web"]}])
    assert sorted(i["InstanceId"] for r in tagged["Reservations"] for i in r["Instances"]) == ids

    # Kill an instance's processes: EC2 reports it stopped, the group replaces it.
    victim = ids[0]
    os.kill(init_pid(cloud.data_dir, victim), signal.SIGKILL)
    wait_for(lambda: victim not in in_service(asg, "web") and len(in_service(asg, "web")) == 2,
             timeout=60, interval=0.5)
    causes = [a["Cause"] for a in asg.describe_scaling_activities(
        AutoScalingGroupName="web")["Activities"]]
    assert any("EC2 health check" in c for c in causes)

    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=1)
    wait_for(lambda: len(in_service(asg, "web")) == 1 and len(
        asg.describe_auto_scaling_instances()["AutoScalingInstances"]) == 1, timeout=30)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        asg.delete_auto_scaling_group(AutoScalingGroupName="web")
    assert error_code(err) == "ResourceInUse"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        asg.delete_launch_configuration(LaunchConfigurationName="web-lc")
    assert error_code(err) == "ResourceInUse"

    everything = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    asg.delete_auto_scaling_group(AutoScalingGroupName="web", ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups()["AutoScalingGroups"], timeout=30)
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()[
        "Reservations"] for i in r["Instances"]}
    assert set(states.values()) == {"terminated"}
    assert leftovers([i["InstanceId"] for i in everything], cloud.data_dir) == []
    asg.delete_launch_configuration(LaunchConfigurationName="web-lc")
    assert asg.describe_launch_configurations()["LaunchConfigurations"] == []


def test_validation_errors(cloud: RunningGureum) -> None:
    asg = cloud.client("autoscaling")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        asg.create_auto_scaling_group(AutoScalingGroupName="bad", LaunchConfigurationName="none",
                                      MinSize=1, MaxSize=2, AvailabilityZones=["us-east-1a"])
    assert error_code(err) == "ValidationError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(botocore.exceptions.ClientError) as err:
        asg.set_desired_capacity(AutoScalingGroupName="none", DesiredCapacity=1)
    assert error_code(err) == "ValidationError"
    assert asg.describe_scaling_activities(AutoScalingGroupName="none")["Activities"] == []


def test_hooks_made_with_the_group(cloud: RunningGureum) -> None:
    asg, ec2 = cloud.client("autoscaling"), cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="hooked-lc", ImageId=image,
                                    InstanceType="t3.micro")
    queue = "arn:aws:sqs:us-east-1:000000000000:boot-events"
    asg.create_auto_scaling_group(
        AutoScalingGroupName="hooked", LaunchConfigurationName="hooked-lc", MinSize=1,
        MaxSize=1, AvailabilityZones=["us-east-1a"], LifecycleHookSpecificationList=[
            {"LifecycleHookName": "boot", "LifecycleTransition":
             "autoscaling:EC2_INSTANCE_LAUNCHING", "HeartbeatTimeout": 600,
             "NotificationTargetARN": queue,
             "RoleARN": "arn:aws:iam::000000000000:role/hooks"}])
    [hook] = asg.describe_lifecycle_hooks(AutoScalingGroupName="hooked")["LifecycleHooks"]
    assert hook["NotificationTargetARN"] == queue and hook["DefaultResult"] == "ABANDON"

    def waiting() -> str | None:
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["hooked"])[
            "AutoScalingGroups"][0]
        found = [i["InstanceId"] for i in group["Instances"]
                 if i["LifecycleState"] == "Pending:Wait"]
        return found[0] if found else None

    iid: Any = wait_for(waiting, timeout=30)
    [act] = asg.describe_scaling_activities(AutoScalingGroupName="hooked")["Activities"]
    assert act["StatusCode"] == "MidLifecycleAction"
    assert f"not delivered to {queue}" in act["StatusMessage"]
    asg.complete_lifecycle_action(AutoScalingGroupName="hooked", LifecycleHookName="boot",
                                  InstanceId=iid, LifecycleActionResult="CONTINUE")
    wait_for(lambda: in_service(asg, "hooked") == [iid], timeout=30)
    assert asg.describe_scaling_activities(AutoScalingGroupName="hooked")["Activities"][0][
        "StatusCode"] == "Successful"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        asg.put_lifecycle_hook(AutoScalingGroupName="hooked", LifecycleHookName="bad",
                               LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
                               NotificationTargetARN="not-an-arn")
    assert error_code(err) == "ValidationError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    asg.delete_auto_scaling_group(AutoScalingGroupName="hooked", ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=["hooked"])["AutoScalingGroups"], timeout=30)
    asg.delete_launch_configuration(LaunchConfigurationName="hooked-lc")


def test_limits_and_features_without_a_write_side(cloud: RunningGureum) -> None:
    asg, ec2 = cloud.client("autoscaling"), cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    before = asg.describe_account_limits()
    assert before["MaxNumberOfAutoScalingGroups"] == 500
    asg.create_launch_configuration(LaunchConfigurationName="empty-lc", ImageId=image,
                                    InstanceType="t3.micro")
    asg.create_auto_scaling_group(AutoScalingGroupName="empty", MinSize=0, MaxSize=1,
                                  LaunchConfigurationName="empty-lc",
                                  AvailabilityZones=["us-east-1a"])
    after = asg.describe_account_limits()
    assert after["NumberOfAutoScalingGroups"] == before["NumberOfAutoScalingGroups"] + 1
    assert after["NumberOfLaunchConfigurations"] == before["NumberOfLaunchConfigurations"] + 1
    assert {t["AdjustmentType"] for t in asg.describe_adjustment_types()["AdjustmentTypes"]} \
        == {"ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity"}
    assert "autoscaling:EC2_INSTANCE_LAUNCH" in asg.describe_auto_scaling_notification_types()[
        "AutoScalingNotificationTypes"]
    # Read through the AWS CLI, as tools reading a group's whole state do.
    for args in (["describe-load-balancers", "--auto-scaling-group-name", "empty"],
                 ["describe-notification-configurations"],
                 ["describe-warm-pool", "--auto-scaling-group-name", "empty"],
                 ["describe-instance-refreshes", "--auto-scaling-group-name", "empty"]):
        out = cloud.aws("autoscaling", *args, "--output", "json")
        assert out.returncode == 0, out.stderr
        assert all(v in ([], None) for k, v in json.loads(out.stdout).items()), \
            out.stdout
    missing = cloud.aws("autoscaling", "describe-warm-pool", "--auto-scaling-group-name", "none")
    assert missing.returncode != 0 and "ValidationError" in missing.stderr
    with pytest.raises(botocore.exceptions.ClientError) as err:
        asg.put_warm_pool(AutoScalingGroupName="empty", MinSize=1)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    asg.delete_auto_scaling_group(AutoScalingGroupName="empty")
    asg.delete_launch_configuration(LaunchConfigurationName="empty-lc")
