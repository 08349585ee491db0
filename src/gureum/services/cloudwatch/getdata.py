"""GetMetricData: MetricStat queries and metric-math expressions over one time
range, ordered by ``ScanBy`` and paginated by ``MaxDatapoints``. Alarms on
metric math evaluate their queries through ``run_queries`` too."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from gureum.errors import AWSError
from gureum.services.common.pagination import decode_token, encode_token

from ..base import Call, Service
from .datastore import MetricKey, MetricStore
from .mathexpr import Evaluator, ExpressionError, Node, Series, Value, parse
from .metrics import dims_of, epoch_of, invalid, to_time
from .statistics import align_start, buckets, check_period, check_stat

MAX_QUERIES = 500
DEFAULT_MAX_DATAPOINTS = 100_800
QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


@dataclass
class Result:
    id: str
    label: str
    series: Series
    return_data: bool


def metric_stat_series(metrics: MetricStore, account: str, region: str, stat_spec: dict[str, Any],
                       start_at: float, end_at: float, now: float) -> tuple[Series, int]:
    """The series of one MetricStat ({Metric, Period, Stat, Unit}) and its period."""
    metric = stat_spec.get("Metric") or {}
    period = int(stat_spec.get("Period") or 0)
    check_period(period, "MetricStat.Period")
    stat = stat_spec.get("Stat") or ""
    check_stat(stat, "MetricStat.Stat")
    key = MetricKey(account, region, metric.get("Namespace", ""), metric.get("MetricName", ""),
                    dims_of(metric.get("Dimensions"), "MetricStat.Metric"))
    start = align_start(start_at, period, now)
    end = math.ceil(end_at)
    series = Series(key.name)
    mid = metrics.lookup(key)
    if mid is not None:
        for b in buckets(metrics, [mid], start, end, period, stat_spec.get("Unit"),
                         by_unit=False, values=stat.startswith("p")):
            v = b.stat(stat)
            if v is not None:
                series.points[b.ts] = v
    return series, period


def run_queries(metrics: MetricStore, account: str, region: str, queries: list[dict[str, Any]],
                start_at: float, end_at: float, now: float) -> list[Result]:
    """Evaluate every query (expressions after what they reference), in request order."""
    if not queries:
        raise AWSError("MissingParameter", "The parameter MetricDataQueries is required.")
    if len(queries) > MAX_QUERIES:
        raise invalid(f"The collection MetricDataQueries must not have a size greater than "
                      f"{MAX_QUERIES}.")
    by_id: dict[str, dict[str, Any]] = {}
    for q in queries:
        qid = q.get("Id", "")
        if not QUERY_ID.match(qid):
            raise AWSError("ValidationError", f"Invalid metric data query id {qid!r}: an id "
                           "starts with a lowercase letter and holds letters, digits and _.")
        if qid in by_id:
            raise AWSError("ValidationError", f"The metric data query id {qid} is not unique.")
        if (q.get("MetricStat") is None) == (q.get("Expression") is None):
            raise AWSError("ValidationError", f"The metric data query {qid} must have exactly "
                           "one of MetricStat and Expression.")
        by_id[qid] = q
    if not any(q.get("ReturnData", True) for q in queries):
        raise AWSError("ValidationError", "At least one metric data query must have "
                       "ReturnData set to true.")
    stats: dict[str, Series] = {}
    periods: list[int] = []
    for qid, q in by_id.items():
        if q.get("MetricStat") is not None:
            series, period = metric_stat_series(metrics, account, region, q["MetricStat"],
                                                start_at, end_at, now)
            series.label = q.get("Label") or series.label
            stats[qid] = series
            periods.append(period)
    parsed: dict[str, Node] = {}
    for qid, q in by_id.items():
        if q.get("Expression") is not None:
            try:
                parsed[qid] = parse(q["Expression"])
            except ExpressionError as exc:
                raise AWSError("ValidationError",
                               f"Error in expression {qid}: {exc.message}") from None
            periods.append(int(q.get("Period") or 0) or 60)
    period = min(periods) if periods else 60
    start = align_start(start_at, period, now)
    grid = list(range(start, math.ceil(end_at), period))
    values: dict[str, Value] = dict(stats)
    busy: set[str] = set()

    def lookup(name: str) -> Value:
        if name in values:
            return values[name]
        if name not in parsed:
            raise AWSError("ValidationError", f"The expression refers to an unknown id {name}.")
        if name in busy:
            raise AWSError("ValidationError", f"The expression {name} refers to itself.")
        busy.add(name)
        try:
            values[name] = evaluator.eval(parsed[name])
        finally:
            busy.discard(name)
        return values[name]

    evaluator = Evaluator(grid, lookup, lambda: stats)
    results: list[Result] = []
    for qid, q in by_id.items():
        value = lookup(qid)
        label = q.get("Label")
        if isinstance(value, float):
            value = Series(qid, {} if math.isnan(value) else dict.fromkeys(grid, value))
        if isinstance(value, Series):
            value = [value]
        for s in value:
            name = label or (s.label if q.get("MetricStat") is not None or len(value) > 1
                             else qid)
            results.append(Result(qid, name, s, bool(q.get("ReturnData", True))))
    return results


class MetricDataOps(Service):
    metrics: MetricStore

    def get_metric_data(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        start_at, end_at = epoch_of(params["StartTime"]), epoch_of(params["EndTime"])
        if start_at >= end_at:
            raise invalid("The parameter StartTime must be less than the parameter EndTime.")
        scan = params.get("ScanBy") or "TimestampDescending"
        descending = scan == "TimestampDescending"
        limit = int(params.get("MaxDatapoints") or DEFAULT_MAX_DATAPOINTS)
        if limit < 1:
            raise invalid("The parameter MaxDatapoints must be positive.")
        now = self.env.clock.now()
        results = [r for r in run_queries(self.metrics, call.account, call.region,
                                          params["MetricDataQueries"], start_at, end_at, now)
                   if r.return_data]
        times = sorted({t for r in results for t in r.series.points}, reverse=descending)
        if params.get("NextToken"):
            token = decode_token(params["NextToken"], "InvalidNextToken")
            if not isinstance(token, int):
                raise AWSError("InvalidNextToken", "The NextToken is invalid.")
            times = [t for t in times if (t < token if descending else t > token)]
        chosen: list[int] = []
        used = 0
        for t in times:
            n = sum(1 for r in results if t in r.series.points)
            if chosen and used + n > limit:
                break
            chosen.append(t)
            used += n
        more = len(chosen) < len(times)
        out = []
        for r in results:
            ts = [t for t in chosen if t in r.series.points]
            out.append({
                "Id": r.id, "Label": r.label,
                "Timestamps": [to_time(t) for t in ts],
                "Values": [r.series.points[t] for t in ts],
                "StatusCode": "PartialData" if more else "Complete",
                "Messages": [],
            })
        response: dict[str, Any] = {"MetricDataResults": out, "Messages": []}
        if more:
            response["NextToken"] = encode_token(chosen[-1])
        return response
