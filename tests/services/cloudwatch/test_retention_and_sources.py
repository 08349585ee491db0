"""Retention rolls 1-second data up to 1 minute after 3 hours (statistics and
percentiles intact); registered metric sources are published by their loop."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gureum.services.cloudwatch import Sample, sources

from .harness import ACCOUNT, REGION, Harness, run


def at(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def stats(h: Harness, start: float, period: int, **extra: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = h.op(
        "get_metric_statistics", Namespace="App", MetricName="Fast", StartTime=at(start),
        EndTime=at(start + 120), Period=period, **extra)["Datapoints"]
    return sorted(out, key=lambda p: p["Timestamp"])


def rows_by_res(h: Harness) -> dict[int, int]:
    conn = h.env.store.connection
    return dict(conn.execute("SELECT res, count(*) FROM cw_datapoints GROUP BY res"))


def test_one_second_data_rolls_up_after_three_hours(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        start = h.clock.now()
        h.op("put_metric_data", Namespace="App", MetricData=[
            {"MetricName": "Fast", "Value": float(s % 60), "StorageResolution": 1,
             "Timestamp": at(start + s)} for s in range(120)])
        before = stats(h, start, 60, Statistics=["Sum", "SampleCount", "Minimum", "Maximum"])
        pct_before = stats(h, start, 60, ExtendedStatistics=["p50", "p90"])
        assert rows_by_res(h) == {1: 120}
        await h.advance(2 * 3600)
        assert rows_by_res(h) == {1: 120}  # kept while younger than 3 hours
        await h.advance(3600 + 180)
        assert rows_by_res(h) == {60: 2}
        assert stats(h, start, 60, Statistics=["Sum", "SampleCount", "Minimum",
                                               "Maximum"]) == before
        assert stats(h, start, 60, ExtendedStatistics=["p50", "p90"]) == pct_before
        assert before[0]["Sum"] == sum(range(60)) and before[0]["SampleCount"] == 60

    run(tmp_path, scenario)


class FakeCPU:
    name = "test-cpu"
    interval = 60.0

    def __init__(self) -> None:
        self.calls = 0

    async def collect(self, now: float) -> Iterable[Sample]:
        self.calls += 1
        return [Sample(ACCOUNT, REGION, "AWS/EC2", "CPUUtilization", 50.0 + self.calls, now,
                       (("InstanceId", f"i-{n}"),), "Percent") for n in (1, 2)]


def test_registered_source_is_published_with_extra_dimensions(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        cpu = FakeCPU()
        registry = sources(h.env)
        registry.add_dimensioner(lambda s: [(("AutoScalingGroupName", "web"),)])
        registry.add(cpu)
        await h.advance(0)
        await h.advance(60)
        assert cpu.calls == 2
        listed = h.op("list_metrics", Namespace="AWS/EC2")["Metrics"]
        assert sorted(m["Dimensions"][0]["Value"] for m in listed) == ["i-1", "i-2", "web"]
        group = h.op("get_metric_statistics", Namespace="AWS/EC2",
                     MetricName="CPUUtilization",
                     Dimensions=[{"Name": "AutoScalingGroupName", "Value": "web"}],
                     StartTime=at(h.clock.now() - 60), EndTime=at(h.clock.now() + 60),
                     Period=300, Statistics=["SampleCount", "Average"])["Datapoints"]
        assert [(p["SampleCount"], p["Average"]) for p in group] == [(4.0, 51.5)]

    run(tmp_path, scenario)
