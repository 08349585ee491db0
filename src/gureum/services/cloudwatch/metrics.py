"""Metric operations: PutMetricData (validation and batched ingestion),
GetMetricStatistics and ListMetrics."""

from __future__ import annotations

import math
import operator
from datetime import UTC, datetime
from typing import Any

from gureum.errors import AWSError
from gureum.services.common.pagination import decode_token, encode_token

from ..base import Call, Service
from .datastore import UNIT_CODE, DimTuple, MetricKey, MetricStore, NewRow, pack_values
from .statistics import (
    BASIC,
    MAX_DATAPOINTS,
    PERCENTILE,
    align_start,
    buckets,
    check_period,
)

MAX_DATUMS = 1000
MAX_DIMENSIONS = 30
MAX_VALUES = 150
PAST_LIMIT = 14 * 86400
FUTURE_LIMIT = 2 * 3600
RECENTLY_ACTIVE = 3 * 3600
LIST_PAGE = 500
# Where each GetMetricStatistics member is in an aggregate row (Average appended).
_COLUMN = {"Timestamp": 0, "Unit": 1, "SampleCount": 2, "Sum": 3, "Minimum": 4, "Maximum": 5,
           "Average": 6}
# CloudWatch rejects numbers too small or too large to keep (base 10 or 2).
VALUE_MAX = 2.0**360
VALUE_MIN = 2.0**-260


def invalid(message: str) -> AWSError:
    return AWSError("InvalidParameterValue", message)


def dims_of(dimensions: list[dict[str, Any]] | None, where: str) -> tuple[tuple[str, str], ...]:
    """The canonical (sorted, unique) dimension tuple of a request's Dimensions."""
    dims = dimensions or []
    if len(dims) > MAX_DIMENSIONS:
        raise invalid(
            f"The collection {where}.Dimensions must not have a size greater than "
            f"{MAX_DIMENSIONS}."
        )
    out: dict[str, str] = {}
    for d in dims:
        name, value = str(d.get("Name", "")), str(d.get("Value", ""))
        if name in out:
            raise invalid(f"No metric may have duplicate dimension names ({name}).")
        out[name] = value
    return tuple(sorted(out.items()))


def check_value(value: Any, where: str) -> float:
    v = float(value)
    if math.isnan(v) or math.isinf(v) or (v != 0 and not VALUE_MIN <= abs(v) <= VALUE_MAX):
        raise invalid(f"The value {value} for parameter {where} is invalid.")
    return v


