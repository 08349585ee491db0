"""MariaDB backups, replicas and failover end to end through boto3 and the
``mysql`` client: a read replica that replicates by binlog, refuses writes
and is promoted; a Multi-AZ instance that fails over keeping its endpoint and
data; point-in-time restore from the archived binlogs (exactly the rows
committed up to the second), and LatestRestorableTime. Multi-AZ replication
is synchronous: a commit waits for the standby, and one acknowledged survives
a SIGKILL of the primary right after it returned."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.drivers.mysql import find_mariadbd
from gureum.testing.server import RunningGureum

from .rds_support import (
    PASSWORD,
    assert_commit_waits_for,
    engine_pids,
    mysql,
    rds_gureum,
    wait_gone,
    wait_status,
)

pytestmark = pytest.mark.skipif(find_mariadbd() is None or shutil.which("mysql") is None,
                                reason="MariaDB is not installed")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with rds_gureum() as g:
        yield g


@pytest.fixture(scope="module")
def rds(cloud: RunningGureum) -> Any:
    return cloud.client("rds")


def create(rds: Any, id: str, **kw: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "DBInstanceIdentifier": id, "Engine": "mariadb", "DBInstanceClass": "db.t3.micro",
        "AllocatedStorage": 20, "MasterUsername": "admin", "MasterUserPassword": PASSWORD,
        "DBName": "app", **kw}
    rds.create_db_instance(**params)
    return wait_status(rds, id)


def sql(db: dict[str, Any], text: str) -> list[str]:
    out = mysql(db, text)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def rows(db: dict[str, Any], table: str) -> list[int]:
    return [int(x) for x in sql(db, f"SELECT n FROM {table} ORDER BY n")]


def delete(rds: Any, id: str) -> None:
    rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True)
    wait_gone(rds, id)


def next_second() -> None:
    """Wait for the wall clock to pass a whole second (binlog times are seconds)."""
    now = int(time.time())
    while int(time.time()) == now:
        time.sleep(0.02)


def primary_pid(cloud: RunningGureum, db: dict[str, Any]) -> int:
    """The mariadbd serving the instance's endpoint (its my.cnf binds that address)."""
    address = socket.gethostbyname(db["Endpoint"]["Address"])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        conf = [a[len(b"--defaults-file="):] for a in args if a.startswith(b"--defaults-file=")]
        if b"mariadbd" in args[0] and conf and str(cloud.data_dir).encode() in conf[0] and \
                f"bind-address = {address}\n" in Path(conf[0].decode()).read_text():
            return int(entry.name)
    raise AssertionError("no server for the instance")


def standby_pid(cloud: RunningGureum, db: dict[str, Any]) -> int:
    """The mariadbd of the instance's Multi-AZ standby: it does not listen on
    the endpoint's address (it has its own where instances live on a network,
    none otherwise) and replicates from it (its master.info names it)."""
    address = socket.gethostbyname(db["Endpoint"]["Address"])
    for pid in engine_pids(cloud.data_dir, (b"mariadbd",)):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            conf = Path(next(a for a in args if a.startswith(b"--defaults-file="))
                        [len(b"--defaults-file="):].decode())
            info = (conf.parent / "data" / "master.info").read_text().splitlines()
        except (OSError, StopIteration):
            continue
        if f"bind-address = {address}" not in conf.read_text().splitlines() and \
                address in info:
            return pid
    raise AssertionError("no standby for the instance")


def wait_synchronous(db: dict[str, Any], timeout: float = 60.0) -> None:
    """Until the primary has its standby attached semi-synchronously, as a
    client sees it in the server's status (after a failover the new standby
    is built while the instance already takes writes, as on RDS)."""
    deadline = time.monotonic() + timeout
    while True:
        out = mysql(db, "SHOW GLOBAL STATUS WHERE Variable_name IN "
                        "('Rpl_semi_sync_master_clients', 'Rpl_semi_sync_master_status')")
        status = dict(line.split("\t") for line in out.stdout.splitlines()) \
            if out.returncode == 0 else {}
        if status.get("Rpl_semi_sync_master_clients") == "1" and \
                status.get("Rpl_semi_sync_master_status") == "ON":
            return
        assert time.monotonic() < deadline, (out.stderr, status)
        time.sleep(0.1)


