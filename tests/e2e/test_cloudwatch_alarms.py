"""CloudWatch alarms through real clients in every protocol: create, describe,
filter, page, set state, history, actions enabled, tags, delete."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

PROTOCOLS = ["smithy-rpc-v2-cbor", "json", "query"]
POLICY = ("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1:autoScalingGroupName/"
          "g:policyName/up")


def error(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    r = err.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def alarm_args(name: str, **extra: Any) -> dict[str, Any]:
    return {"AlarmName": name, "Namespace": "Test/Alarms", "MetricName": "Load",
            "Dimensions": [{"Name": "Host", "Value": "h1"}], "Statistic": "Average",
            "Period": 60, "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 80.0,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
            **extra}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_alarm_lifecycle(gureum: RunningGureum, protocol: str) -> None:
    cw = gureum.client("cloudwatch", protocol=protocol)
    prefix = f"t-{uuid.uuid4().hex[:8]}-"
    names = [f"{prefix}{i}" for i in range(3)]
    try:
        cw.put_metric_alarm(**alarm_args(names[0], AlarmActions=[POLICY],
                                         Tags=[{"Key": "team", "Value": "web"}]))
        cw.put_metric_alarm(**alarm_args(names[1], Threshold=10.0))
        ext = alarm_args(names[2])
        del ext["Statistic"]
        cw.put_metric_alarm(**ext, ExtendedStatistic="p90")

        got = cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
        assert [a["AlarmName"] for a in got] == names
        first = got[0]
        assert first["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{names[0]}"
        assert first["StateValue"] in ("INSUFFICIENT_DATA", "OK")
        assert (first["Threshold"], first["EvaluationPeriods"], first["DatapointsToAlarm"]) == (
            80.0, 3, 2)
        assert first["AlarmActions"] == [POLICY] and first["ActionsEnabled"] is True
        assert first["Dimensions"] == [{"Name": "Host", "Value": "h1"}]
        assert got[2]["ExtendedStatistic"] == "p90" and "Statistic" not in got[2]

        page = cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=2)
        assert len(page["MetricAlarms"]) == 2
        rest = cw.describe_alarms(AlarmNamePrefix=prefix, NextToken=page["NextToken"])
        assert [a["AlarmName"] for a in rest["MetricAlarms"]] == [names[2]]
        assert "NextToken" not in rest
        assert [a["AlarmName"] for a in cw.describe_alarms(
            AlarmNames=names, ActionPrefix="arn:aws:autoscaling:")["MetricAlarms"]] == [names[0]]

        for_metric = cw.describe_alarms_for_metric(
            Namespace="Test/Alarms", MetricName="Load", Statistic="Average",
            Dimensions=[{"Name": "Host", "Value": "h1"}])["MetricAlarms"]
        assert {names[0], names[1]} <= {a["AlarmName"] for a in for_metric}
        assert names[2] not in {a["AlarmName"] for a in for_metric}

        cw.set_alarm_state(AlarmName=names[1], StateValue="ALARM", StateReason="by hand",
                           StateReasonData=json.dumps({"why": "test"}))
        by_state = cw.describe_alarms(AlarmNames=names, StateValue="ALARM")["MetricAlarms"]
        assert [a["AlarmName"] for a in by_state] == [names[1]]
        assert by_state[0]["StateReason"] == "by hand"
        hist = cw.describe_alarm_history(AlarmName=names[1])["AlarmHistoryItems"]
        kinds = [h["HistoryItemType"] for h in hist]
        assert kinds[-1] == "ConfigurationUpdate" and "StateUpdate" in kinds
        update = next(h for h in hist if h["HistoryItemType"] == "StateUpdate"
                      and "to ALARM" in h["HistorySummary"])
        assert json.loads(update["HistoryData"])["newState"]["stateValue"] == "ALARM"
        assert cw.describe_alarm_history(AlarmName=names[1], HistoryItemType="Action",
                                         )["AlarmHistoryItems"] == []
        one = cw.describe_alarm_history(AlarmName=names[1], MaxRecords=1)
        assert len(one["AlarmHistoryItems"]) == 1 and one["NextToken"]

        cw.disable_alarm_actions(AlarmNames=[names[0]])
        assert cw.describe_alarms(AlarmNames=[names[0]])["MetricAlarms"][0][
            "ActionsEnabled"] is False
        cw.enable_alarm_actions(AlarmNames=[names[0]])
        assert cw.describe_alarms(AlarmNames=[names[0]])["MetricAlarms"][0][
            "ActionsEnabled"] is True

        arn = first["AlarmArn"]
        assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
            {"Key": "team", "Value": "web"}]
        cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "dev"}])
        cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
        assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
            {"Key": "env", "Value": "dev"}]
        missing_arn = arn + "-nope"
        assert error(lambda: cw.list_tags_for_resource(ResourceARN=missing_arn)) == (
            "ResourceNotFoundException", 404)

        assert error(lambda: cw.set_alarm_state(AlarmName=prefix + "none", StateValue="OK",
                                                StateReason="x")) == ("ResourceNotFound", 404)
        assert error(lambda: cw.set_alarm_state(AlarmName=names[0], StateValue="OK",
                                                StateReason="x", StateReasonData="{no")
                     )[0] == "InvalidFormat"
        assert error(lambda: cw.delete_alarms(AlarmNames=[names[0], prefix + "none"])) == (
            "ResourceNotFound", 404)
    finally:
        present = [a["AlarmName"] for a in cw.describe_alarms(
            AlarmNamePrefix=prefix)["MetricAlarms"]]
        if present:
            cw.delete_alarms(AlarmNames=present)
    assert cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"] == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_loop_evaluates_stored_data(gureum: RunningGureum, protocol: str) -> None:
    cw = gureum.client("cloudwatch", protocol=protocol)
    ns = f"Test/{uuid.uuid4().hex[:8]}"
    name = f"hot-{uuid.uuid4().hex[:8]}"
    topic = "arn:aws:sns:us-east-1:000000000000:nobody-listens"
    now = dt.datetime.now(dt.UTC)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Temp", "Value": 99.0, "StorageResolution": 1,
         "Timestamp": now - dt.timedelta(seconds=s)} for s in range(1, 40)])
    cw.put_metric_alarm(AlarmName=name, Namespace=ns, MetricName="Temp", Statistic="Maximum",
                        Period=10, EvaluationPeriods=1, Threshold=90.0,
                        ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic])
    try:
        deadline = time.monotonic() + 10
        actions: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not actions:
            actions = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")[
                "AlarmHistoryItems"]
            time.sleep(0.05)
        state = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        assert state["StateValue"] == "ALARM", state["StateReason"]
        assert "Threshold Crossed" in state["StateReason"]
        assert [json.loads(a["HistoryData"])["actionState"] for a in actions] == ["Failed"]
        assert topic in actions[0]["HistorySummary"]
    finally:
        cw.delete_alarms(AlarmNames=[name])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_put_metric_alarm_validation(gureum: RunningGureum, protocol: str) -> None:
    cw = gureum.client("cloudwatch", protocol=protocol)
    name = f"bad-{uuid.uuid4().hex[:8]}"
    cases = [
        alarm_args(name, Period=45),
        alarm_args(name, Period=5),
        alarm_args(name, DatapointsToAlarm=4),
        alarm_args(name, ExtendedStatistic="p90"),
        alarm_args(name, TreatMissingData="sometimes"),
        alarm_args(name, AlarmActions=["not-an-arn"]),
        alarm_args(name, Period=86400, EvaluationPeriods=8),
    ]
    for case in cases:
        code, status = error(lambda case=case: cw.put_metric_alarm(**case))
        assert status == 400 and code in ("ValidationError", "InvalidParameterValue",
                                          "InvalidParameterCombination"), (case, code)
    math = {k: v for k, v in alarm_args(name).items() if k in (
        "AlarmName", "EvaluationPeriods", "Threshold", "ComparisonOperator")}
    no_return = [{"Id": "m", "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 60, "Stat": "Sum"}}]
    assert error(lambda: cw.put_metric_alarm(**math, Metrics=no_return))[1] == 400
    bad_expr = [*no_return, {"Id": "e", "Expression": "m +* 2"}]
    assert error(lambda: cw.put_metric_alarm(**math, Metrics=bad_expr))[1] == 400
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


def test_alarms_with_aws_cli(gureum: RunningGureum) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    made = gureum.aws("cloudwatch", "put-metric-alarm", "--alarm-name", name,
                      "--namespace", "Test/Cli", "--metric-name", "CPU", "--statistic",
                      "Maximum", "--period", "60", "--evaluation-periods", "1",
                      "--threshold", "50", "--comparison-operator",
                      "GreaterThanOrEqualToThreshold")
    assert made.returncode == 0, made.stderr
    try:
        got = gureum.aws("cloudwatch", "describe-alarms", "--alarm-names", name)
        assert got.returncode == 0, got.stderr
        alarms = json.loads(got.stdout)["MetricAlarms"]
        assert [a["ComparisonOperator"] for a in alarms] == ["GreaterThanOrEqualToThreshold"]
        hist = gureum.aws("cloudwatch", "describe-alarm-history", "--alarm-name", name)
        assert hist.returncode == 0, hist.stderr
        assert json.loads(hist.stdout)["AlarmHistoryItems"][0]["HistorySummary"] == (
            f'Alarm "{name}" created')
    finally:
        deleted = gureum.aws("cloudwatch", "delete-alarms", "--alarm-names", name)
        assert deleted.returncode == 0, deleted.stderr


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_metric_math_alarm_from_stored_data(gureum: RunningGureum, protocol: str) -> None:
    """An alarm on an expression over two metrics: an error rate in percent."""
    cw = gureum.client("cloudwatch", protocol=protocol)
    ns = f"Test/{uuid.uuid4().hex[:8]}"
    name = f"error-rate-{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.UTC)
    points = [{"MetricName": metric, "Value": value, "StorageResolution": 1,
               "Timestamp": now - dt.timedelta(seconds=s)}
              for s in range(1, 30) for metric, value in (("Errors", 3.0), ("Requests", 20.0))]
    cw.put_metric_data(Namespace=ns, MetricData=points)

    def stat(metric: str) -> dict[str, Any]:
        return {"Metric": {"Namespace": ns, "MetricName": metric}, "Period": 10,
                "Stat": "Sum"}

    cw.put_metric_alarm(
        AlarmName=name, EvaluationPeriods=1, Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold", TreatMissingData="missing",
        Metrics=[{"Id": "e", "MetricStat": stat("Errors"), "ReturnData": False},
                 {"Id": "r", "MetricStat": stat("Requests"), "ReturnData": False},
                 {"Id": "rate", "Expression": "100 * e / r", "Label": "Error rate",
                  "ReturnData": True}])
    try:
        deadline = time.monotonic() + 10
        alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        while time.monotonic() < deadline and alarm["StateValue"] == "INSUFFICIENT_DATA":
            time.sleep(0.05)
            alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        assert alarm["StateValue"] == "ALARM", alarm["StateReason"]  # 15% > 10%
        assert [m["Id"] for m in alarm["Metrics"]] == ["e", "r", "rate"]
        assert "MetricName" not in alarm
        # 15% is not above 20%: the same data is OK for a higher threshold.
        cw.put_metric_alarm(
            AlarmName=name, EvaluationPeriods=1, Threshold=20.0,
            ComparisonOperator="GreaterThanThreshold", TreatMissingData="missing",
            Metrics=alarm["Metrics"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and alarm["StateValue"] == "ALARM":
            time.sleep(0.05)
            alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        assert alarm["StateValue"] == "OK", alarm["StateReason"]
    finally:
        cw.delete_alarms(AlarmNames=[name])
