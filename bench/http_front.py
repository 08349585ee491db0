"""The endpoint's two HTTP fronts side by side: server CPU per S3 call and per
EC2 DescribeInstances with ``GUREUM_HTTP=lean`` and ``GUREUM_HTTP=aiohttp``,
both gureums running at once and measured in alternating batches (this
machine's speed drifts with its load; alternation keeps the comparison fair).

    .venv/bin/python bench/http_front.py [--calls 1000] [--rounds 5] [--threads 16]

For each operation and front: the median over ``--rounds`` batches of the
server's CPU ms per call (user + system, read before and after a batch of
``--calls`` calls from ``--threads`` boto3 clients), and lean/aiohttp.
S3 calls are on 4 KiB objects; DescribeInstances lists 50 instances of the
fake compute driver.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from api import FAKE_COMPUTE, Server, launch_instances, stop, wait_http

from gureum.testing.server import free_port

FRONTS = ("aiohttp", "lean")


def batch(pid: int, clients: list[Any], calls: int, call: Callable[[Any, int], None]) -> float:
    """Server CPU ms per call over ``calls`` calls shared by the clients."""
    proc = psutil.Process(pid)
    per = calls // len(clients)

    def work(c: Any, base: int) -> None:
        for i in range(per):
            call(c, base + i)

    before = sum(proc.cpu_times()[:4])
    threads = [threading.Thread(target=work, args=(c, n * per)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = sum(proc.cpu_times()[:4])
    return float(after - before) * 1000 / (per * len(clients))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUREUM_", "AWS_"))}
    servers: dict[str, Server] = {}
    pids: dict[str, int] = {}
    dirs: list[str] = []
    try:
        for front in FRONTS:
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, "-c", FAKE_COMPUTE, "up", "--port", str(port),
                 "--data-dir", _dir(dirs),
                 "--log-level", "WARNING"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                env={**env, "GUREUM_HTTP": front},
            )
            servers[front] = Server(front, proc, f"http://127.0.0.1:{port}")
            pids[front] = proc.pid
            wait_http(f"http://127.0.0.1:{port}/_gureum/health", proc, f"gureum ({front})")
        s3s: dict[str, list[Any]] = {}
        ec2s: dict[str, list[Any]] = {}
        for front, server in servers.items():
            s3s[front] = server.clients("s3", args.threads)
            ec2s[front] = server.clients("ec2", args.threads)
            s3 = s3s[front][0]
            s3.create_bucket(Bucket="front-bench")
            for i in range(200):
                s3.put_object(Bucket="front-bench", Key=f"k{i}", Body=b"x" * 4096)
            launch_instances(server, 50)
        body = b"y" * 4096
        ops: dict[str, Callable[[Any, int], None]] = {
            "PUT": lambda c, i: c.put_object(Bucket="front-bench", Key=f"p{i}", Body=body),
            "GET": lambda c, i: c.get_object(Bucket="front-bench", Key=f"k{i % 200}")[
                "Body"].read(),
            "HEAD": lambda c, i: c.head_object(Bucket="front-bench", Key=f"k{i % 200}"),
        }
        results: dict[str, dict[str, list[float]]] = {}
        for name, op in ops.items():
            results[name] = {front: [] for front in FRONTS}
            for front in FRONTS:  # warm-up
                batch(pids[front], s3s[front], args.threads * 10, op)
            for _ in range(args.rounds):
                for front in FRONTS:
                    results[name][front].append(
                        batch(pids[front], s3s[front], args.calls, op))
        describe = "DescribeInstances(50)"
        results[describe] = {front: [] for front in FRONTS}
        calls = max(args.threads, args.calls // 10)
        for _ in range(args.rounds):
            for front in FRONTS:
                results[describe][front].append(batch(
                    pids[front], ec2s[front], calls,
                    lambda c, i: c.describe_instances()))
    finally:
        for server in servers.values():
            stop(server.proc)
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)
    print(f"server CPU ms per call, median of {args.rounds} alternating batches "
          f"({args.threads} threads)")
    print(f"{'operation':22} {'aiohttp':>9} {'lean':>9} {'lean/aiohttp':>13}")
    for name, by_front in results.items():
        a = statistics.median(by_front["aiohttp"])
        b = statistics.median(by_front["lean"])
        print(f"{name:22} {a:9.3f} {b:9.3f} {b / a:13.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _dir(dirs: list[str]) -> str:
    dirs.append(tempfile.mkdtemp(prefix="gureum-bench-"))
    return dirs[-1]


if __name__ == "__main__":
    main()
