"""API benchmark: server CPU milliseconds per call, gureum against moto_server.

Starts ``gureum up`` and ``moto_server`` on free ports, creates 3 S3 buckets
and ``--instances`` (50) EC2 instances on each, then for GetCallerIdentity,
DescribeRegions, S3 ListBuckets and DescribeInstances (all the instances,
about 160 KB of XML) runs a batch of calls from 8 client threads (one boto3
client per thread, no retries) and reads the server process's CPU time (user +
system) before and after the batch. Prints CPU ms per call for each server,
the ratio gureum/moto (the machine's speed drifts between runs, the ratio much
less), and requests/s.

gureum runs here with its fake compute driver (instances are records, no
processes or namespaces), as moto's are: the figure is the API's cost, and the
benchmark needs no root and leaves nothing on the host.

    [GUREUM_HTTP=aiohttp] .venv/bin/python bench/api.py [--calls 2000] [--threads 8]
                                                        [--instances 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

DEADLINE = 60.0
WARMUP_PER_THREAD = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of pid (its threads included), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    except OSError:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)


def wait_http(url: str, proc: subprocess.Popen[bytes], name: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with code {proc.returncode}")
        try:
            with opener.open(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{name} did not answer at {url} within {DEADLINE:.0f} s")


def find_moto() -> str:
    here = Path(sys.executable).parent / "moto_server"
    found = str(here) if here.exists() else shutil.which("moto_server")
    if found is None:
        raise SystemExit("moto_server is missing: pip install 'moto[server]' (make bench does)")
    return found


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    endpoint: str

    def clients(self, service: str, n: int) -> list[Any]:
        config = Config(
            retries={"max_attempts": 0},
            max_pool_connections=4,
            s3={"addressing_style": "path"},
        )
        return [
            boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=config,
            )
            for _ in range(n)
        ]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


OPERATIONS: list[tuple[str, str, Callable[[Any], object], int]] = [
    # (name, service, call, share of --calls)
    ("GetCallerIdentity", "sts", lambda c: c.get_caller_identity(), 1),
    ("DescribeRegions", "ec2", lambda c: c.describe_regions(), 1),
    ("S3 ListBuckets", "s3", lambda c: c.list_buckets(), 1),
    ("DescribeInstances", "ec2", lambda c: c.describe_instances(), 20),
]

# gureum with the fake compute driver: EC2 instances without processes.
FAKE_COMPUTE = (
    "import sys\n"
    "import gureum.services.ec2.core as core\n"
    "from gureum.drivers.compute.fake import FakeComputeDriver\n"
    "assert callable(core.make_driver), 'EC2 no longer picks its driver with make_driver'\n"
    "core.make_driver = lambda env: FakeComputeDriver()\n"
    "from gureum.cli import main\n"
    "main(sys.argv[1:])\n"
)


def launch_instances(server: Server, count: int) -> None:
    ec2 = server.clients("ec2", 1)[0]
    images = ec2.describe_images(Owners=["amazon"])["Images"] or ec2.describe_images()["Images"]
    ec2.run_instances(ImageId=images[0]["ImageId"], MinCount=count, MaxCount=count,
                      InstanceType="t3.micro", TagSpecifications=[
                          {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}])
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        if len(found) >= count and all(i["State"]["Name"] == "running" for i in found):
            return
        time.sleep(0.2)
    raise SystemExit(f"{server.name}: {count} instances were not running within {DEADLINE} s")


def run_batch(clients: list[Any], call: Callable[[Any], object], per_thread: int) -> None:
    errors: list[BaseException] = []

    def work(client: Any) -> None:
        try:
            for _ in range(per_thread):
                call(client)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def measure(
    server: Server, service: str, call: Callable[[Any], object], calls: int, threads: int
) -> tuple[float, float]:
    """(server CPU ms per call, requests per second)."""
    clients = server.clients(service, threads)
    run_batch(clients, call, WARMUP_PER_THREAD)  # connections, lazy models, caches
    per_thread = max(1, calls // threads)
    total = per_thread * threads
    cpu_before = cpu_seconds(server.proc.pid)
    started = time.perf_counter()
    run_batch(clients, call, per_thread)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    return cpu * 1000 / total, total / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per batch (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--instances", type=int, default=50,
                        help="EC2 instances DescribeInstances lists (default 50)")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="gureum-bench-")
    # Settings of the user's own gureum (its port, data directory, keys) stay
    # out of the benchmark's; the HTTP front is the one setting passed on, so
    # that GUREUM_HTTP=aiohttp measures that front and not, silently, the default.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUREUM_", "AWS_"))}
    if os.environ.get("GUREUM_HTTP"):
        env["GUREUM_HTTP"] = os.environ["GUREUM_HTTP"]
    gport, mport = free_port(), free_port()
    servers: list[Server] = []
    try:
        gureum = subprocess.Popen(
            [sys.executable, "-c", FAKE_COMPUTE, "up", "--port", str(gport),
             "--data-dir", data_dir, "--log-level", "WARNING"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
        )
        servers.append(Server("gureum", gureum, f"http://127.0.0.1:{gport}"))
        moto = subprocess.Popen(
            [find_moto(), "-H", "127.0.0.1", "-p", str(mport)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env,
        )
        servers.append(Server("moto", moto, f"http://127.0.0.1:{mport}"))
        wait_http(f"http://127.0.0.1:{gport}/_gureum/health", gureum, "gureum")
        wait_http(f"http://127.0.0.1:{mport}/moto-api/", moto, "moto_server")

        for server in servers:
            s3 = server.clients("s3", 1)[0]
            for i in range(3):
                s3.create_bucket(Bucket=f"bench-bucket-{i}")
            launch_instances(server, args.instances)

        print(
            f"server CPU per call: {args.calls} calls per batch from {args.threads} threads"
            f" ({os.cpu_count()} CPUs), gureum's HTTP front: {env.get('GUREUM_HTTP', 'lean')}"
        )
        header = (
            f"{'operation':<20} {'gureum ms':>10} {'req/s':>7}   {'moto ms':>8} {'req/s':>7}"
            f"   {'gureum/moto':>11}"
        )
        print(header)
        print("-" * len(header))
        ratios: list[float] = []
        for name, service, call, share in OPERATIONS:
            calls = max(args.threads, args.calls // share)
            g_ms, g_rps = measure(servers[0], service, call, calls, args.threads)
            m_ms, m_rps = measure(servers[1], service, call, calls, args.threads)
            ratio = g_ms / m_ms if m_ms else float("nan")
            ratios.append(ratio)
            print(
                f"{name:<20} {g_ms:>10.3f} {g_rps:>7.0f}   {m_ms:>8.3f} {m_rps:>7.0f}"
                f"   {ratio:>6.3f} (1/{1 / ratio:.1f})"
            )
        print()
        worst = max(ratios)
        verdict = "meets" if worst <= 0.2 else "misses"
        print(f"worst ratio gureum/moto: {worst:.3f} ({verdict} the target of <= 1/5)")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        for server in servers:
            stop(server.proc)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
