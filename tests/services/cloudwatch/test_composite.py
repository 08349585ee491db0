"""Composite alarms: rules parsed, evaluated when their children change,
listed by DescribeAlarms with AlarmTypes, actions run on their transitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gureum.errors import AWSError
from gureum.services.cloudwatch import ActionContext, registry
from gureum.services.cloudwatch.alarmrule import RuleError, parse

from .harness import Harness, run

TOPIC = "arn:aws:sns:us-east-1:000000000000:ops"


def test_rule_grammar() -> None:
    rule = parse('ALARM("cpu high") AND NOT OK(mem) OR INSUFFICIENT_DATA(disk)')
    assert rule.children == ("cpu high", "mem", "disk")
    assert rule.evaluate({"cpu high": "ALARM", "mem": "ALARM"})
    assert not rule.evaluate({"cpu high": "ALARM", "mem": "OK", "disk": "OK"})
    assert rule.evaluate({"disk": "INSUFFICIENT_DATA"})
    # NOT before AND before OR; parentheses; ARNs; TRUE/FALSE.
    assert parse("NOT (ALARM(a) OR ALARM(b)) AND TRUE").evaluate({"a": "OK", "b": "OK"})
    assert parse("ALARM(arn:aws:cloudwatch:us-east-1:000000000000:alarm:a)").children == ("a",)
    assert not parse("FALSE OR ALARM(a) AND ALARM(b)").evaluate({"a": "ALARM", "b": "OK"})
    for bad in ["", "ALARM(a) AND", "ALARM(a", "STATE(a)", "ALARM() ", "ALARM(a) ALARM(b)"]:
        with pytest.raises(RuleError):
            parse(bad)


def metric_alarm(h: Harness, name: str) -> None:
    h.op("put_metric_alarm", AlarmName=name, Namespace="App", MetricName=name,
         Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=1.0,
         ComparisonOperator="GreaterThanThreshold")


def described(h: Harness, name: str) -> dict[str, Any]:
    out = h.op("describe_alarms", AlarmNames=[name], AlarmTypes=["CompositeAlarm"])
    found: dict[str, Any] = out["CompositeAlarms"][0]
    return found


def test_composite_follows_children(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        delivered: list[ActionContext] = []

        async def notify(ctx: ActionContext) -> str:
            delivered.append(ctx)
            return "sent"

        registry(h.env).register("arn:aws:sns:", notify)
        metric_alarm(h, "cpu")
        metric_alarm(h, "mem")
        with pytest.raises(AWSError, match="do not exist"):
            h.op("put_composite_alarm", AlarmName="both", AlarmRule="ALARM(cpu) AND ALARM(x)")
        with pytest.raises(AWSError, match="alarm rule"):
            h.op("put_composite_alarm", AlarmName="both", AlarmRule="ALARM(cpu) AND")
        h.op("put_composite_alarm", AlarmName="both", AlarmRule="ALARM(cpu) AND ALARM(mem)",
             AlarmActions=[TOPIC])
        h.op("put_composite_alarm", AlarmName="top", AlarmRule="ALARM(both) OR OK(cpu)")
        await h.advance(0)
        assert described(h, "both")["StateValue"] == "OK"
        assert described(h, "both")["AlarmRule"] == "ALARM(cpu) AND ALARM(mem)"

        h.op("set_alarm_state", AlarmName="cpu", StateValue="ALARM", StateReason="test")
        await h.advance(0)
        assert described(h, "both")["StateValue"] == "OK"
        assert described(h, "top")["StateValue"] == "OK"
        h.op("set_alarm_state", AlarmName="mem", StateValue="ALARM", StateReason="test")
        await h.advance(0)
        assert described(h, "both")["StateValue"] == "ALARM"
        assert described(h, "top")["StateValue"] == "ALARM"  # a composite of a composite
        assert [c.action for c in delivered] == [TOPIC]
        assert delivered[0].alarm["AlarmName"] == "both"

        # DescribeAlarms: metric alarms by default, composites on request, families.
        out = h.op("describe_alarms")
        assert [a["AlarmName"] for a in out["MetricAlarms"]] == ["cpu", "mem"]
        assert out["CompositeAlarms"] == []
        out = h.op("describe_alarms", AlarmTypes=["MetricAlarm", "CompositeAlarm"],
                   StateValue="ALARM")
        assert [a["AlarmName"] for a in out["CompositeAlarms"]] == ["both", "top"]
        out = h.op("describe_alarms", ChildrenOfAlarmName="both",
                   AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        assert [a["AlarmName"] for a in out["MetricAlarms"]] == ["cpu", "mem"]
        out = h.op("describe_alarms", ParentsOfAlarmName="cpu",
                   AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        assert [a["AlarmName"] for a in out["CompositeAlarms"]] == ["both", "top"]
        items = h.op("describe_alarm_history", AlarmName="both", HistoryItemType="StateUpdate",
                     AlarmTypes=["CompositeAlarm"])["AlarmHistoryItems"]
        assert [i["AlarmType"] for i in items] == ["CompositeAlarm", "CompositeAlarm"]

        h.op("delete_alarms", AlarmNames=["top", "both"])
        assert h.op("describe_alarms", AlarmTypes=["CompositeAlarm"])["CompositeAlarms"] == []

    run(tmp_path, scenario)
