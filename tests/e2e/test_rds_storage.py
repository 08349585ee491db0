"""AllocatedStorage as a quota on real servers: when the data directory
reaches it the instance becomes ``storage-full`` and writes are refused (reads
still work); ModifyDBInstance growing AllocatedStorage makes it available and
writable again; shrinking is refused. One GiB is made 4 MiB here
(GUREUM_RDS_GIB_BYTES) so that 20 GiB fill in seconds."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.drivers.mysql import find_mariadbd
from gureum.testing.server import RunningGureum

from .rds_support import PASSWORD, create, mysql, no_postgres, psql, wait_status

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    from gureum.testing.server import running_gureum

    with running_gureum(env={"GUREUM_RDS_GIB_BYTES": str(4 * MIB)}) as g:
        yield g


def fill_until_full(rds: Any, id: str, write: Callable[[], None], steps: int = 40) -> None:
    """Write ~4 MiB at a time until the instance says storage-full (bounded)."""
    for _ in range(steps):
        write()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            db = rds.describe_db_instances(DBInstanceIdentifier=id)["DBInstances"][0]
            if db["DBInstanceStatus"] == "storage-full":
                return
            time.sleep(0.2)
    wait_status(rds, id, "storage-full", timeout=15)


def grow(rds: Any, id: str) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:  # never smaller
        rds.modify_db_instance(DBInstanceIdentifier=id, AllocatedStorage=19,
                               ApplyImmediately=True)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    rds.modify_db_instance(DBInstanceIdentifier=id, AllocatedStorage=200, ApplyImmediately=True)
    deadline = time.monotonic() + 60
    while True:
        db: dict[str, Any] = wait_status(rds, id)
        if db["AllocatedStorage"] == 200:
            return db
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")
def test_postgres_storage_full_then_grown(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    create(rds, "pg-small", BackupRetentionPeriod=0)
    db = wait_status(rds, "pg-small")
    psql(db, "CREATE TABLE filler (s text); ALTER TABLE filler ALTER s SET STORAGE EXTERNAL")
    fill_until_full(rds, "pg-small", lambda: psql(
        db, "INSERT INTO filler SELECT repeat(md5(g::text), 64) FROM generate_series(1, 1500) g",
        check=False))
    refused = psql(db, "INSERT INTO filler VALUES ('more')", check=False)
    assert refused.returncode != 0 and "read-only" in refused.stderr
    assert int(psql(db, "SELECT count(*) FROM filler").stdout) > 0  # reads still work
    events = rds.describe_events(SourceIdentifier="pg-small", SourceType="db-instance")
    assert any("allocated storage" in e["Message"] for e in events["Events"])
    db = grow(rds, "pg-small")
    psql(db, "INSERT INTO filler VALUES ('more')")
    rds.delete_db_instance(DBInstanceIdentifier="pg-small", SkipFinalSnapshot=True)


@pytest.mark.skipif(find_mariadbd() is None or shutil.which("mysql") is None,
                    reason="MariaDB is not installed")
def test_mariadb_storage_full_then_grown(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="maria-small", Engine="mariadb", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="admin", MasterUserPassword=PASSWORD,
        DBName="app", BackupRetentionPeriod=0)
    db = wait_status(rds, "maria-small")
    assert mysql(db, "CREATE TABLE filler (s LONGTEXT)").returncode == 0
    fill_until_full(rds, "maria-small", lambda: mysql(
        db, "INSERT INTO filler SELECT REPEAT(MD5(seq), 1024) FROM seq_1_to_128"))
    refused = mysql(db, "INSERT INTO filler VALUES ('more')")
    assert refused.returncode != 0 and "read-only" in refused.stderr
    assert mysql(db, "SELECT COUNT(*) > 0 FROM filler").stdout.strip() == "1"
    db = grow(rds, "maria-small")
    out = mysql(db, "INSERT INTO filler VALUES ('more')")
    assert out.returncode == 0, out.stderr
    rds.delete_db_instance(DBInstanceIdentifier="maria-small", SkipFinalSnapshot=True)
