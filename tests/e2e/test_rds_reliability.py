"""Supervision of real PostgreSQL servers: a SIGKILLed server is restarted
with its committed rows (an event says so), the primary of a Multi-AZ
instance dying fails over to the standby, and gureum restarts (SIGTERM and
SIGKILL) bring every instance back with its data and endpoint."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.testing.server import RunningGureum

from .rds_support import create, engine_pids, no_postgres, psql, rds_gureum, wait_status

pytestmark = pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with rds_gureum() as g:
        yield g


def postmaster(cloud: RunningGureum, db: dict[str, Any]) -> int:
    """The server process of ``db``: the one its data directory's
    postmaster.pid names, listening on the instance's port."""
    found = [p for p in engine_pids(cloud.data_dir) if _serves(p, db)]
    assert len(found) == 1, found
    return found[0]


def _serves(pid: int, db: dict[str, Any]) -> bool:
    try:
        data_dir = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2].decode()
        lines = (Path(data_dir) / "postmaster.pid").read_text().splitlines()
    except (OSError, IndexError):
        return False
    return lines[0] == str(pid) and len(lines) > 5 and lines[5] != "" and \
        lines[3] == str(db["Endpoint"]["Port"])


def wait_rows(db: dict[str, Any], expected: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        out = psql(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM r", check=False)
        if out.returncode == 0 and out.stdout.strip() == expected:
            return
        assert time.monotonic() < deadline, out
        time.sleep(0.1)


def test_killed_server_is_restarted_with_committed_rows(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    create(rds, "crashy", BackupRetentionPeriod=0, Port=7001)
    db = wait_status(rds, "crashy")
    psql(db, "CREATE TABLE r (n int); INSERT INTO r VALUES (1), (2)")
    os.kill(postmaster(cloud, db), signal.SIGKILL)
    wait_rows(db, "1,2")
    events = rds.describe_events(SourceIdentifier="crashy", SourceType="db-instance")["Events"]
    assert any(e["Message"] == "DB instance restarted" for e in events)


def test_multi_az_primary_dying_fails_over(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    create(rds, "ha-crash", BackupRetentionPeriod=0, MultiAZ=True, Port=7002)
    db = wait_status(rds, "ha-crash")
    psql(db, "CREATE TABLE r (n int); INSERT INTO r VALUES (7)")
    started = time.monotonic()
    os.kill(postmaster(cloud, db), signal.SIGKILL)
    wait_rows(db, "7")
    psql(db, "INSERT INTO r VALUES (8)")
    assert time.monotonic() - started < 30
    after = wait_status(rds, "ha-crash")
    assert after["AvailabilityZone"] == db["SecondaryAvailabilityZone"]


@pytest.mark.parametrize("kill", [False, True])
def test_gureum_restart_brings_instances_back(cloud: RunningGureum, kill: bool) -> None:
    rds = cloud.client("rds")
    name = f"survivor-{int(kill)}"
    create(rds, name, BackupRetentionPeriod=1, Port=7003 + int(kill))
    db = wait_status(rds, name)
    psql(db, "CREATE TABLE r (n int); INSERT INTO r VALUES (1), (2), (3)")
    cloud.restart(kill=kill)
    rds = cloud.client("rds")
    back = wait_status(rds, name)
    assert back["Endpoint"] == db["Endpoint"]
    wait_rows(db, "1,2,3")
