"""Alarm evaluation as CloudWatch does it: the last N periods of the alarm's
metric (or metric-math) series, M of them breaching, missing data treated as
the alarm says. Pure functions of the alarm and the stored data."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .datastore import MetricStore
from .getdata import metric_stat_series, run_queries
from .mathexpr import Series

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT)

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
# Compared with a band (lower, upper) from the ThresholdMetricId series pair.
BAND_COMPARE: dict[str, Callable[[float, float, float], bool]] = {
    "LessThanLowerOrGreaterThanUpperThreshold": lambda v, lo, hi: v < lo or v > hi,
    "LessThanLowerThreshold": lambda v, lo, hi: v < lo,
    "GreaterThanUpperThreshold": lambda v, lo, hi: v > hi,
}
WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside the band",
    "LessThanLowerThreshold": "less than the lower band",
    "GreaterThanUpperThreshold": "greater than the upper band",
}


@dataclass(frozen=True)
class Outcome:
    state: str | None  # None: keep the current state (missing data ignored)
    reason: str
    reason_data: str


def fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d/%m/%y %H:%M:%S")


def iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def scaled_queries(queries: list[dict[str, Any]], time_scale: float) -> list[dict[str, Any]]:
    """Metric-math queries with their periods shortened by ``time_scale``."""
    if time_scale <= 1.0:
        return queries
    out = []
    for q in queries:
        q = dict(q)
        if q.get("MetricStat"):
            stat = q["MetricStat"] = dict(q["MetricStat"])
            stat["Period"] = scaled_period(int(stat["Period"]), time_scale)
        if q.get("Period"):
            q["Period"] = scaled_period(int(q["Period"]), time_scale)
        out.append(q)
    return out


def alarm_series(metrics: MetricStore, account: str, region: str, alarm: dict[str, Any],
                 start: float, end: float, now: float, time_scale: float = 1.0
                 ) -> tuple[Series, tuple[Series, Series] | None]:
    """The alarm's evaluated series, and the (lower, upper) band if it has one."""
    if alarm.get("Metrics"):
        results = run_queries(metrics, account, region,
                              scaled_queries(alarm["Metrics"], time_scale), start, end, now)
        band_id = alarm.get("ThresholdMetricId")
        main = [r for r in results if r.return_data and r.id != band_id]
        band = [r.series for r in results if r.id == band_id]
        pair = (band[0], band[1]) if len(band) == 2 else None
        return (main[0].series if main else Series("")), pair
    stat = alarm.get("Statistic") or alarm.get("ExtendedStatistic") or "Average"
    spec = {
        "Metric": {"Namespace": alarm.get("Namespace"), "MetricName": alarm.get("MetricName"),
                   "Dimensions": alarm.get("Dimensions") or []},
        "Period": scaled_period(int(alarm["Period"]), time_scale), "Stat": stat,
        "Unit": alarm.get("Unit"),
    }
    series, _ = metric_stat_series(metrics, account, region, spec, start, end, now)
    return series, None


def period_of(alarm: dict[str, Any]) -> int:
    if alarm.get("Period"):
        return int(alarm["Period"])
    periods = [int(q["MetricStat"]["Period"]) for q in alarm.get("Metrics") or []
               if q.get("MetricStat")]
    periods += [int(q["Period"]) for q in alarm.get("Metrics") or [] if q.get("Period")]
    return min(periods) if periods else 60


def scaled_period(period: int, time_scale: float = 1.0) -> int:
    """The wall-clock period an alarm of ``period`` evaluates under ``time_scale``.

    With the clocks sped up (``Settings.time_scale``) the data planes publish
    a "minute" of data every ``60 / time_scale`` seconds, so an alarm looks at
    periods shortened the same way: the longest period CloudWatch can
    aggregate (1, 5, 10, 30 s or whole minutes) no longer than the scaled one.
    """
    if time_scale <= 1.0:
        return period
    wall = period / time_scale
    if wall >= 60:
        return int(wall // 60 * 60)
    return max(p for p in (1, 5, 10, 30) if p <= max(wall, 1))


def window(alarm: dict[str, Any], now: float, time_scale: float = 1.0) -> tuple[int, int, int]:
    """(start, end, period): the last N complete periods before ``now``."""
    period = scaled_period(period_of(alarm), time_scale)
    end = int(now // period * period)
    return end - int(alarm["EvaluationPeriods"]) * period, end, period


def evaluate(alarm: dict[str, Any], series: Series, band: tuple[Series, Series] | None,
             start: int, end: int, period: int, now: float) -> Outcome:
    n = int(alarm["EvaluationPeriods"])
    m = int(alarm.get("DatapointsToAlarm") or n)
    treat = alarm.get("TreatMissingData") or "missing"
    op = alarm["ComparisonOperator"]
    threshold = alarm.get("Threshold")
    slots = list(range(start, end, period))
    present: list[tuple[int, float, bool]] = []
    for t in slots:
        if t not in series.points:
            continue
        v = series.points[t]
        if op in BAND_COMPARE:
            if band is None or t not in band[0].points or t not in band[1].points:
                continue
            lo, hi = sorted((band[0].points[t], band[1].points[t]))
            breach = BAND_COMPARE[op](v, lo, hi)
        else:
            breach = COMPARE[op](v, float(threshold if threshold is not None else math.nan))
        present.append((t, v, breach))
    missing = len(slots) - len(present)
    breaching = sum(1 for _, _, b in present if b)
    if treat == "breaching":
        breaching += missing
    data = {
        "version": "1.0", "queryDate": iso(now), "startDate": iso(start),
        "period": period, "recentDatapoints": [v for _, v, _ in present],
        "evaluatedDatapoints": [
            {"timestamp": iso(t), "sampleCount": 1.0, "value": v} for t, v, _ in present
        ],
    }
    if alarm.get("Statistic"):
        data["statistic"] = alarm["Statistic"]
    if threshold is not None:
        data["threshold"] = threshold
    reason_data = json.dumps(data, separators=(",", ":"))
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return Outcome(None, "", reason_data)
        return Outcome(INSUFFICIENT, f"Insufficient Data: {len(slots)} datapoints were "
                       "unknown.", reason_data)
    points = ", ".join(f"{v} ({fmt_time(t)})" for t, v, _ in reversed(present))
    considered = len(present) if treat in ("missing", "ignore") else len(slots)
    word = WORDS[op]
    against = f"the threshold ({threshold})" if threshold is not None else "the band"
    if breaching >= m:
        return Outcome(ALARM, f"Threshold Crossed: {breaching} out of the last {considered} "
                       f"datapoints [{points}] were {word} {against} (minimum {m} datapoints "
                       "for OK -> ALARM transition).", reason_data)
    return Outcome(OK, f"Threshold Crossed: {considered - breaching} out of the last "
                   f"{considered} datapoints [{points}] were not {word} {against} (minimum "
                   f"{n - m + 1} datapoint{'s' if n - m else ''} for ALARM -> OK transition).",
                   reason_data)
