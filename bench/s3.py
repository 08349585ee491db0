"""S3 speed, gureum and moto_server side by side in the same run (this machine's
speed drifts, so only figures from one run compare):

- a single PUT and a streamed GET of one large object (``--mib``, repeatable),
  MiB/s and the server's CPU seconds, gureum and moto (and ``--against``) in
  ``--rounds`` alternating rounds after a warm-up round each: the medians and
  the median of the per-round ratios;
- 4 KiB objects from 16 client threads: server CPU ms per PUT, GET, HEAD,
  gureum and moto running at once in ``--small-rounds`` alternating rounds,
  the median of each server's rounds and the median of the per-round ratios;
  and the same requests against servers that answer 200 to everything with
  no S3 at all: gureum's own HTTP front (``gureum.httpfront``, the default
  front: "lean floor", the HTTP stack's share of gureum's figures) and bare
  aiohttp + uvloop ("aiohttp floor", for comparison);
- ListObjectsV2 over ``--list`` keys: server CPU ms per 1,000-key page, each
  server's bucket walked once per pass in ``--list-passes`` alternating passes
  (after a warm-up walk each): the median of each server's passes and the
  median of the per-pass ratios;
- gureum only (moto would hold it in memory): resident memory while a
  ``--huge-gib`` object, generated on the fly, goes up and comes back down.

    .venv/bin/python bench/s3.py [--mib 64 --mib 256] [--rounds 3] [--small 2000]
                                 [--list 10000] [--huge-gib 5]

Server CPU is counted in nanoseconds by a cpuacct cgroup per server (as
bench/ec2_run.py does; needs root), else from the 10 ms ticks of
/proc/PID/stat (the header says which).

gureum fsyncs every object before acknowledging it; moto keeps bytes in memory.

The client is boto3 as ``pip install boto3`` installs it, signing with its own
SHA-256: gureum's environment also holds awscrt (for CRC32C and CRC64NVME),
and with it botocore signs through the CRT, which reads a PUT's body through
Python 4 KiB at a time before sending its first byte (~70 ms of a 64 MiB PUT,
the same for every server). ``--crt`` measures with that client instead.
"""

from __future__ import annotations

import os
import sys

if "--crt" not in sys.argv:  # before botocore reads it on import
    os.environ.setdefault("BOTO_DISABLE_CRT", "true")

import argparse
import io
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from gureum.testing.server import RunningGureum, free_port, running_gureum

sys.path.insert(0, str(Path(__file__).parent))
from ec2_run import CpuGroup

