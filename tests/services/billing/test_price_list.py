"""The bundled price list against AWS's published prices: the one place the
published figures are written out (every other test reads prices from the
list). Each comes from a source named in the list's ``checked`` record."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from gureum.services.billing.pricelist import prices
from gureum.services.ec2.catalog import TYPES

# (service, usage type, operation, tier, USD per unit as AWS publishes it)
PUBLISHED = [
    # AWS Price List API, captured 2026-03-22 (effective 2026-03-01)
    ("AmazonEC2", "BoxUsage:t3.micro", "RunInstances", 0, 0.0104),
    ("AmazonEC2", "BoxUsage:t3.small", "RunInstances", 0, 0.0208),
    ("AmazonEC2", "BoxUsage:m5.large", "RunInstances", 0, 0.096),
    ("AmazonS3", "TimedStorage-ByteHrs", "", 0, 0.023),
    ("AmazonS3", "TimedStorage-ByteHrs", "", 1, 0.022),
    ("AmazonS3", "TimedStorage-ByteHrs", "", 2, 0.021),
    ("AmazonRDS", "InstanceUsage:db.t3.micro", "CreateDBInstance:0014", 0, 0.018),
    ("AmazonRDS", "InstanceUsage:db.t3.micro", "CreateDBInstance:0002", 0, 0.017),
    ("AmazonRDS", "InstanceUsage:db.t3.micro", "CreateDBInstance:0018", 0, 0.017),
    ("AmazonRDS", "Multi-AZUsage:db.t3.micro", "CreateDBInstance:0014", 0, 0.036),
    # aws.amazon.com pricing pages, as quoted by 2025-2026 guides
    ("AWSELB", "LoadBalancerUsage", "LoadBalancing:Application", 0, 0.0225),
    ("AWSELB", "LCUUsage", "LoadBalancing:Application", 0, 0.008),
    ("AWSELB", "LoadBalancerUsage", "LoadBalancing:Network", 0, 0.0225),
    ("AWSELB", "LCUUsage", "LoadBalancing:Network", 0, 0.006),
    ("AmazonRDS", "InstanceUsage:db.t4g.micro", "CreateDBInstance:0014", 0, 0.016),
    ("AmazonRDS", "InstanceUsage:db.t4g.small", "CreateDBInstance:0014", 0, 0.032),
    ("AmazonRDS", "Multi-AZUsage:db.t4g.small", "CreateDBInstance:0014", 0, 0.064),
    # infratally.com's 2026 RDS pricing guide, quoting us-east-1 rates
    ("AmazonRDS", "InstanceUsage:db.t4g.medium", "CreateDBInstance:0014", 0, 0.065),
    ("AmazonRDS", "Multi-AZUsage:db.t4g.medium", "CreateDBInstance:0014", 0, 0.13),
    ("AmazonRDS", "RDS:GP3-Storage", "", 0, 0.115),
    ("AmazonRDS", "RDS:ChargedBackupUsage", "", 0, 0.095),
    ("AmazonElastiCache", "NodeUsage:cache.t3.micro", "CreateCacheCluster:0002", 0, 0.017),
    ("AmazonElastiCache", "NodeUsage:cache.t3.medium", "CreateCacheCluster:0002", 0, 0.068),
    ("AmazonElastiCache", "NodeUsage:cache.t4g.micro", "CreateCacheCluster:0002", 0, 0.016),
    ("AmazonElastiCache", "NodeUsage:cache.r6g.large", "CreateCacheCluster:0002", 0, 0.206),
    ("AmazonElastiCache", "NodeUsage:cache.t2.small", "CreateCacheCluster:0002", 0, 0.034),
    ("AmazonCloudWatch", "CW:MetricMonitorUsage", "MetricStorage", 0, 0.30),
    ("AmazonCloudWatch", "CW:AlarmMonitorUsage", "Unknown", 0, 0.10),
    ("AmazonCloudWatch", "CW:HighResAlarmMonitorUsage", "Unknown", 0, 0.30),
    ("AmazonCloudWatch", "CW:CompositeAlarmMonitorUsage", "Unknown", 0, 0.50),
    ("AmazonS3", "Requests-Tier1", "PutObject", 0, 0.005 / 1000),
    ("AmazonS3", "Requests-Tier2", "GetObject", 0, 0.0004 / 1000),
    ("AmazonS3", "DataTransfer-Out-Bytes", "GetObject", 0, 0.09),
    ("AmazonS3", "DataTransfer-Out-Bytes", "GetObject", 1, 0.085),
    ("AmazonS3", "DataTransfer-Out-Bytes", "GetObject", 2, 0.07),
    ("AmazonS3", "DataTransfer-Out-Bytes", "GetObject", 3, 0.05),
]


@pytest.mark.parametrize(("service", "usage_type", "operation", "tier", "published"),
                         PUBLISHED, ids=[f"{p[1]}:{p[2]}:{p[3]}" for p in PUBLISHED])
def test_listed_price_is_the_published_one(service: str, usage_type: str, operation: str,
                                           tier: int, published: float) -> None:
    product = prices().product(service, usage_type, operation)
    assert product is not None
    assert product.operation == operation
    assert product.tiers[tier].price == pytest.approx(published, rel=1e-12)


def test_the_checked_record_names_its_date_and_sources() -> None:
    doc = json.loads((files("gureum.services.billing") / "prices.json").read_text())
    checked = doc["checked"]
    assert checked["date"] >= doc["taken"]
    assert all(s["source"] and s["prices"] for s in checked["sources"])


def test_every_instance_type_ec2_runs_is_priced() -> None:
    missing = [t for t in TYPES if prices().product("AmazonEC2", f"BoxUsage:{t}") is None]
    assert missing == []
