"""S3 requests and the bytes GETs send are billed: Cost Explorer shows them by
usage type right after the calls (a Cost Explorer call ticks the meter)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from gureum.testing.server import RunningGureum

from .test_s3_support import temp_bucket

GIB = 1 << 30


def usage_by_type(g: RunningGureum) -> dict[str, Decimal]:
    today = dt.datetime.now(dt.UTC).date()
    out = g.client("ce").get_cost_and_usage(
        TimePeriod={"Start": str(today - dt.timedelta(days=1)),
                    "End": str(today + dt.timedelta(days=1))},
        Granularity="DAILY", Metrics=["UsageQuantity"],
        Filter={"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Simple Storage Service"]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    sums: dict[str, Decimal] = {}
    for r in out["ResultsByTime"]:
        for group in r["Groups"]:
            key = group["Keys"][0]
            sums[key] = sums.get(key, Decimal(0)) + Decimal(
                group["Metrics"]["UsageQuantity"]["Amount"])
    return sums


def test_requests_and_bytes_out_are_billed(gureum: RunningGureum) -> None:
    s3: Any = gureum.client("s3")
    before = usage_by_type(gureum)
    body = b"x" * (1 << 20)
    with temp_bucket(s3, "billed") as bucket:
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=body)
        for i in range(2):
            assert s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() == body
        s3.head_object(Bucket=bucket, Key="k0")
        after = usage_by_type(gureum)

    def grew(usage_type: str) -> Decimal:
        return after.get(usage_type, Decimal(0)) - before.get(usage_type, Decimal(0))

    assert grew("Requests-Tier1") >= 4  # CreateBucket and 3 PUTs
    assert grew("Requests-Tier2") >= 3  # 2 GETs and a HEAD
    sent = float(grew("DataTransfer-Out-Bytes"))
    assert abs(sent - 2 * (1 << 20) / GIB) < 1e-6