MiB = 1024 * 1024


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cpu:
    """A server's CPU seconds so far: its own cpuacct cgroup (nanoseconds; the
    server and all its threads, moved into it at start), or, without the
    rights to make one, /proc/PID/stat's 10 ms ticks."""

    exact = os.geteuid() == 0

    def __init__(self, pid: int, name: str) -> None:
        self.pid = pid
        self.group: CpuGroup | None = None
        if Cpu.exact:
            try:
                self.group = CpuGroup(f"gureum-bench-s3-{name}-{os.getpid()}")
                self.group.add(pid)
            except OSError:
                Cpu.exact = False
                self.group = None

    @classmethod
    def describe(cls) -> str:
        return "in ns by cgroup" if cls.exact else "in 10 ms ticks of /proc/PID/stat"

    def __call__(self) -> float:
        if self.group is not None:
            return self.group.ns() / 1e9
        return proc_cpu_seconds(self.pid)

    def close(self) -> None:
        """Remove the group; a server still running goes back to the root group."""
        if self.group is not None:
            for pid in (self.group.path / "cgroup.procs").read_text().split():
                try:
                    (self.group.path.parent / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            self.group.remove()


def fmt_ratios(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x ({' '.join(f'{v:.2f}' for v in values)})"


@contextmanager
def cpu_of(pid: int, name: str) -> Iterator[Cpu]:
    cpu = Cpu(pid, name)
    try:
        yield cpu
    finally:
        cpu.close()


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


class Large:
    """A single PUT and a streamed GET of one large object against one server:
    MiB/s and the server's CPU seconds of each, one round at a time."""

    def __init__(self, endpoint: str, cpu_seconds: Cpu, path: Path) -> None:
        self.s3 = client(endpoint)
        self.cpu_seconds = cpu_seconds
        self.path = path
        self.size = path.stat().st_size
        self.bucket = f"bench-{os.getpid()}-{self.size // MiB}"
        self.s3.create_bucket(Bucket=self.bucket)

    def timed(self, fn: Callable[[], None]) -> tuple[float, float]:
        cpu = self.cpu_seconds()
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start, self.cpu_seconds() - cpu

    def put(self) -> None:
        with self.path.open("rb") as f:
            self.s3.put_object(Bucket=self.bucket, Key="big", Body=f, ContentLength=self.size)

    def get(self) -> None:
        body = self.s3.get_object(Bucket=self.bucket, Key="big")["Body"]
        got = 0
        for chunk in body.iter_chunks(1 * MiB):
            got += len(chunk)
        assert got == self.size

    def round(self) -> dict[str, float]:
        put_s, put_cpu = self.timed(self.put)
        get_s, get_cpu = self.timed(self.get)
        return {"put": self.size / MiB / put_s, "get": self.size / MiB / get_s,
                "put_cpu": put_cpu, "get_cpu": get_cpu}

    def close(self) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key="big")
        self.s3.delete_bucket(Bucket=self.bucket)


def measure_large(sides: dict[str, Large], rounds: int) -> dict[str, list[dict[str, float]]]:
    """One warm-up round each (connections, first writes), then ``rounds``
    rounds taking the servers in turn, the order reversed every other round,
    so that the machine's drift falls on every server alike."""
    out: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for side in sides.values():
        side.round()
    names = list(sides)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            out[name].append(sides[name].round())
    for side in sides.values():
        side.close()
    return out


class Small:
    """Batches of PUT, GET and HEAD of 4 KiB objects from 16 client threads
    against one server; each round writes keys of its own."""

    def __init__(self, endpoint: str, cpu: Cpu, threads: int = 16) -> None:
        self.clients = [client(endpoint) for _ in range(threads)]
        self.cpu = cpu
        self.bucket = f"small-{os.getpid()}"
        self.clients[0].create_bucket(Bucket=self.bucket)
        self.rounds = 0

    def round(self, count: int) -> dict[str, float]:
        self.rounds += 1
        return measure_small(self.clients, self.bucket, self.cpu, count, f"r{self.rounds}-")


def measure_small(clients: list[Any], bucket: str, cpu_seconds: Cpu, count: int,
                  prefix: str = "") -> dict[str, float]:
    """Server CPU milliseconds per PUT, GET and HEAD of 4 KiB objects, one client thread each."""
    from concurrent.futures import ThreadPoolExecutor

    threads = len(clients)
    data = os.urandom(4096)
    out: dict[str, float] = {}

    def run(op: str, i: int) -> float:
        s3 = clients[i % threads]
        key = f"{prefix}k{i:06d}"
        begin = time.perf_counter()
        if op == "put":
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        elif op == "get":
            assert len(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == 4096
        else:
            s3.head_object(Bucket=bucket, Key=key)
        return time.perf_counter() - begin

    with ThreadPoolExecutor(threads) as pool:
        for op in ("put", "get", "head"):
            cpu = cpu_seconds()
            start = time.perf_counter()
            took = sorted(pool.map(lambda i, op=op: run(op, i), range(count)))  # type: ignore[misc]
            out[f"{op}_wall"] = (time.perf_counter() - start) * 1000 / count
            out[op] = (cpu_seconds() - cpu) * 1000 / count
            # Each request's own latency, as its client thread saw it (ms).
            out[f"{op}_p50"] = took[len(took) // 2] * 1000
            out[f"{op}_p99"] = took[min(len(took) - 1, len(took) * 99 // 100)] * 1000
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


class Lister:
    """A bucket of ``keys`` keys on one server, walked page by page."""

    def __init__(self, endpoint: str, cpu_seconds: Cpu, keys: int, threads: int = 16) -> None:
        from concurrent.futures import ThreadPoolExecutor

        clients = [client(endpoint) for _ in range(threads)]
        self.bucket = f"list-{os.getpid()}"
        self.keys = keys
        self.cpu_seconds = cpu_seconds
        clients[0].create_bucket(Bucket=self.bucket)

        def put(i: int) -> None:
            clients[i % threads].put_object(Bucket=self.bucket, Key=f"dir{i % 7}/key-{i:07d}",
                                            Body=b"")

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, range(keys)))
        self.s3 = clients[0]

    def walk(self) -> dict[str, float]:
        """One walk over every page: server CPU ms and client wall ms per
        ListObjectsV2 page of 1,000 keys."""
        pages = 0
        cpu = self.cpu_seconds()
        start = time.perf_counter()
        token: dict[str, str] = {}
        seen = 0
        while True:
            page = self.s3.list_objects_v2(Bucket=self.bucket, MaxKeys=1000, **token)
            seen += len(page.get("Contents", []))
            pages += 1
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        assert seen == self.keys, seen
        return {"page": (self.cpu_seconds() - cpu) * 1000 / pages,
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
                        help="large object size in MiB (repeat for several; default 64; 0: none)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000,
                        help="4 KiB objects for the per-request CPU figures (0: skip)")
    parser.add_argument("--list-passes", type=int, default=5,
                        help="alternating walks over the --list keys per server")
    parser.add_argument("--small-rounds", type=int, default=3,
                        help="alternating rounds of the small-object batches (median reported)")
    parser.add_argument("--against", metavar="SRC",
                        help="also run a gureum from the source tree SRC (its PYTHONPATH: "
                             "an old commit's src/) in the same small and large rounds")
    parser.add_argument("--list", type=int, default=10000,
                        help="keys for the ListObjectsV2 figure (0: skip)")
    parser.add_argument("--huge-gib", type=int, default=0,
                        help="GiB of the object for gureum's memory figure (0: skip)")
    parser.add_argument("--crt", action="store_true",
                        help="sign as botocore does with awscrt installed (the CRT signer)")
    args = parser.parse_args()
    sizes = [mib for mib in args.mib if mib > 0] if args.mib else [64]  # --mib 0: none
    if args.huge_gib:
        free = shutil.disk_usage(tempfile.gettempdir()).free
        if free < (args.huge_gib + 5) * 1024 * MiB:
            parser.error(f"--huge-gib {args.huge_gib} needs more free disk ({free >> 30} GiB)")
    tmp = Path(tempfile.mkdtemp(prefix="gureum-bench-"))
    import botocore.compat
    signer = "awscrt's (--crt)" if botocore.compat.HAS_CRT else "botocore's own, as pip's boto3"
    print(f"client: boto3, SigV4 signer {signer}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        paths = {}
        for mib in sizes:
            paths[mib] = tmp / f"object-{mib}.bin"
            with paths[mib].open("wb") as f:
                for _ in range(mib):
                    f.write(os.urandom(MiB))
        large_rounds: dict[int, dict[str, list[dict[str, float]]]] = {}
        small: dict[str, dict[str, float]] = {}
        rounds: dict[str, list[dict[str, float]]] = {}
        listing: dict[str, dict[str, float]] = {}
        list_passes: dict[str, list[dict[str, float]]] = {}
        huge: dict[str, float] = {}
        with ExitStack() as servers:
            g = servers.enter_context(running_gureum())
            gcpu = servers.enter_context(cpu_of(g.pid, "gureum"))
            endpoint, pid = servers.enter_context(moto_server())
            mcpu = servers.enter_context(cpu_of(pid, "moto"))
            against_cpu: list[Cpu] = []

            def against() -> RunningGureum:
                """The gureum of --against, started on first use."""
                if not against_server:
                    other = servers.enter_context(running_gureum(
                        env={"PYTHONPATH": str(Path(args.against).resolve())}))
                    against_server.append(other)
                    against_cpu.append(servers.enter_context(cpu_of(other.pid, "against")))
                return against_server[0]

            against_server: list[RunningGureum] = []
            for mib in sizes:
                large = {"gureum": Large(g.endpoint, gcpu, paths[mib]),
                         "moto": Large(endpoint, mcpu, paths[mib])}
                if args.against:
                    large["against"] = Large(against().endpoint, against_cpu[0], paths[mib])
                large_rounds[mib] = measure_large(large, args.rounds)
            if args.small:
                sides = {"gureum": Small(g.endpoint, gcpu), "moto": Small(endpoint, mcpu)}
                if args.against:
                    sides["against"] = Small(against().endpoint, against_cpu[0])
                for side in sides.values():  # warm: connections, caches, first writes
                    side.round(min(200, args.small))
                names = list(sides)
                for r in range(args.small_rounds):
                    for name in names if r % 2 == 0 else names[::-1]:
                        rounds.setdefault(name, []).append(sides[name].round(args.small))
                for name, rows in rounds.items():
                    small[name] = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
            if args.list:
                listers = {"gureum": Lister(g.endpoint, gcpu, args.list),
                           "moto": Lister(endpoint, mcpu, args.list)}
                if args.against:
                    listers["against"] = Lister(against().endpoint, against_cpu[0], args.list)
                for lister in listers.values():
                    lister.walk()  # warm
                names = list(listers)
                for walk in range(args.list_passes):
                    for name in names if walk % 2 == 0 else names[::-1]:
                        list_passes.setdefault(name, []).append(listers[name].walk())
                for name, rows in list_passes.items():
                    listing[name] = {k: statistics.median(row[k] for row in rows)
                                     for k in rows[0]}
            if args.huge_gib:
                huge = measure_huge(g.endpoint, g.pid, args.huge_gib)
        if args.small:
            for name, code in (("lean floor", LEAN_FLOOR_SERVER), ("aiohttp floor", FLOOR_SERVER)):
                with floor_server(code) as (endpoint, pid), cpu_of(pid, "floor") as cpu:
                    side = Small(endpoint, cpu)
                    side.round(min(200, args.small))
                    small[name] = side.round(args.small)
        for mib in sizes:
            by_server = large_rounds[mib]
            print(f"\n{mib} MiB object: {args.rounds} alternating rounds (after one warm-up"
                  f" each), medians; server CPU counted {Cpu.describe()}")
            print(f"{'server':8} {'PUT MiB/s':>10} {'GET MiB/s':>10} {'PUT cpu s':>10} "
                  f"{'GET cpu s':>10}")
            for server, runs in by_server.items():
                med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
                print(f"{server:8} {med['put']:10.1f} {med['get']:10.1f} {med['put_cpu']:10.3f} "
                      f"{med['get_cpu']:10.3f}")
            for server in [n for n in by_server if n != "moto"]:
                pairs = list(zip(by_server[server], by_server["moto"], strict=True))
                print(f"{server}/moto, median of per-round ratios (each round's): PUT "
                      + fmt_ratios([a["put"] / b["put"] for a, b in pairs]) + ", GET "
                      + fmt_ratios([a["get"] / b["get"] for a, b in pairs]))
        if small:
            ops = ("put", "get", "head")
            print(f"\n4 KiB objects x {args.small}, 16 threads: server CPU ms per request"
                  f" (client wall ms per request), counted {Cpu.describe()}; gureum and moto"
                  f" (and --against) in {args.small_rounds} alternating rounds, medians")
            for name, row in small.items():
                print(f"{name:13} " + "  ".join(
                    f"{op.upper()} {row[op]:.3f} ({row[op + '_wall']:.2f})" for op in ops))
            print("client latency ms per request, p50/p99 (medians of the rounds):")
            for name, row in small.items():
                print(f"{name:13} " + "  ".join(
                    f"{op.upper()} {row[op + '_p50']:.1f}/{row[op + '_p99']:.1f}" for op in ops))

            def ratios(top: str, bottom: str) -> str:
                return ", ".join(f"{op.upper()} " + fmt_ratios(
                    [a[op] / b[op] for a, b in zip(rounds[top], rounds[bottom], strict=True)])
                    for op in ops)

            print(f"moto/gureum CPU, median of per-round ratios (each round's): "
                  f"{ratios('moto', 'gureum')}")
            if "against" in rounds:
                print(f"against ({args.against})/gureum CPU, median of per-round ratios: "
                      f"{ratios('against', 'gureum')}")
        if listing:
            print(f"\nListObjectsV2 over {args.list} keys: server CPU ms per 1,000-key page"
                  f" (client wall ms), counted {Cpu.describe()}; {args.list_passes} alternating"
                  " passes of one walk each, medians")
            for name, row in listing.items():
                print(f"{name:8} {row['page']:.2f} ({row['page_wall']:.1f})")
            for name in [n for n in list_passes if n != "moto"]:
                pairs = list(zip(list_passes["moto"], list_passes[name], strict=True))
                print(f"moto/{name} CPU, median of per-pass ratios (each pass's): "
                      + fmt_ratios([m["page"] / o["page"] for m, o in pairs]))
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
