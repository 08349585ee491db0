"""RDS metrics reach CloudWatch from the real server: with a client holding
a connection open, GetMetricStatistics shows DatabaseConnections, CPU and
storage for the DB instance (minutes pass 60 times faster)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gureum.testing.server import RunningGureum, running_gureum

from .rds_support import PASSWORD, create, engine_pids, no_postgres, wait_status

pytestmark = pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with running_gureum(env={"GUREUM_TIME_SCALE": "60"}) as g:
        data_dir = g.data_dir
        yield g
    deadline = time.monotonic() + 10
    while engine_pids(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine_pids(data_dir) == [], "postgres processes outlived gureum"


def datapoints(cw: Any, name: str, stat: str = "Maximum") -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = cw.get_metric_statistics(
        Namespace="AWS/RDS", MetricName=name, Statistics=[stat], Period=60,
        StartTime=now - timedelta(hours=2), EndTime=now + timedelta(minutes=5),
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": "watched"}])["Datapoints"]
    return out


def test_connections_cpu_and_storage_reach_cloudwatch(cloud: RunningGureum) -> None:
    rds, cw = cloud.client("rds"), cloud.client("cloudwatch")
    create(rds, "watched", BackupRetentionPeriod=0, AllocatedStorage=20)
    db = wait_status(rds, "watched")
    env = {**os.environ, "PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "5"}
    client = subprocess.Popen(
        ["psql", "-X", "-q", "-h", db["Endpoint"]["Address"], "-p", str(db["Endpoint"]["Port"]),
         "-U", "master", "-d", "app", "-c", "SELECT pg_sleep(60)"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            connections = datapoints(cw, "DatabaseConnections")
            cpu = datapoints(cw, "CPUUtilization")
            if cpu and any(p["Maximum"] >= 1 for p in connections):
                break
            assert time.monotonic() < deadline, (connections, cpu)
            time.sleep(0.2)
    finally:
        client.terminate()
        client.wait(10)
    assert all(0.0 <= p["Maximum"] <= 100.0 and p["Unit"] == "Percent" for p in cpu)
    free = datapoints(cw, "FreeStorageSpace", "Minimum")
    assert free and 0 < free[0]["Minimum"] < 20 * 1024**3
    rds.delete_db_instance(DBInstanceIdentifier="watched", SkipFinalSnapshot=True)
