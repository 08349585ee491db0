"""Lifecycle hooks on the fake clock: launching instances wait in Pending:Wait
and terminating ones in Terminating:Wait until the action is completed, a
heartbeat extends the wait, a timeout applies the default result, and an
abandoned launch is replaced."""

from __future__ import annotations

import pytest

from gureum.errors import AWSError

from .world import World, scenario

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


def group(w: World, desired: int = 1) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=0, MaxSize=3, DesiredCapacity=desired, AvailabilityZones=["us-east-1a"])


def hook(w: World, name: str, transition: str, **params: object) -> None:
    w.api("PutLifecycleHook", AutoScalingGroupName="web", LifecycleHookName=name,
          LifecycleTransition=transition, **params)


@scenario
async def test_launch_waits_until_completed(w: World) -> None:
    group(w, desired=0)
    hook(w, "boot", LAUNCHING, HeartbeatTimeout=300, DefaultResult="CONTINUE")
    [described] = w.api("DescribeLifecycleHooks", AutoScalingGroupName="web")["LifecycleHooks"]
    assert described["HeartbeatTimeout"] == 300 and described["GlobalTimeout"] == 30000
    assert described["AutoScalingGroupName"] == "web"
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=1)
    await w.settle(steps=3)
    [iid] = w.members(state="Pending:Wait")
    assert w.members() == [] and len(w.running()) == 1  # counted: no second launch
    await w.settle(seconds=100, steps=2)
    assert w.members(state="Pending:Wait") == [iid]
    w.api("CompleteLifecycleAction", AutoScalingGroupName="web", LifecycleHookName="boot",
          InstanceId=iid, LifecycleActionResult="CONTINUE")
    await w.settle(steps=2)
    assert w.members() == [iid]
    with pytest.raises(AWSError, match="No active Lifecycle Action"):
        w.api("CompleteLifecycleAction", AutoScalingGroupName="web", LifecycleHookName="boot",
              InstanceId=iid, LifecycleActionResult="CONTINUE")
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=0)
    await w.settle(steps=3)
    assert w.running() == []


@scenario
async def test_heartbeat_then_timeout_abandons_and_replaces(w: World) -> None:
    group(w, desired=0)
    hook(w, "boot", LAUNCHING, HeartbeatTimeout=60)  # DefaultResult ABANDON
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=1)
    await w.settle(steps=3)
    [iid] = w.members(state="Pending:Wait")
    await w.settle(seconds=40)
    w.api("RecordLifecycleActionHeartbeat", AutoScalingGroupName="web",
          LifecycleHookName="boot", InstanceId=iid)
    await w.settle(seconds=40)
    assert w.members(state="Pending:Wait") == [iid]  # 80 s: the heartbeat extended it
    await w.settle(seconds=30, steps=3)
    assert w.ec2_state(iid) in ("shutting-down", "terminated")
    waiting = w.members(state="Pending:Wait")
    assert len(waiting) == 1 and waiting != [iid]  # replaced, the new one waits too
    w.api("DeleteLifecycleHook", AutoScalingGroupName="web", LifecycleHookName="boot")
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=0)
    await w.settle(steps=5)
    assert w.running() == []


@scenario
async def test_termination_waits_for_its_hook(w: World) -> None:
    group(w, desired=1)
    await w.settle(steps=3)
    [iid] = w.members()
    hook(w, "drain", TERMINATING, HeartbeatTimeout=120, DefaultResult="CONTINUE")
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=0)
    await w.settle(steps=3)
    assert w.members(state="Terminating:Wait") == [iid]
    assert w.ec2_state(iid) == "running"
    w.api("CompleteLifecycleAction", AutoScalingGroupName="web", LifecycleHookName="drain",
          InstanceId=iid, LifecycleActionResult="ABANDON")
    await w.settle(steps=3)
    assert w.running() == [] and w.members(state=None) == []
    # a second one times out with CONTINUE
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=1)
    await w.settle(steps=3)
    [second] = w.members()
    w.api("TerminateInstanceInAutoScalingGroup", InstanceId=second,
          ShouldDecrementDesiredCapacity=True)
    await w.settle(seconds=50, steps=2)
    assert w.members(state="Terminating:Wait") == [second]
    await w.settle(seconds=25, steps=3)
    assert w.running() == []


