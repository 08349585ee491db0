"""The alarm loop with a fake clock: a PutMetricData series drives an alarm
OK → ALARM → OK, history records it, and actions go through the registry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from gureum.services.cloudwatch import ActionContext, registry

from .harness import Harness, run

POLICY = ("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x:"
          "autoScalingGroupName/g:policyName/up")
TOPIC = "arn:aws:sns:us-east-1:000000000000:ops"


def at(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def put(h: Harness, value: float, name: str = "Load") -> None:
    h.op("put_metric_data", Namespace="App", MetricData=[
        {"MetricName": name, "Value": value, "Timestamp": at(h.clock.now())}])


def alarm(h: Harness, name: str = "high") -> dict[str, Any]:
    found: dict[str, Any] = h.op("describe_alarms", AlarmNames=[name])["MetricAlarms"][0]
    return found


def history(h: Harness, name: str, kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = h.op("describe_alarm_history", AlarmName=name,
                                       HistoryItemType=kind)["AlarmHistoryItems"]
    return items


def test_series_drives_alarm_ok_alarm_ok(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        delivered: list[ActionContext] = []

        async def scale(ctx: ActionContext) -> str:
            delivered.append(ctx)
            return f"scaled for {ctx.alarm['AlarmName']}"

        registry(h.env).register("arn:aws:autoscaling:", scale)
        h.op("put_metric_alarm", AlarmName="high", Namespace="App", MetricName="Load",
             Statistic="Average", Period=60, EvaluationPeriods=3, DatapointsToAlarm=2,
             Threshold=80.0, ComparisonOperator="GreaterThanThreshold",
             AlarmActions=[POLICY], OKActions=[TOPIC])
        await h.advance(0)
        assert alarm(h)["StateValue"] == "INSUFFICIENT_DATA"

        states = []
        for value in [10, 20, 30, 90, 95, 99, 10, 10, 5]:
            put(h, value)
            await h.advance(60)
            states.append(alarm(h)["StateValue"])
        assert states == ["OK", "OK", "OK", "OK", "ALARM", "ALARM", "ALARM", "OK", "OK"]

        assert [c.new_state for c in delivered] == ["ALARM"]
        assert (delivered[0].old_state, delivered[0].action) == ("OK", POLICY)
        updates = history(h, "high", "StateUpdate")
        assert [json.loads(i["HistoryData"])["newState"]["stateValue"] for i in updates] == [
            "OK", "ALARM", "OK"]
        assert updates[1]["HistorySummary"] == "Alarm updated from OK to ALARM"
        reason = json.loads(updates[1]["HistoryData"])["newState"]
        assert reason["stateReasonData"]["recentDatapoints"] == [30.0, 90.0, 95.0]
        actions = history(h, "high", "Action")
        summaries = [i["HistorySummary"] for i in actions]
        assert summaries[0] == f"Action {TOPIC} was not delivered: no handler for it"
        assert "scaled for high" in summaries
        assert len(actions) == 3  # OK (first), ALARM, OK
        failed = [json.loads(i["HistoryData"]) for i in actions
                  if json.loads(i["HistoryData"])["actionState"] == "Failed"]
        assert {f["notificationResource"] for f in failed} == {TOPIC}

    run(tmp_path, scenario)


def test_missing_data_treatments(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        for treat in ("missing", "breaching", "notBreaching", "ignore"):
            h.op("put_metric_alarm", AlarmName=treat, Namespace="App", MetricName="Quiet",
                 Statistic="Maximum", Period=60, EvaluationPeriods=2, Threshold=1.0,
                 ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData=treat)
        await h.advance(180)
        states = {t: alarm(h, t)["StateValue"] for t in
                  ("missing", "breaching", "notBreaching", "ignore")}
        assert states == {"missing": "INSUFFICIENT_DATA", "breaching": "ALARM",
                          "notBreaching": "OK", "ignore": "INSUFFICIENT_DATA"}

    run(tmp_path, scenario)


def test_set_alarm_state_runs_actions_until_next_evaluation(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        seen: list[str] = []

        async def handler(ctx: ActionContext) -> None:
            seen.append(ctx.new_state)

        registry(h.env).register("arn:aws:automate:", handler)
        stop = "arn:aws:automate:us-east-1:ec2:stop"
        h.op("put_metric_alarm", AlarmName="a", Namespace="App", MetricName="Load",
             Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5.0,
             ComparisonOperator="LessThanThreshold", AlarmActions=[stop])
        put(h, 10)
        await h.advance(60)
        assert alarm(h, "a")["StateValue"] == "OK"
        h.op("set_alarm_state", AlarmName="a", StateValue="ALARM", StateReason="testing")
        await h.advance(1)
        assert alarm(h, "a")["StateValue"] == "ALARM"
        assert alarm(h, "a")["StateReason"] == "testing"
        assert seen == ["ALARM"]
        put(h, 10)
        await h.advance(60)
        assert alarm(h, "a")["StateValue"] == "OK"
        h.op("disable_alarm_actions", AlarmNames=["a"])
        h.op("set_alarm_state", AlarmName="a", StateValue="ALARM", StateReason="again")
        await h.advance(1)
        assert seen == ["ALARM"]
        assert alarm(h, "a")["ActionsEnabled"] is False

    run(tmp_path, scenario)


def test_metric_math_alarm(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        def stat(name: str) -> dict[str, Any]:
            return {"Metric": {"Namespace": "App", "MetricName": name}, "Period": 60,
                    "Stat": "Sum"}

        h.op("put_metric_alarm", AlarmName="ratio", EvaluationPeriods=1, Threshold=10.0,
             ComparisonOperator="GreaterThanThreshold", Metrics=[
                 {"Id": "e", "MetricStat": stat("Errors"), "ReturnData": False},
                 {"Id": "r", "MetricStat": stat("Requests"), "ReturnData": False},
                 {"Id": "pct", "Expression": "100 * FILL(e, 0) / r", "Label": "Error %"}])
        put(h, 100, "Requests")
        await h.advance(60)
        assert alarm(h, "ratio")["StateValue"] == "OK"
        put(h, 100, "Requests")
        put(h, 20, "Errors")
        await h.advance(60)
        assert alarm(h, "ratio")["StateValue"] == "ALARM"

    run(tmp_path, scenario)


def test_band_alarm_from_threshold_metric(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        h.op("put_metric_alarm", AlarmName="band", EvaluationPeriods=1,
             ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold",
             ThresholdMetricId="b", Metrics=[
                 {"Id": "m", "MetricStat": {"Metric": {"Namespace": "App",
                                                       "MetricName": "Load"},
                                            "Period": 60, "Stat": "Average"}},
                 {"Id": "b", "Expression": "[m * 0 + 10, m * 0 + 20]"}])
        put(h, 15)
        await h.advance(60)
        assert alarm(h, "band")["StateValue"] == "OK"
        put(h, 25)
        await h.advance(60)
        assert alarm(h, "band")["StateValue"] == "ALARM"

    run(tmp_path, scenario)