def insert_when_writable(db: dict[str, Any], n: int, table: str = "ha",
                         timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while mysql(db, f"INSERT INTO {table} VALUES ({n})").returncode != 0:
        assert time.monotonic() < deadline, "never writable again"
        time.sleep(0.2)


def wait_failovers(rds: Any, id: str, count: int, timeout: float = 30.0) -> None:
    """Until the instance's events tell of ``count`` failovers (the event is
    recorded just after the endpoint serves again, so a client may be first)."""
    deadline = time.monotonic() + timeout
    while True:
        events = rds.describe_events(SourceIdentifier=id, SourceType="db-instance")["Events"]
        done = sum("failover" in e["Message"] for e in events)
        if done == count:
            return
        assert done < count and time.monotonic() < deadline, [e["Message"] for e in events]
        time.sleep(0.1)


def test_replica_replicates_refuses_writes_and_promotes(rds: Any) -> None:
    source = create(rds, "maria-src", BackupRetentionPeriod=1)
    sql(source, "CREATE TABLE repl (n INT PRIMARY KEY); INSERT INTO repl VALUES (1)")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="maria-replica",
                                        SourceDBInstanceIdentifier="maria-src")
    replica = wait_status(rds, "maria-replica")
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == "maria-src"
    assert replica["Engine"] == "mariadb"
    assert rows(replica, "repl") == [1]
    sql(source, "INSERT INTO repl VALUES (2)")
    deadline = time.monotonic() + 10
    while rows(replica, "repl") != [1, 2]:
        assert time.monotonic() < deadline, "the write never reached the replica"
        time.sleep(0.05)
    refused = mysql(replica, "INSERT INTO repl VALUES (3)")
    assert refused.returncode != 0 and "read-only" in refused.stderr
    rds.promote_read_replica(DBInstanceIdentifier="maria-replica")
    promoted = wait_status(rds, "maria-replica")
    assert "ReadReplicaSourceDBInstanceIdentifier" not in promoted
    sql(promoted, "INSERT INTO repl VALUES (3)")
    assert rows(promoted, "repl") == [1, 2, 3]
    assert rows(source, "repl") == [1, 2]
    delete(rds, "maria-replica")


def test_point_in_time_restore_from_binlogs(rds: Any) -> None:
    source = wait_status(rds, "maria-src")
    sql(source, "CREATE TABLE pitr (n INT PRIMARY KEY); INSERT INTO pitr VALUES (10), (11)")
    next_second()
    between = time.time()
    next_second()
    sql(source, "INSERT INTO pitr VALUES (12)")
    started = time.monotonic()
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="maria-src", TargetDBInstanceIdentifier="maria-at",
        RestoreTime=between)
    restored = wait_status(rds, "maria-at")
    elapsed = time.monotonic() - started
    assert rows(restored, "pitr") == [10, 11]
    assert elapsed < 30, elapsed
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="maria-src", TargetDBInstanceIdentifier="maria-latest",
        UseLatestRestorableTime=True)
    latest = wait_status(rds, "maria-latest")
    assert rows(latest, "pitr") == [10, 11, 12]
    described = rds.describe_db_instances(DBInstanceIdentifier="maria-src")["DBInstances"][0]
    assert described["LatestRestorableTime"].timestamp() >= between
    delete(rds, "maria-at")
    delete(rds, "maria-latest")
    delete(rds, "maria-src")


def test_multi_az_failover_keeps_endpoint_and_data(cloud: RunningGureum, rds: Any) -> None:
    db = create(rds, "maria-ha", MultiAZ=True, BackupRetentionPeriod=1)
    assert db["MultiAZ"] is True
    sql(db, "CREATE TABLE ha (n INT PRIMARY KEY); INSERT INTO ha VALUES (1)")
    started = time.monotonic()
    rds.reboot_db_instance(DBInstanceIdentifier="maria-ha", ForceFailover=True)
    after = wait_status(rds, "maria-ha")
    failover = time.monotonic() - started
    assert after["Endpoint"] == db["Endpoint"]
    assert after["AvailabilityZone"] == db["SecondaryAvailabilityZone"]
    assert rows(after, "ha") == [1]
    sql(after, "INSERT INTO ha VALUES (2)")
    assert rows(after, "ha") == [1, 2]
    assert failover < 30, failover
    # The primary dying: the standby takes over, committed rows intact.
    os.kill(primary_pid(cloud, after), signal.SIGKILL)
    insert_when_writable(after, 3)
    assert rows(after, "ha") == [1, 2, 3]
    wait_failovers(rds, "maria-ha", 2)
    delete(rds, "maria-ha")


