"""S3 speed, gureum and moto_server side by side in the same run (this machine's
speed drifts, so only figures from one run compare):

- a single PUT and a streamed GET of one large object (``--mib``, repeatable),
  MiB/s, median of ``--rounds``, with the server's CPU seconds;
- 4 KiB objects from 16 client threads: server CPU ms per PUT, GET, HEAD,
  and the same requests against servers that answer 200 to everything with
  no S3 at all: gureum's own HTTP front (``gureum.httpfront``, the default
  front: "lean floor", the HTTP stack's share of gureum's figures) and bare
  aiohttp + uvloop ("aiohttp floor", for comparison);
- ListObjectsV2 over ``--list`` keys: server CPU ms per 1,000-key page;
- gureum only (moto would hold it in memory): resident memory while a
  ``--huge-gib`` object, generated on the fly, goes up and comes back down.

    .venv/bin/python bench/s3.py [--mib 64 --mib 256] [--rounds 3] [--small 2000]
                                 [--list 10000] [--huge-gib 5]

gureum fsyncs every object before acknowledging it; moto keeps bytes in memory.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
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


FLOOR_SERVER = """
import sys, uvloop
from aiohttp import web
async def handle(request):
    if request.can_read_body:
        await request.read()
    body = b"x" * 4096 if request.method == "GET" else b""
    return web.Response(headers={"ETag": '"x"', "x-amz-request-id": "r"}, body=body)
app = web.Application()
app.router.add_route("*", "/{tail:.*}", handle)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


LEAN_FLOOR_SERVER = """
import asyncio, sys, uvloop
from aiohttp import web
from gureum.gateway.protocols.base import HttpResponse
from gureum.httpfront.site import LeanSite
async def answer(request):
    if request.can_read_body:
        await request.read()
    body = b"x" * 4096 if request.method == "GET" else b""
    return HttpResponse(200, {"ETag": '"x"', "x-amz-request-id": "r"}, body)
async def main():
    runner = web.AppRunner(web.Application(), access_log=None)
    await runner.setup()
    await LeanSite(runner, "127.0.0.1", int(sys.argv[1]), answer).start()
    await asyncio.Event().wait()
uvloop.install()
asyncio.run(main())
"""


