"""Cost Explorer over metered usage: totals, groupings that add up, filters,
dimension values, tags and the forecast."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gureum.errors import AWSError
from gureum.services.ce import CostExplorer

from .conftest import Harness, price

MONTH = {"Start": "2026-03-01", "End": "2026-04-01"}


@pytest.fixture
def ce(h: Harness) -> CostExplorer:
    h.instance("i-web", tags={"Project": "web"})
    h.instance("i-db", itype="m5.large", tags={"Project": "db"})
    h.instance("i-eu", region="eu-west-1")
    h.bucket("logs", 3 << 30)
    h.meter.count("000000000000", "us-east-1", "AmazonS3", "Requests-Tier1", 2000,
                  resource="logs", operation="PutObject")
    h.advance(3 * 3600 + 1800, tick_every=600)
    return CostExplorer(h.env)


def total(out: dict, metric: str = "UnblendedCost") -> Decimal:  # type: ignore[type-arg]
    return sum((Decimal(r["Total"][metric]["Amount"]) for r in out["ResultsByTime"]),
               Decimal(0))


def grouped(out: dict, metric: str = "UnblendedCost") -> dict[str, Decimal]:  # type: ignore[type-arg]
    sums: dict[str, Decimal] = {}
    for r in out["ResultsByTime"]:
        for g in r["Groups"]:
            key = "|".join(g["Keys"])
            sums[key] = sums.get(key, Decimal(0)) + Decimal(g["Metrics"][metric]["Amount"])
    return sums


def test_monthly_total_and_groupings_add_up(h: Harness, ce: CostExplorer) -> None:
    base = h.run(ce, "get_cost_and_usage", TimePeriod=MONTH, Granularity="MONTHLY",
                 Metrics=["UnblendedCost", "BlendedCost", "UsageQuantity"])
    whole = total(base)
    hours = 3.5
    t3, m5 = price("AmazonEC2", "BoxUsage:t3.micro"), price("AmazonEC2", "BoxUsage:m5.large")
    gp3, s3 = price("AmazonEC2", "EBS:VolumeUsage.gp3"), price("AmazonS3", "TimedStorage-ByteHrs")
    put = price("AmazonS3", "Requests-Tier1", "PutObject")
    expected = (hours * (t3 * 2 + m5)  # instances
                + 3 * 8 * hours / (31 * 24) * gp3  # their root volumes
                + 3 * hours / (31 * 24) * s3 + 2000 * put)  # S3
    assert float(whole) == pytest.approx(expected, rel=1e-6)
    for dim in ("SERVICE", "USAGE_TYPE", "REGION", "INSTANCE_TYPE", "LINKED_ACCOUNT"):
        out = h.run(ce, "get_cost_and_usage", TimePeriod=MONTH, Granularity="DAILY",
                    Metrics=["UnblendedCost"], GroupBy=[{"Type": "DIMENSION", "Key": dim}])
        assert sum(grouped(out).values()) == whole, dim
    by_service = grouped(h.run(ce, "get_cost_and_usage", TimePeriod=MONTH,
                               Granularity="MONTHLY", Metrics=["UnblendedCost"],
                               GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}]))
    assert set(by_service) == {"Amazon Elastic Compute Cloud - Compute", "EC2 - Other",
                               "Amazon Simple Storage Service"}
    assert float(by_service["Amazon Simple Storage Service"]) == pytest.approx(
        2000 * put + 3 * 3.5 / (31 * 24) * s3, abs=1e-9)
    by_type = grouped(h.run(ce, "get_cost_and_usage", TimePeriod=MONTH, Granularity="MONTHLY",
                            Metrics=["UsageQuantity"],
                            GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]),
                      "UsageQuantity")
    assert by_type["BoxUsage:t3.micro"] == Decimal("3.5")
    assert by_type["EU-BoxUsage:t3.micro"] == Decimal("3.5")
    assert by_type["Requests-Tier1"] == 2000


def test_hourly_and_tag_grouping(h: Harness, ce: CostExplorer) -> None:
    out = h.run(ce, "get_cost_and_usage", Granularity="HOURLY", Metrics=["UsageQuantity"],
                TimePeriod={"Start": "2026-03-01T00:00:00Z", "End": "2026-03-01T06:00:00Z"},
                Filter={"Dimensions": {"Key": "USAGE_TYPE", "Values": ["BoxUsage:m5.large"]}},
                GroupBy=[{"Type": "TAG", "Key": "Project"}])
    assert len(out["ResultsByTime"]) == 6
    assert out["ResultsByTime"][0]["TimePeriod"]["Start"] == "2026-03-01T00:00:00Z"
    hours = [r["Groups"][0]["Metrics"]["UsageQuantity"]["Amount"] if r["Groups"] else "0"
             for r in out["ResultsByTime"]]
    assert hours == ["1", "1", "1", "0.5", "0", "0"]
    assert out["ResultsByTime"][0]["Groups"][0]["Keys"] == ["Project$db"]


def test_filters_and_or_not_tags(h: Harness, ce: CostExplorer) -> None:
    def cost(flt: dict) -> Decimal:  # type: ignore[type-arg]
        return total(h.run(ce, "get_cost_and_usage", TimePeriod=MONTH, Granularity="MONTHLY",
                           Metrics=["UnblendedCost"], Filter=flt))

    ec2 = {"Dimensions": {"Key": "SERVICE",
                          "Values": ["Amazon Elastic Compute Cloud - Compute"]}}
    web = {"Tags": {"Key": "Project", "Values": ["web"]}}
    # i-web, a t3.micro, ran 3.5 hours
    t3 = price("AmazonEC2", "BoxUsage:t3.micro")
    assert cost({"And": [ec2, web]}) == Decimal(str(round(3.5 * t3, 10)))
    assert cost({"Not": web}) + cost(web) == cost({"Or": [web, {"Not": web}]})
    untagged = cost({"Tags": {"Key": "Project", "MatchOptions": ["ABSENT"]}})
    assert untagged > 0
    with pytest.raises(AWSError) as err:
        cost({"And": [ec2]})
    assert err.value.code == "ValidationException"


def test_dimension_values_and_tags(h: Harness, ce: CostExplorer) -> None:
    out = h.run(ce, "get_dimension_values", TimePeriod=MONTH, Dimension="INSTANCE_TYPE")
    assert [v["Value"] for v in out["DimensionValues"]] == ["NoInstanceType", "m5.large",
                                                            "t3.micro"]
    tags = h.run(ce, "get_tags", TimePeriod=MONTH)
    assert tags["Tags"] == ["Project"]
    values = h.run(ce, "get_tags", TimePeriod=MONTH, TagKey="Project")
    assert values["Tags"] == ["db", "web"]


def test_forecast_is_linear(h: Harness, ce: CostExplorer) -> None:
    out = h.run(ce, "get_cost_forecast", Metric="UNBLENDED_COST", Granularity="MONTHLY",
                TimePeriod={"Start": "2026-03-01", "End": "2026-04-01"})
    # 3.5 hours in, the same rate for the rest of the month.
    spent = 3.5 * 3600
    assert float(out["Total"]["Amount"]) == pytest.approx(
        float(total(h.run(ce, "get_cost_and_usage", TimePeriod=MONTH, Granularity="MONTHLY",
                          Metrics=["UnblendedCost"]))) / spent * (31 * 86400 - spent), rel=0.01)
    with pytest.raises(AWSError):
        h.run(ce, "get_cost_forecast", Metric="UNBLENDED_COST", Granularity="MONTHLY",
              TimePeriod={"Start": "2026-02-01", "End": "2026-04-01"})
