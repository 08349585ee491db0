"""ElastiCache figures: CreateReplicationGroup (1 primary + 2 replicas) to
writable and replicating; failover after SIGKILL of the primary to writable;
redis-benchmark through a single-node cache cluster's endpoint against a plain
redis-server with the very same command line (no replicas on either side),
taking turns in rounds so that neither gets a quieter machine, and, for
information, through the primary endpoint of the 1+2 group (each write also
streamed to two replicas on the same CPUs); adding a shard to a cluster-mode
group holding --keys keys.

    .venv/bin/python bench/elasticache.py [--runs 3] [--keys 20000] [--requests 100000]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from gureum.drivers.redis import NodeSpec
from gureum.drivers.redis.server import RedisServers
from gureum.services.elasticache.catalog import maxmemory
from gureum.testing.server import running_gureum


def cli(host: str, *args: str, cluster: bool = False, input: str | None = None) -> str:
    cmd = ["redis-cli", *(["-c"] if cluster else []), "-h", host, *args]
    return subprocess.run(cmd, capture_output=True, text=True, input=input,
                          timeout=120).stdout.strip()


def until(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.005)


def pid_in(directory: Path) -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(directory):
                    return int(entry)
            except OSError:
                continue
    raise RuntimeError(f"no process in {directory}")


def group(ec: Any, id: str) -> dict[str, Any]:
    found: dict[str, Any] = ec.describe_replication_groups(ReplicationGroupId=id)[
        "ReplicationGroups"][0]
    return found


def bench_rps(host: str, port: int, requests: int, pipeline: int) -> float:
    out = subprocess.run(
        ["redis-benchmark", "-h", host, "-p", str(port), "-n", str(requests), "-q",
         "-t", "set,get", "-P", str(pipeline), "-c", "50", "--csv"],
        capture_output=True, text=True, timeout=600).stdout
    rates = [float(line.split(",")[1].strip('"')) for line in out.splitlines()[1:] if line]
    return statistics.mean(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keys", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with running_gureum() as g:
        ec = g.client("elasticache")
        creates, failovers = [], []
        host = ""
        for run in range(args.runs):
            id = f"bench{run}"
            started = time.monotonic()
            ec.create_replication_group(
                ReplicationGroupId=id, ReplicationGroupDescription="bench", NumCacheClusters=3,
                CacheNodeType="cache.t3.micro", AutomaticFailoverEnabled=True)
            until(lambda id=id: group(ec, id)["Status"] == "available")
            rg = group(ec, id)
            host = rg["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
            reader = rg["NodeGroups"][0]["ReaderEndpoint"]["Address"]
            until(lambda h=host: cli(h, "SET", "k", "v") == "OK")
            until(lambda r=reader: cli(r, "GET", "k") == "v")
            creates.append(time.monotonic() - started)
            primary = next(m["CacheClusterId"] for m in rg["NodeGroups"][0]["NodeGroupMembers"]
                           if m["CurrentRole"] == "primary")
            pid = pid_in(g.data_dir / "elasticache" / "nodes" /
                         f"000000000000-us-east-1-{primary}")
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            until(lambda h=host: cli(h, "SET", "k2", "v") == "OK")
            failovers.append(time.monotonic() - killed)
            if run < args.runs - 1:
                ec.delete_replication_group(ReplicationGroupId=id)
        print(f"create 1+2 → writable and replicating: median {statistics.median(creates):.2f} s "
              f"({', '.join(f'{c:.2f}' for c in creates)})")
        print(f"failover after SIGKILL → writable: median {statistics.median(failovers):.2f} s "
              f"({', '.join(f'{f:.2f}' for f in failovers)})")

        ec.create_cache_cluster(CacheClusterId="single", CacheNodeType="cache.t3.micro",
                                Engine="redis")
        until(lambda: ec.describe_cache_clusters(CacheClusterId="single")["CacheClusters"][0][
            "CacheClusterStatus"] == "available")
        node = ec.describe_cache_clusters(CacheClusterId="single", ShowCacheNodeInfo=True)[
            "CacheClusters"][0]["CacheNodes"][0]["Endpoint"]
        plain_dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        spec = NodeSpec(id="plain", address="127.0.0.99", port=6399,
                        maxmemory=maxmemory("cache.t3.micro"))
        (plain_dir / spec.id).mkdir()
        plain = subprocess.Popen(["redis-server", *RedisServers(plain_dir).arguments(spec)],
                                 stdout=subprocess.DEVNULL)
        try:
            until(lambda: cli("127.0.0.99", "-p", "6399", "PING") == "PONG")
            for pipeline in (1, 16):
                targets = [(node["Address"], node["Port"]), ("127.0.0.99", 6399), (host, 6379)]
                rates: list[list[float]] = [[], [], []]
                for round in range(args.rounds):
                    # Each target goes first, second and third in turn.
                    for i in (round % 3, (round + 1) % 3, (round + 2) % 3):
                        rates[i].append(bench_rps(*targets[i], args.requests, pipeline))
                a, b, c = (statistics.median(x) for x in rates)
                print(f"redis-benchmark set/get -c 50 -P {pipeline}, median of {args.rounds}: "
                      f"single-node endpoint {a:,.0f} rps, plain redis-server {b:,.0f} rps "
                      f"(ratio {a / b:.2f}); 1+2 group primary {c:,.0f} rps "
                      f"(ratio {c / b:.2f})")
        finally:
            plain.terminate()
            plain.wait()
            shutil.rmtree(plain_dir, ignore_errors=True)

        ec.create_replication_group(
            ReplicationGroupId="shards", ReplicationGroupDescription="bench", NumNodeGroups=2,
            ReplicasPerNodeGroup=1, CacheNodeType="cache.t3.micro")
        until(lambda: group(ec, "shards")["Status"] == "available")
        cfg = group(ec, "shards")["ConfigurationEndpoint"]["Address"]
        cli(cfg, cluster=True, input="".join(f"SET key:{i} {i}\n" for i in range(args.keys)))
        started = time.monotonic()
        ec.modify_replication_group_shard_configuration(
            ReplicationGroupId="shards", NodeGroupCount=3, ApplyImmediately=True)
        until(lambda: group(ec, "shards")["Status"] == "available", 600)
        took = time.monotonic() - started
        total = sum(int(cli(m["ReadEndpoint"]["Address"], "DBSIZE"))
                    for s in group(ec, "shards")["NodeGroups"]
                    for m in s["NodeGroupMembers"]
                    if cli(m["ReadEndpoint"]["Address"], "ROLE").startswith("master"))
        print(f"add a shard (2 → 3) holding {args.keys} keys: {took:.1f} s, "
              f"{total} keys after (lost {args.keys - total})")


if __name__ == "__main__":
    main()