@scenario
async def test_hook_validation(w: World) -> None:
    group(w, desired=0)
    with pytest.raises(AWSError, match="LifecycleTransition"):
        hook(w, "x", "autoscaling:TEST_NOTIFICATION")
    with pytest.raises(AWSError, match="HeartbeatTimeout"):
        hook(w, "x", LAUNCHING, HeartbeatTimeout=10)
    with pytest.raises(AWSError, match="DefaultResult"):
        hook(w, "x", LAUNCHING, DefaultResult="MAYBE")
    with pytest.raises(AWSError, match="No Lifecycle Hook"):
        w.api("DeleteLifecycleHook", AutoScalingGroupName="web", LifecycleHookName="x")
    hook(w, "x", LAUNCHING)
    hook(w, "x", LAUNCHING, HeartbeatTimeout=100)  # an update keeps the rest
    [h] = w.api("DescribeLifecycleHooks", AutoScalingGroupName="web")["LifecycleHooks"]
    assert (h["HeartbeatTimeout"], h["DefaultResult"]) == (100, "ABANDON")
    w.api("DeleteLifecycleHook", AutoScalingGroupName="web", LifecycleHookName="x")
    assert w.api("DescribeLifecycleHooks", AutoScalingGroupName="web")["LifecycleHooks"] == []


@scenario
async def test_hooks_made_with_the_group_hold_its_first_instances(w: World) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=1, MaxSize=3, AvailabilityZones=["us-east-1a"],
          LifecycleHookSpecificationList=[
              {"LifecycleHookName": "boot", "LifecycleTransition": LAUNCHING,
               "HeartbeatTimeout": 120, "DefaultResult": "CONTINUE",
               "NotificationTargetARN": "arn:aws:sqs:us-east-1:000000000000:hooks",
               "RoleARN": "arn:aws:iam::000000000000:role/hooks"},
              {"LifecycleHookName": "bye", "LifecycleTransition": TERMINATING}])
    described = w.api("DescribeLifecycleHooks", AutoScalingGroupName="web")["LifecycleHooks"]
    assert [h["LifecycleHookName"] for h in described] == ["boot", "bye"]
    assert described[0]["NotificationTargetARN"] == "arn:aws:sqs:us-east-1:000000000000:hooks"
    assert described[1]["DefaultResult"] == "ABANDON"
    await w.settle(steps=3)
    [iid] = w.members(state="Pending:Wait")
    # The notification AWS would send is not: the activity says so.
    [act] = w.activities()
    assert act["StatusCode"] == "MidLifecycleAction"
    assert "not delivered to arn:aws:sqs:us-east-1:000000000000:hooks" in act["StatusMessage"]
    await w.settle(seconds=121, steps=3)  # the heartbeat timeout: CONTINUE
    assert w.members() == [iid]
    [act] = w.activities()
    assert act["StatusCode"] == "Successful" and "not delivered" in act["StatusMessage"]


@scenario
async def test_bad_hook_specifications(w: World) -> None:
    w.config()
    base = dict(AutoScalingGroupName="web", LaunchConfigurationName="lc", MinSize=0, MaxSize=1,
                AvailabilityZones=["us-east-1a"])
    for specs in ([{"LifecycleHookName": "x", "LifecycleTransition": "nope"}],
                  [{"LifecycleHookName": "x", "LifecycleTransition": LAUNCHING}] * 2,
                  [{"LifecycleHookName": "x", "LifecycleTransition": LAUNCHING,
                    "NotificationTargetARN": "arn:aws:lambda:us-east-1:0:function:f"}]):
        with pytest.raises(AWSError) as err:
            w.api("CreateAutoScalingGroup", LifecycleHookSpecificationList=specs, **base)
        assert err.value.code == "ValidationError"
    assert w.api("DescribeAutoScalingGroups")["AutoScalingGroups"] == []