@contextmanager
def floor_server(code: str = FLOOR_SERVER) -> Iterator[tuple[str, int]]:
    """A server answering every request with a fixed 200 and no S3 at all (``code``:
    aiohttp + uvloop, or ``LEAN_FLOOR_SERVER``, gureum's own front): the CPU
    any server on that HTTP stack spends per request."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", code, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the floor server did not start") from None
                time.sleep(0.1)
        yield endpoint, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def measure_list(endpoint: str, pid: int, keys: int, threads: int = 16) -> dict[str, float]:
    """Server CPU ms per ListObjectsV2 page of 1,000 keys, over ``keys`` keys."""
    from concurrent.futures import ThreadPoolExecutor

    clients = [client(endpoint) for _ in range(threads)]
    bucket = f"list-{os.getpid()}"
    clients[0].create_bucket(Bucket=bucket)

    def put(i: int) -> None:
        clients[i % threads].put_object(Bucket=bucket, Key=f"dir{i % 7}/key-{i:07d}", Body=b"")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(keys)))
    s3 = clients[0]
    pages = 0
    cpu = cpu_seconds(pid)
    start = time.perf_counter()
    for _ in range(3):
        token: dict[str, str] = {}
        seen = 0
        while True:
            page = s3.list_objects_v2(Bucket=bucket, MaxKeys=1000, **token)
            seen += len(page.get("Contents", []))
            pages += 1
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        assert seen == keys, seen
    return {"page": (cpu_seconds(pid) - cpu) * 1000 / pages,
            "page_wall": (time.perf_counter() - start) * 1000 / pages}


class Generated(io.RawIOBase):
    """``size`` bytes made on the fly from one random MiB: seekable, nothing stored."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0
        self.block = os.urandom(MiB) * 2

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, min(self.size, base + offset))
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.pos, MiB)
        start = self.pos % MiB
        buffer[:n] = self.block[start:start + n]
        self.pos += n
        return n


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_huge(endpoint: str, pid: int, gib: int) -> dict[str, float]:
    """Peak resident memory of the server while one ``gib`` GiB object goes up and down."""
    s3 = client(endpoint)
    bucket = f"huge-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    size = gib * 1024 * MiB
    peak = {"idle": rss_mib(pid), "put": 0.0, "get": 0.0}
    phase = ["put"]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[phase[0]] = max(peak[phase[0]], rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        start = time.perf_counter()
        s3.put_object(Bucket=bucket, Key="huge", Body=Generated(size), ContentLength=size)
        put_s = time.perf_counter() - start
        phase[0] = "get"
        start = time.perf_counter()
        got = 0
        for chunk in s3.get_object(Bucket=bucket, Key="huge")["Body"].iter_chunks(MiB):
            got += len(chunk)
        get_s = time.perf_counter() - start
        assert got == size
    finally:
        done.set()
        sampler.join()
        s3.delete_object(Bucket=bucket, Key="huge")
    return {**peak, "put_mibs": size / MiB / put_s, "get_mibs": size / MiB / get_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, action="append",
                        help="large object size in MiB (repeat for several; default 64)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000,
                        help="4 KiB objects for the per-request CPU figures (0: skip)")
    parser.add_argument("--list", type=int, default=10000,
                        help="keys for the ListObjectsV2 figure (0: skip)")
    parser.add_argument("--huge-gib", type=int, default=0,
                        help="GiB of the object for gureum's memory figure (0: skip)")
    args = parser.parse_args()
    sizes = args.mib or [64]
    if args.huge_gib:
        free = shutil.disk_usage(tempfile.gettempdir()).free
        if free < (args.huge_gib + 5) * 1024 * MiB:
            parser.error(f"--huge-gib {args.huge_gib} needs more free disk ({free >> 30} GiB)")
    tmp = Path(tempfile.mkdtemp(prefix="gureum-bench-"))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        paths = {}
        for mib in sizes:
            paths[mib] = tmp / f"object-{mib}.bin"
            with paths[mib].open("wb") as f:
                for _ in range(mib):
                    f.write(os.urandom(MiB))
        results: dict[str, dict[int, dict[str, float]]] = {"gureum": {}, "moto": {}}
        small: dict[str, dict[str, float]] = {}
        listing: dict[str, dict[str, float]] = {}
        huge: dict[str, float] = {}
        with running_gureum() as g:
            for mib in sizes:
                results["gureum"][mib] = measure(g.endpoint, g.pid, paths[mib], args.rounds)
            if args.small:
                small["gureum"] = measure_small(g.endpoint, g.pid, args.small)
            if args.list:
                listing["gureum"] = measure_list(g.endpoint, g.pid, args.list)
            if args.huge_gib:
                huge = measure_huge(g.endpoint, g.pid, args.huge_gib)
        with moto_server() as (endpoint, pid):
            for mib in sizes:
                results["moto"][mib] = measure(endpoint, pid, paths[mib], args.rounds)
            if args.small:
                small["moto"] = measure_small(endpoint, pid, args.small)
            if args.list:
                listing["moto"] = measure_list(endpoint, pid, args.list)
        if args.small:
            with floor_server(LEAN_FLOOR_SERVER) as (endpoint, pid):
                small["lean floor"] = measure_small(endpoint, pid, args.small)
            with floor_server() as (endpoint, pid):
                small["aiohttp floor"] = measure_small(endpoint, pid, args.small)
        for mib in sizes:
            print(f"\n{mib} MiB object, median of {args.rounds} rounds")
            print(f"{'server':8} {'PUT MiB/s':>10} {'GET MiB/s':>10} {'PUT cpu s':>10} "
                  f"{'GET cpu s':>10}")
            for name in ("gureum", "moto"):
                r = results[name][mib]
                print(f"{name:8} {r['put']:10.1f} {r['get']:10.1f} {r['put_cpu']:10.3f} "
                      f"{r['get_cpu']:10.3f}")
            g_, m_ = results["gureum"][mib], results["moto"][mib]
            print(f"gureum/moto: PUT {g_['put'] / m_['put']:.2f}x, "
                  f"GET {g_['get'] / m_['get']:.2f}x")
        if small:
            print(f"\n4 KiB objects x {args.small}, 16 threads: server CPU ms per request"
                  " (client wall ms per request)")
            for name, r in small.items():
                print(f"{name:13} " + "  ".join(
                    f"{op.upper()} {r[op]:.3f} ({r[op + '_wall']:.2f})"
                    for op in ("put", "get", "head")))
            gs, ms = small["gureum"], small["moto"]
            print("moto/gureum CPU: " + ", ".join(
                f"{op.upper()} {ms[op] / gs[op]:.1f}x" for op in ("put", "get", "head")))
        if listing:
            print(f"\nListObjectsV2 over {args.list} keys: server CPU ms per 1,000-key page"
                  " (client wall ms)")
            for name, r in listing.items():
                print(f"{name:8} {r['page']:.2f} ({r['page_wall']:.1f})")
            print(f"moto/gureum CPU: {listing['moto']['page'] / listing['gureum']['page']:.1f}x")
        if huge:
            print(f"\n{args.huge_gib} GiB object through gureum: resident memory MiB idle "
                  f"{huge['idle']:.0f}, peak during PUT {huge['put']:.0f} "
                  f"({huge['put_mibs']:.0f} MiB/s), during GET {huge['get']:.0f} "
                  f"({huge['get_mibs']:.0f} MiB/s)")
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
