"""Scheduled actions, lifecycle hooks, traffic sources and group metrics
through boto3: what botocore sends is parsed, what gureum answers parses back
(timestamps, batch failures, error codes). No instance is launched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import botocore.exceptions
import pytest

from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, root_only

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def test_schedules_hooks_and_sources_round_trip(cloud: RunningGureum) -> None:
    asg, ec2 = cloud.client("autoscaling"), cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="sched-lc", ImageId=image,
                                    InstanceType="t3.micro")
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    asg.create_auto_scaling_group(AutoScalingGroupName="sched", LaunchConfigurationName="sched-lc",
                                  MinSize=0, MaxSize=2, DesiredCapacity=0,
                                  AvailabilityZones=[zone])
    try:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        asg.put_scheduled_update_group_action(
            AutoScalingGroupName="sched", ScheduledActionName="once", StartTime=start,
            DesiredCapacity=1)
        out = asg.batch_put_scheduled_update_group_action(
            AutoScalingGroupName="sched", ScheduledUpdateGroupActions=[
                {"ScheduledActionName": "weekdays", "Recurrence": "0 9 * * 1-5",
                 "TimeZone": "Europe/Paris", "MinSize": 0, "MaxSize": 2},
                {"ScheduledActionName": "bad", "Recurrence": "not cron", "MinSize": 0}])
        assert [f["ScheduledActionName"] for f in
                out["FailedScheduledUpdateGroupActions"]] == ["bad"]
        actions = {a["ScheduledActionName"]: a for a in asg.describe_scheduled_actions(
            AutoScalingGroupName="sched")["ScheduledUpdateGroupActions"]}
        assert actions["once"]["StartTime"] == start
        assert actions["weekdays"]["Recurrence"] == "0 9 * * 1-5"
        assert actions["weekdays"]["TimeZone"] == "Europe/Paris"
        assert actions["weekdays"]["StartTime"] > datetime.now(UTC)
        asg.delete_scheduled_action(AutoScalingGroupName="sched", ScheduledActionName="once")
        out = asg.batch_delete_scheduled_action(AutoScalingGroupName="sched",
                                                ScheduledActionNames=["weekdays", "gone"])
        assert [f["ScheduledActionName"] for f in out["FailedScheduledActions"]] == ["gone"]

        asg.put_lifecycle_hook(AutoScalingGroupName="sched", LifecycleHookName="boot",
                               LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
                               HeartbeatTimeout=60, DefaultResult="CONTINUE")
        [hook] = asg.describe_lifecycle_hooks(AutoScalingGroupName="sched")["LifecycleHooks"]
        assert (hook["HeartbeatTimeout"], hook["GlobalTimeout"]) == (60, 6000)
        with pytest.raises(botocore.exceptions.ClientError) as err:
            asg.complete_lifecycle_action(AutoScalingGroupName="sched",
                                          LifecycleHookName="boot", InstanceId="i-0123456789",
                                          LifecycleActionResult="CONTINUE")
        assert err.value.response["Error"]["Code"] == "ValidationError"
        asg.delete_lifecycle_hook(AutoScalingGroupName="sched", LifecycleHookName="boot")

        asg.enable_metrics_collection(AutoScalingGroupName="sched", Granularity="1Minute",
                                      Metrics=["GroupDesiredCapacity"])
        group = asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=["sched"])["AutoScalingGroups"][0]
        assert group["EnabledMetrics"] == [{"Metric": "GroupDesiredCapacity",
                                            "Granularity": "1Minute"}]
        assert asg.describe_traffic_sources(AutoScalingGroupName="sched")["TrafficSources"] == []
    finally:
        asg.delete_auto_scaling_group(AutoScalingGroupName="sched", ForceDelete=True)
        asg.delete_launch_configuration(LaunchConfigurationName="sched-lc")
