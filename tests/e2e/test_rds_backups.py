"""Backups, restores, replicas and failover of real PostgreSQL servers, end to
end through boto3 and psql: snapshot then restore (old rows only), restore
to a point in time between two commits (exactly the rows before it), a read
replica that streams and refuses writes, promoted; a Multi-AZ instance that
fails over keeping its endpoint and its data, and keeps taking writes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .rds_support import (
    create,
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
def source(rds: Any) -> dict[str, Any]:
    create(rds, "source", BackupRetentionPeriod=7)
    db = wait_status(rds, "source")
    assert db["LatestRestorableTime"]
    psql(db, "CREATE TABLE items (n int)")
    return db


def rows(db: dict[str, Any], table: str = "items") -> list[int]:
    out = psql(db, f"SELECT n FROM {table} ORDER BY n").stdout.split()
    return [int(x) for x in out]


def delete(rds: Any, id: str) -> None:
    rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True)
    wait_gone(rds, id)


def test_snapshot_restores_old_rows_only(rds: Any, source: dict[str, Any]) -> None:
    psql(source, "INSERT INTO items VALUES (1), (2)")
    snap = rds.create_db_snapshot(DBInstanceIdentifier="source",
                                  DBSnapshotIdentifier="snap-one")["DBSnapshot"]
    assert snap["Status"] == "creating"
    wait_snapshot(rds, "snap-one")
    psql(source, "INSERT INTO items VALUES (3)")
    with pytest.raises(ClientError) as e:
        rds.create_db_snapshot(DBInstanceIdentifier="source", DBSnapshotIdentifier="snap-one")
    assert e.value.response["Error"]["Code"] == "DBSnapshotAlreadyExists"
    listed = rds.describe_db_snapshots(DBInstanceIdentifier="source")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in listed] == ["snap-one"]
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="from-snap",
                                             DBSnapshotIdentifier="snap-one")
    restored = wait_status(rds, "from-snap")
    assert restored["Endpoint"]["Address"] != source["Endpoint"]["Address"]
    assert rows(restored) == [1, 2]
    assert rows(source) == [1, 2, 3]
    delete(rds, "from-snap")
    rds.delete_db_snapshot(DBSnapshotIdentifier="snap-one")


def test_copied_snapshot_restores_and_outlives_its_source(rds: Any,
                                                          source: dict[str, Any]) -> None:
    psql(source, "CREATE TABLE copied (n int); INSERT INTO copied VALUES (7)")
    rds.create_db_snapshot(DBInstanceIdentifier="source", DBSnapshotIdentifier="to-copy",
                           Tags=[{"Key": "team", "Value": "data"}])
    original = wait_snapshot(rds, "to-copy")
    psql(source, "INSERT INTO copied VALUES (8)")
    copy = rds.copy_db_snapshot(SourceDBSnapshotIdentifier=original["DBSnapshotArn"],
                                TargetDBSnapshotIdentifier="the-copy", CopyTags=True,
                                Tags=[{"Key": "kind", "Value": "copy"}])["DBSnapshot"]
    assert copy["SourceDBSnapshotIdentifier"] == original["DBSnapshotArn"]
    copied = wait_snapshot(rds, "the-copy")
    assert copied["SnapshotType"] == "manual"
    assert {t["Key"]: t["Value"] for t in copied["TagList"]} == {"team": "data",
                                                                  "kind": "copy"}
    for source_id, target, code in (("to-copy", "the-copy", "DBSnapshotAlreadyExists"),
                                    ("no-such-snap", "other", "DBSnapshotNotFound")):
        with pytest.raises(ClientError) as e:
            rds.copy_db_snapshot(SourceDBSnapshotIdentifier=source_id,
                                 TargetDBSnapshotIdentifier=target)
        assert e.value.response["Error"]["Code"] == code
    rds.delete_db_snapshot(DBSnapshotIdentifier="to-copy")
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="from-copy",
                                             DBSnapshotIdentifier="the-copy")
    restored = wait_status(rds, "from-copy")
    assert rows(restored, "copied") == [7]
    delete(rds, "from-copy")
    rds.delete_db_snapshot(DBSnapshotIdentifier="the-copy")
    with pytest.raises(rds.exceptions.DBSnapshotNotFoundFault):
        for _ in range(100):
            rds.describe_db_snapshots(DBSnapshotIdentifier="snap-one")
            time.sleep(0.05)


def test_point_in_time_restore_between_two_commits(rds: Any, source: dict[str, Any]) -> None:
    psql(source, "CREATE TABLE pitr (n int); INSERT INTO pitr VALUES (10), (11)")
    between = time.time()
    psql(source, "INSERT INTO pitr VALUES (12)")
    started = time.monotonic()
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="source", TargetDBInstanceIdentifier="at-time",
        RestoreTime=between)
    restored = wait_status(rds, "at-time")
    elapsed = time.monotonic() - started
    assert rows(restored, "pitr") == [10, 11]
    assert elapsed < 30, elapsed
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="source", TargetDBInstanceIdentifier="at-latest",
        UseLatestRestorableTime=True)
    latest = wait_status(rds, "at-latest")
    assert rows(latest, "pitr") == [10, 11, 12]
    backups = rds.describe_db_instance_automated_backups(DBInstanceIdentifier="source")[
        "DBInstanceAutomatedBackups"]
    assert backups[0]["DbiResourceId"] == source["DbiResourceId"]
    assert backups[0]["RestoreWindow"]["EarliestTime"]
    with pytest.raises(ClientError) as e:
        rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier="source", TargetDBInstanceIdentifier="too-early",
            RestoreTime=time.time() - 86400)
    assert e.value.response["Error"]["Code"] == "InvalidRestoreFault"
    with pytest.raises(ClientError) as e:
        rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier="source", TargetDBInstanceIdentifier="both",
            RestoreTime=between, UseLatestRestorableTime=True)
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"
    delete(rds, "at-time")
    delete(rds, "at-latest")


def test_read_replica_streams_refuses_writes_and_promotes(rds: Any,
                                                          source: dict[str, Any]) -> None:
    psql(source, "CREATE TABLE repl (n int); INSERT INTO repl VALUES (1)")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="replica",
                                        SourceDBInstanceIdentifier="source")
    replica = wait_status(rds, "replica")
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == "source"
    src = rds.describe_db_instances(DBInstanceIdentifier="source")["DBInstances"][0]
    assert src["ReadReplicaDBInstanceIdentifiers"] == ["replica"]
    assert rows(replica, "repl") == [1]
    psql(source, "INSERT INTO repl VALUES (2)")
    deadline = time.monotonic() + 10
    while rows(replica, "repl") != [1, 2]:
        assert time.monotonic() < deadline, "the write never reached the replica"
        time.sleep(0.05)
    refused = psql(replica, "INSERT INTO repl VALUES (3)", check=False)
    assert refused.returncode != 0 and "read-only" in refused.stderr
    rds.promote_read_replica(DBInstanceIdentifier="replica")
    promoted = wait_status(rds, "replica")
    assert "ReadReplicaSourceDBInstanceIdentifier" not in promoted
    psql(promoted, "INSERT INTO repl VALUES (3)")
    assert rows(promoted, "repl") == [1, 2, 3]
    assert rows(source, "repl") == [1, 2]
    delete(rds, "replica")


def test_multi_az_failover_keeps_endpoint_and_data(rds: Any) -> None:
    create(rds, "ha", MultiAZ=True, BackupRetentionPeriod=1)
    db = wait_status(rds, "ha")
    assert db["MultiAZ"] is True
    zone = db["AvailabilityZone"]
    psql(db, "CREATE TABLE ha (n int); INSERT INTO ha VALUES (1)")
    started = time.monotonic()
    rds.reboot_db_instance(DBInstanceIdentifier="ha", ForceFailover=True)
    after = wait_status(rds, "ha")
    failover = time.monotonic() - started
    assert after["Endpoint"] == db["Endpoint"]
    assert after["AvailabilityZone"] == db["SecondaryAvailabilityZone"] != zone
    assert rows(after, "ha") == [1]
    psql(after, "INSERT INTO ha VALUES (2)")
    assert rows(after, "ha") == [1, 2]
    assert failover < 30, failover
    events = rds.describe_events(SourceIdentifier="ha", SourceType="db-instance")["Events"]
    assert any("failover" in e["Message"] for e in events)
    delete(rds, "ha")
