"""Scaling policies with a fake clock: target tracking owns its alarms and
follows metric data (above target → out, below → in), simple policies run from
a user's alarm with a cooldown, step policies pick their step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gureum.errors import AWSError
from gureum.services.cloudwatch.sources import Sample, publish, sources

from .world import ACCOUNT, REGION, World, call, scenario


def cpu(w: World, value: float) -> None:
    """Each member's CPU, as EC2 publishes it; Auto Scaling adds the group dimension."""
    samples = [Sample(ACCOUNT, REGION, "AWS/EC2", "CPUUtilization", value, w.clock.now(),
                      (("InstanceId", i),), "Percent") for i in w.members()]
    publish(w.env, w.cloudwatch.metrics, samples, sources(w.env).dimensioners)


async def minutes(w: World, n: int, value: float) -> None:
    for _ in range(n):
        cpu(w, value)
        await w.settle(seconds=60)


def alarms(w: World) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = w.cloudwatch.describe_alarms(call("monitoring"), {})[
        "MetricAlarms"]
    return out


async def make_group(w: World, desired: int = 1, high: int = 4) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=1, MaxSize=high, DesiredCapacity=desired, AvailabilityZones=["us-east-1a"],
          DefaultCooldown=120)
    await w.settle(steps=3)


@scenario
async def test_target_tracking_scales_out_and_in(w: World) -> None:
    await make_group(w)
    out = w.api("PutScalingPolicy", AutoScalingGroupName="web", PolicyName="cpu50",
                PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ASGAverageCPUUtilization"},
                    "TargetValue": 50.0})
    names = sorted(a["AlarmName"] for a in out["Alarms"])
    assert len(names) == 2
    assert names[0].startswith("TargetTracking-web-AlarmHigh-")
    assert names[1].startswith("TargetTracking-web-AlarmLow-")
    by_name = {a["AlarmName"]: a for a in alarms(w)}
    high = by_name[names[0]]
    assert high["Threshold"] == 50.0 and high["AlarmActions"] == [out["PolicyARN"]]
    assert high["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": "web"}]
    assert by_name[names[1]]["Threshold"] == 45.0

    await minutes(w, 5, 90.0)
    assert w.group()["DesiredCapacity"] >= 2
    await w.settle(steps=3)
    assert len(w.members()) == w.group()["DesiredCapacity"]
    cause = next(a["Cause"] for a in w.activities() if "Launching" in a["Description"])
    assert f"a monitor alarm {names[0]} in state ALARM triggered policy cpu50" in cause

    grown = w.group()["DesiredCapacity"]
    await minutes(w, 25, 10.0)
    assert w.group()["DesiredCapacity"] < grown
    await w.settle(steps=3)
    assert len(w.members()) == w.group()["DesiredCapacity"]

    w.api("DeletePolicy", AutoScalingGroupName="web", PolicyName="cpu50")
    assert alarms(w) == []
    assert w.api("DescribePolicies", AutoScalingGroupName="web")["ScalingPolicies"] == []


