"""Each DB instance's server runs in its own cgroup sized by its class
(vCPUs → CPU quota, memory → memory limit), removed when the instance stops
or is deleted; and no server outlives a gureum killed with SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from gureum.drivers.mysql import find_mariadbd
from gureum.testing.server import running_gureum

from .rds_support import create, engine_pids, no_postgres, psql, wait_gone, wait_status

pytestmark = pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")
CGROUPS = Path("/sys/fs/cgroup")
GIB = 1024**3


def engine_groups(pid: int) -> dict[str, Path]:
    """The cgroup of ``pid`` in each v1 hierarchy (or v2's), when it is an engine's."""
    out: dict[str, Path] = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "gureum-rds-" not in path:
            continue
        for c in controllers.split(",") if controllers else ["unified"]:
            out[c] = CGROUPS / (c if c != "unified" else "") / path.lstrip("/")
    return out


def limits(pid: int) -> tuple[int, int]:
    """(CPU quota in µs per 100 ms period, memory limit in bytes)."""
    groups = engine_groups(pid)
    if "cpu" in groups and (groups["cpu"] / "cpu.cfs_quota_us").exists():
        return (int((groups["cpu"] / "cpu.cfs_quota_us").read_text()),
                int((groups["memory"] / "memory.limit_in_bytes").read_text()))
    d = groups["unified"]
    return (int((d / "cpu.max").read_text().split()[0]), int((d / "memory.max").read_text()))


def server_pid(data_dir: Path, db: dict[str, Any]) -> int:
    for pid in engine_pids(data_dir):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            lines = (Path(args[2].decode()) / "postmaster.pid").read_text().splitlines()
        except (OSError, IndexError):
            continue
        if lines[0] == str(pid) and lines[3] == str(db["Endpoint"]["Port"]):
            return pid
    raise AssertionError("no server for the instance")


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
def test_class_limits_follow_the_instance() -> None:
    with running_gureum() as cloud:
        rds = cloud.client("rds")
        create(rds, "limited", BackupRetentionPeriod=0)
        db = wait_status(rds, "limited")
        pid = server_pid(cloud.data_dir, db)
        assert limits(pid) == (200_000, 1 * GIB)  # db.t3.micro: 2 vCPUs, 1 GiB
        groups = set(engine_groups(pid).values())
        # Backends are the server's children: in the same group.
        assert psql(db, "SELECT pg_backend_pid()").returncode == 0
        rds.modify_db_instance(DBInstanceIdentifier="limited", DBInstanceClass="db.t3.xlarge",
                               ApplyImmediately=True)
        deadline = time.monotonic() + 60
        while True:
            db = wait_status(rds, "limited")
            if db["DBInstanceClass"] == "db.t3.xlarge":
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert limits(server_pid(cloud.data_dir, db)) == (400_000, 16 * GIB)
        rds.stop_db_instance(DBInstanceIdentifier="limited")
        wait_status(rds, "limited", "stopped")
        assert not any(g.exists() for g in groups)
        rds.start_db_instance(DBInstanceIdentifier="limited")
        db = wait_status(rds, "limited")
        groups = set(engine_groups(server_pid(cloud.data_dir, db)).values())
        assert groups and all(g.exists() for g in groups)
        rds.delete_db_instance(DBInstanceIdentifier="limited", SkipFinalSnapshot=True)
        wait_gone(rds, "limited")
        assert not any(g.exists() for g in groups)


def servers(data_dir: Path) -> list[int]:
    """Every server process (postgres, mariadbd) whose command line names ``data_dir``."""
    return engine_pids(data_dir, (b"postgres", b"mariadbd"))


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")
def test_no_server_outlives_a_killed_gureum() -> None:
    with running_gureum() as cloud:
        rds = cloud.client("rds")
        create(rds, "orphan", BackupRetentionPeriod=0)
        if find_mariadbd() is not None:
            create(rds, "orphan-maria", Engine="mariadb", MasterUsername="admin",
                   BackupRetentionPeriod=0)
            wait_status(rds, "orphan-maria")
        wait_status(rds, "orphan")
        before = servers(cloud.data_dir)
        assert len(before) >= 1 + (find_mariadbd() is not None)
        os.kill(cloud.pid, signal.SIGKILL)  # gureum alone, not its process group
        deadline = time.monotonic() + 10
        while servers(cloud.data_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert servers(cloud.data_dir) == []
