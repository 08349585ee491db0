"""Group metrics and traffic sources on the fake clock: enabled
``AWS/AutoScaling`` metrics are published each minute and queryable through
CloudWatch; traffic sources are the group's ELB target groups."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gureum.errors import AWSError

from .world import World, call, scenario


@scenario
async def test_enabled_group_metrics_are_published(w: World) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=0, MaxSize=3, DesiredCapacity=2, AvailabilityZones=["us-east-1a"])
    w.api("EnableMetricsCollection", AutoScalingGroupName="web", Granularity="1Minute",
          Metrics=["GroupDesiredCapacity", "GroupInServiceInstances"])
    with pytest.raises(AWSError, match="Invalid metric"):
        w.api("EnableMetricsCollection", AutoScalingGroupName="web", Granularity="1Minute",
              Metrics=["Nope"])
    enabled = [m["Metric"] for m in w.group()["EnabledMetrics"]]
    assert enabled == ["GroupDesiredCapacity", "GroupInServiceInstances"]
    await w.settle(seconds=30, steps=6)
    out = w.cloudwatch.list_metrics(call("cloudwatch"), {"Namespace": "AWS/AutoScaling"})
    names = sorted(m["MetricName"] for m in out["Metrics"])
    assert names == ["GroupDesiredCapacity", "GroupInServiceInstances"]
    now = w.clock.now()
    stats = w.cloudwatch.get_metric_statistics(call("cloudwatch"), {
        "Namespace": "AWS/AutoScaling", "MetricName": "GroupInServiceInstances",
        "Dimensions": [{"Name": "AutoScalingGroupName", "Value": "web"}],
        "StartTime": datetime.fromtimestamp(now - 600, UTC),
        "EndTime": datetime.fromtimestamp(now + 60, UTC), "Period": 60,
        "Statistics": ["Maximum"]})
    assert max(p["Maximum"] for p in stats["Datapoints"]) == 2
    w.api("DisableMetricsCollection", AutoScalingGroupName="web")
    assert w.group()["EnabledMetrics"] == []
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=0)
    await w.settle(steps=3)


@scenario
async def test_traffic_sources_without_a_load_balancer_service(w: World) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=0, MaxSize=1, AvailabilityZones=["us-east-1a"])
    arn = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef"
    w.api("AttachTrafficSources", AutoScalingGroupName="web",
          TrafficSources=[{"Identifier": arn, "Type": "elbv2"}])
    out = w.api("DescribeTrafficSources", AutoScalingGroupName="web")
    assert out["TrafficSources"] == [{"TrafficSource": arn, "Identifier": arn, "Type": "elbv2",
                                      "State": "InService"}]
    assert w.group()["TargetGroupARNs"] == [arn]
    with pytest.raises(AWSError, match="not supported"):
        w.api("AttachTrafficSources", AutoScalingGroupName="web",
              TrafficSources=[{"Identifier": "x", "Type": "vpc-lattice"}])
    w.api("DetachTrafficSources", AutoScalingGroupName="web",
          TrafficSources=[{"Identifier": arn}])
    assert w.api("DescribeTrafficSources", AutoScalingGroupName="web")["TrafficSources"] == []
