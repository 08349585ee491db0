"""Billing: the price list, the usage sources and the meter that prices what
every resource uses, per hour. Cost Explorer (``ce``) and Budgets read the
usage rows; ``pricing`` answers from the price list.

Services that count usage as it happens (S3 requests and bytes sent) call
``count(env, account, region, "s3", "Requests-Tier2", 1, resource=bucket,
operation="GetObject")``; services whose resources cost money while they
exist add a usage source with ``register_source``.
"""

from __future__ import annotations

from .meter import Meter, count, meter_for
from .pricelist import PriceList, Product, Unpriced, prices
from .sources import Gauge, UsageSource, register_source, s3_request_usage_type

__all__ = [
    "Gauge",
    "Meter",
    "PriceList",
    "Product",
    "Unpriced",
    "UsageSource",
    "count",
    "meter_for",
    "prices",
    "register_source",
    "s3_request_usage_type",
]
