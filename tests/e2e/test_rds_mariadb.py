"""MariaDB DB instances (engines ``mariadb`` and ``mysql``) end to end: create
→ available through a first backup, the ``mysql`` client connects to the
endpoint with the master credentials and writes, the engine versions say
what is installed, and no server outlives gureum."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.drivers.mysql import find_mariadbd
from gureum.testing.server import RunningGureum, running_gureum

from .rds_support import PASSWORD, engine_pids, wait_gone, wait_status

pytestmark = pytest.mark.skipif(find_mariadbd() is None or shutil.which("mysql") is None,
                                reason="MariaDB is not installed")


def server_pids(data_dir: Path) -> list[int]:
    return engine_pids(data_dir, (b"mariadbd",))


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with running_gureum() as g:
        data_dir = g.data_dir
        yield g
    deadline = time.monotonic() + 15
    while server_pids(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server_pids(data_dir) == [], "mariadbd processes outlived gureum"


def mysql(db: dict[str, Any], sql: str, password: str = PASSWORD
          ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYSQL_PWD": password}
    return subprocess.run(
        ["mysql", "--no-defaults", "-h", db["Endpoint"]["Address"],
         "-P", str(db["Endpoint"]["Port"]), "-u", "admin", "-N", "-B", "app", "-e", sql],
        capture_output=True, text=True, env=env, timeout=30)


@pytest.mark.parametrize("engine", ["mariadb", "mysql"])
def test_create_connect_and_write(cloud: RunningGureum, engine: str) -> None:
    rds = cloud.client("rds")
    id = f"{engine}-db"
    started = time.monotonic()
    created = rds.create_db_instance(
        DBInstanceIdentifier=id, Engine=engine, DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="admin", MasterUserPassword=PASSWORD,
        DBName="app")["DBInstance"]
    assert created["DBInstanceStatus"] == "creating" and created["Engine"] == engine
    db = wait_status(rds, id)
    took = time.monotonic() - started
    assert db["Endpoint"]["Port"] == 3306
    assert db["LicenseModel"] == "general-public-license"
    out = mysql(db, "CREATE TABLE t (x INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);"
                    " SELECT SUM(x) FROM t;")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    assert mysql(db, "SELECT 1", password="wrong-password").returncode != 0
    assert took < 30, took
    rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True)
    wait_gone(rds, id)


def test_engine_versions_name_what_is_installed(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    versions = rds.describe_db_engine_versions(Engine="mariadb")["DBEngineVersions"]
    assert [v["Engine"] for v in versions] == ["mariadb"]
    assert versions[0]["EngineVersion"][0].isdigit()
    assert versions[0]["SupportsReadReplica"] is True
    bad = rds.exceptions.ClientError
    with pytest.raises(bad) as err:
        rds.create_db_instance(
            DBInstanceIdentifier="bad-class", Engine="mariadb", DBInstanceClass="db.x9.huge",
            AllocatedStorage=20, MasterUsername="admin", MasterUserPassword=PASSWORD)
    assert err.value.response["Error"]["Code"] == "InvalidParameterCombination"
