"""Scheduled actions on the fake clock: one-time and recurring (cron in a time
zone) actions change the group's sizes at their time, recorded as activities;
the batch forms report failures per action; EndTime ends a recurrence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gureum.errors import AWSError

from .world import World, scenario


def group(w: World, desired: int = 1) -> None:
    w.config()
    w.api("CreateAutoScalingGroup", AutoScalingGroupName="web", LaunchConfigurationName="lc",
          MinSize=0, MaxSize=5, DesiredCapacity=desired, AvailabilityZones=["us-east-1a"])


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@scenario
async def test_one_time_action_runs_once_at_its_time(w: World) -> None:
    group(w)
    await w.settle(steps=3)
    now = w.clock.now()
    w.api("PutScheduledUpdateGroupAction", AutoScalingGroupName="web",
          ScheduledActionName="grow", StartTime=at(now + 120), DesiredCapacity=3, MaxSize=4)
    listed = w.api("DescribeScheduledActions", AutoScalingGroupName="web")
    [action] = listed["ScheduledUpdateGroupActions"]
    assert action["ScheduledActionName"] == "grow" and action["StartTime"] == now + 120
    assert action["ScheduledActionARN"].endswith(":scheduledActionName/grow")
    await w.settle(seconds=30, steps=3)
    assert len(w.members()) == 1
    await w.settle(seconds=30, steps=2)
    await w.settle(steps=3)
    assert len(w.members()) == 3
    g = w.group()
    assert (g["MaxSize"], g["DesiredCapacity"]) == (4, 3)
    acts = w.activities()
    assert any(a["Description"] == "Executing scheduled action grow" for a in acts)
    assert any("a scheduled action update of AutoScalingGroup constraints to min: 0, max: 4, "
               "desired: 3 changing the desired capacity from 1 to 3" in a["Cause"]
               and a["Description"].startswith("Launching") for a in acts)
    assert w.api("DescribeScheduledActions")["ScheduledUpdateGroupActions"] == []


@scenario
async def test_recurring_action_in_a_time_zone_until_its_end(w: World) -> None:
    group(w, desired=0)
    now = w.clock.now()
    w.api("PutScheduledUpdateGroupAction", AutoScalingGroupName="web",
          ScheduledActionName="tick", Recurrence="*/10 * * * *", TimeZone="Asia/Kolkata",
          DesiredCapacity=2, EndTime=at(now + 3600 * 2))
    first = w.api("DescribeScheduledActions")["ScheduledUpdateGroupActions"][0]["StartTime"]
    # Kolkata is UTC+5:30, so every tenth minute is also a tenth minute in UTC.
    assert first % 600 == 0 and now < first <= now + 600
    await w.settle(seconds=first - now)
    await w.settle(steps=3)
    assert len(w.members()) == 2
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=0)
    second = w.api("DescribeScheduledActions")["ScheduledUpdateGroupActions"][0]["StartTime"]
    assert second == first + 600
    await w.settle(seconds=second - w.clock.now())
    await w.settle(steps=3)
    assert w.group()["DesiredCapacity"] == 2
    runs = [a for a in w.activities() if a["Description"] == "Executing scheduled action tick"]
    assert len(runs) == 2
    await w.settle(seconds=3600 * 3)
    assert w.api("DescribeScheduledActions")["ScheduledUpdateGroupActions"] == []
    w.api("UpdateAutoScalingGroup", AutoScalingGroupName="web", MinSize=0, DesiredCapacity=0)
    await w.settle(steps=3)


@scenario
async def test_validation_batches_and_deletes(w: World) -> None:
    group(w, desired=0)
    now = w.clock.now()
    with pytest.raises(AWSError, match="in the past"):
        w.api("PutScheduledUpdateGroupAction", AutoScalingGroupName="web",
              ScheduledActionName="old", StartTime=at(now - 60), DesiredCapacity=1)
    with pytest.raises(AWSError, match="At least one"):
        w.api("PutScheduledUpdateGroupAction", AutoScalingGroupName="web",
              ScheduledActionName="x", StartTime=at(now + 60))
    with pytest.raises(AWSError, match="five fields"):
        w.api("PutScheduledUpdateGroupAction", AutoScalingGroupName="web",
              ScheduledActionName="x", Recurrence="every day", MinSize=1)
    with pytest.raises(AWSError, match="time zone"):
        w.api("PutScheduledUpdateGroupAction", AutoScalingGroupName="web",
              ScheduledActionName="x", Recurrence="0 9 * * 1-5", TimeZone="Mars/Olympus",
              MinSize=1)
    out = w.api("BatchPutScheduledUpdateGroupAction", AutoScalingGroupName="web",
                ScheduledUpdateGroupActions=[
                    {"ScheduledActionName": "a", "Recurrence": "0 9 * * mon-fri",
                     "MinSize": 1},
                    {"ScheduledActionName": "b", "StartTime": at(now + 600),
                     "DesiredCapacity": 1},
                    {"ScheduledActionName": "bad", "StartTime": at(now - 600),
                     "DesiredCapacity": 1}])
    assert [f["ScheduledActionName"] for f in out["FailedScheduledUpdateGroupActions"]] == ["bad"]
    names = [a["ScheduledActionName"] for a in
             w.api("DescribeScheduledActions")["ScheduledUpdateGroupActions"]]
    assert names == ["a", "b"]
    page = w.api("DescribeScheduledActions", MaxRecords=1)
    assert len(page["ScheduledUpdateGroupActions"]) == 1 and page["NextToken"]
    w.api("DeleteScheduledAction", AutoScalingGroupName="web", ScheduledActionName="a")
    with pytest.raises(AWSError, match="not found"):
        w.api("DeleteScheduledAction", AutoScalingGroupName="web", ScheduledActionName="a")
    out = w.api("BatchDeleteScheduledAction", AutoScalingGroupName="web",
                ScheduledActionNames=["b", "zz"])
    assert [f["ScheduledActionName"] for f in out["FailedScheduledActions"]] == ["zz"]
    assert w.api("DescribeScheduledActions")["ScheduledUpdateGroupActions"] == []


@scenario
async def test_suspended_scheduled_actions_wait(w: World) -> None:
    group(w, desired=0)
    now = w.clock.now()
    w.api("PutScheduledUpdateGroupAction", AutoScalingGroupName="web",
          ScheduledActionName="grow", StartTime=at(now + 10), DesiredCapacity=1)
    w.api("SuspendProcesses", AutoScalingGroupName="web", ScalingProcesses=["ScheduledActions"])
    await w.settle(seconds=20, steps=2)
    assert w.group()["DesiredCapacity"] == 0
    w.api("ResumeProcesses", AutoScalingGroupName="web", ScalingProcesses=["ScheduledActions"])
    await w.settle(steps=2)
    assert w.group()["DesiredCapacity"] == 1
    w.api("SetDesiredCapacity", AutoScalingGroupName="web", DesiredCapacity=0)
    await w.settle(steps=3)
