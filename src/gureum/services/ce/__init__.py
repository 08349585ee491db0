"""Cost Explorer (``ce``): what the meter recorded, priced, grouped and
filtered as AWS's Cost Explorer answers it, and a linear forecast.

The service starts the meter loop (``billing.meter``) and ticks it before
each answer, so a query sees usage up to the moment it is asked.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections import defaultdict
from decimal import Decimal
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env, Service
from ..billing.meter import LOOP, meter_for
from ..billing.usage import Line, Usage
from . import query
from .forecast import forecast


class CostExplorer(Service):
    name = "ce"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.meter = meter_for(env)
        self.usage = Usage(env.store.connection)

    async def start(self) -> None:
        if LOOP not in self.env.loops:
            self.env.loops.add(self.meter.loop())

    async def reset(self) -> None:
        self.meter.wipe()

    def _lines(self, call: Call, start: dt.datetime, end: dt.datetime,
               expr: dict[str, Any] | None) -> list[Line]:
        self.meter.tick()
        test = query.predicate(expr)
        return [line for line in self.usage.lines(call.account, start.timestamp(),
                                                   end.timestamp()) if test(line)]

    # -- GetCostAndUsage ----------------------------------------------------------

    def get_cost_and_usage(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return self._cost_and_usage(call, params, allow_resource=False)

    def get_cost_and_usage_with_resources(self, call: Call,
                                          params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("Filter"):
            raise query.invalid("Filter is required")
        params = {**params, "Metrics": params.get("Metrics") or ["UnblendedCost"]}
        return self._cost_and_usage(call, params, allow_resource=True)

    def _cost_and_usage(self, call: Call, params: dict[str, Any],
                        allow_resource: bool) -> dict[str, Any]:
        start, end, timed = query.time_period(params)
        granularity = params.get("Granularity") or "MONTHLY"
        timed = timed or granularity == "HOURLY"
        metrics = list(params.get("Metrics") or [])
        if not metrics:
            raise query.invalid("Metrics are required")
        for metric in metrics:
            if metric not in query.METRICS:
                raise query.invalid(f"Metrics {metric} is not supported")
        group_by = list(params.get("GroupBy") or [])
        keys = query.group_keys(group_by, allow_resource)
        lines = self._lines(call, start, end, params.get("Filter"))
        now = self.env.clock.now()
        hours = [ln.hour for ln in lines]  # in order: the store returns them by hour
        results = []
        for lo, hi in query.periods(start, end, granularity):
            inside = lines[bisect_left(hours, lo.timestamp()):bisect_left(hours, hi.timestamp())]
            result: dict[str, Any] = {
                "TimePeriod": {"Start": query.show_time(lo, timed),
                               "End": query.show_time(hi, timed)},
                "Estimated": hi.timestamp() > now,
            }
            if keys:
                groups: dict[tuple[str, ...], list[Line]] = defaultdict(list)
                for ln in inside:
                    groups[tuple(k(ln) for k in keys)].append(ln)
                result["Total"] = {}
                result["Groups"] = [
                    {"Keys": list(k), "Metrics": query.metrics_of(groups[k], metrics)}
                    for k in sorted(groups)
                ]
            else:
                result["Total"] = query.metrics_of(inside, metrics)
                result["Groups"] = []
            results.append(result)
        return {
            "GroupDefinitions": [{"Type": g["Type"], "Key": g["Key"]} for g in group_by],
            "ResultsByTime": results,
            "DimensionValueAttributes": [],
        }

    # -- GetCostForecast --------------------------------------------------------------

    def get_cost_forecast(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        start, end, timed = query.time_period(params)
        granularity = params.get("Granularity") or "MONTHLY"
        metric = str(params.get("Metric", ""))
        known = {"BLENDED_COST", "UNBLENDED_COST", "AMORTIZED_COST", "NET_UNBLENDED_COST",
                 "NET_AMORTIZED_COST", "USAGE_QUANTITY", "NORMALIZED_USAGE_AMOUNT"}
        if metric not in known:
            raise query.invalid(f"Metric {metric} is not supported")
        now = dt.datetime.fromtimestamp(self.env.clock.now(), dt.UTC)
        today = dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC)
        if start < today:
            raise query.invalid("Start date must be equal to or later than the current date")
        level = int(params.get("PredictionIntervalLevel") or 80)
        if not 51 <= level <= 99:
            raise query.invalid("PredictionIntervalLevel must be between 51 and 99")
        self.meter.tick()
        test = query.predicate(params.get("Filter"))
        cost = metric not in ("USAGE_QUANTITY", "NORMALIZED_USAGE_AMOUNT")
        result = forecast(self.usage, call.account, now.timestamp(), start, end, granularity,
                          test, cost, level)
        if result is None:
            raise AWSError("DataUnavailableException",
                           "Insufficient amount of historical data to generate forecast.")
        total, by_time = result
        return {
            "Total": {"Amount": query.amount(total), "Unit": "USD" if cost else "N/A"},
            "ForecastResultsByTime": [
                {"TimePeriod": {"Start": query.show_time(lo, timed),
                                "End": query.show_time(hi, timed)},
                 "MeanValue": query.amount(mean),
                 "PredictionIntervalLowerBound": query.amount(low),
                 "PredictionIntervalUpperBound": query.amount(high)}
                for lo, hi, mean, low, high in by_time
            ],
        }

    # -- dimensions and tags ------------------------------------------------------------

    def get_dimension_values(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        start, end, _ = query.time_period(params)
        name = params["Dimension"]
        if name not in query.GROUPABLE:
            raise query.invalid(f"Dimension {name} is not supported")
        lines = self._lines(call, start, end, params.get("Filter"))
        search = str(params.get("SearchString") or "").lower()
        values = sorted({query.dimension(ln, name) for ln in lines})
        values = [v for v in values if search in v.lower()]
        page = self._page(values, params)
        described = name == "LINKED_ACCOUNT"
        out: dict[str, Any] = {
            "DimensionValues": [{"Value": v, "Attributes": {"description": v} if described
                                 else {}} for v in page[0]],
            "ReturnSize": len(page[0]), "TotalSize": len(values),
        }
        if page[1]:
            out["NextPageToken"] = page[1]
        return out

    def get_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        start, end, _ = query.time_period(params)
        lines = self._lines(call, start, end, params.get("Filter"))
        key = params.get("TagKey")
        found: set[str] = set()
        for ln in lines:
            if key:
                value = ln.tags.get(query.tag_key(key))
                if value is not None:
                    found.add(value)
            else:
                found.update(ln.tags)
        search = str(params.get("SearchString") or "").lower()
        tags = sorted(t for t in found if search in t.lower())
        page = self._page(tags, params)
        out: dict[str, Any] = {"Tags": page[0], "ReturnSize": len(page[0]),
                               "TotalSize": len(tags)}
        if page[1]:
            out["NextPageToken"] = page[1]
        return out

    @staticmethod
    def _page(values: list[str], params: dict[str, Any]) -> tuple[list[str], str | None]:
        limit = int(params.get("MaxResults") or 1000)
        offset = 0
        token = params.get("NextPageToken")
        if token:
            try:
                offset = int(token)
            except ValueError as exc:
                raise AWSError("InvalidNextTokenException", "Invalid NextPageToken") from exc
        page = values[offset:offset + limit]
        more = offset + limit < len(values)
        return page, (str(offset + limit) if more else None)


def spend(usage: Usage, account: str, start: float, end: float,
          expr: dict[str, Any] | None) -> Decimal:
    """Unblended cost of an account in ``[start, end)`` (Budgets' actual spend)."""
    test = query.predicate(expr)
    if test is query.everything:
        return Decimal(sum(usage.totals(account, start, end))).scaleb(-10)
    return sum((query.line_value(ln, "UnblendedCost")
                for ln in usage.lines(account, start, end) if test(ln)), Decimal(0))
