"""CloudWatch on the bill, with the fake clock: custom metrics and alarms
prorated by the hour, requests per 1,000, as AWS computes them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from gureum.errors import AWSError
from gureum.services.billing.meter import Meter
from gureum.services.cloudwatch import CloudWatch
from gureum.services.cloudwatch.datastore import MetricKey

from .conftest import ACCOUNT, Harness, price

MARCH_HOURS = 31 * 24  # the harness's month
METRIC, METRIC_NEXT = (price("AmazonCloudWatch", "CW:MetricMonitorUsage", "MetricStorage",
                             tier=n) for n in (0, 1))
ALARM = price("AmazonCloudWatch", "CW:AlarmMonitorUsage")
HIGH_RES_ALARM = price("AmazonCloudWatch", "CW:HighResAlarmMonitorUsage")
COMPOSITE_ALARM = price("AmazonCloudWatch", "CW:CompositeAlarmMonitorUsage")
PUT_METRIC_DATA = price("AmazonCloudWatch", "CW:Requests", "PutMetricData")
GMD_METRIC = price("AmazonCloudWatch", "CW:GMD-Metrics", "GetMetricData")


@pytest.fixture
def cw(h: Harness) -> Iterator[CloudWatch]:
    yield CloudWatch(h.env)


def at(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def put(h: Harness, cw: CloudWatch, name: str = "Load", namespace: str = "App",
        **dims: str) -> None:
    h.run(cw, "put_metric_data", Namespace=namespace, MetricData=[
        {"MetricName": name, "Value": 1.0, "Timestamp": at(h.clock.now()),
         "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]}])


def alarm(h: Harness, cw: CloudWatch, name: str, **params: Any) -> None:
    defaults: dict[str, Any] = dict(Namespace="App", MetricName="Load", Statistic="Average",
                                    Period=60, EvaluationPeriods=1, Threshold=1.0,
                                    ComparisonOperator="GreaterThanThreshold")
    if "Metrics" in params:
        for k in ("Namespace", "MetricName", "Statistic", "Period"):
            defaults.pop(k)
    h.run(cw, "put_metric_alarm", AlarmName=name, **{**defaults, **params})


def test_a_custom_metric_costs_each_hour_it_is_sent_in(h: Harness, cw: CloudWatch) -> None:
    for _ in range(3):  # three hours, many puts in each
        for _ in range(5):
            put(h, cw)
            h.advance(60)
        h.advance(3300)
    h.advance(7200)  # two hours without data: not billed
    put(h, cw, Host="a")  # another dimension set is another metric
    h.advance(60)
    qty, cost = h.totals("CW:MetricMonitorUsage")["CW:MetricMonitorUsage"]
    assert qty == pytest.approx(4 / MARCH_HOURS)
    assert cost == pytest.approx(4 / MARCH_HOURS * METRIC)
    resources = {r[0] for r in h.store.connection.execute(
        "SELECT resource FROM billing_usage WHERE usage_type = 'CW:MetricMonitorUsage'")}
    assert resources == {"App/Load", "App/Load{Host=a}"}


def test_a_metric_sent_all_month_is_one_metric_month(h: Harness, cw: CloudWatch) -> None:
    for _ in range(MARCH_HOURS):
        put(h, cw)
        h.advance(3600, tick_every=None)
    qty, cost = h.totals("CW:MetricMonitorUsage")["CW:MetricMonitorUsage"]
    assert qty == pytest.approx(1.0)
    assert cost == pytest.approx(METRIC)


def test_aws_namespaces_are_free(h: Harness, cw: CloudWatch) -> None:
    with h.store.tx():  # what the data planes publish
        cw.metrics.metric_id(MetricKey(ACCOUNT, "us-east-1", "AWS/EC2", "CPUUtilization",
                                       (("InstanceId", "i-1"),)), h.clock.now())
    h.advance(60)
    assert "CW:MetricMonitorUsage" not in h.totals()


def test_a_restarted_meter_does_not_bill_an_hour_twice(h: Harness, cw: CloudWatch) -> None:
    put(h, cw)
    alarm(h, cw, "a")
    h.advance(60)
    h.meter = Meter(h.env)  # gureum restarted within the hour
    h.env.extras["billing.meter"] = h.meter
    put(h, cw)
    h.advance(60)
    totals = h.totals()
    assert totals["CW:MetricMonitorUsage"][0] == pytest.approx(1 / MARCH_HOURS)
    assert totals["CW:AlarmMonitorUsage"][0] == pytest.approx(1 / MARCH_HOURS)


def test_an_alarm_all_month_costs_ten_cents(h: Harness, cw: CloudWatch) -> None:
    alarm(h, cw, "a")
    h.advance(MARCH_HOURS * 3600 - 1, tick_every=900)  # up to March's last second
    qty, cost = h.totals("CW:AlarmMonitorUsage")["CW:AlarmMonitorUsage"]
    assert qty == pytest.approx(1.0)
    assert cost == pytest.approx(ALARM)


def test_alarms_are_prorated_by_the_hour_and_priced_by_kind(h: Harness,
                                                            cw: CloudWatch) -> None:
    h.advance(1800)  # half past midnight
    alarm(h, cw, "standard")
    alarm(h, cw, "fast", Period=10)
    stat = {"Metric": {"Namespace": "App", "MetricName": "Errors"}, "Period": 60,
            "Stat": "Sum"}
    alarm(h, cw, "math", Metrics=[
        {"Id": "e", "MetricStat": stat, "ReturnData": False},
        {"Id": "r", "MetricStat": {**stat, "Metric": {"Namespace": "App",
                                                      "MetricName": "Requests"}},
         "ReturnData": False},
        {"Id": "pct", "Expression": "100 * e / r"}])
    alarm(h, cw, "band", ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold",
          ThresholdMetricId="b", Threshold=None, Metrics=[
              {"Id": "m", "MetricStat": stat},
              {"Id": "b", "Expression": "ANOMALY_DETECTION_BAND(m, 2)"}])
    h.run(cw, "put_composite_alarm", AlarmName="both",
          AlarmRule="ALARM(standard) AND ALARM(fast)")
    h.advance(3600)  # 00:30 to 01:30: two hours touched
    h.run(cw, "delete_alarms", AlarmNames=["both", "fast", "math", "band", "standard"])
    h.advance(7200)  # gone: nothing more
    share = 2 / MARCH_HOURS
    totals = h.totals()
    # standard 1 + math 2 metrics + anomaly band 3
    assert totals["CW:AlarmMonitorUsage"][0] == pytest.approx(6 * share)
    assert totals["CW:AlarmMonitorUsage"][1] == pytest.approx(6 * share * ALARM)
    assert totals["CW:HighResAlarmMonitorUsage"][1] == pytest.approx(share * HIGH_RES_ALARM)
    assert totals["CW:CompositeAlarmMonitorUsage"][1] == pytest.approx(share * COMPOSITE_ALARM)


def test_requests_per_thousand(h: Harness, cw: CloudWatch) -> None:
    for _ in range(1000):
        put(h, cw)
    h.run(cw, "list_metrics")
    h.run(cw, "describe_alarms")  # not charged
    stat = {"Metric": {"Namespace": "App", "MetricName": "Load"}, "Period": 60,
            "Stat": "Sum"}
    h.run(cw, "get_metric_data", StartTime=at(h.clock.now() - 600),
          EndTime=at(h.clock.now()), MetricDataQueries=[
              {"Id": "a", "MetricStat": stat}, {"Id": "b", "MetricStat": stat},
              {"Id": "c", "MetricStat": stat}, {"Id": "d", "Expression": "a + b"}])
    with pytest.raises(AWSError):  # a failed request is not billed
        h.run(cw, "get_metric_data", StartTime=at(h.clock.now()),
              EndTime=at(h.clock.now() - 600), MetricDataQueries=[
                  {"Id": "a", "MetricStat": stat}])
    h.advance(60)
    totals = h.totals()
    assert totals["CW:Requests"][0] == 1001
    assert totals["CW:Requests"][1] == pytest.approx(1001 * PUT_METRIC_DATA)
    assert totals["CW:GMD-Metrics"][0] == 3
    assert totals["CW:GMD-Metrics"][1] == pytest.approx(3 * GMD_METRIC)


def test_metrics_beyond_ten_thousand_cost_the_next_tier(h: Harness, cw: CloudWatch) -> None:
    # Earlier this month the account already used 9,999.999 metric-months.
    with h.store.tx():
        h.store.connection.execute(
            "INSERT INTO billing_usage (account, region, service, usage_type, resource, hour,"
            " operation, unit, quantity, cost, attrs) VALUES (?, 'us-east-1',"
            " 'AmazonCloudWatch', 'CW:MetricMonitorUsage', 'earlier', ?, 'MetricStorage',"
            " 'Metrics', 9999.999, 2999.9997, '{}')", (ACCOUNT, int(h.clock.now())))
    h.advance(3600)
    put(h, cw)
    h.advance(60)
    row = h.store.connection.execute(
        "SELECT quantity, cost FROM billing_usage WHERE resource = 'App/Load'").fetchone()
    share = 1 / MARCH_HOURS
    assert row[0] == pytest.approx(share)
    # 0.001 metric-month left in the first tier, the rest at the second tier's price
    assert row[1] == pytest.approx(0.001 * METRIC + (share - 0.001) * METRIC_NEXT)


def test_the_forecast_does_not_take_an_hour_paid_ahead_for_a_rate(h: Harness,
                                                                  cw: CloudWatch) -> None:
    from gureum.services.billing.usage import Usage
    from gureum.services.ce.forecast import rate

    alarm(h, cw, "a")
    h.advance(10)  # ten seconds into the hour: the hour's share is billed already
    per_second = rate(Usage(h.store.connection), ACCOUNT, h.clock.now(), lambda ln: True, True)
    assert per_second is not None
    month = MARCH_HOURS * 3600
    assert float(per_second) * month == pytest.approx(ALARM, rel=1e-6)  # an alarm-month


def test_detailed_monitoring_bills_seven_metrics_while_running(h: Harness,
                                                               cw: CloudWatch) -> None:
    h.instance("i-basic")
    h.instance("i-detailed")
    with h.store.tx():
        doc = h.store.resources.get("ec2:instance", ACCOUNT, "us-east-1", "i-detailed")
        assert doc is not None
        doc["monitoring"] = "enabled"
        h.store.resources.put("ec2:instance", ACCOUNT, "us-east-1", "i-detailed", doc)
    h.advance(5400)  # 00:00 to 01:30: two hours touched
    h.set_state("i-detailed", "stopped")
    h.advance(7200)  # stopped: no metrics sent, none billed
    rows = h.store.connection.execute(
        "SELECT resource, operation, sum(quantity), sum(cost) FROM billing_usage"
        " WHERE usage_type = 'CW:MetricMonitorUsage' GROUP BY resource").fetchall()
    assert len(rows) == 1
    resource, operation, qty, cost = rows[0]
    assert (resource, operation) == ("i-detailed", "MetricStorage:AWS/EC2")
    assert qty == pytest.approx(2 * 7 / MARCH_HOURS)
    assert cost == pytest.approx(2 * 7 / MARCH_HOURS * METRIC)
