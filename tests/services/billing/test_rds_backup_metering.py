"""RDS backup storage with the fake clock: what an account's snapshots and
automated backups take on disk beyond its provisioned storage in the region
is billed as ``RDS:ChargedBackupUsage`` GB-months, as AWS bills it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gureum.services.billing.pricelist import prices
from gureum.services.rds.core import AUTOMATED, INSTANCE, SNAPSHOT

from .conftest import ACCOUNT, Harness

GIB = 1 << 30
USAGE = "RDS:ChargedBackupUsage"
PRODUCT = prices().product("AmazonRDS", USAGE)
assert PRODUCT is not None
PER_GB_MONTH = PRODUCT.tiers[0].price
MARCH_HOURS = 31 * 24


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk (the meter counts its size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def put(h: Harness, kind: str, id: str, doc: dict[str, object], region: str = "us-east-1",
        account: str = ACCOUNT) -> None:
    with h.store.tx():
        h.store.resources.put(kind, account, region, id, doc)


def instance(h: Harness, id: str, storage: int, region: str = "us-east-1",
             status: str = "available") -> None:
    put(h, INSTANCE, id, {"id": id, "status": status, "class": "db.t3.micro",
                          "engine": "postgres", "storage": storage, "multi_az": False,
                          "resource_id": f"db-{id.upper()}"}, region)


def snapshot(h: Harness, tmp: Path, id: str, size: int, region: str = "us-east-1",
             status: str = "available") -> None:
    path = tmp / "rds" / "snapshots" / ACCOUNT / region / id
    sparse(path / "base.tar", size)
    put(h, SNAPSHOT, id, {"id": id, "status": status, "type": "manual",
                          "path": str(path)}, region)


def automated(h: Harness, tmp: Path, resource: str, bases: list[int], archived: int,
              region: str = "us-east-1") -> None:
    backups = []
    for n, size in enumerate(bases):
        path = tmp / "rds" / "backups" / resource / str(n)
        sparse(path / "base.tar", size)
        backups.append({"path": str(path), "time": float(n)})
    sparse(tmp / "rds" / "archive" / resource / "000000010000000000000001", archived)
    put(h, AUTOMATED, resource, {"resource_id": resource, "status": "active",
                                 "backups": backups}, region)


def charged(h: Harness, region: str | None = None) -> tuple[float, float]:
    sql = ("SELECT coalesce(sum(quantity), 0), coalesce(sum(cost), 0) FROM billing_usage"
           " WHERE usage_type = ?")
    args = [USAGE]
    if region is not None:
        sql += " AND region = ?"
        args.append(region)
    row = h.store.connection.execute(sql, args).fetchone()
    return float(row[0]), float(row[1])


def test_backups_beyond_the_provisioned_storage_are_billed_by_the_gb_month(
        h: Harness, tmp_path: Path) -> None:
    # 20 GB provisioned; 25 GiB of snapshot, 10 GiB of base backup and 3 GiB of
    # WAL: 38 GiB of backups, 18 beyond the free 20.
    instance(h, "db1", 20)
    snapshot(h, tmp_path, "snap1", 25 * GIB)
    automated(h, tmp_path, "db-DB1", [10 * GIB], 3 * GIB)
    h.advance(MARCH_HOURS * 3600 / 2, tick_every=3600)
    qty, cost = charged(h)
    assert qty == pytest.approx(9.0)  # 18 GB for half of March
    assert cost == pytest.approx(9.0 * PER_GB_MONTH)
    rows = h.store.connection.execute(
        "SELECT count(*), min(quantity), max(quantity), min(resource), max(resource)"
        " FROM billing_usage WHERE usage_type = ?", (USAGE,)).fetchone()
    assert rows[0] == MARCH_HOURS / 2  # a row per hour
    assert rows[1] == pytest.approx(18 / MARCH_HOURS) and rows[2] == pytest.approx(rows[1])
    assert rows[3] == rows[4] == ""  # the region's charge, no resource's


def test_backups_within_the_free_amount_cost_nothing(h: Harness, tmp_path: Path) -> None:
    instance(h, "db1", 20)
    instance(h, "db2", 100)
    snapshot(h, tmp_path, "snap1", 50 * GIB)
    automated(h, tmp_path, "db-DB1", [30 * GIB, 30 * GIB], 10 * GIB)  # 120 GiB in all
    h.advance(6 * 3600, tick_every=600)
    assert charged(h) == (0.0, 0.0)
    # A snapshot more goes 10 GiB past the 120 GB provisioned.
    snapshot(h, tmp_path, "snap2", 10 * GIB)
    h.advance(3600, tick_every=600)
    assert charged(h)[0] == pytest.approx(10 / MARCH_HOURS)


def test_the_free_amount_is_per_region_and_a_deleted_snapshot_stops_the_charge(
        h: Harness, tmp_path: Path) -> None:
    instance(h, "db1", 20)  # us-east-1 only: eu-west-1 has no free backup storage
    snapshot(h, tmp_path, "snap-eu", 4 * GIB, region="eu-west-1")
    snapshot(h, tmp_path, "snap-us", 4 * GIB)
    h.advance(3600, tick_every=300)
    assert charged(h, "eu-west-1")[0] == pytest.approx(4 / MARCH_HOURS)
    assert charged(h, "us-east-1") == (0.0, 0.0)
    # Deleted (the snapshot loop removes its files next): no longer billed.
    put(h, SNAPSHOT, "snap-eu", {"id": "snap-eu", "status": "deleted",
                                 "path": str(tmp_path / "rds/snapshots" / ACCOUNT /
                                             "eu-west-1/snap-eu")}, "eu-west-1")
    h.advance(3600, tick_every=300)
    assert charged(h, "eu-west-1")[0] == pytest.approx(4 / MARCH_HOURS)


def test_growing_wal_archive_is_measured_at_each_tick(h: Harness, tmp_path: Path) -> None:
    # No instance left (its automated backups retained): all of it is charged.
    automated(h, tmp_path, "db-GONE", [2 * GIB], 0)
    h.advance(3600, tick_every=600)
    assert charged(h)[0] == pytest.approx(2 / MARCH_HOURS)
    wal = tmp_path / "rds" / "archive" / "db-GONE" / "000000010000000000000002"
    sparse(wal, 1 * GIB)
    h.advance(3600, tick_every=600)
    assert charged(h)[0] == pytest.approx((2 + 3) / MARCH_HOURS)
    os.unlink(wal)
    h.advance(3600, tick_every=600)
    assert charged(h)[0] == pytest.approx((2 + 3 + 2) / MARCH_HOURS)
