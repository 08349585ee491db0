"""Composite alarms through boto3: created on two metric alarms, following
their states, listed with AlarmTypes, deleted."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import running_gureum

from .ec2_support import wait_for


def test_composite_alarm_follows_children() -> None:
    with running_gureum() as g:
        cw = g.client("cloudwatch")
        for name in ("cpu", "mem"):
            cw.put_metric_alarm(AlarmName=name, Namespace="App", MetricName=name,
                                Statistic="Average", Period=60, EvaluationPeriods=1,
                                Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
        with pytest.raises(ClientError) as err:
            cw.put_composite_alarm(AlarmName="both", AlarmRule="ALARM(cpu) AND")
        assert err.value.response["Error"]["Code"] == "ValidationError"
        cw.put_composite_alarm(AlarmName="both", AlarmRule='ALARM("cpu") AND ALARM(mem)')

        def state() -> str:
            found: str = cw.describe_alarms(AlarmNames=["both"], AlarmTypes=["CompositeAlarm"])[
                "CompositeAlarms"][0]["StateValue"]
            return found

        wait_for(lambda: state() == "OK")
        for name in ("cpu", "mem"):
            cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
        wait_for(lambda: state() == "ALARM")
        cw.set_alarm_state(AlarmName="mem", StateValue="OK", StateReason="test")
        wait_for(lambda: state() == "OK")
        out = cw.describe_alarms(AlarmTypes=["CompositeAlarm", "MetricAlarm"])
        assert [a["AlarmName"] for a in out["CompositeAlarms"]] == ["both"]
        assert [a["AlarmName"] for a in out["MetricAlarms"]] == ["cpu", "mem"]
        assert cw.describe_alarms()["CompositeAlarms"] == []
        cw.delete_alarms(AlarmNames=["both", "cpu", "mem"])
        assert cw.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"] == []
