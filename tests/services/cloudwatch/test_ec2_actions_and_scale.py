"""EC2 alarm actions through the in-process EC2 service, and alarm periods
shortened by the time scale."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from gureum.services.base import Call
from gureum.services.cloudwatch.evaluate import scaled_period, window

from .harness import Harness, run

STOP = "arn:aws:automate:us-east-1:ec2:stop"


class FakeEC2:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list[str]]] = []

    def stop_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("stop", call.identity.arn, params["InstanceIds"]))
        return {}


def test_scaled_period() -> None:
    assert scaled_period(60) == 60
    assert scaled_period(60, 60) == 1
    assert scaled_period(300, 60) == 5
    assert scaled_period(60, 30) == 1
    assert scaled_period(600, 60) == 10
    assert scaled_period(3600, 2) == 1800
    assert scaled_period(10, 60) == 1
    alarm = {"Period": 300, "EvaluationPeriods": 3}
    assert window(alarm, 1_000_003.5, 60) == (1_000_000 - 15, 1_000_000, 5)


def test_alarm_stops_its_instance(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        ec2 = FakeEC2()
        h.env.extras["services"] = {"ec2": ec2}
        dims = [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}]
        h.op("put_metric_alarm", AlarmName="hot", Namespace="Custom",
             MetricName="CPUUtilization", Dimensions=dims, Statistic="Average", Period=60,
             EvaluationPeriods=1, Threshold=90.0, ComparisonOperator="GreaterThanThreshold",
             AlarmActions=[STOP])
        h.op("put_metric_data", Namespace="Custom", MetricData=[{
            "MetricName": "CPUUtilization", "Dimensions": dims, "Value": 99.0,
            "Timestamp": dt.datetime.fromtimestamp(h.clock.now(), dt.UTC)}])
        await h.advance(60)
        assert ec2.calls == [("stop", "arn:aws:sts::000000000000:assumed-role/"
                              "AWSServiceRoleForCloudWatchEvents/CloudWatch",
                              ["i-0123456789abcdef0"])]
        items = h.op("describe_alarm_history", AlarmName="hot",
                     HistoryItemType="Action")["AlarmHistoryItems"]
        assert len(items) == 1 and "i-0123456789abcdef0" in items[0]["HistorySummary"]

    run(tmp_path, scenario)


def test_ec2_action_without_instance_fails_in_history(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        h.env.extras["services"] = {"ec2": FakeEC2()}
        h.op("put_metric_alarm", AlarmName="x", Namespace="App", MetricName="Load",
             Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=1.0,
             ComparisonOperator="GreaterThanThreshold", AlarmActions=[STOP])
        h.op("set_alarm_state", AlarmName="x", StateValue="ALARM", StateReason="test")
        await h.advance(0)
        items = h.op("describe_alarm_history", AlarmName="x",
                     HistoryItemType="Action")["AlarmHistoryItems"]
        assert len(items) == 1 and "InstanceId" in items[0]["HistorySummary"]

    run(tmp_path, scenario)