def test_planned_failover_under_writes_keeps_every_acknowledged_row(rds: Any) -> None:
    """Rows inserted one by one while a ForceFailover runs: every insert that
    returned success is on the new primary (the old one shuts down only once
    the standby has its last binlog event, and the standby applies all it
    received before promotion)."""
    db = create(rds, "maria-planned", MultiAZ=True)
    sql(db, "CREATE TABLE w (n INT PRIMARY KEY)")
    wait_synchronous(db)
    acked: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        deadline = time.monotonic() + 90
        for n in range(1, 5000):
            if stop.is_set() or time.monotonic() > deadline:
                return
            if mysql(db, f"INSERT INTO w VALUES ({n})").returncode == 0:
                acked.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(acked) < 5:
            assert thread.is_alive(), "the writer stopped"
            time.sleep(0.05)
        rds.reboot_db_instance(DBInstanceIdentifier="maria-planned", ForceFailover=True)
        wait_status(rds, "maria-planned")
        before = len(acked)
        deadline = time.monotonic() + 30
        while len(acked) < before + 5:
            assert thread.is_alive() and time.monotonic() < deadline, "no writes after"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    missing = sorted(set(acked) - set(rows(db, "w")))
    assert missing == [], missing
    wait_failovers(rds, "maria-planned", 1)
    delete(rds, "maria-planned")


def test_promotion_first_applies_what_the_standby_received(cloud: RunningGureum,
                                                          rds: Any) -> None:
    """The standby's applier held back (MASTER_DELAY set on the standby) while
    commits are acknowledged (they are in its relay log): the primary
    SIGKILLed then, the promotion waits for the applier and keeps the rows."""
    db = create(rds, "maria-lag", MultiAZ=True)
    sql(db, "CREATE TABLE lag (n INT PRIMARY KEY); INSERT INTO lag VALUES (1)")
    wait_synchronous(db)
    args = Path(f"/proc/{standby_pid(cloud, db)}/cmdline").read_bytes().split(b"\0")
    conf = next(a for a in args if a.startswith(b"--defaults-file="))[len(b"--defaults-file="):]
    standby_socket = Path(conf.decode()).parent / "run" / "mysqld.sock"
    delayed = subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={standby_socket}", "-u", "root",
         "-e", "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 8; START SLAVE;"],
        capture_output=True, text=True, timeout=30)
    assert delayed.returncode == 0, delayed.stderr
    wait_synchronous(db)
    out = mysql(db, "INSERT INTO lag VALUES (2)")
    os.kill(primary_pid(cloud, db), signal.SIGKILL)
    assert out.returncode == 0, out.stderr
    insert_when_writable(db, 3, "lag")
    assert rows(db, "lag") == [1, 2, 3]
    delete(rds, "maria-lag")


def test_acknowledged_commit_survives_primary_sigkill(cloud: RunningGureum, rds: Any) -> None:
    """A commit on a Multi-AZ primary returns only once the standby has it: with
    the standby paused the commit waits; SIGKILLing the primary the moment a
    commit returned (three times in a row, the roles swapping each time, and
    once more after a gureum restart) loses none of them."""
    db = create(rds, "maria-sync", MultiAZ=True)
    sql(db, "CREATE TABLE acked (n INT PRIMARY KEY)")
    wait_synchronous(db)
    assert_commit_waits_for(
        [standby_pid(cloud, db)],
        ["mysql", "--no-defaults", "-h", db["Endpoint"]["Address"],
         "-P", str(db["Endpoint"]["Port"]), "-u", "admin", "app",
         "-e", "INSERT INTO acked VALUES (1)"], {"MYSQL_PWD": PASSWORD})
    os.kill(primary_pid(cloud, db), signal.SIGKILL)
    expected = [1]
    for n in (2, 3, 4):
        insert_when_writable(db, n, "acked")
        expected.append(n)
        wait_synchronous(db)
        out = mysql(db, f"INSERT INTO acked VALUES ({n * 10})")
        os.kill(primary_pid(cloud, db), signal.SIGKILL)
        assert out.returncode == 0, out.stderr
        expected.append(n * 10)
    wait_failovers(rds, "maria-sync", 4)
    # A gureum restart keeps each engine's role: synchronous again, and a
    # commit acknowledged before the primary dies survives the failover.
    cloud.restart()
    rds = cloud.client("rds")
    wait_status(rds, "maria-sync")
    wait_synchronous(db)
    out = mysql(db, "INSERT INTO acked VALUES (100)")
    os.kill(primary_pid(cloud, db), signal.SIGKILL)
    assert out.returncode == 0, out.stderr
    insert_when_writable(db, 5, "acked")
    assert rows(db, "acked") == sorted([*expected, 100, 5])
    wait_failovers(rds, "maria-sync", 5)
    delete(rds, "maria-sync")
