"""RDS backup storage on the bill, end to end: a real PostgreSQL instance, its
automated backup and manual snapshots taken through boto3, measured on disk
by the meter, and Cost Explorer showing what goes beyond the free amount (the
provisioned storage) as ``RDS:ChargedBackupUsage``. One GiB is made 4 MiB
here (GUREUM_RDS_GIB_BYTES), as the storage quota is, so that a few snapshots
go past 20 GiB."""

from __future__ import annotations

import calendar
import datetime as dt
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gureum.services.billing.pricelist import prices
from gureum.testing.server import RunningGureum, running_gureum

from .rds_support import create, engine_pids, no_postgres, wait_gone, wait_snapshot, wait_status

pytestmark = pytest.mark.skipif(no_postgres, reason="PostgreSQL is not installed")

MIB = 1 << 20
GIB_HERE = 4 * MIB
USAGE = "RDS:ChargedBackupUsage"


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with running_gureum(env={"GUREUM_RDS_GIB_BYTES": str(GIB_HERE),
                             "GUREUM_METER_INTERVAL": "0.5"}) as g:
        data_dir = g.data_dir
        try:
            yield g
        finally:
            g.stop()
    deadline = time.monotonic() + 10
    while engine_pids(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine_pids(data_dir) == [], "postgres processes outlived gureum"


def backup_bytes(data_dir: Path) -> int:
    """What the snapshots, base backups and WAL archive take, as ``du -b`` counts files."""
    total = 0
    for part in ("snapshots", "backups", "archive"):
        for top, _, files in os.walk(data_dir / "rds" / part):
            total += sum(os.lstat(os.path.join(top, f)).st_size for f in files)
    return total


def today() -> dict[str, str]:
    day = dt.datetime.now(dt.UTC).date()
    return {"Start": str(day - dt.timedelta(days=1)), "End": str(day + dt.timedelta(days=1))}


def charged(g: RunningGureum) -> tuple[Decimal, Decimal]:
    """(GB-months, USD) of charged backup storage, from Cost Explorer."""
    out = g.client("ce").get_cost_and_usage(
        TimePeriod=today(), Granularity="DAILY", Metrics=["UsageQuantity", "UnblendedCost"],
        Filter={"Dimensions": {"Key": "USAGE_TYPE", "Values": [USAGE]}})
    qty = sum((Decimal(r["Total"]["UsageQuantity"]["Amount"]) for r in out["ResultsByTime"]),
              Decimal(0))
    cost = sum((Decimal(r["Total"]["UnblendedCost"]["Amount"]) for r in out["ResultsByTime"]),
               Decimal(0))
    return qty, cost


def test_snapshots_beyond_the_provisioned_storage_are_charged(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    create(rds, "billed", AllocatedStorage=20, BackupRetentionPeriod=1)
    wait_status(rds, "billed", timeout=120)
    assert charged(cloud) == (0, 0)  # an automated backup well within the free 20 GiB
    free = 20 * GIB_HERE
    assert 0 < backup_bytes(cloud.data_dir) < free
    # Manual snapshots until the backups take more than the provisioned storage.
    taken: list[str] = []
    started = time.time()  # the last moment nothing was beyond the free amount
    while backup_bytes(cloud.data_dir) <= free + 2 * GIB_HERE:
        assert len(taken) < 12, backup_bytes(cloud.data_dir)
        if backup_bytes(cloud.data_dir) <= free:
            started = time.time()
        name = f"keep-{len(taken)}"
        rds.create_db_snapshot(DBInstanceIdentifier="billed", DBSnapshotIdentifier=name)
        wait_snapshot(rds, name, timeout=120)
        taken.append(name)
    peak = backup_bytes(cloud.data_dir)
    time.sleep(2.0)
    qty, cost = charged(cloud)
    # A tick applies what it measures back to the tick before (0.5 s apart),
    # which may be before ``started``.
    elapsed = time.time() - started + 0.5
    peak = max(peak, backup_bytes(cloud.data_dir))
    now = dt.datetime.now(dt.UTC)
    month_hours = calendar.monthrange(now.year, now.month)[1] * 24
    assert qty > 0
    # No more than the most that was ever beyond the free amount, for as long
    # as anything was.
    assert float(qty) <= (peak - free) / GIB_HERE * elapsed / (month_hours * 3600)
    product = prices().product("AmazonRDS", USAGE)
    assert product is not None
    assert cost == pytest.approx(qty * Decimal(str(product.tiers[0].price)),
                                 abs=Decimal("1e-9"))
    by_type = cloud.client("ce").get_cost_and_usage(
        TimePeriod=today(), Granularity="DAILY", Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    types = {g["Keys"][0] for r in by_type["ResultsByTime"] for g in r["Groups"]}
    assert {USAGE, "InstanceUsage:db.t3.micro", "RDS:GP2-Storage"} <= types

    # The snapshots deleted: the backups are within the free amount again and
    # the charge stops growing.
    for name in taken:
        rds.delete_db_snapshot(DBSnapshotIdentifier=name)
    deadline = time.monotonic() + 60
    while rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert backup_bytes(cloud.data_dir) < free
    before = charged(cloud)
    time.sleep(1.5)
    assert charged(cloud) == before


def test_deleting_the_instance_leaves_its_snapshot_charged(cloud: RunningGureum) -> None:
    rds = cloud.client("rds")
    create(rds, "gone", AllocatedStorage=20, BackupRetentionPeriod=0)
    wait_status(rds, "gone", timeout=120)
    for other in rds.describe_db_instances()["DBInstances"]:
        if other["DBInstanceIdentifier"] != "gone":
            rds.delete_db_instance(DBInstanceIdentifier=other["DBInstanceIdentifier"],
                                   SkipFinalSnapshot=True)
            wait_gone(rds, other["DBInstanceIdentifier"], timeout=120)
    before, _ = charged(cloud)
    rds.delete_db_instance(DBInstanceIdentifier="gone", SkipFinalSnapshot=False,
                           FinalDBSnapshotIdentifier="gone-final")
    wait_gone(rds, "gone", timeout=120)
    snap: dict[str, Any] = wait_snapshot(rds, "gone-final")
    assert snap["SnapshotType"] == "manual"
    # No provisioned storage left in the region: all of the snapshot is charged.
    time.sleep(1.5)
    after, _ = charged(cloud)
    assert after > before
