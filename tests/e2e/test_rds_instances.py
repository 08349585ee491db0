"""DB instances that really run PostgreSQL, end to end through boto3, psql
and the AWS CLI: create → available, connect with the master credentials,
errors, filters and pagination, modify (password, class), stop/start,
reboot, delete with and without a final snapshot, and no server left behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .rds_support import (
    PASSWORD,
    create,
    engine_pids,
    no_postgres,
    psql,
    rds_gureum,
    wait_gone,
    wait_snapshot,
    wait_status,
)

pytestmark = pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with rds_gureum() as g:
        yield g


@pytest.fixture(scope="module")
def rds(cloud: RunningGureum) -> Any:
    return cloud.client("rds")


@pytest.fixture(scope="module")
def db(rds: Any) -> dict[str, Any]:
    created = create(rds, "main-db", Tags=[{"Key": "team", "Value": "core"}],
                     BackupRetentionPeriod=0)
    assert created["DBInstanceStatus"] == "creating"
    assert "MasterUserPassword" not in json.dumps(created, default=str)
    return wait_status(rds, "main-db")


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_then_psql_with_master_credentials(db: dict[str, Any]) -> None:
    assert db["Endpoint"]["Address"].startswith("main-db.")
    assert db["Endpoint"]["Address"].endswith(".us-east-1.rds.localhost")
    assert db["Endpoint"]["Port"] == 5432
    assert db["Engine"] == "postgres" and db["EngineVersion"].startswith("15")
    assert db["DBName"] == "app" and db["MasterUsername"] == "master"
    assert db["TagList"] == [{"Key": "team", "Value": "core"}]
    psql(db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2);")
    assert psql(db, "SELECT sum(x) FROM t").stdout.strip() == "3"
    assert psql(db, "SELECT 1", password="wrong-password", check=False).returncode != 0


def test_engine_versions_and_no_password_in_log(cloud: RunningGureum, rds: Any,
                                                 db: dict[str, Any]) -> None:
    versions = rds.describe_db_engine_versions(Engine="postgres")["DBEngineVersions"]
    assert [v["EngineVersion"] for v in versions] == [db["EngineVersion"]]
    assert PASSWORD not in cloud.log_path.read_text(errors="replace")


def test_own_port_and_cli(cloud: RunningGureum, rds: Any) -> None:
    # AWS CLI v1's rds commands do not read AWS_ENDPOINT_URL: say it explicitly.
    out = cloud.aws("--endpoint-url", cloud.endpoint, "rds", "create-db-instance",
                    "--db-instance-identifier", "cli-db",
                    "--engine", "postgres", "--db-instance-class", "db.t3.small",
                    "--allocated-storage", "20", "--master-username", "admin1",
                    "--master-user-password", PASSWORD, "--port", "6543",
                    "--backup-retention-period", "0", check=True)
    assert json.loads(out.stdout)["DBInstance"]["DBInstanceStatus"] == "creating"
    db = wait_status(rds, "cli-db")
    assert db["Endpoint"]["Port"] == 6543
    assert psql(db, "SELECT current_user", user="admin1", database="postgres"
                ).stdout.strip() == "admin1"
    listed = json.loads(cloud.aws("--endpoint-url", cloud.endpoint, "rds",
                                  "describe-db-instances", "--db-instance-identifier",
                                  "cli-db", check=True).stdout)
    assert listed["DBInstances"][0]["DBInstanceClass"] == "db.t3.small"
    rds.delete_db_instance(DBInstanceIdentifier="cli-db", SkipFinalSnapshot=True)
    wait_gone(rds, "cli-db")


def test_errors(rds: Any, db: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as e:
        create(rds, "main-db")
    assert code(e) == "DBInstanceAlreadyExists"
    with pytest.raises(rds.exceptions.DBInstanceNotFoundFault):
        rds.describe_db_instances(DBInstanceIdentifier="nope")
    bad: list[tuple[dict[str, Any], str]] = [
        ({"DBInstanceIdentifier": "1bad"}, "InvalidParameterValue"),
        ({"DBInstanceIdentifier": "x--y"}, "InvalidParameterValue"),
        ({"Engine": "oracle-ee"}, "InvalidParameterValue"),
        ({"EngineVersion": "9.6"}, "InvalidParameterCombination"),
        ({"DBInstanceClass": "db.huge"}, "InvalidParameterCombination"),
        ({"AllocatedStorage": 5}, "InvalidParameterValue"),
        ({"MasterUserPassword": "short"}, "InvalidParameterValue"),
        ({"MasterUserPassword": "has a space"}, "InvalidParameterValue"),
        ({"MasterUsername": "postgres"}, "InvalidParameterValue"),
        ({"Port": 80}, "InvalidParameterValue"),
        ({"BackupRetentionPeriod": 36}, "InvalidParameterValue"),
    ]
    for i, (override, expected) in enumerate(bad):
        params = {"DBInstanceIdentifier": f"bad-{i}", **override}
        with pytest.raises(ClientError) as e:
            create(rds, params.pop("DBInstanceIdentifier"), **params)
        assert code(e) == expected, override
    with pytest.raises(ClientError) as e:
        rds.start_db_instance(DBInstanceIdentifier="main-db")
    assert code(e) == "InvalidDBInstanceState"
    with pytest.raises(ClientError) as e:
        rds.delete_db_instance(DBInstanceIdentifier="main-db")
    assert code(e) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        rds.reboot_db_instance(DBInstanceIdentifier="main-db", ForceFailover=True)
    assert code(e) == "InvalidParameterCombination"


def test_tags(rds: Any, db: dict[str, Any]) -> None:
    arn = db["DBInstanceArn"]
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "env", "Value": "test"}])
    tags = rds.list_tags_for_resource(ResourceName=arn)["TagList"]
    assert {"Key": "env", "Value": "test"} in tags
    rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["env"])
    assert rds.list_tags_for_resource(ResourceName=arn)["TagList"] == [
        {"Key": "team", "Value": "core"}]
    tagged = rds.describe_db_instances(
        Filters=[{"Name": "engine", "Values": ["postgres"]}])["DBInstances"]
    assert "main-db" in [d["DBInstanceIdentifier"] for d in tagged]


def test_filters_and_pagination(rds: Any, db: dict[str, Any]) -> None:
    by_id = rds.describe_db_instances(
        Filters=[{"Name": "db-instance-id", "Values": ["main-db"]}])["DBInstances"]
    assert [d["DBInstanceIdentifier"] for d in by_id] == ["main-db"]
    by_engine = rds.describe_db_instances(
        Filters=[{"Name": "engine", "Values": ["mysql"]}])["DBInstances"]
    assert by_engine == []
    with pytest.raises(ClientError) as e:
        rds.describe_db_instances(Filters=[{"Name": "colour", "Values": ["red"]}])
    assert code(e) == "InvalidParameterValue"
    pages = rds.get_paginator("describe_db_instances").paginate(
        PaginationConfig={"PageSize": 20})
    ids = [d["DBInstanceIdentifier"] for p in pages for d in p["DBInstances"]]
    assert "main-db" in ids and len(ids) == len(set(ids))


def test_modify_password_and_class(rds: Any, db: dict[str, Any]) -> None:
    new_password = "An0ther-Passw0rd"
    rds.modify_db_instance(DBInstanceIdentifier="main-db", MasterUserPassword=new_password,
                           ApplyImmediately=True)
    wait_status(rds, "main-db")
    assert psql(db, "SELECT 1", password=new_password).stdout.strip() == "1"
    assert psql(db, "SELECT 1", check=False).returncode != 0
    out = rds.modify_db_instance(DBInstanceIdentifier="main-db", DBInstanceClass="db.t3.large",
                                 ApplyImmediately=True)["DBInstance"]
    assert out["DBInstanceStatus"] == "modifying"
    assert out["PendingModifiedValues"]["DBInstanceClass"] == "db.t3.large"
    done = wait_status(rds, "main-db")
    assert done["DBInstanceClass"] == "db.t3.large" and done["PendingModifiedValues"] == {}
    # The class was applied to the server (RDS's max_connections formula, capped).
    assert psql(db, "SHOW effective_cache_size", password=new_password).stdout.strip() == \
        "6GB"
    assert psql(db, "SELECT sum(x) FROM t", password=new_password).stdout.strip() == "3"
    rds.modify_db_instance(DBInstanceIdentifier="main-db", MasterUserPassword=PASSWORD,
                           ApplyImmediately=True)
    wait_status(rds, "main-db")


def test_stop_start_reboot_keep_data(rds: Any, db: dict[str, Any]) -> None:
    assert rds.stop_db_instance(DBInstanceIdentifier="main-db")["DBInstance"][
        "DBInstanceStatus"] == "stopping"
    wait_status(rds, "main-db", "stopped")
    assert psql(db, "SELECT 1", check=False).returncode != 0
    rds.start_db_instance(DBInstanceIdentifier="main-db")
    wait_status(rds, "main-db")
    assert psql(db, "SELECT sum(x) FROM t").stdout.strip() == "3"
    assert rds.reboot_db_instance(DBInstanceIdentifier="main-db")["DBInstance"][
        "DBInstanceStatus"] == "rebooting"
    wait_status(rds, "main-db")
    assert psql(db, "SELECT sum(x) FROM t").stdout.strip() == "3"


def test_deletion_protection_and_final_snapshot(cloud: RunningGureum, rds: Any) -> None:
    create(rds, "guarded", DeletionProtection=True, BackupRetentionPeriod=0)
    db = wait_status(rds, "guarded")
    psql(db, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('last words');")
    with pytest.raises(ClientError) as e:
        rds.delete_db_instance(DBInstanceIdentifier="guarded", SkipFinalSnapshot=True)
    assert code(e) == "InvalidParameterValue"
    rds.modify_db_instance(DBInstanceIdentifier="guarded", DeletionProtection=False)
    out = rds.delete_db_instance(DBInstanceIdentifier="guarded",
                                 FinalDBSnapshotIdentifier="guarded-final")["DBInstance"]
    assert out["DBInstanceStatus"] == "deleting"
    wait_gone(rds, "guarded")
    snap = wait_snapshot(rds, "guarded-final")
    assert snap["DBInstanceIdentifier"] == "guarded" and snap["SnapshotType"] == "manual"
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="guarded-back",
                                             DBSnapshotIdentifier="guarded-final")
    back = wait_status(rds, "guarded-back")
    assert psql(back, "SELECT v FROM kept").stdout.strip() == "last words"
    rds.delete_db_instance(DBInstanceIdentifier="guarded-back", SkipFinalSnapshot=True)
    wait_gone(rds, "guarded-back")
    rds.delete_db_snapshot(DBSnapshotIdentifier="guarded-final")
    assert len(engine_pids(cloud.data_dir)) > 0  # main-db still runs
