"""CloudWatch benchmark: PutMetricData ingestion and GetMetricStatistics speed.

1. Ingestion through a real gureum: several client processes (each its own
   boto3 client and interpreter, so the clients do not share one GIL) send
   PutMetricData calls of 1,000 datapoints (50 metrics x 20 timestamps per
   call; smithy-rpc-v2-cbor with gzip, as boto3 sends them by default) for a
   fixed number of calls; prints datapoints/s end to end, and the server
   process's CPU time per 1,000 datapoints (from /proc, before and after).
   On a small machine boto3 itself is the bottleneck (it spends several times
   the server's CPU serializing each call), so a second run replays requests
   that boto3 serialized and signed before the start over keep-alive
   http.client connections: that end-to-end figure is the server's.
   ``--profile FILE`` runs the server under cProfile and prints where its
   time goes.
2. Storage: bytes per stored datapoint (table + indexes, from SQLite's dbstat).
3. Query, in process (server time: the operation itself, no HTTP): one day of
   1-minute data for one metric, GetMetricStatistics with Period=60 (1,440
   datapoints) and Period=3600, all five statistics, and p99; median of runs.
   The same query through boto3 is printed for comparison.

    .venv/bin/python bench/cloudwatch.py [--processes 4] [--calls 60] [--protocol json]
        [--no-compression] [--skip-boto3] [--profile out.prof] [--query-only]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import http.client
import multiprocessing
import os
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.services.base import Call, Env, Identity
from gureum.services.cloudwatch import CloudWatch
from gureum.store import Store
from gureum.testing.server import RunningGureum, free_port, running_gureum

PROTOCOL = "smithy-rpc-v2-cbor"  # what boto3 speaks to CloudWatch by default
STATS = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"]


def batch(base: dt.datetime, worker: int, n: int) -> list[dict[str, Any]]:
    """One call's 1,000 datapoints: 50 metrics x 20 timestamps."""
    t = base + dt.timedelta(seconds=(n * 20) % 3000)
    return [{"MetricName": f"m{worker}-{i % 50}", "Value": float(i),
             "Dimensions": [{"Name": "Host", "Value": f"h{i % 50}"}],
             "Timestamp": t + dt.timedelta(seconds=i // 50), "StorageResolution": 1}
            for i in range(1000)]


class Captured(Exception):
    """Raised from botocore's ``before-send``: the request is kept, not sent."""


def signed_requests(cw: Any, payloads: list[list[dict[str, Any]]]
                    ) -> list[tuple[str, str, dict[str, str], bytes]]:
    """What boto3 would send for each payload (serialized and signed by botocore
    itself), captured before it is sent: (method, path, headers, body)."""
    out: list[tuple[str, str, dict[str, str], bytes]] = []

    def capture(request: Any, **_: Any) -> None:
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        path = request.url.split("://", 1)[1]
        path = path[path.index("/"):]
        headers = {k: v if isinstance(v, str) else v.decode() for k, v in request.headers.items()}
        out.append((request.method, path, headers, body))
        raise Captured

    cw.meta.events.register_first("before-send.cloudwatch.PutMetricData", capture)
    for data in payloads:
        with contextlib.suppress(Captured):
            cw.put_metric_data(Namespace="Bench", MetricData=data)
    cw.meta.events.unregister("before-send.cloudwatch.PutMetricData", capture)
    return out


def client_process(data_dir: Path, port: int, worker: int, calls: int, base: dt.datetime,
                   protocol: str, raw: bool, compress: bool, ready: Any, go: Any, done: Any
                   ) -> None:
    """One client process: its own boto3 client, its payloads built before the start.
    ``raw``: the requests are serialized and signed by boto3 before the start and
    then sent as they are over one keep-alive connection (http.client)."""
    # Request compression (gzip over 10 KiB) is boto3's default; --no-compression
    # takes the client's gzip time out of the figure.
    cw = RunningGureum(data_dir, port).client("cloudwatch", protocol=protocol,
                                              disable_request_compression=not compress)
    payloads = [batch(base, worker, n) for n in range(calls)]
    cw.put_metric_data(Namespace="Bench/warm", MetricData=payloads[0][:10])
    requests = signed_requests(cw, payloads) if raw else []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    # http.client sends a large body in its own write after the headers: without
    # TCP_NODELAY, Nagle's algorithm holds it until the headers are acknowledged.
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ready.put(worker)
    go.wait()
    started = time.perf_counter()
    if raw:
        for method, path, headers, body in requests:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"PutMetricData answered {response.status}")
    else:
        for data in payloads:
            cw.put_metric_data(Namespace="Bench", MetricData=data)
    done.put(time.perf_counter() - started)
    conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


class ProfiledGureum(RunningGureum):
    """A gureum run under cProfile, its profile written to ``out`` when it stops."""

    def __init__(self, data_dir: Path, port: int, out: Path) -> None:
        super().__init__(data_dir, port)
        self.out = out

    def start(self, timeout: float = 30.0) -> None:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(self.out), "-m", "gureum", "up",
               "--port", str(self.port), "--data-dir", str(self.data_dir)]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.health().get("status") == "running":
                    return
            time.sleep(0.05)
        raise RuntimeError("gureum did not become ready under cProfile")


