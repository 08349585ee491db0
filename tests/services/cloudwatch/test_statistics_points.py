"""GetMetricStatistics answers each period with exactly the statistics asked
for (a repeated one once), with mixed units apart, in time order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .harness import Harness, run


def at(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def test_points_carry_only_the_statistics_asked_for(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        start = h.clock.now() - 600
        h.op("put_metric_data", Namespace="App", MetricData=[
            *({"MetricName": "M", "Value": float(v), "Unit": "Count",
               "Timestamp": at(start + 60 * (v // 2) + v % 2)} for v in range(6)),
            {"MetricName": "M", "Value": 9.0, "Unit": "Bytes", "Timestamp": at(start + 5)},
        ])
        base = {"Namespace": "App", "MetricName": "M", "StartTime": at(start),
                "EndTime": at(start + 180), "Period": 60}
        out = h.op("get_metric_statistics", **base, Statistics=["Maximum", "Sum", "Maximum"])
        assert out["Label"] == "M"
        assert [(p["Timestamp"], p["Unit"], p["Maximum"], p["Sum"]) for p in out["Datapoints"]] == [
            (int(start), "Bytes", 9.0, 9.0), (int(start), "Count", 1.0, 1.0),
            (int(start) + 60, "Count", 3.0, 5.0), (int(start) + 120, "Count", 5.0, 9.0)]
        assert all(sorted(p) == ["Maximum", "Sum", "Timestamp", "Unit"] for p in out["Datapoints"])
        out = h.op("get_metric_statistics", **base, Statistics=["Average", "SampleCount"],
                   Unit="Count")
        assert [(p["Average"], p["SampleCount"]) for p in out["Datapoints"]] == [
            (0.5, 2.0), (2.5, 2.0), (4.5, 2.0)]
        assert all(sorted(p) == ["Average", "SampleCount", "Timestamp", "Unit"]
                   for p in out["Datapoints"])

    run(tmp_path, scenario)
