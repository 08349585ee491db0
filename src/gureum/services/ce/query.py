"""Cost Explorer's query language over usage lines: dimensions, tags, filter
expressions (And/Or/Not/Dimensions/Tags), time periods and grouping.

Amounts are summed as decimals of each line rounded to 10 places, so the
groups of any grouping add up exactly to the total.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gureum.errors import AWSError

from ..billing.pricelist import prices
from ..billing.usage import Line

PLACES = Decimal("0.0000000001")
COST_METRICS = {"UnblendedCost", "BlendedCost", "AmortizedCost", "NetUnblendedCost",
                "NetAmortizedCost"}
QUANTITY_METRICS = {"UsageQuantity", "NormalizedUsageAmount"}
METRICS = COST_METRICS | QUANTITY_METRICS
GROUPABLE = {"AZ", "INSTANCE_TYPE", "LINKED_ACCOUNT", "OPERATION", "PURCHASE_TYPE", "REGION",
             "SERVICE", "SERVICE_CODE", "USAGE_TYPE", "USAGE_TYPE_GROUP", "RECORD_TYPE",
             "OPERATING_SYSTEM", "TENANCY", "PLATFORM", "DATABASE_ENGINE", "CACHE_ENGINE",
             "DEPLOYMENT_OPTION", "INSTANCE_TYPE_FAMILY", "BILLING_ENTITY", "LEGAL_ENTITY_NAME",
             "INVOICING_ENTITY", "RESOURCE_ID"}


def invalid(message: str) -> AWSError:
    return AWSError("ValidationException", message)


# -- dimensions -------------------------------------------------------------

_GROUPS = [  # (service, usage type prefix, USAGE_TYPE_GROUP)
    ("AmazonEC2", "BoxUsage", "EC2: Running Hours"),
    ("AmazonEC2", "EBS:VolumeUsage.gp3", "EC2: EBS - SSD(gp3)"),
    ("AmazonEC2", "EBS:VolumeUsage.gp2", "EC2: EBS - SSD(gp2)"),
    ("AmazonEC2", "EBS:SnapshotUsage", "EC2: EBS - Snapshots"),
    ("AmazonS3", "TimedStorage", "S3: Storage - Standard"),
    ("AmazonS3", "Requests-Tier1", "S3: API Requests - Standard"),
    ("AmazonS3", "Requests-Tier2", "S3: API Requests - Standard"),
    ("AmazonS3", "DataTransfer-Out", "S3: Data Transfer - Internet (Out)"),
    ("AWSELB", "LoadBalancerUsage", "ELB: Running Hours"),
    ("AWSELB", "LCUUsage", "ELB: LCU Usage"),
    ("AmazonRDS", "InstanceUsage", "RDS: Running Hours"),
    ("AmazonRDS", "Multi-AZUsage", "RDS: Running Hours"),
    ("AmazonRDS", "RDS:", "RDS: Storage"),
    ("AmazonElastiCache", "NodeUsage", "ElastiCache: Running Hours"),
    ("AmazonCloudWatch", "CW:", "CloudWatch: Metrics, Alarms and Requests"),
]


def dimension(line: Line, name: str) -> str:
    """The value of a Cost Explorer dimension for a usage line."""
    if name == "SERVICE":  # the common groupings first: they need no attributes
        return prices().ce_service(line.service, line.usage_type, line.operation)
    if name == "RESOURCE_ID":
        return line.resource
    attrs = line.attrs
    itype = str(attrs.get("instance_type", ""))
    if name == "SERVICE":
        return prices().ce_service(line.service, line.usage_type, line.operation)
    if name == "SERVICE_CODE":
        return line.service
    if name == "USAGE_TYPE":
        return prices().prefix(line.region) + line.usage_type
    if name == "REGION":
        return line.region
    if name == "INSTANCE_TYPE":
        return itype or "NoInstanceType"
    if name == "INSTANCE_TYPE_FAMILY":
        return itype.split(".")[0] if itype else "NoInstanceTypeFamily"
    if name == "LINKED_ACCOUNT":
        return line.account
    if name == "OPERATION":
        return line.operation or "NoOperation"
    if name == "RESOURCE_ID":
        return line.resource
    if name == "RECORD_TYPE":
        return "Usage"
    if name == "PURCHASE_TYPE":
        return "On Demand Instances" if itype else "NoPurchaseType"
    if name in ("OPERATING_SYSTEM", "PLATFORM"):
        return "Linux" if line.usage_type.startswith("BoxUsage") else "NoOperatingSystem"
    if name == "TENANCY":
        return "Shared" if itype else "NoTenancy"
    if name == "USAGE_TYPE_GROUP":
        for service, prefix, group in _GROUPS:
            if line.service == service and line.usage_type.startswith(prefix):
                return group
        return "NoUsageTypeGroup"
    if name in ("BILLING_ENTITY", "INVOICING_ENTITY", "LEGAL_ENTITY_NAME"):
        return "AWS" if name == "BILLING_ENTITY" else "Amazon Web Services, Inc."
    return str(attrs.get(name.lower(), ""))


def tag_key(key: str) -> str:
    """Cost allocation tag keys may be given as ``user:Key``."""
    return key[5:] if key.startswith("user:") else key


# -- filters ----------------------------------------------------------------


def _match(value: str | None, wanted: list[str], options: list[str]) -> bool:
    if "ABSENT" in options:
        return value is None or value == ""
    if value is None:
        return "" in wanted
    sensitive = "CASE_INSENSITIVE" not in options
    v = value if sensitive else value.lower()
    for w in wanted:
        w2 = w if sensitive else w.lower()
        if "STARTS_WITH" in options and v.startswith(w2):
            return True
        if "ENDS_WITH" in options and v.endswith(w2):
            return True
        if "CONTAINS" in options and w2 in v:
            return True
        if not {"STARTS_WITH", "ENDS_WITH", "CONTAINS"} & set(options) and v == w2:
            return True
    return False


def everything(line: Line) -> bool:
    """The test of no filter (sums over it may skip reading whole lines)."""
    return True


def predicate(expr: dict[str, Any] | None) -> Callable[[Line], bool]:
    """A test of lines from a Cost Explorer ``Expression``."""
    if not expr:
        return everything
    parts = [k for k in ("And", "Or", "Not", "Dimensions", "Tags", "CostCategories")
             if expr.get(k)]
    if len(parts) != 1:
        raise invalid("Expression must have exactly one of And, Or, Not, Dimensions, Tags")
    kind = parts[0]
    if kind in ("And", "Or"):
        subs = [predicate(e) for e in expr[kind]]
        if len(subs) < 2:
            raise invalid(f"{kind} expression must have at least 2 operands")
        if kind == "And":
            return lambda line: all(p(line) for p in subs)
        return lambda line: any(p(line) for p in subs)
    if kind == "Not":
        inner = predicate(expr["Not"])
        return lambda line: not inner(line)
    if kind == "CostCategories":
        raise invalid("Cost categories are not defined in this account")
    spec = expr[kind]
    key = spec.get("Key")
    values = [str(v) for v in spec.get("Values") or []]
    options = list(spec.get("MatchOptions") or [])
    if kind == "Dimensions":
        if key not in GROUPABLE:
            raise invalid(f"Dimension {key} is not allowed")
        return lambda line: _match(dimension(line, key), values, options)
    if not key:
        raise invalid("Tags expression requires a Key")
    tkey = tag_key(str(key))
    return lambda line: _match(line.tags.get(tkey), values, options)


# -- time -------------------------------------------------------------------


def parse_time(text: str, field: str) -> tuple[dt.datetime, bool]:
    """A TimePeriod bound: (UTC datetime, given with a time of day)."""
    try:
        if "T" in text:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC), True
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC), False
    except ValueError as exc:
        raise invalid(f"{field} date is invalid: {text}") from exc


def time_period(params: dict[str, Any]) -> tuple[dt.datetime, dt.datetime, bool]:
    period = params.get("TimePeriod") or {}
    start, timed = parse_time(str(period.get("Start", "")), "Start")
    end, _ = parse_time(str(period.get("End", "")), "End")
    if start >= end:
        raise invalid("Start date (and hour) should be before end date (and hour)")
    return start, end, timed


def periods(start: dt.datetime, end: dt.datetime,
            granularity: str) -> list[tuple[dt.datetime, dt.datetime]]:
    out: list[tuple[dt.datetime, dt.datetime]] = []
    t = start
    while t < end:
        if granularity == "HOURLY":
            nxt = t.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        elif granularity == "DAILY":
            nxt = dt.datetime(t.year, t.month, t.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
        elif granularity == "MONTHLY":
            year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
            nxt = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        else:
            raise invalid(f"Granularity {granularity} is not supported")
        nxt = min(nxt, end)
        out.append((t, nxt))
        t = nxt
    return out


def show_time(t: dt.datetime, timed: bool) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if timed else t.strftime("%Y-%m-%d")


# -- amounts ----------------------------------------------------------------


def amount(value: Decimal) -> str:
    text = format(value.quantize(PLACES), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def line_value(line: Line, metric: str) -> Decimal:
    raw = line.cost if metric in COST_METRICS else line.quantity
    return exact(raw)


def exact(raw: float) -> Decimal:
    """A stored amount as Cost Explorer counts it: to 10 places per row, half
    away from zero, as SQLite's ``round`` does in the sums it makes
    (``Usage.totals``)."""
    return Decimal(repr(raw)).quantize(PLACES, rounding=ROUND_HALF_UP)


def metrics_of(lines: Iterable[Line], metrics: list[str]) -> dict[str, dict[str, str]]:
    lines = list(lines)
    out: dict[str, dict[str, str]] = {}
    for metric in metrics:
        total = sum((line_value(line, metric) for line in lines), Decimal(0))
        if metric in COST_METRICS:
            unit = "USD"
        else:
            units = {line.unit for line in lines}
            unit = units.pop() if len(units) == 1 else "N/A"
        out[metric] = {"Amount": amount(total), "Unit": unit}
    return out


def group_keys(group_by: list[dict[str, Any]], allow_resource: bool) -> list[Callable[[Line],
                                                                                       str]]:
    if len(group_by) > 2:
        raise invalid("You may group by at most two dimensions or tags")
    keys: list[Callable[[Line], str]] = []
    for g in group_by:
        kind, key = g.get("Type"), g.get("Key")
        if kind == "DIMENSION":
            if key not in GROUPABLE or (key == "RESOURCE_ID" and not allow_resource):
                raise invalid(f"Group Definition dimension is invalid: {key}")
            keys.append(_by_dimension(str(key)))
        elif kind == "TAG":
            if not key:
                raise invalid("Group Definition tag key is required")
            keys.append(_by_tag(str(key)))
        else:
            raise invalid(f"Group Definition type is invalid: {kind}")
    return keys


def _by_dimension(name: str) -> Callable[[Line], str]:
    def key(line: Line) -> str:
        return dimension(line, name)
    return key


def _by_tag(name: str) -> Callable[[Line], str]:
    plain = tag_key(name)

    def key(line: Line) -> str:
        return f"{name}${line.tags.get(plain, '')}"
    return key