def ingest(processes: int, calls: int, protocol: str = PROTOCOL, raw: bool = False,
           compress: bool = True, profile: Path | None = None) -> tuple[float, float]:
    """PutMetricData from ``processes`` client processes (no shared GIL): datapoints
    per second end to end, and the server's CPU ms per 1,000 datapoints."""
    ctx = multiprocessing.get_context("spawn")
    ready, done, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    server: contextlib.AbstractContextManager[RunningGureum]
    if profile is not None:
        server = contextlib.nullcontext(profiled_gureum(profile))
    else:
        server = running_gureum()
    with server as g:
        workers = [ctx.Process(target=client_process,
                               args=(g.data_dir, g.port, w, calls, base, protocol, raw,
                                     compress, ready, go, done))
                   for w in range(processes)]
        for p in workers:
            p.start()
        for _ in workers:
            ready.get(timeout=300)
        cpu_before = cpu_seconds(g.pid)
        started = time.perf_counter()
        go.set()
        per_client = [done.get(timeout=600) for _ in workers]
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(g.pid) - cpu_before
        for p in workers:
            p.join()
        total = processes * calls * 1000
        how = ("pre-serialized, pre-signed boto3 requests replayed with http.client"
               if raw else "boto3 put_metric_data")
        print(f"ingestion ({how}; {protocol}, gzip {'on' if compress else 'off'}): "
              f"{total} datapoints in {elapsed:.2f}s = {total / elapsed:,.0f} datapoints/s "
              f"({processes} client processes x {calls} calls of 1000; slowest client "
              f"{max(per_client):.2f}s)")
        per_1000 = 1000 * cpu / total * 1000
        print(f"  server CPU: {cpu:.2f}s = {per_1000:.1f} ms per 1,000 datapoints "
              f"({100 * cpu / elapsed:.0f}% of one core while ingesting, so one server core "
              f"would take {1_000_000 / per_1000:,.0f} datapoints/s; {os.cpu_count()} cores "
              f"here, load average {os.getloadavg()[0]:.2f})")
        if profile is not None:
            stop_profiled(g, profile)
        return total / elapsed, per_1000


def report(profile: Path, top: int = 25) -> None:
    stats = pstats.Stats(str(profile))
    print(f"server profile ({profile}), by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)
    print("by own time:")
    stats.sort_stats("tottime").print_stats(top)


def storage_and_query() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gureum-bench-"))
    atexit.register(shutil.rmtree, tmp, True)  # the store is gone with the run
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
        times, cpu = [], []
        for _ in range(30):
            t0, c0 = time.perf_counter(), time.thread_time()
            out = cw.get_metric_statistics(call, {**params, **extra})
            cpu.append((time.thread_time() - c0) * 1000)
            times.append((time.perf_counter() - t0) * 1000)
        # CPU time is what the operation costs; wall time also counts the time a
        # loaded machine gives to other processes.
        print(f"GetMetricStatistics 1 day of 1-minute data, {label}: "
              f"{len(out['Datapoints'])} datapoints, median {statistics.median(cpu):.2f} ms "
              f"server CPU time (wall: median {statistics.median(times):.2f}, "
              f"min {min(times):.2f})")
    store.close()


def profiled_gureum(profile: Path) -> RunningGureum:
    g = ProfiledGureum(Path(tempfile.mkdtemp(prefix="gureum-bench-")), free_port(), profile)
    g.start()
    return g


def stop_profiled(g: RunningGureum, profile: Path) -> None:
    os.killpg(g.pid, signal.SIGINT)  # cProfile writes its file on a clean exit
    assert g.proc is not None
    g.proc.wait(30)
    g.proc = None
    report(profile)


def query_round_trip(profile: Path | None = None, calls: int = 20) -> None:
    """GetMetricStatistics (1,440 datapoints) through boto3 in each protocol: the
    server's CPU per call (HTTP, parsing, the query, serialization) and the
    round trip (which includes boto3 parsing the response)."""
    server: contextlib.AbstractContextManager[RunningGureum] = (
        running_gureum() if profile is None else contextlib.nullcontext(profiled_gureum(profile)))
    with server as g:
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        points = [{"MetricName": "Target", "Value": float(i % 97),
                   "Timestamp": now - dt.timedelta(minutes=1440 - i)} for i in range(1440)]
        for protocol in (PROTOCOL, "json", "query"):
            cw = g.client("cloudwatch", protocol=protocol)
            ns = f"Bench/{protocol}"
            for i in range(0, 1440, 1000):
                cw.put_metric_data(Namespace=ns, MetricData=points[i:i + 1000])
            args = {"Namespace": ns, "MetricName": "Target", "Period": 60, "Statistics": STATS,
                    "StartTime": now - dt.timedelta(days=1), "EndTime": now}
            cw.get_metric_statistics(**args)
            times = []
            cpu_before = cpu_seconds(g.pid)
            for _ in range(calls):
                t0 = time.perf_counter()
                cw.get_metric_statistics(**args)
                times.append((time.perf_counter() - t0) * 1000)
            cpu = (cpu_seconds(g.pid) - cpu_before) / calls * 1000
            print(f"GetMetricStatistics through boto3 ({protocol}, 1440 datapoints): server CPU "
                  f"{cpu:.1f} ms per call, median round trip {statistics.median(times):.1f} ms")
        if profile is not None:
            stop_profiled(g, profile)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--protocol", default=PROTOCOL,
                        choices=["smithy-rpc-v2-cbor", "json", "query"])
    parser.add_argument("--no-compression", action="store_true",
                        help="turn off boto3's gzip of request bodies over 10 KiB")
    parser.add_argument("--skip-boto3", action="store_true",
                        help="only the replayed (raw HTTP) ingestion run")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the server under cProfile, write its profile here, print it")
    parser.add_argument("--query-only", action="store_true",
                        help="only GetMetricStatistics through boto3 in each protocol "
                             "(with --profile: that server under cProfile)")
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.query_only:
        query_round_trip(args.profile, calls=100)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0
    compress = not args.no_compression
    if not args.skip_boto3:
        ingest(args.processes, args.calls, args.protocol, False, compress, args.profile)
    ingest(args.processes, args.calls, args.protocol, True, compress, args.profile)
    storage_and_query()
    query_round_trip()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
