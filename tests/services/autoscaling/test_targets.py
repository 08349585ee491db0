"""Target groups with a fake ELB service: in-service members are registered,
scale-in deregisters before terminating, and with HealthCheckType ELB a target
reported unhealthy past the grace period is replaced."""

from __future__ import annotations

from typing import Any

from gureum.services.autoscaling.fleet import SERVICES_KEY
from gureum.services.base import Call

from .world import World, scenario

TG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef"


class FakeELB:
    def __init__(self) -> None:
        self.targets: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.unhealthy: set[str] = set()

    def register_targets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        for t in params["Targets"]:
            self.targets.add(t["Id"])
            self.calls.append(("register", t["Id"]))
        return {}

    def deregister_targets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        for t in params["Targets"]:
            self.targets.discard(t["Id"])
            self.calls.append(("deregister", t["Id"]))
        return {}

    async def describe_target_health(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        return {"TargetHealthDescriptions": [
            {"Target": {"Id": i, "Port": 80}, "TargetHealth": {
                "State": "unhealthy" if i in self.unhealthy else "healthy"}}
            for i in sorted(self.targets)]}


def with_elb(w: World) -> FakeELB:
    elb = FakeELB()
    w.env.extras[SERVICES_KEY]["elbv2"] = elb
    return elb


@scenario
async def test_members_join_and_leave_target_groups(w: World) -> None:
    elb = with_elb(w)
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=0, MaxSize=4, DesiredCapacity=2, AvailabilityZones=["us-east-1a"],
          TargetGroupARNs=[TG])
    await w.settle(steps=4)
    assert elb.targets == set(w.members())
    assert w.api("DescribeLoadBalancerTargetGroups", AutoScalingGroupName="web")[
        "LoadBalancerTargetGroups"] == [{"LoadBalancerTargetGroupARN": TG, "State": "InService"}]
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=1)
    await w.settle(steps=4)
    (kept,) = w.members()
    assert elb.targets == {kept}
    gone = next(i for kind, i in elb.calls if kind == "deregister")
    assert w.ec2_state(gone) in ("shutting-down", "terminated")
    w.api("DetachLoadBalancerTargetGroups", AutoScalingGroupName="web", TargetGroupARNs=[TG])
    await w.settle(steps=2)
    assert elb.targets == set()
    w.api("AttachLoadBalancerTargetGroups", AutoScalingGroupName="web", TargetGroupARNs=[TG])
    await w.settle(steps=2)
    assert elb.targets == {kept}
    w.api("DeleteAutoScalingGroup", AutoScalingGroupName="web", ForceDelete=True)
    await w.settle(steps=5)
    assert elb.targets == set() and w.running() == []


@scenario
async def test_elb_health_check_replaces_unhealthy_targets(w: World) -> None:
    elb = with_elb(w)
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=1, MaxSize=1, AvailabilityZones=["us-east-1a"], TargetGroupARNs=[TG],
          HealthCheckType="ELB", HealthCheckGracePeriod=30)
    await w.settle(steps=4)
    (first,) = w.members()
    elb.unhealthy.add(first)
    await w.settle(steps=3)
    assert w.members() == [first]  # within the grace period
    await w.settle(seconds=30, steps=2)
    await w.settle(steps=4)
    (second,) = w.members()
    assert second != first and elb.targets == {second}
    assert any("ELB system health check failure" in a["Cause"] for a in w.activities())
    w.api("DeleteAutoScalingGroup", AutoScalingGroupName="web", ForceDelete=True)
    await w.settle(steps=5)
    assert w.running() == []