@scenario
async def test_simple_policy_from_a_user_alarm_with_cooldown(w: World) -> None:
    await make_group(w)
    arn = w.api("PutScalingPolicy", AutoScalingGroupName="web", PolicyName="up",
                AdjustmentType="ChangeInCapacity", ScalingAdjustment=1,
                Cooldown=300)["PolicyARN"]
    w.cloudwatch.put_metric_alarm(call("monitoring"), {
        "AlarmName": "busy", "Namespace": "App", "MetricName": "Queue", "Statistic": "Sum",
        "Period": 60, "EvaluationPeriods": 1, "Threshold": 10,
        "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [arn]})
    policies = w.api("DescribePolicies", AutoScalingGroupName="web")["ScalingPolicies"]
    assert policies[0]["Alarms"][0]["AlarmName"] == "busy"

    async def queue(n: int) -> None:
        for _ in range(n):
            w.cloudwatch.put_metric_data(call("monitoring"), {"Namespace": "App", "MetricData": [
                {"MetricName": "Queue", "Value": 50.0,
                 "Timestamp": datetime.fromtimestamp(w.clock.now(), UTC)}]})
            await w.settle(seconds=60)

    await queue(2)
    assert w.group()["DesiredCapacity"] == 2
    await queue(3)  # still in ALARM, but within the cooldown
    assert w.group()["DesiredCapacity"] == 2
    await queue(2)
    assert w.group()["DesiredCapacity"] == 3
    assert any(a["Cause"].find("monitor alarm busy in state ALARM triggered policy up") > 0
               for a in w.activities())


@scenario
async def test_step_policy_and_execute(w: World) -> None:
    await make_group(w, desired=2, high=10)
    w.api("PutScalingPolicy", AutoScalingGroupName="web", PolicyName="steps",
          PolicyType="StepScaling", AdjustmentType="PercentChangeInCapacity",
          MinAdjustmentMagnitude=1, StepAdjustments=[
              {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 20,
               "ScalingAdjustment": 10},
              {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 100}])
    w.api("ExecutePolicy", AutoScalingGroupName="web", PolicyName="steps",
          MetricValue=55, BreachThreshold=50)
    assert w.group()["DesiredCapacity"] == 3  # 10% of 2 rounds to the minimum of 1
    w.api("ExecutePolicy", AutoScalingGroupName="web", PolicyName="steps",
          MetricValue=90, BreachThreshold=50)
    assert w.group()["DesiredCapacity"] == 6
    with pytest.raises(AWSError) as err:
        w.api("ExecutePolicy", AutoScalingGroupName="web", PolicyName="steps")
    assert err.value.code == "ValidationError"
    w.api("PutScalingPolicy", AutoScalingGroupName="web", PolicyName="exact",
          AdjustmentType="ExactCapacity", ScalingAdjustment=20)
    w.api("ExecutePolicy", AutoScalingGroupName="web", PolicyName="exact")
    assert w.group()["DesiredCapacity"] == 10  # clamped to MaxSize
    with pytest.raises(AWSError) as err:
        w.api("PutScalingPolicy", AutoScalingGroupName="web", PolicyName="bad",
              AdjustmentType="Nope", ScalingAdjustment=1)
    assert err.value.code == "ValidationError"
    with pytest.raises(AWSError) as err:
        w.api("PutScalingPolicy", AutoScalingGroupName="web", PolicyName="bad",
              PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
                  "PredefinedMetricSpecification": {
                      "PredefinedMetricType": "ALBRequestCountPerTarget"},
                  "TargetValue": 100.0})
    assert err.value.code == "ValidationError"
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=1)
    await w.settle(steps=4)
    # Deleting the group deletes its policies.
    w.api("DeleteAutoScalingGroup", AutoScalingGroupName="web", ForceDelete=True)
    assert w.api("DescribePolicies")["ScalingPolicies"] == []
    await w.settle(steps=4)
    assert w.running() == []


@scenario
async def test_target_tracking_waits_for_warming_instances(w: World) -> None:
    await make_group(w)  # DefaultCooldown 120: instances warm up for 120 s
    w.api("PutScalingPolicy", AutoScalingGroupName="web", PolicyName="cpu50",
          PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
              "PredefinedMetricSpecification": {
                  "PredefinedMetricType": "ASGAverageCPUUtilization"},
              "TargetValue": 50.0})
    for _ in range(6):
        await minutes(w, 1, 80.0)
        if w.group()["DesiredCapacity"] > 1:
            break
    assert w.group()["DesiredCapacity"] == 2  # ceil(1 x 80 / 50)
    await w.settle(steps=3)
    # The alarm stays in ALARM while the new instance warms up: the policy runs
    # again each period but adds nothing, the warming instance will carry it.
    await minutes(w, 1, 80.0)
    assert w.group()["DesiredCapacity"] == 2
    # Warmed up and the load still above target: now it scales again.
    await minutes(w, 3, 80.0)
    assert w.group()["DesiredCapacity"] == 4  # ceil(2 x 80 / 50)


@scenario
async def test_target_tracking_on_metric_math(w: World) -> None:
    await make_group(w)
    out = w.api("PutScalingPolicy", AutoScalingGroupName="web", PolicyName="math",
                PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
                    "CustomizedMetricSpecification": {"Metrics": [
                        {"Id": "cpu", "ReturnData": False, "MetricStat": {
                            "Metric": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
                                       "Dimensions": [{"Name": "AutoScalingGroupName",
                                                       "Value": "web"}]},
                            "Stat": "Average"}},
                        {"Id": "doubled", "Expression": "cpu * 2", "Label": "twice"}]},
                    "TargetValue": 50.0})
    high = next(a for a in alarms(w) if "AlarmHigh" in a["AlarmName"])
    assert high["AlarmActions"] == [out["PolicyARN"]]
    assert [q["Id"] for q in high["Metrics"]] == ["cpu", "doubled"]
    assert high["Metrics"][0]["MetricStat"]["Period"] == 60
    for _ in range(6):
        await minutes(w, 1, 40.0)  # doubled: 80, above the target
        if w.group()["DesiredCapacity"] > 1:
            break
    assert w.group()["DesiredCapacity"] == 2
    for bad in ([{"Id": "a", "Expression": "1"}, {"Id": "b", "Expression": "2"}],
                [{"Id": "a"}],
                [{"Id": "a", "Expression": "1"}, {"Id": "a", "Expression": "2",
                                                  "ReturnData": False}]):
        with pytest.raises(AWSError) as err:
            w.api("PutScalingPolicy", AutoScalingGroupName="web", PolicyName="bad",
                  PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
                      "CustomizedMetricSpecification": {"Metrics": bad},
                      "TargetValue": 50.0})
        assert err.value.code == "ValidationError"
