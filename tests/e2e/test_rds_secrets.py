"""RDS managed master passwords end to end: a PostgreSQL (and a MariaDB) DB
instance created with ManageMasterUserPassword, the secret read with boto3
and the AWS CLI, psql/mysql connecting with the password in it, a rotation
taking effect on the server, and the secret deleted with the instance."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.drivers.mysql import find_mariadbd
from gureum.testing.server import RunningGureum

from .rds_support import create, mysql, no_postgres, psql, rds_gureum, wait_gone, wait_status

no_mariadb = find_mariadbd() is None or shutil.which("mysql") is None


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with rds_gureum() as g:
        yield g


def secret(g: RunningGureum, arn: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(g.client("secretsmanager").get_secret_value(
        SecretId=arn)["SecretString"])
    return value


def wait_password(g: RunningGureum, db: dict[str, Any], password: str,
                  timeout: float = 30.0) -> None:
    """psql gets in with ``password`` (a modification is applied at once, but by the loop)."""
    deadline = time.monotonic() + timeout
    while psql(db, "SELECT 1", password=password, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the new password was not applied"
        time.sleep(0.2)


@pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")
def test_postgres_managed_password(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    made = rds.create_db_instance(
        DBInstanceIdentifier="pg-managed", Engine="postgres", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="master", ManageMasterUserPassword=True,
        DBName="app", BackupRetentionPeriod=0)["DBInstance"]
    arn = made["MasterUserSecret"]["SecretArn"]
    assert ":secret:rds!db-" in arn
    db = wait_status(rds, "pg-managed")
    assert db["MasterUserSecret"] == made["MasterUserSecret"]
    assert "MasterUserPassword" not in json.dumps(db, default=str)
    value = secret(cloud, arn)
    assert value["username"] == "master"
    assert psql(db, "SELECT current_user", password=value["password"]).stdout.strip() \
        == "master"
    assert psql(db, "SELECT 1", password="wrong-password", check=False).returncode != 0
    cli = cloud.aws("secretsmanager", "get-secret-value", "--secret-id", arn, "--query",
                    "SecretString", "--output", "text", check=True)
    assert json.loads(cli.stdout) == value

    with pytest.raises(ClientError) as exc:
        rds.modify_db_instance(DBInstanceIdentifier="pg-managed", MasterUserPassword="x" * 12)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterCombination"
    rds.modify_db_instance(DBInstanceIdentifier="pg-managed", RotateMasterUserPassword=True,
                           ApplyImmediately=True)
    rotated = secret(cloud, arn)
    assert rotated["password"] != value["password"]
    wait_password(cloud, db, rotated["password"])

    rds.delete_db_instance(DBInstanceIdentifier="pg-managed", SkipFinalSnapshot=True)
    with pytest.raises(ClientError) as exc:
        cloud.client("secretsmanager").describe_secret(SecretId=arn)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    wait_gone(rds, "pg-managed")


def test_password_with_managed_is_refused(cloud: RunningGureum) -> None:
    with pytest.raises(ClientError) as exc:
        create(cloud.client("rds"), "both", ManageMasterUserPassword=True)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.skipif(no_mariadb, reason="MariaDB is not installed")
def test_mariadb_managed_password(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    made = rds.create_db_instance(
        DBInstanceIdentifier="maria-managed", Engine="mariadb", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="admin", ManageMasterUserPassword=True,
        DBName="app", BackupRetentionPeriod=0)["DBInstance"]
    db = wait_status(rds, "maria-managed", timeout=120)
    value = secret(cloud, made["MasterUserSecret"]["SecretArn"])
    out = mysql(db, "SELECT CURRENT_USER()", password=value["password"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("admin@")
    assert mysql(db, "SELECT 1", password="wrong-password").returncode != 0
    rds.delete_db_instance(DBInstanceIdentifier="maria-managed", SkipFinalSnapshot=True)
    wait_gone(rds, "maria-managed", timeout=90)


@pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")
def test_point_in_time_restore_with_a_managed_password(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    create(rds, "pg-source")  # automated backups on, a password given
    source = wait_status(rds, "pg-source")
    psql(source, "CREATE TABLE t (n int); INSERT INTO t VALUES (1)")
    made = rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="pg-source", TargetDBInstanceIdentifier="pg-restored",
        UseLatestRestorableTime=True, ManageMasterUserPassword=True)["DBInstance"]
    arn = made["MasterUserSecret"]["SecretArn"]
    restored = wait_status(rds, "pg-restored")
    password = secret(cloud, arn)["password"]
    assert psql(restored, "SELECT n FROM t", password=password).stdout.split() == ["1"]
    # The source's password no longer opens the restored instance.
    assert psql(restored, "SELECT 1", check=False).returncode != 0
    for id in ("pg-restored", "pg-source"):
        rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True)
    for id in ("pg-restored", "pg-source"):
        wait_gone(rds, id)
    with pytest.raises(ClientError):
        cloud.client("secretsmanager").describe_secret(SecretId=arn)
