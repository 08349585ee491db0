"""Billing: how long a meter tick takes with many resources metered, and how
long GetCostAndUsage (and the console's bill page) takes over a month of
hourly usage rows.

    .venv/bin/python bench/billing.py [--instances 1000] [--buckets 200]
        [--metrics 1000] [--alarms 500]

Custom metrics are sent every hour; alarms exist all month (each is billed
once per hour however often the meter ticks, which the 15-second tick
figure measures).

Runs the meter and Cost Explorer in process on a store in a temp dir with a
fake clock (no gureum server, no real instances: the records are written as
EC2 and S3 write them). Prints the median tick time and the query times.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import gureum.services  # noqa: F401  (every service's migrations)
from gureum.config import Settings
from gureum.console.pages import bill
from gureum.console.reads import Reader
from gureum.control.clock import FakeClock
from gureum.services.base import Call, Env, Identity
from gureum.services.billing.meter import Meter
from gureum.services.budgets import Budgets
from gureum.services.ce import CostExplorer
from gureum.store import Store

ACCOUNT = "000000000000"
START = 1772323200.0  # 2026-03-01T00:00:00Z


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--buckets", type=int, default=200)
    parser.add_argument("--metrics", type=int, default=1000)
    parser.add_argument("--alarms", type=int, default=500)
    parser.add_argument("--hours", type=int, default=24 * 30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gureum-bench-billing-"))
    atexit.register(shutil.rmtree, tmp, True)  # the store is gone with the run
    clock = FakeClock(START)
    store = Store.open(tmp / "gureum.db", now=clock.now)
    env = Env(settings=Settings(data_dir=tmp), store=store, clock=clock, loops=None)
    meter = Meter(env)
    env.extras["billing.meter"] = meter
    types = ["t3.micro", "t3.small", "m5.large", "c5.large"]
    with store.tx():
        for i in range(args.instances):
            iid = f"i-{i:017x}"
            store.resources.put("ec2:instance", ACCOUNT, "us-east-1", iid, {
                "id": iid, "type": types[i % len(types)], "state": "running",
                "launch_time": START, "tags": {"Project": f"p{i % 7}"}})
        for b in range(args.buckets):
            name = f"bucket-{b}"
            store.resources.put("s3:bucket", "", "", name,
                                {"Name": name, "Owner": ACCOUNT, "Region": "us-east-1"})
            store.connection.execute(
                "INSERT INTO s3_objects (bucket, key, size, etag, modified, blobs, meta)"
                " VALUES (?, 'k', ?, '\"e\"', 0, '[]', '{}')", (name, 1 << 30))
        for m in range(args.metrics):
            store.connection.execute(
                "INSERT INTO cw_metrics (account, region, namespace, name, dims, last_put)"
                " VALUES (?, 'us-east-1', 'App', ?, '[]', ?)", (ACCOUNT, f"m{m}", START))
        for a in range(args.alarms):
            name = f"alarm-{a}"
            store.resources.put("cloudwatch:alarm", ACCOUNT, "us-east-1", name, {
                "AlarmName": name, "AlarmArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:"
                f"{name}", "Namespace": "App", "MetricName": f"m{a}", "Period": 60})
    loop = asyncio.new_event_loop()
    meter.tick()
    ticks = []
    for _ in range(args.hours):
        loop.run_until_complete(clock.advance(3600))
        with store.tx():  # every custom metric is sent again this hour
            store.connection.execute("UPDATE cw_metrics SET last_put = ?", (clock.now(),))
        t0 = time.perf_counter()
        meter.tick()
        ticks.append(time.perf_counter() - t0)
    rows = store.connection.execute("SELECT count(*) FROM billing_usage").fetchone()[0]
    print(f"{args.instances} instances, {args.buckets} buckets, {args.metrics} custom metrics,"
          f" {args.alarms} alarms: hourly meter tick median "
          f"{statistics.median(ticks) * 1000:.1f} ms, max {max(ticks) * 1000:.1f} ms; "
          f"{rows} usage rows after {args.hours} hours")
    quick = []
    for _ in range(40):  # the default cadence: ticks 15 s apart inside one hour
        loop.run_until_complete(clock.advance(15))
        t0 = time.perf_counter()
        meter.tick()
        quick.append(time.perf_counter() - t0)
    print(f"meter tick every 15 s: median {statistics.median(quick) * 1000:.1f} ms, "
          f"max {max(quick) * 1000:.1f} ms")
    ce = CostExplorer(env)
    call = Call("ce", "GetCostAndUsage", ACCOUNT, "us-east-1", Identity.root(ACCOUNT), "r")
    period = {"Start": "2026-03-01", "End": "2026-04-01"}
    queries: list[tuple[str, dict[str, Any]]] = [
        ("monthly total", {}),
        ("daily by service", {"GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}]}),
        ("daily by instance type and tag", {"GroupBy": [
            {"Type": "DIMENSION", "Key": "INSTANCE_TYPE"}, {"Type": "TAG", "Key": "Project"}]}),
    ]
    for label, extra in queries:
        t0 = time.perf_counter()
        ce.get_cost_and_usage(call, {"TimePeriod": period, "Metrics": ["UnblendedCost"],
                                     "Granularity": "DAILY" if extra else "MONTHLY", **extra})
        print(f"GetCostAndUsage {label}: {(time.perf_counter() - t0) * 1000:.0f} ms")
    budgets = Budgets(env)
    bcall = Call("budgets", "CreateBudget", ACCOUNT, "us-east-1", Identity.root(ACCOUNT), "r")
    budgets.create_budget(bcall, {"AccountId": ACCOUNT, "Budget": {
        "BudgetName": "monthly", "BudgetLimit": {"Amount": "100", "Unit": "USD"},
        "TimeUnit": "MONTHLY", "BudgetType": "COST"}, "NotificationsWithSubscribers": [
        {"Notification": {"NotificationType": "FORECASTED", "ComparisonOperator": "GREATER_THAN",
                          "Threshold": 80.0}, "Subscribers": []}]})
    t0 = time.perf_counter()
    budgets.evaluate(clock.now())  # what every meter tick runs
    print(f"budget evaluation (one unfiltered budget): "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    reader = Reader(env, {"ce": ce, "budgets": budgets}, ACCOUNT, "us-east-1")
    t0 = time.perf_counter()
    html = loop.run_until_complete(bill(reader))
    print(f"console bill page: {(time.perf_counter() - t0) * 1000:.0f} ms "
          f"({len(html) // 1024} KiB)")
    loop.close()
    store.close()


if __name__ == "__main__":
    main()
