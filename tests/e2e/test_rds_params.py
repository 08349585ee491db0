"""DB parameter groups on real servers: a group's values are in the server's
configuration from the start (psql ``SHOW``, mysql ``SELECT @@``), a dynamic
change is live in new sessions without a restart, a static one shows
``pending-reboot`` until RebootDBInstance applies it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.drivers.mysql import find_mariadbd
from gureum.testing.server import RunningGureum

from .rds_support import (
    create,
    mysql,
    no_postgres,
    psql,
    rds_gureum,
    wait_apply_status,
    wait_status,
)

no_mariadb = find_mariadbd() is None or shutil.which("mysql") is None


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with rds_gureum() as g:
        yield g


def family(rds: Any, engine: str) -> str:
    versions = rds.describe_db_engine_versions(Engine=engine)["DBEngineVersions"]
    return str(versions[0]["DBParameterGroupFamily"])


def set_params(rds: Any, group: str, *pairs: tuple[str, str, str]) -> None:
    rds.modify_db_parameter_group(DBParameterGroupName=group, Parameters=[
        {"ParameterName": n, "ParameterValue": v, "ApplyMethod": m} for n, v, m in pairs])


def show(db: dict[str, Any], name: str) -> str:
    return psql(db, f"SHOW {name}").stdout.strip()


@pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")
def test_postgres_group_dynamic_and_static(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    orderable = rds.describe_orderable_db_instance_options(
        Engine="postgres", DBInstanceClass="db.t3.micro")["OrderableDBInstanceOptions"]
    assert [o["DBInstanceClass"] for o in orderable] == ["db.t3.micro"]
    defaults = rds.describe_engine_default_parameters(
        DBParameterGroupFamily=family(rds, "postgres"))["EngineDefaults"]["Parameters"]
    assert {p["ParameterName"]: p["ApplyType"] for p in defaults}["max_connections"] == "static"
    rds.create_db_parameter_group(DBParameterGroupName="pg-tuned",
                                  DBParameterGroupFamily=family(rds, "postgres"),
                                  Description="tuned")
    set_params(rds, "pg-tuned", ("work_mem", "8192", "immediate"),
               ("max_connections", "50", "pending-reboot"))
    create(rds, "pg-params", DBParameterGroupName="pg-tuned", BackupRetentionPeriod=0)
    db = wait_status(rds, "pg-params")
    assert db["DBParameterGroups"] == [{"DBParameterGroupName": "pg-tuned",
                                        "ParameterApplyStatus": "in-sync"}]
    assert show(db, "work_mem") == "8MB" and show(db, "max_connections") == "50"

    set_params(rds, "pg-tuned", ("work_mem", "16384", "immediate"),
               ("max_connections", "60", "pending-reboot"))
    db = wait_apply_status(rds, "pg-params", "pending-reboot")
    assert show(db, "work_mem") == "16MB"  # live, no restart
    assert show(db, "max_connections") == "50"  # static: not yet
    rds.reboot_db_instance(DBInstanceIdentifier="pg-params")
    db = wait_apply_status(rds, "pg-params", "in-sync")
    assert show(db, "max_connections") == "60"

    rds.reset_db_parameter_group(DBParameterGroupName="pg-tuned", Parameters=[
        {"ParameterName": "work_mem", "ApplyMethod": "immediate"}])
    wait_apply_status(rds, "pg-params", "in-sync")
    assert show(db, "work_mem") == "4MB"
    with pytest.raises(ClientError) as err:
        rds.delete_db_parameter_group(DBParameterGroupName="pg-tuned")
    assert err.value.response["Error"]["Code"] == "InvalidDBParameterGroupState"
    rds.delete_db_instance(DBInstanceIdentifier="pg-params", SkipFinalSnapshot=True)


@pytest.mark.skipif(no_mariadb, reason="MariaDB is not installed")
def test_mariadb_group_dynamic_and_static(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    rds.create_db_parameter_group(DBParameterGroupName="maria-tuned",
                                  DBParameterGroupFamily=family(rds, "mariadb"),
                                  Description="tuned")
    set_params(rds, "maria-tuned", ("wait_timeout", "100", "immediate"))
    rds.create_db_instance(
        DBInstanceIdentifier="maria-params", Engine="mariadb", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="s3cret-Passw0rd",
        DBName="app", DBParameterGroupName="maria-tuned", BackupRetentionPeriod=0)
    db = wait_status(rds, "maria-params")

    def var(name: str) -> str:
        out = mysql(db, f"SELECT @@GLOBAL.{name}")
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert var("wait_timeout") == "100"
    set_params(rds, "maria-tuned", ("wait_timeout", "200", "immediate"),
               ("innodb_log_buffer_size", "33554432", "pending-reboot"))
    wait_apply_status(rds, "maria-params", "pending-reboot")
    assert var("wait_timeout") == "200"
    assert var("innodb_log_buffer_size") != "33554432"
    rds.reboot_db_instance(DBInstanceIdentifier="maria-params")
    wait_apply_status(rds, "maria-params", "in-sync")
    assert var("innodb_log_buffer_size") == "33554432" and var("wait_timeout") == "200"
    rds.delete_db_instance(DBInstanceIdentifier="maria-params", SkipFinalSnapshot=True)
