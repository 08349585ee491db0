"""CloudWatch on the bill, end to end: metrics, alarms and requests made with
boto3 and the AWS CLI come out of Cost Explorer as AWS prices them."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

import pytest

from gureum.services.billing.pricelist import prices
from gureum.testing.server import running_gureum


def listed(usage_type: str, operation: str = "") -> float:
    """The price gureum bills ``usage_type`` at (first tier), from its price list."""
    product = prices().product("AmazonCloudWatch", usage_type, operation)
    assert product is not None, usage_type
    return product.tiers[0].price


def hours_in_month(t: float) -> int:
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return calendar.monthrange(d.year, d.month)[1] * 24


def by_usage_type(ce: Any) -> dict[str, tuple[Decimal, Decimal]]:
    today = dt.datetime.now(dt.UTC).date()
    out = ce.get_cost_and_usage(
        TimePeriod={"Start": str(today - dt.timedelta(days=1)),
                    "End": str(today + dt.timedelta(days=1))},
        Granularity="MONTHLY", Metrics=["UsageQuantity", "UnblendedCost"],
        Filter={"Dimensions": {"Key": "SERVICE", "Values": ["AmazonCloudWatch"]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    found: dict[str, tuple[Decimal, Decimal]] = {}
    for r in out["ResultsByTime"]:
        for g in r["Groups"]:
            q, c = found.get(g["Keys"][0], (Decimal(0), Decimal(0)))
            found[g["Keys"][0]] = (q + Decimal(g["Metrics"]["UsageQuantity"]["Amount"]),
                                   c + Decimal(g["Metrics"]["UnblendedCost"]["Amount"]))
    return found


def test_metrics_alarms_and_requests_are_billed_as_aws_does() -> None:
    with running_gureum() as g:
        cw = g.client("cloudwatch")
        began = time.time()
        for i in range(5):  # one metric sent five times: one metric this hour
            cw.put_metric_data(Namespace="Shop", MetricData=[
                {"MetricName": "Orders", "Value": float(i)}])
        cw.put_metric_data(Namespace="Shop", MetricData=[
            {"MetricName": "Orders", "Value": 1.0,
             "Dimensions": [{"Name": "Store", "Value": "north"}]}])
        g.aws("cloudwatch", "put-metric-data", "--namespace", "Shop", "--metric-name",
              "Refunds", "--value", "2", check=True)
        cw.list_metrics(Namespace="Shop")
        stat = {"Metric": {"Namespace": "Shop", "MetricName": "Orders"}, "Period": 60,
                "Stat": "Sum"}
        now = dt.datetime.now(dt.UTC)
        cw.get_metric_data(StartTime=now - dt.timedelta(minutes=10), EndTime=now,
                           MetricDataQueries=[
                               {"Id": "a", "MetricStat": stat},
                               {"Id": "b", "MetricStat": {**stat, "Stat": "Maximum"}},
                               {"Id": "c", "Expression": "a + b"}])
        cw.describe_alarms()  # free
        cw.put_metric_alarm(AlarmName="slow", Namespace="Shop", MetricName="Orders",
                            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                            ComparisonOperator="LessThanThreshold")
        cw.put_metric_alarm(AlarmName="fast", Namespace="Shop", MetricName="Orders",
                            Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=1.0,
                            ComparisonOperator="LessThanThreshold")
        cw.put_composite_alarm(AlarmName="both", AlarmRule="ALARM(slow) AND ALARM(fast)")
        usage = by_usage_type(g.client("ce"))
        ended = time.time()
        hours = int(ended // 3600) - int(began // 3600) + 1  # hours the test touched
        share = Decimal(1) / Decimal(hours_in_month(began))

        assert usage["CW:Requests"][0] == 8  # 7 PutMetricData + 1 ListMetrics
        assert usage["CW:Requests"][1] == Decimal(str(8 * listed("CW:Requests",
                                                                   "PutMetricData")))
        assert usage["CW:GMD-Metrics"] == (Decimal(2), Decimal(str(
            2 * listed("CW:GMD-Metrics", "GetMetricData"))))
        metrics_qty, metrics_cost = usage["CW:MetricMonitorUsage"]
        # three metrics (Orders, Orders{Store=north}, Refunds) for each hour they were sent in
        assert float(metrics_qty) == pytest.approx(float(3 * share), rel=1e-6) or hours > 1
        assert float(metrics_cost) == pytest.approx(
            float(metrics_qty) * listed("CW:MetricMonitorUsage", "MetricStorage"), rel=1e-4)
        for usage_type in ("CW:AlarmMonitorUsage", "CW:HighResAlarmMonitorUsage",
                           "CW:CompositeAlarmMonitorUsage"):
            price = listed(usage_type)
            qty, cost = usage[usage_type]
            assert float(share) <= float(qty) <= float(hours * share) + 1e-9, usage_type
            assert float(cost) == pytest.approx(float(qty) * price, rel=1e-4), usage_type

        # The Price List API knows the products it was priced from.
        products = g.client("pricing").get_products(ServiceCode="AmazonCloudWatch", Filters=[
            {"Type": "TERM_MATCH", "Field": "usagetype",
             "Value": "CW:CompositeAlarmMonitorUsage"}])["PriceList"]
        assert len(products) == 1
        dims = next(iter(json.loads(products[0])["terms"]["OnDemand"].values()))[
            "priceDimensions"]
        assert float(next(iter(dims.values()))["pricePerUnit"]["USD"]) == listed(
            "CW:CompositeAlarmMonitorUsage")
