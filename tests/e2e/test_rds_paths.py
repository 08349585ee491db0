"""DB instances on a gureum whose ``--data-dir`` has a long path (too long for
an engine's Unix socket, 107 bytes, under it): PostgreSQL and MariaDB
instances created through boto3 become available and take clients; deleting
them leaves no short socket link behind, and no server outlives gureum."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from gureum.drivers import sockdir
from gureum.drivers.mysql import find_mariadbd
from gureum.testing.server import _prune_claims, running_gureum

from .rds_support import (
    PASSWORD,
    create,
    engine_pids,
    mysql,
    no_postgres,
    psql,
    wait_gone,
    wait_status,
)

no_mariadb = find_mariadbd() is None or shutil.which("mysql") is None


def links_into(data_dir: Path) -> list[str]:
    base = sockdir.link_root()
    if not base.is_dir():
        return []
    return [p.name for p in base.iterdir()
            if p.is_symlink() and os.readlink(p).startswith(str(data_dir))]


@pytest.mark.skipif(no_postgres or no_mariadb, reason="PostgreSQL or MariaDB is not installed")
def test_instances_in_a_long_data_dir() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gureum-test-"))
    data_dir = tmp / ("long-" + "d" * 120) / "gureum"
    assert len(str(data_dir)) > 130
    try:
        with running_gureum(data_dir=data_dir) as g:
            rds = g.client("rds")
            create(rds, "pg-long")
            rds.create_db_instance(
                DBInstanceIdentifier="maria-long", Engine="mariadb",
                DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="admin",
                MasterUserPassword=PASSWORD, DBName="app")
            pg = wait_status(rds, "pg-long", timeout=180)
            maria = wait_status(rds, "maria-long", timeout=180)
            psql(pg, "CREATE TABLE t (v int); INSERT INTO t VALUES (7);")
            assert psql(pg, "SELECT v FROM t;").stdout.split() == ["7"]
            out = mysql(maria, "CREATE TABLE t (v int); INSERT INTO t VALUES (8); SELECT v FROM t;")
            assert out.returncode == 0, out.stderr
            assert out.stdout.split() == ["8"]
            # Both engines' sockets are reached through short links.
            assert len(links_into(data_dir)) == 2
            for id in ("pg-long", "maria-long"):
                rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True)
            for id in ("pg-long", "maria-long"):
                wait_gone(rds, id, timeout=120)
            deadline = time.monotonic() + 30
            while links_into(data_dir) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert links_into(data_dir) == []
        deadline = time.monotonic() + 15
        while engine_pids(data_dir, (b"postgres", b"mariadbd")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine_pids(data_dir, (b"postgres", b"mariadbd")) == [], \
            "engine processes outlived gureum"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        sockdir.sweep()
        _prune_claims()
