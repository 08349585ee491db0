"""Supervision of real PostgreSQL servers: a SIGKILLed server is restarted
with its committed rows (an event says so), the primary of a Multi-AZ
instance dying fails over to the standby, a Multi-AZ commit waits for the
standby (synchronous replication) so that SIGKILLing the primary right after
it returned loses nothing, and gureum restarts (SIGTERM and SIGKILL) bring
every instance back with its data and endpoint."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.testing.server import RunningGureum

from .rds_support import (
    PASSWORD,
    assert_commit_waits_for,
    create,
    engine_pids,
    no_postgres,
    psql,
    rds_gureum,
    wait_status,
)

pytestmark = pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with rds_gureum() as g:
        yield g


def postmaster(cloud: RunningGureum, db: dict[str, Any]) -> int:
    """The server process of ``db``: the one its data directory's
    postmaster.pid names, listening on the instance's address and port."""
    found = [p for p in engine_pids(cloud.data_dir) if _serves(p, db)]
    assert len(found) == 1, found
    return found[0]


def _serves(pid: int, db: dict[str, Any]) -> bool:
    try:
        data_dir = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2].decode()
        lines = (Path(data_dir) / "postmaster.pid").read_text().splitlines()
    except (OSError, IndexError):
        return False
    # (a Multi-AZ standby listens on an address of its own, where instances
    # live on a network: the server is the one on the endpoint's address)
    return lines[0] == str(pid) and len(lines) > 5 and \
        lines[5] == socket.gethostbyname(db["Endpoint"]["Address"]) and \
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
    # The server answers a moment before the loop that restarted it records
    # the event: wait for it, bounded.
    deadline = time.monotonic() + 30
    while True:
        events = rds.describe_events(SourceIdentifier="crashy",
                                     SourceType="db-instance")["Events"]
        if any(e["Message"] == "DB instance restarted" for e in events):
            break
        assert time.monotonic() < deadline, events
        time.sleep(0.2)


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


def standby_processes(cloud: RunningGureum, db: dict[str, Any]) -> list[int]:
    """The standby's postmaster (a data directory in standby mode serving the
    instance's port on no address) and its children (the WAL receiver)."""
    for pid in engine_pids(cloud.data_dir):
        try:
            data_dir = Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2].decode())
            lines = (data_dir / "postmaster.pid").read_text().splitlines()
        except (OSError, IndexError):
            continue
        if lines[0] == str(pid) and lines[3] == str(db["Endpoint"]["Port"]) and \
                (data_dir / "standby.signal").exists():
            children = []
            for entry in Path("/proc").iterdir():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if entry.name.isdigit() and stat.rsplit(")", 1)[1].split()[1] == str(pid):
                    children.append(int(entry.name))
            return [pid, *children]
    raise AssertionError("no standby for the instance")


def wait_synchronous(db: dict[str, Any], timeout: float = 60.0) -> None:
    """Until the primary streams to a synchronous standby, as a client with
    pg_monitor sees it (a new standby is built after a failover while the
    instance already takes writes, as on RDS)."""
    deadline = time.monotonic() + timeout
    while True:
        out = psql(db, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
                   check=False)
        if out.returncode == 0 and out.stdout.strip() == "1":
            return
        assert time.monotonic() < deadline, out
        time.sleep(0.1)


def insert_when_writable(db: dict[str, Any], n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while psql(db, f"INSERT INTO r VALUES ({n})", check=False).returncode != 0:
        assert time.monotonic() < deadline, "never writable again"
        time.sleep(0.2)


def test_multi_az_acknowledged_commit_survives_primary_sigkill(cloud: RunningGureum) -> None:
    """A commit on a Multi-AZ primary returns only once the standby has it:
    with the standby paused the commit waits; SIGKILLing the primary the moment
    a commit returned (three times in a row, the roles swapping each time, and
    once more after a gureum restart) loses none of them."""
    rds = cloud.client("rds")
    create(rds, "ha-sync", BackupRetentionPeriod=0, MultiAZ=True, Port=7005)
    db = wait_status(rds, "ha-sync")
    psql(db, "CREATE TABLE r (n int)")
    wait_synchronous(db)
    assert_commit_waits_for(
        standby_processes(cloud, db),
        ["psql", "-X", "-h", db["Endpoint"]["Address"], "-p", str(db["Endpoint"]["Port"]),
         "-U", "master", "-d", "app", "-c", "INSERT INTO r VALUES (1)"],
        {"PGPASSWORD": PASSWORD})
    os.kill(postmaster(cloud, db), signal.SIGKILL)
    expected = [1]
    for n in (2, 3, 4):
        insert_when_writable(db, n)
        expected.append(n)
        wait_synchronous(db)
        out = psql(db, f"INSERT INTO r VALUES ({n * 10})", check=False)
        os.kill(postmaster(cloud, db), signal.SIGKILL)
        assert out.returncode == 0, out.stderr
        expected.append(n * 10)
    # A gureum restart keeps each engine's role: synchronous again.
    wait_status(rds, "ha-sync")
    cloud.restart()
    rds = cloud.client("rds")
    wait_status(rds, "ha-sync")
    wait_synchronous(db)
    out = psql(db, "INSERT INTO r VALUES (100)", check=False)
    os.kill(postmaster(cloud, db), signal.SIGKILL)
    assert out.returncode == 0, out.stderr
    insert_when_writable(db, 5)
    wait_rows(db, ",".join(str(n) for n in sorted([*expected, 100, 5])))
    rds.delete_db_instance(DBInstanceIdentifier="ha-sync", SkipFinalSnapshot=True)


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
