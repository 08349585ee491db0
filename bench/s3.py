"""S3 throughput: a single PUT and a streamed GET of one large object, in MiB/s,
gureum and moto_server side by side in the same run (this machine's speed
drifts, so only figures from one run compare).

    .venv/bin/python bench/s3.py [--mib 64] [--rounds 3]

gureum fsyncs every object before acknowledging it; moto keeps bytes in memory.
The median of the rounds is printed, with the server's CPU seconds per round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from gureum.testing.server import free_port, running_gureum

MiB = 1024 * 1024


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def moto_server() -> Iterator[tuple[str, int]]:
    port = free_port()
    exe = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield endpoint, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def measure(endpoint: str, pid: int, path: Path, rounds: int) -> dict[str, float]:
    s3 = client(endpoint)
    bucket = f"bench-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    size = path.stat().st_size
    put, get, put_cpu, get_cpu = [], [], [], []

    def timed(fn: Callable[[], None]) -> tuple[float, float]:
        cpu = cpu_seconds(pid)
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start, cpu_seconds(pid) - cpu

    def do_put() -> None:
        with path.open("rb") as f:
            s3.put_object(Bucket=bucket, Key="big", Body=f, ContentLength=size)

    def do_get() -> None:
        body = s3.get_object(Bucket=bucket, Key="big")["Body"]
        got = 0
        for chunk in body.iter_chunks(1 * MiB):
            got += len(chunk)
        assert got == size

    for _ in range(rounds):
        seconds, cpu = timed(do_put)
        put.append(size / MiB / seconds)
        put_cpu.append(cpu)
        seconds, cpu = timed(do_get)
        get.append(size / MiB / seconds)
        get_cpu.append(cpu)
    s3.delete_object(Bucket=bucket, Key="big")
    return {"put": statistics.median(put), "get": statistics.median(get),
            "put_cpu": statistics.median(put_cpu), "get_cpu": statistics.median(get_cpu)}


def measure_small(endpoint: str, pid: int, count: int, threads: int = 16) -> dict[str, float]:
    """Server CPU milliseconds per PUT, GET and HEAD of 4 KiB objects, 16 client threads."""
    from concurrent.futures import ThreadPoolExecutor

    clients = [client(endpoint) for _ in range(threads)]
    bucket = f"small-{os.getpid()}"
    clients[0].create_bucket(Bucket=bucket)
    data = os.urandom(4096)
    out: dict[str, float] = {}

    def run(op: str, i: int) -> None:
        s3 = clients[i % threads]
        key = f"k{i:06d}"
        if op == "put":
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        elif op == "get":
            assert len(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == 4096
        else:
            s3.head_object(Bucket=bucket, Key=key)

    with ThreadPoolExecutor(threads) as pool:
        for op in ("put", "get", "head"):
            cpu = cpu_seconds(pid)
            start = time.perf_counter()
            list(pool.map(lambda i, op=op: run(op, i), range(count)))  # type: ignore[misc]
            out[f"{op}_wall"] = (time.perf_counter() - start) * 1000 / count
            out[op] = (cpu_seconds(pid) - cpu) * 1000 / count
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000,
                        help="4 KiB objects for the per-request CPU figures (0: skip)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gureum-bench-"))
    try:
        path = tmp / "object.bin"
        with path.open("wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(MiB))
        results = {}
        small = {}
        with running_gureum() as g:
            results["gureum"] = measure(g.endpoint, g.pid, path, args.rounds)
            if args.small:
                small["gureum"] = measure_small(g.endpoint, g.pid, args.small)
        with moto_server() as (endpoint, pid):
            results["moto"] = measure(endpoint, pid, path, args.rounds)
            if args.small:
                small["moto"] = measure_small(endpoint, pid, args.small)
        print(f"{args.mib} MiB object, median of {args.rounds} rounds")
        print(f"{'server':8} {'PUT MiB/s':>10} {'GET MiB/s':>10} {'PUT cpu s':>10} "
              f"{'GET cpu s':>10}")
        for name, r in results.items():
            print(f"{name:8} {r['put']:10.1f} {r['get']:10.1f} {r['put_cpu']:10.3f} "
                  f"{r['get_cpu']:10.3f}")
        g, m = results["gureum"], results["moto"]
        print(f"gureum/moto: PUT {g['put'] / m['put']:.2f}x, GET {g['get'] / m['get']:.2f}x")
        if small:
            print(f"\n4 KiB objects x {args.small}, 16 threads: server CPU ms per request"
                  " (client wall ms per request)")
            for name, r in small.items():
                print(f"{name:8} " + "  ".join(
                    f"{op.upper()} {r[op]:.3f} ({r[op + '_wall']:.2f})"
                    for op in ("put", "get", "head")))
            gs, ms = small["gureum"], small["moto"]
            print("moto/gureum CPU: " + ", ".join(
                f"{op.upper()} {ms[op] / gs[op]:.1f}x" for op in ("put", "get", "head")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