def epoch_of(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def to_time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def datum_row(metric: int, datum: dict[str, Any], where: str, now: float) -> NewRow:
    """Validate one MetricDatum and turn it into a datapoint row."""
    res = int(datum.get("StorageResolution") or 60)
    if res not in (1, 60):
        raise invalid(
            f"The value {res} for parameter {where}.StorageResolution is invalid. "
            "Valid values are 1 and 60."
        )
    ts_value = datum.get("Timestamp")
    ts = now if ts_value is None else epoch_of(ts_value)
    if ts < now - PAST_LIMIT:
        raise invalid(
            f"The parameter {where}.Timestamp must specify a time no more than two weeks "
            "in the past."
        )
    if ts > now + FUTURE_LIMIT:
        raise invalid(
            f"The parameter {where}.Timestamp must specify a time no more than two hours "
            "in the future."
        )
    second = int(ts // res * res)
    unit = datum.get("Unit") or "None"
    code = UNIT_CODE.get(unit)
    if code is None:
        raise invalid(f"The value {unit} for parameter {where}.Unit is invalid.")
    has = [k for k in ("Value", "StatisticValues", "Values") if datum.get(k) is not None]
    if len(has) > 1:
        raise AWSError(
            "InvalidParameterCombination",
            f"The parameters {where}.{has[0]} and {where}.{has[1]} are mutually exclusive "
            "and you have specified both.",
        )
    if not has:
        raise AWSError(
            "InvalidParameterCombination",
            f"At least one of the parameters {where}.Value, {where}.StatisticValues or "
            f"{where}.Values must be specified.",
        )
    if has[0] == "Value":
        value = check_value(datum["Value"], f"{where}.Value")
        return (metric, second, code, res, value, None, None, None, None)
    if has[0] == "StatisticValues":
        sv = datum["StatisticValues"]
        count = check_value(sv.get("SampleCount"), f"{where}.StatisticValues.SampleCount")
        total = check_value(sv.get("Sum"), f"{where}.StatisticValues.Sum")
        lo = check_value(sv.get("Minimum"), f"{where}.StatisticValues.Minimum")
        hi = check_value(sv.get("Maximum"), f"{where}.StatisticValues.Maximum")
        if count <= 0:
            raise invalid(f"The parameter {where}.StatisticValues.SampleCount must be positive.")
        if lo > hi:
            raise invalid(
                f"The parameter {where}.StatisticValues.Minimum must not be greater than "
                f"{where}.StatisticValues.Maximum."
            )
        return (metric, second, code, res, total, count, lo, hi, None)
    values = [check_value(v, f"{where}.Values") for v in datum["Values"]]
    counts = datum.get("Counts")
    if not values:
        raise invalid(f"The collection {where}.Values must not be empty.")
    if len(values) > MAX_VALUES:
        raise invalid(
            f"The collection {where}.Values must not have a size greater than {MAX_VALUES}."
        )
    if counts is None:
        weights = [1.0] * len(values)
    else:
        if len(counts) != len(values):
            raise invalid(f"The parameters {where}.Values and {where}.Counts must be of the "
                          "same size.")
        weights = [check_value(c, f"{where}.Counts") for c in counts]
        if any(c < 0 for c in weights):
            raise invalid(f"The values of {where}.Counts must not be negative.")
    pairs = [(v, c) for v, c in zip(values, weights, strict=True) if c > 0]
    if not pairs:
        raise invalid(f"The parameter {where}.Counts must count at least one value.")
    count = sum(c for _, c in pairs)
    total = sum(v * c for v, c in pairs)
    lo = min(v for v, _ in pairs)
    hi = max(v for v, _ in pairs)
    return (metric, second, code, res, total, count, lo, hi, pack_values(pairs))


def plain_row(datum: dict[str, Any], now: float) -> NewRow | None:
    """The row of the common datum, one valid ``Value`` and nothing unusual,
    without building any error text; None sends the datum to ``datum_row``,
    which checks everything and names what is wrong."""
    if datum.get("StatisticValues") is not None or datum.get("Values") is not None:
        return None
    value = datum.get("Value")
    if value is None:
        return None
    v = float(value)
    if v != 0 and not VALUE_MIN <= abs(v) <= VALUE_MAX:  # NaN and infinities too
        return None
    res = int(datum.get("StorageResolution") or 60)
    if res != 60 and res != 1:
        return None
    ts_value = datum.get("Timestamp")
    ts = now if ts_value is None else epoch_of(ts_value)
    if not now - PAST_LIMIT <= ts <= now + FUTURE_LIMIT:
        return None
    code = UNIT_CODE.get(datum.get("Unit") or "None")
    if code is None:
        return None
    return (0, int(ts // res * res), code, res, v, None, None, None, None)


def datum_dims(dimensions: list[dict[str, Any]] | None, i: int) -> DimTuple:
    if not dimensions:
        return ()
    if len(dimensions) == 1:
        d = dimensions[0]
        return ((str(d.get("Name", "")), str(d.get("Value", ""))),)
    return dims_of(dimensions, f"MetricData.member.{i}")


def ingest(metrics: MetricStore, account: str, region: str, namespace: str,
           data: list[dict[str, Any]], now: float) -> int:
    """Validate every datum, then insert them all (the caller holds the transaction).

    Nothing is written when one datum is invalid."""
    if len(data) > MAX_DATUMS:
        raise invalid(
            f"The collection MetricData must not have a size greater than {MAX_DATUMS}."
        )
    # Validate everything before creating a metric, so a bad request leaves no trace.
    checked: list[tuple[tuple[str, DimTuple], NewRow]] = []
    append = checked.append
    for i, datum in enumerate(data, 1):
        dims = datum_dims(datum.get("Dimensions"), i)
        row = plain_row(datum, now)
        if row is None:
            row = datum_row(0, datum, f"MetricData.member.{i}", now)
        append(((datum["MetricName"], dims), row))
    known = metrics.ids_in(account, region, namespace)
    rows: list[NewRow] = []
    touched: set[int] = set()
    for named, row in checked:
        mid = known.get(named)
        if mid is None:
            mid = metrics.metric_id(MetricKey(account, region, namespace, *named), now)
            known[named] = mid
        touched.add(mid)
        rows.append((mid, *row[1:]))
    metrics.insert(rows)
    metrics.touch(touched, now)
    return len(rows)


class MetricOps(Service):
    """The metric half of CloudWatch's operations."""

    metrics: MetricStore

    def put_metric_data(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        namespace = params["Namespace"]
        if namespace.startswith("AWS/"):
            raise invalid(f"The value {namespace} for parameter Namespace is invalid.")
        data = params.get("MetricData") or []
        if not data and not params.get("EntityMetricData"):
            raise AWSError("MissingParameter", "The parameter MetricData is required.")
        for entity in params.get("EntityMetricData") or []:
            data = data + list(entity.get("MetricData") or [])
        now = self.env.clock.now()
        with self.env.store.tx():
            ingest(self.metrics, call.account, call.region, namespace, data, now)
        return {}

    def get_metric_statistics(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        period = int(params["Period"])
        check_period(period)
        stats = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if bool(stats) == bool(extended):
            raise AWSError(
                "InvalidParameterCombination",
                "Must specify either Statistics or ExtendedStatistics, but not both.",
            )
        for s in stats:
            if s not in BASIC:
                raise invalid(f"The value {s} for parameter Statistics is invalid.")
        for s in extended:
            if not PERCENTILE.match(s):
                raise invalid(f"The value {s} for parameter ExtendedStatistics is invalid.")
        now = self.env.clock.now()
        start_at, end_at = epoch_of(params["StartTime"]), epoch_of(params["EndTime"])
        if start_at >= end_at:
            raise invalid("The parameter StartTime must be less than the parameter EndTime.")
        start = align_start(start_at, period, now)
        end = math.ceil(end_at)
        if (end - start) / period > MAX_DATAPOINTS:
            raise AWSError(
                "InvalidParameterCombination",
                f"You have requested up to {math.ceil((end - start) / period)} datapoints, "
                f"which exceeds the limit of {MAX_DATAPOINTS}. You may reduce the datapoints "
                "requested by increasing Period, or decreasing the time range.",
            )
        key = MetricKey(call.account, call.region, params["Namespace"], params["MetricName"],
                        dims_of(params.get("Dimensions"), "Dimensions"))
        mid = self.metrics.lookup(key)
        if mid is None:
            return {"Label": params["MetricName"], "Datapoints": []}
        unit = params.get("Unit")
        datapoints: list[dict[str, Any]] = []
        if not extended:
            # The hot path: SQLite aggregates, one dict per period (timestamps as epoch
            # seconds, which every protocol serializes as a timestamp).
            # Each point is zipped from its row's columns by one itemgetter.
            keys = ("Timestamp", "Unit", *dict.fromkeys(stats))
            pick = operator.itemgetter(*(_COLUMN[k] for k in keys))
            rows: list[tuple[Any, ...]] = self.metrics.aggregate(mid, start, end, period, unit)
            if "Average" in keys:
                rows = [(*r, r[3] / r[2] if r[2] else 0.0) for r in rows]
            datapoints = [dict(zip(keys, pick(r), strict=True)) for r in rows]
            return {"Label": params["MetricName"], "Datapoints": datapoints}
        for b in buckets(self.metrics, [mid], start, end, period, unit, by_unit=True,
                         values=True):
            ext = {s: v for s in extended if (v := b.stat(s)) is not None}
            datapoints.append({"Timestamp": b.ts, "Unit": b.unit, "ExtendedStatistics": ext})
        return {"Label": params["MetricName"], "Datapoints": datapoints}

    def list_metrics(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        since = None
        if params.get("RecentlyActive"):
            if params["RecentlyActive"] != "PT3H":
                raise invalid(
                    f"The value {params['RecentlyActive']} for parameter RecentlyActive "
                    "is invalid."
                )
            since = self.env.clock.now() - RECENTLY_ACTIVE
        wanted = params.get("Dimensions") or []
        if len(wanted) > 10:
            raise invalid("The collection Dimensions must not have a size greater than 10.")
        found = self.metrics.find(call.account, call.region, params.get("Namespace"),
                                  params.get("MetricName"), since)
        matching = []
        for mid, key in found:
            have = dict(key.dims)
            if all(d.get("Name") in have and (d.get("Value") is None
                                              or have[d["Name"]] == d["Value"])
                   for d in wanted):
                matching.append((mid, key))
        after = 0
        if params.get("NextToken"):
            token = decode_token(params["NextToken"])
            if not isinstance(token, int):
                raise invalid("The value of NextToken is invalid.")
            after = token
        matching.sort(key=lambda m: m[0])
        page = [m for m in matching if m[0] > after]
        out = page[:LIST_PAGE]
        result: dict[str, Any] = {
            "Metrics": [
                {"Namespace": k.namespace, "MetricName": k.name, "Dimensions": k.dimensions()}
                for _, k in out
            ]
        }
        if len(page) > LIST_PAGE:
            result["NextToken"] = encode_token(out[-1][0])
        return result
