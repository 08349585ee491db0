"""The web tier → data tier path: redis-benchmark against a cache cluster's
endpoint name from an EC2 instance (its namespace: veth, the VPC's bridge and
the host filter of the cache's security groups) and from the host (which
reaches the same private address locally), taking turns in rounds so that
neither gets a quieter machine; and the time for psql from the instance to
connect to an RDS PostgreSQL by name and answer ``select 1``. Needs root (the
namespace driver), redis-server, postgresql.

    .venv/bin/python bench/data_tier.py [--requests 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

from gureum.testing.server import RunningGureum, running_gureum

PASSWORD = "bench-Passw0rd"


def until(check: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.2)


def inside(g: RunningGureum, instance: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gureum", "ssh", instance, *argv],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "GUREUM_DATA_DIR": str(g.data_dir)})


def rps(output: str, test: str) -> float:
    found = re.search(rf"^{test}: ([\d.]+) requests per second", output, re.M)
    if found is None:
        raise RuntimeError(f"no {test} figure in: {output[-500:]}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with running_gureum() as g:
        ec2, rds, cache = g.client("ec2"), g.client("rds"), g.client("elasticache")
        cache.create_cache_cluster(CacheClusterId="bench", Engine="redis",
                                   CacheNodeType="cache.m5.large", NumCacheNodes=1)
        rds.create_db_instance(DBInstanceIdentifier="bench", Engine="postgres",
                               DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                               MasterUsername="bench", MasterUserPassword=PASSWORD,
                               BackupRetentionPeriod=0)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                     InstanceType="m5.large")["Instances"][0]["InstanceId"]
        try:
            node = until(lambda: next(iter(cache.describe_cache_clusters(
                CacheClusterId="bench", ShowCacheNodeInfo=True)["CacheClusters"][0].get(
                "CacheNodes", [{}])[0].get("Endpoint", {}).values()), None))
            db = until(lambda: (d := rds.describe_db_instances(DBInstanceIdentifier="bench")[
                "DBInstances"][0])["DBInstanceStatus"] == "available" and d)
            ec2.get_waiter("instance_running").wait(InstanceIds=[instance])
            bench = ["redis-benchmark", "-h", node, "-q", "-n", str(args.requests),
                     "-c", "16", "-t", "set,get"]
            figures: dict[str, list[float]] = {"host": [], "instance": []}
            for _ in range(args.rounds):
                for where in ("instance", "host"):
                    out = (inside(g, instance, *bench).stdout if where == "instance"
                           else subprocess.run(bench, capture_output=True, text=True,
                                               timeout=600).stdout)
                    figures[where].append(rps(out, "GET"))
            for where, values in figures.items():
                print(f"redis GET from the {where:8}: {statistics.median(values):9.0f} req/s "
                      f"(rounds: {', '.join(f'{v:.0f}' for v in values)})")
            ratio = statistics.median(figures["instance"]) / statistics.median(figures["host"])
            print(f"instance / host: {ratio:.2f}")
            name = db["Endpoint"]["Address"]
            times = []
            for _ in range(5):
                start = time.monotonic()
                done = inside(g, instance, "env", f"PGPASSWORD={PASSWORD}", "psql", "-h", name,
                              "-U", "bench", "-d", "postgres", "-Atc", "select 1")
                times.append(time.monotonic() - start)
                assert done.stdout.strip() == "1", done.stderr
            print(f"psql from the instance by name (gureum ssh included): "
                  f"median {statistics.median(times) * 1000:.0f} ms")
        finally:
            ec2.terminate_instances(InstanceIds=[instance])
            ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance])
            rds.delete_db_instance(DBInstanceIdentifier="bench", SkipFinalSnapshot=True)
            cache.delete_cache_cluster(CacheClusterId="bench")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
