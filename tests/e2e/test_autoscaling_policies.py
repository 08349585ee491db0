"""Scaling policies end to end through boto3: a target-tracking policy's alarms
appear in CloudWatch and go with the policy; a simple policy run by
ExecutePolicy and by a user alarm grows a real group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, root_only, wait_for

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def desired(asg: Any, name: str) -> int:
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    value: int = group["DesiredCapacity"]
    return value


def test_policies_and_their_alarms(cloud: RunningGureum) -> None:
    asg, ec2, cw = cloud.client("autoscaling"), cloud.client("ec2"), cloud.client("cloudwatch")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="pol-lc", ImageId=image,
                                    InstanceType="t3.micro")
    asg.create_auto_scaling_group(AutoScalingGroupName="pol", LaunchConfigurationName="pol-lc",
                                  MinSize=1, MaxSize=3, AvailabilityZones=["us-east-1a"])
    tracking = asg.put_scaling_policy(
        AutoScalingGroupName="pol", PolicyName="cpu", PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={"PredefinedMetricSpecification": {
            "PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 40.0})
    names = sorted(a["AlarmName"] for a in tracking["Alarms"])
    alarms = cw.describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == names
    assert all(a["AlarmActions"] == [tracking["PolicyARN"]] for a in alarms)

    simple = asg.put_scaling_policy(AutoScalingGroupName="pol", PolicyName="plus-one",
                                    AdjustmentType="ChangeInCapacity", ScalingAdjustment=1,
                                    Cooldown=0)
    described = asg.describe_policies(AutoScalingGroupName="pol")["ScalingPolicies"]
    assert sorted(p["PolicyName"] for p in described) == ["cpu", "plus-one"]
    asg.execute_policy(AutoScalingGroupName="pol", PolicyName="plus-one")
    assert desired(asg, "pol") == 2
    cw.put_metric_alarm(AlarmName="pol-busy", Namespace="App", MetricName="Jobs",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanThreshold",
                        AlarmActions=[simple["PolicyARN"]])
    cw.set_alarm_state(AlarmName="pol-busy", StateValue="ALARM", StateReason="by the test")
    wait_for(lambda: desired(asg, "pol") == 3, timeout=20)
    history = cw.describe_alarm_history(AlarmName="pol-busy", HistoryItemType="Action")
    assert history["AlarmHistoryItems"]

    def grown() -> bool:
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["pol"])[
            "AutoScalingGroups"][0]
        return sum(i["LifecycleState"] == "InService" for i in group["Instances"]) == 3

    wait_for(grown, timeout=30)
    asg.delete_policy(AutoScalingGroupName="pol", PolicyName="cpu")
    assert cw.describe_alarms(AlarmNames=names)["MetricAlarms"] == []
    asg.delete_auto_scaling_group(AutoScalingGroupName="pol", ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups()["AutoScalingGroups"], timeout=30)
    states = {i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
              for i in r["Instances"]}
    assert states <= {"terminated"}
    cw.delete_alarms(AlarmNames=["pol-busy"])


def test_target_tracking_on_metric_math(cloud: RunningGureum) -> None:
    asg, ec2, cw = cloud.client("autoscaling"), cloud.client("ec2"), cloud.client("cloudwatch")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    asg.create_launch_configuration(LaunchConfigurationName="math-lc", ImageId=image,
                                    InstanceType="t3.micro")
    asg.create_auto_scaling_group(AutoScalingGroupName="math", LaunchConfigurationName="math-lc",
                                  MinSize=0, MaxSize=2, AvailabilityZones=["us-east-1a"])
    out = asg.put_scaling_policy(
        AutoScalingGroupName="math", PolicyName="per-instance", PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={"TargetValue": 100.0, "CustomizedMetricSpecification": {
            "Metrics": [
                {"Id": "jobs", "ReturnData": False, "MetricStat": {"Stat": "Sum", "Metric": {
                    "Namespace": "App", "MetricName": "Jobs"}}},
                {"Id": "size", "ReturnData": False, "MetricStat": {"Stat": "Average", "Metric": {
                    "Namespace": "AWS/AutoScaling", "MetricName": "GroupInServiceInstances",
                    "Dimensions": [{"Name": "AutoScalingGroupName", "Value": "math"}]}}},
                {"Id": "per", "Expression": "jobs / size", "Label": "jobs per instance"}]}})
    names = sorted(a["AlarmName"] for a in out["Alarms"])
    alarms = cw.describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert len(alarms) == 2
    for alarm in alarms:
        assert [q["Id"] for q in alarm["Metrics"]] == ["jobs", "size", "per"]
        assert alarm["AlarmActions"] == [out["PolicyARN"]]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        asg.put_scaling_policy(
            AutoScalingGroupName="math", PolicyName="bad", PolicyType="TargetTrackingScaling",
            TargetTrackingConfiguration={"TargetValue": 1.0, "CustomizedMetricSpecification": {
                "Metrics": [{"Id": "a", "Expression": "1"}, {"Id": "b", "Expression": "2"}]}})
    assert err.value.response["Error"]["Code"] == "ValidationError"
    asg.delete_auto_scaling_group(AutoScalingGroupName="math", ForceDelete=True)
    assert cw.describe_alarms(AlarmNames=names)["MetricAlarms"] == []
    asg.delete_launch_configuration(LaunchConfigurationName="math-lc")
