"""CloudWatch benchmark: PutMetricData ingestion and GetMetricStatistics speed.

1. Ingestion through a real gureum: several threads each send PutMetricData
   calls of 1,000 datapoints (json protocol, 50 metrics x 20 timestamps per
   call) for a fixed number of calls; prints datapoints/s end to end.
2. Storage: bytes per stored datapoint (table + indexes, from SQLite's dbstat).
3. Query, in process (server time: the operation itself, no HTTP): one day of
   1-minute data for one metric, GetMetricStatistics with Period=60 (1,440
   datapoints) and Period=3600, all five statistics, and p99; median of runs.
   The same query through boto3 is printed for comparison.

    .venv/bin/python bench/cloudwatch.py [--threads 4] [--calls 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.services.base import Call, Env, Identity
from gureum.services.cloudwatch import CloudWatch
from gureum.store import Store
from gureum.testing.server import running_gureum

STATS = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"]


def ingest(threads: int, calls: int) -> tuple[float, int]:
    with running_gureum() as g:
        # botocore gzips bodies over 10 KiB, which the gateway cannot verify yet.
        clients = [g.client("cloudwatch", protocol="json", disable_request_compression=True)
                   for _ in range(threads)]
        base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)

        def batch(worker: int, n: int) -> list[dict[str, Any]]:
            t = base + dt.timedelta(seconds=(n * 20) % 3000)
            return [{"MetricName": f"m{worker}-{i % 50}", "Value": float(i),
                     "Dimensions": [{"Name": "Host", "Value": f"h{i % 50}"}],
                     "Timestamp": t + dt.timedelta(seconds=i // 50), "StorageResolution": 1}
                    for i in range(1000)]

        payloads = [[batch(w, n) for n in range(calls)] for w in range(threads)]
        clients[0].put_metric_data(Namespace="Bench/warm", MetricData=payloads[0][0][:10])

        def work(worker: int) -> None:
            for data in payloads[worker]:
                clients[worker].put_metric_data(Namespace="Bench", MetricData=data)

        pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
        started = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - started
        total = threads * calls * 1000
        print(f"ingestion: {total} datapoints in {elapsed:.2f}s = {total / elapsed:,.0f}/s "
              f"({threads} threads x {calls} calls of 1000, json)")
        return total / elapsed, total


def storage_and_query() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gureum-bench-"))
    clock = FakeClock(start=1_700_006_400.0)
    store = Store.open(tmp / "gureum.db", now=clock.now)
    env = Env(settings=Settings.load(env={}, data_dir=tmp), store=store, clock=clock,
              loops=LoopRunner())
    cw = CloudWatch(env)
    call = Call("cloudwatch", "", "000000000000", "us-east-1", Identity.root("000000000000"),
                "bench")
    now = clock.now()
    day = 86400
    # The metric of interest, plus 20 neighbours so the index is not trivially small.
    for metric in ["Target", *(f"Other{i}" for i in range(20))]:
        points = [{"MetricName": metric, "Value": float(i % 97),
                   "Dimensions": [{"Name": "Host", "Value": "h1"}],
                   "Timestamp": dt.datetime.fromtimestamp(now - day + 60 * i, dt.UTC)}
                  for i in range(1440)]
        for i in range(0, len(points), 1000):
            cw.put_metric_data(call, {"Namespace": "Bench", "MetricData": points[i:i + 1000]})
    rows = store.connection.execute("SELECT count(*) FROM cw_datapoints").fetchone()[0]
    try:
        size = store.connection.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name IN ('cw_datapoints',"
            " 'cw_datapoints_by_metric', 'cw_datapoints_by_res')").fetchone()[0]
        print(f"storage: {size / rows:.1f} bytes per datapoint (table + indexes, {rows} rows)")
    except Exception as exc:  # dbstat is optional in SQLite builds
        print(f"storage: dbstat unavailable ({exc})")
    start = dt.datetime.fromtimestamp(now - day, dt.UTC)
    end = dt.datetime.fromtimestamp(now, dt.UTC)
    params: dict[str, Any] = {"Namespace": "Bench", "MetricName": "Target",
                              "Dimensions": [{"Name": "Host", "Value": "h1"}],
                              "StartTime": start, "EndTime": end}
    for label, extra in [("Period=60, 5 statistics", {"Period": 60, "Statistics": STATS}),
                         ("Period=3600, 5 statistics", {"Period": 3600, "Statistics": STATS}),
                         ("Period=60, p99", {"Period": 60, "ExtendedStatistics": ["p99"]})]:
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            out = cw.get_metric_statistics(call, {**params, **extra})
            times.append((time.perf_counter() - t0) * 1000)
        print(f"GetMetricStatistics 1 day of 1-minute data, {label}: "
              f"{len(out['Datapoints'])} datapoints, median {statistics.median(times):.2f} ms "
              f"server time (min {min(times):.2f})")
    store.close()


def query_round_trip() -> None:
    with running_gureum() as g:
        cw = g.client("cloudwatch", protocol="json", disable_request_compression=True)
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        points = [{"MetricName": "Target", "Value": float(i % 97),
                   "Timestamp": now - dt.timedelta(minutes=1440 - i)} for i in range(1440)]
        for i in range(0, 1440, 1000):
            cw.put_metric_data(Namespace="Bench", MetricData=points[i:i + 1000])
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            cw.get_metric_statistics(Namespace="Bench", MetricName="Target",
                                     StartTime=now - dt.timedelta(days=1), EndTime=now,
                                     Period=60, Statistics=STATS)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"GetMetricStatistics through boto3 (json, 1440 datapoints): median "
              f"{statistics.median(times):.1f} ms round trip")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args(argv)
    ingest(args.threads, args.calls)
    storage_and_query()
    query_round_trip()
    return 0


if __name__ == "__main__":
    sys.exit(main())
