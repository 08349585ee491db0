"""What CloudWatch bills, as AWS prices it (the bundled price list's
``AmazonCloudWatch`` products):

- custom metrics, ``CW:MetricMonitorUsage``: a metric-month per metric,
  prorated by the hour and metered only for hours the metric was sent in
  (a metric sent in an hour bills ``1 / hours in the month``); metrics of
  ``AWS/`` namespaces (what gureum's data planes publish, AWS's basic
  monitoring) are free;
- EC2 detailed monitoring: the seven metrics an instance sends each minute
  are custom-metric-priced ``CW:MetricMonitorUsage`` (operation
  ``MetricStorage:AWS/EC2``) for every hour the instance runs with
  monitoring enabled;
- alarms, per alarm metric-month prorated by the hour, for every hour the
  alarm exists: a standard alarm on one metric is one ``CW:AlarmMonitorUsage``;
  a period under 60 seconds makes it high resolution
  (``CW:HighResAlarmMonitorUsage``); a metric math alarm counts each metric
  it reads; an anomaly detection band counts three per metric (the metric
  and the band's two bounds); a composite alarm is one
  ``CW:CompositeAlarmMonitorUsage``;
- API requests: ``GetMetricData`` per metric requested (``CW:GMD-Metrics``),
  and ``PutMetricData``, ``GetMetricStatistics``, ``ListMetrics`` per request
  (``CW:Requests``). Other CloudWatch operations are not charged. A request
  that fails is not billed.

Free tiers (10 metrics, 10 alarms, a million requests) are not applied, as
elsewhere in gureum's bill. The usage source only reads CloudWatch's tables;
``metered`` wraps the service's operations to count requests.
"""

from __future__ import annotations

import functools
import inspect
import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ..base import Call, Env
from ..billing import Gauge, count, register_source

SERVICE = "AmazonCloudWatch"
METRIC = "CW:MetricMonitorUsage"
ALARM = "CW:AlarmMonitorUsage"
HIGH_RES_ALARM = "CW:HighResAlarmMonitorUsage"
COMPOSITE_ALARM = "CW:CompositeAlarmMonitorUsage"
REQUESTS = "CW:Requests"
GMD_METRICS = "CW:GMD-Metrics"
PER_REQUEST = {"PutMetricData", "GetMetricStatistics", "ListMetrics"}
ALARM_KIND = "cloudwatch:alarm"
EC2_INSTANCE = "ec2:instance"
DETAILED_METRICS = 7.0  # what EC2 detailed monitoring sends each minute
COMPOSITE_KIND = "cloudwatch:composite-alarm"

T = TypeVar("T")


def alarm_metrics(alarm: dict[str, Any]) -> tuple[str, float]:
    """(usage type, alarm metrics) that a metric alarm is billed as."""
    queries = alarm.get("Metrics") or []
    if not queries:
        period = int(alarm.get("Period") or 60)
        return (HIGH_RES_ALARM if period < 60 else ALARM), 1.0
    stats = [q for q in queries if q.get("MetricStat")]
    periods = [int(q["MetricStat"].get("Period") or 60) for q in stats]
    periods += [int(q["Period"]) for q in queries if q.get("Period")]
    n = float(max(1, len(stats)))
    if any("ANOMALY_DETECTION_BAND" in str(q.get("Expression", "")).upper()
           for q in queries):
        n *= 3
    return (HIGH_RES_ALARM if periods and min(periods) < 60 else ALARM), n


def metric_resource(namespace: str, name: str, dims: str) -> str:
    """How a custom metric is named in the bill: ``Namespace/Name{dims}``."""
    try:
        pairs = json.loads(dims)
        shown = ",".join(f"{k}={v}" for k, v in pairs)
    except (ValueError, TypeError):
        shown = dims
    return f"{namespace}/{name}" + (f"{{{shown}}}" if shown else "")


