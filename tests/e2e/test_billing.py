"""Billing end to end: a real instance and a bucket with objects are metered,
priced from the bundled price list and shown by Cost Explorer, Budgets and the
Price List API; a gureum killed between meter ticks counts nothing twice."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from gureum.services.billing.pricelist import prices
from gureum.testing.server import RunningGureum

from .ec2_support import ec2_gureum, wait_for

T3_MICRO = prices().product("AmazonEC2", "BoxUsage:t3.micro").tiers[0].price  # type: ignore[union-attr]
GIB = 1 << 30


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def days() -> dict[str, str]:
    today = dt.datetime.now(dt.UTC).date()
    return {"Start": str(today - dt.timedelta(days=1)), "End": str(today + dt.timedelta(days=1))}


def grouped(out: dict[str, Any], metric: str) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for r in out["ResultsByTime"]:
        for g in r["Groups"]:
            key = "|".join(g["Keys"])
            sums[key] = sums.get(key, Decimal(0)) + Decimal(g["Metrics"][metric]["Amount"])
    return sums


def launch(g: RunningGureum) -> str:
    ec2 = g.client("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    iid: str = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1,
                                 MaxCount=1)["Instances"][0]["InstanceId"]
    wait_for(lambda: ec2.describe_instances(InstanceIds=[iid])["Reservations"][0][
        "Instances"][0]["State"]["Name"] == "running", timeout=30)
    return iid


def usage_by_type(g: RunningGureum) -> dict[str, Decimal]:
    out = g.client("ce").get_cost_and_usage(
        TimePeriod=days(), Granularity="DAILY", Metrics=["UsageQuantity"],
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    return grouped(out, "UsageQuantity")


def test_instance_and_bucket_cost_in_cost_explorer(cloud: RunningGureum) -> None:
    iid = launch(cloud)
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="billed")
    for i in range(3):
        s3.put_object(Bucket="billed", Key=f"obj{i}", Body=b"x" * (8 << 20))
    cloud.client("ec2").create_tags(Resources=[iid], Tags=[{"Key": "Project", "Value": "web"}])
    time.sleep(1.0)
    ce = cloud.client("ce")
    by_service = grouped(ce.get_cost_and_usage(
        TimePeriod=days(), Granularity="DAILY", Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}]), "UnblendedCost")
    # Under a minute of running: the 60-second minimum of a Linux instance.
    assert by_service["Amazon Elastic Compute Cloud - Compute"] == Decimal(
        str(round(T3_MICRO / 60, 10)))
    assert by_service["Amazon Simple Storage Service"] >= 0
    assert by_service["EC2 - Other"] > 0  # the root volume
    by_type = grouped(ce.get_cost_and_usage(
        TimePeriod=days(), Granularity="DAILY", Metrics=["UnblendedCost"],
        Filter={"Dimensions": {"Key": "SERVICE",
                               "Values": ["Amazon Elastic Compute Cloud - Compute"]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "INSTANCE_TYPE"}]), "UnblendedCost")
    assert list(by_type) == ["t3.micro"]
    quantities = usage_by_type(cloud)
    assert quantities["BoxUsage:t3.micro"] == Decimal(str(round(1 / 60, 10)))
    stored = float(quantities["TimedStorage-ByteHrs"])
    # 24 MiB for the seconds since the PUTs, in GB-months (a month of 28 to 31 days)
    assert 0 < stored < (24 << 20) / GIB * 60 / (28 * 86400)
    values = ce.get_dimension_values(TimePeriod=days(), Dimension="SERVICE")
    assert {v["Value"] for v in values["DimensionValues"]} >= {
        "Amazon Elastic Compute Cloud - Compute", "Amazon Simple Storage Service"}


def test_budget_sees_the_spend(cloud: RunningGureum) -> None:
    budgets = cloud.client("budgets")
    account = "000000000000"
    budgets.create_budget(AccountId=account, Budget={
        "BudgetName": "tiny", "BudgetLimit": {"Amount": "0.0001", "Unit": "USD"},
        "TimeUnit": "MONTHLY", "BudgetType": "COST"},
        NotificationsWithSubscribers=[{
            "Notification": {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                             "Threshold": 100, "ThresholdType": "PERCENTAGE"},
            "Subscribers": [{"SubscriptionType": "EMAIL", "Address": "ops@example.com"}]}])
    shown = budgets.describe_budget(AccountId=account, BudgetName="tiny")["Budget"]
    assert Decimal(shown["CalculatedSpend"]["ActualSpend"]["Amount"]) > 0
    notes = budgets.describe_notifications_for_budget(AccountId=account, BudgetName="tiny")
    assert notes["Notifications"][0]["NotificationState"] == "ALARM"
    with pytest.raises(budgets.exceptions.NotFoundException):
        budgets.describe_budget(AccountId=account, BudgetName="nope")


def test_price_list_api(cloud: RunningGureum) -> None:
    pricing = cloud.client("pricing")
    out = pricing.get_products(ServiceCode="AmazonEC2", Filters=[
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "t3.micro"},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}])
    (item,) = [json.loads(p) for p in out["PriceList"]]
    (term,) = item["terms"]["OnDemand"].values()
    (dim,) = term["priceDimensions"].values()
    assert float(dim["pricePerUnit"]["USD"]) == T3_MICRO
    codes = {s["ServiceCode"] for s in pricing.describe_services()["Services"]}
    assert {"AmazonEC2", "AmazonS3", "AmazonRDS", "AmazonElastiCache", "AWSELB"} <= codes


def test_kill_between_ticks_never_counts_twice() -> None:
    size = 64 << 20
    with ec2_gureum() as g:
        iid = launch(g)
        s3 = g.client("s3")
        s3.create_bucket(Bucket="kept")
        usage_by_type(g)  # a tick just before the object exists
        t_before_put = time.time()
        s3.put_object(Bucket="kept", Key="big", Body=b"y" * size)
        t_after_put = time.time()
        usage_by_type(g)
        time.sleep(1.5)
        g.stop(kill=True)  # SIGKILL, between meter ticks
        time.sleep(1.0)
        g.start()
        ec2 = g.client("ec2")
        wait_for(lambda: ec2.describe_instances(InstanceIds=[iid])["Reservations"][0][
            "Instances"][0]["State"]["Name"] == "running")
        t_first = time.time()
        usage = usage_by_type(g)
        t_last = time.time()
    # The instance ran well under a minute in all: one run, one 60-second minimum.
    assert usage["BoxUsage:t3.micro"] == Decimal(str(round(1 / 60, 10)))
    # The object was stored from its PUT to the last tick, downtime included, once.
    now = dt.datetime.now(dt.UTC)
    month_seconds = calendar.monthrange(now.year, now.month)[1] * 86400
    seconds = float(usage["TimedStorage-ByteHrs"]) * month_seconds * GIB / size
    assert t_first - t_after_put - 0.05 <= seconds <= t_last - t_before_put + 0.05
