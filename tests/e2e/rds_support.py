"""Helpers for the RDS end-to-end tests: a private gureum whose engines are
checked gone afterwards, waiting on DB instance states, and psql."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gureum.drivers.postgres import find_bin_dir
from gureum.testing.server import RunningGureum, running_gureum

PASSWORD = "s3cret-Passw0rd"
no_postgres = find_bin_dir() is None or shutil.which("psql") is None


def engine_pids(data_dir: Path, programs: tuple[bytes, ...] = (b"postgres",)) -> list[int]:
    """Processes of ``programs`` whose command line names a path under ``data_dir``."""
    marker = str(data_dir).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmd and any(p in cmd for p in programs):
                pids.append(int(entry.name))
    return pids


@contextmanager
def rds_gureum() -> Iterator[RunningGureum]:
    with running_gureum() as g:
        data_dir = g.data_dir
        try:
            yield g
        finally:
            g.stop()
    deadline = time.monotonic() + 10
    while engine_pids(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine_pids(data_dir) == [], "postgres processes outlived gureum"


def wait_status(rds: Any, id: str, status: str = "available", timeout: float = 90.0
                ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        db: dict[str, Any] = rds.describe_db_instances(DBInstanceIdentifier=id)["DBInstances"][0]
        if db["DBInstanceStatus"] == status:
            return db
        assert db["DBInstanceStatus"] != "failed", db
        assert time.monotonic() < deadline, f"{id} is {db['DBInstanceStatus']}, not {status}"
        time.sleep(0.1)


def wait_gone(rds: Any, id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rds.describe_db_instances(DBInstanceIdentifier=id)
        except rds.exceptions.DBInstanceNotFoundFault:
            return
        time.sleep(0.1)
    raise AssertionError(f"{id} was not deleted")


def wait_snapshot(rds: Any, id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        snap: dict[str, Any] = rds.describe_db_snapshots(DBSnapshotIdentifier=id)[
            "DBSnapshots"][0]
        if snap["Status"] == "available":
            return snap
        assert time.monotonic() < deadline, f"snapshot {id} is {snap['Status']}"
        time.sleep(0.1)


def psql(db: dict[str, Any], sql: str, *, user: str = "master", password: str = PASSWORD,
         database: str = "app", check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``sql`` through the instance's endpoint as an ordinary client does."""
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
    return subprocess.run(
        ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", db["Endpoint"]["Address"],
         "-p", str(db["Endpoint"]["Port"]), "-U", user, "-d", database, "-c", sql],
        capture_output=True, text=True, env=env, check=check, timeout=30)


def create(rds: Any, id: str, **kw: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "DBInstanceIdentifier": id, "Engine": "postgres", "DBInstanceClass": "db.t3.micro",
        "AllocatedStorage": 20, "MasterUsername": "master", "MasterUserPassword": PASSWORD,
        "DBName": "app"}
    params.update(kw)
    db: dict[str, Any] = rds.create_db_instance(**params)["DBInstance"]
    return db


def mysql(db: dict[str, Any], sql: str, *, user: str = "admin", password: str = PASSWORD,
          database: str = "app") -> subprocess.CompletedProcess[str]:
    """Run ``sql`` with the ``mysql`` client through the instance's endpoint."""
    env = {**os.environ, "MYSQL_PWD": password}
    return subprocess.run(
        ["mysql", "--no-defaults", "-h", db["Endpoint"]["Address"],
         "-P", str(db["Endpoint"]["Port"]), "-u", user, "-N", "-B", database, "-e", sql],
        capture_output=True, text=True, env=env, timeout=30)


def wait_apply_status(rds: Any, id: str, status: str, timeout: float = 60.0
                      ) -> dict[str, Any]:
    """Wait until the instance's parameter group is ``status`` (in-sync, pending-reboot)."""
    deadline = time.monotonic() + timeout
    while True:
        db: dict[str, Any] = rds.describe_db_instances(DBInstanceIdentifier=id)["DBInstances"][0]
        if db["DBParameterGroups"][0]["ParameterApplyStatus"] == status and \
                db["DBInstanceStatus"] == "available":
            return db
        assert time.monotonic() < deadline, (id, db["DBParameterGroups"],
                                             db["DBInstanceStatus"])
        time.sleep(0.1)


def assert_commit_waits_for(paused: list[int], argv: list[str], env: dict[str, str]) -> None:
    """Run the client command ``argv`` (one INSERT) while the standby's
    processes ``paused`` are stopped: it must not return within two seconds,
    and must succeed once they go on. They go on whatever happens."""
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    try:
        pending = subprocess.Popen(argv, env={**os.environ, **env},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2.0)
            waited = pending.poll() is None
        finally:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)
        try:
            assert waited, "the commit returned without the standby"
            assert pending.wait(timeout=30) == 0
        finally:
            if pending.poll() is None:
                pending.kill()
                pending.wait()
    finally:
        for pid in paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