class CloudWatchUsage:
    """The CloudWatch usage source: custom metrics sent and alarms kept."""

    name = "cloudwatch"

    def gauges(self, conn: sqlite3.Connection, since: float, now: float) -> Iterable[Gauge]:
        if _table_exists(conn, "cw_metrics"):
            rows = conn.execute(
                "SELECT account, region, namespace, name, dims, last_put FROM cw_metrics"
                " WHERE last_put >= ? AND last_put <= ? AND substr(namespace, 1, 4) != 'AWS/'",
                (since, now),
            ).fetchall()
            for account, region, namespace, name, dims, last_put in rows:
                yield Gauge(account=account, region=region, service=SERVICE,
                            usage_type=METRIC, resource=metric_resource(namespace, name, dims),
                            amount=1.0, unit="Metrics", operation="MetricStorage",
                            since=float(last_put), until=float(last_put), hourly=True,
                            attrs={"namespace": namespace})
        yield from self._detailed_monitoring(conn, since, now)
        for account, region, kind, data, created in conn.execute(
            "SELECT account, region, kind, data, created FROM resources WHERE kind IN (?, ?)",
            (ALARM_KIND, COMPOSITE_KIND),
        ).fetchall():
            alarm = json.loads(data)
            if kind == COMPOSITE_KIND:
                usage_type, n = COMPOSITE_ALARM, 1.0
            else:
                usage_type, n = alarm_metrics(alarm)
            yield Gauge(account=account, region=region, service=SERVICE,
                        usage_type=usage_type, resource=str(alarm.get("AlarmArn", "")),
                        amount=n, unit="Alarms", operation="Unknown",
                        since=float(created), hourly=True,
                        attrs={"tags": alarm.get("Tags") or {}})


    def _detailed_monitoring(self, conn: sqlite3.Connection, since: float,
                             now: float) -> Iterable[Gauge]:
        for account, region, data, updated in conn.execute(
            "SELECT account, region, data, updated FROM resources WHERE kind = ?",
            (EC2_INSTANCE,),
        ).fetchall():
            doc = json.loads(data)
            if doc.get("monitoring") != "enabled":
                continue
            metrics = dict(account=account, region=region, service=SERVICE, usage_type=METRIC,
                           resource=str(doc.get("id", "")), amount=DETAILED_METRICS,
                           unit="Metrics", operation="MetricStorage:AWS/EC2", hourly=True,
                           attrs={"tags": doc.get("tags") or {}})
            if doc.get("state") == "running":
                yield Gauge(**metrics)
            elif since < float(updated) <= now:  # stopped since the last tick
                yield Gauge(**metrics, until=float(updated))


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


register_source(CloudWatchUsage.name, CloudWatchUsage)


OPERATIONS = {"put_metric_data": "PutMetricData", "get_metric_statistics": "GetMetricStatistics",
              "list_metrics": "ListMetrics", "get_metric_data": "GetMetricData"}


def bill_request(env: Env, call: Call, operation: str, params: dict[str, Any]) -> None:
    """Count one successful CloudWatch API call as AWS bills it."""
    if call.identity.anonymous:
        return
    if operation == "GetMetricData":
        n = sum(1 for q in params.get("MetricDataQueries") or [] if q.get("MetricStat"))
        if n:
            count(env, call.account, call.region, "cloudwatch", GMD_METRICS, float(n),
                  operation="GetMetricData", unit="Metrics")
    elif operation in PER_REQUEST:
        count(env, call.account, call.region, "cloudwatch", REQUESTS, 1.0,
              operation=operation)


def _wrap(fn: Callable[..., Any], operation: str) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(self: Any, call: Call, params: dict[str, Any]) -> Any:
            out = await fn(self, call, params)
            bill_request(self.env, call, operation, params)
            return out

        return run_async

    @functools.wraps(fn)
    def run(self: Any, call: Call, params: dict[str, Any]) -> Any:
        out = fn(self, call, params)
        bill_request(self.env, call, operation, params)
        return out

    return run


def metered(cls: type[T]) -> type[T]:
    """Wrap the operations that AWS charges per request (``PER_REQUEST`` and
    GetMetricData) so that each successful call is counted."""
    for name, operation in OPERATIONS.items():
        fn = getattr(cls, name, None)
        if fn is not None and not getattr(fn, "__metered__", False):
            wrapped = _wrap(fn, operation)
            wrapped.__metered__ = True  # type: ignore[attr-defined]
            setattr(cls, name, wrapped)
    return cls
