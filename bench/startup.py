"""Startup benchmark: process start -> first successful GetCallerIdentity.

Each run starts ``python -m gureum up`` on a free port with a fresh temporary
data directory, and calls boto3 ``sts.get_caller_identity()`` in a tight retry
loop (the client is built before the process starts, so its own setup is not
counted). Prints the median, min and max over the runs, and the server's
resident memory (VmRSS) when idle 2 s after it answered.

    .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
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

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

IDLE_SECONDS = 2.0
DEADLINE = 30.0
POLL = 0.01  # between attempts; a failed attempt costs the client ~2 ms of CPU itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    """Resident memory of pid in MiB, from /proc (psutil elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def one_run(verbose: bool) -> tuple[float, float, float]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="gureum-bench-")
    client: Any = boto3.client(
        "sts",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, connect_timeout=1, read_timeout=10),
    )
    ec2: Any = boto3.client(
        "ec2",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, connect_timeout=1, read_timeout=10),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUREUM_")}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gureum", "up", "--port", str(port), "--data-dir", data_dir],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if not verbose else None,
        env=env,
    )
    try:
        while True:
            try:
                identity = client.get_caller_identity()
                break
            except EndpointConnectionError:
                pass
            except ClientError as exc:  # answering, but not ready for STS yet
                if verbose:
                    print(f"  not ready: {exc}", file=sys.stderr)
            if proc.poll() is not None:
                raise SystemExit(f"gureum exited with code {proc.returncode} before answering")
            if time.perf_counter() - started > DEADLINE:
                raise SystemExit(f"gureum did not answer within {DEADLINE:.0f} s")
            time.sleep(POLL)
        elapsed = time.perf_counter() - started
        assert identity["Account"] == "000000000000", identity
        # The first EC2 call right after that (its model is the largest).
        before = time.perf_counter()
        ec2.describe_availability_zones()
        first_ec2 = time.perf_counter() - before
        time.sleep(IDLE_SECONDS)
        rss = rss_mib(proc.pid)
        return elapsed, rss, first_ec2
    finally:
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="how many starts (default 7)")
    parser.add_argument("--verbose", action="store_true", help="show the server's log")
    args = parser.parse_args()

    times: list[float] = []
    rss: list[float] = []
    ec2: list[float] = []
    print(f"startup: process start -> first GetCallerIdentity, {args.runs} runs")
    for i in range(args.runs):
        elapsed, mem, first_ec2 = one_run(args.verbose)
        times.append(elapsed)
        rss.append(mem)
        ec2.append(first_ec2)
        print(f"  run {i + 1}: {elapsed * 1000:7.1f} ms   first EC2 call {first_ec2 * 1000:6.1f} ms"
              f"   RSS at idle {mem:6.1f} MiB")
    print()
    print(
        f"startup to first GetCallerIdentity: median {statistics.median(times) * 1000:.0f} ms"
        f" (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}; target <= 1000 ms)"
    )
    print(
        f"first EC2 call right after: median {statistics.median(ec2) * 1000:.0f} ms"
        f" (max {max(ec2) * 1000:.0f}; target <= 300 ms)"
    )
    print(
        f"resident memory at idle ({IDLE_SECONDS:.0f} s after ready):"
        f" median {statistics.median(rss):.1f} MiB (min {min(rss):.1f}, max {max(rss):.1f})"
    )


if __name__ == "__main__":
    main()
