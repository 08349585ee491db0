"""Runs shorter than the meter's interval, with the fake clock: the meter
bills EC2 and RDS instance time from the starts and stops the records keep
(``billing_runs``), so a run that starts and stops between two ticks is
billed, and a stop and start within one tick has its own minimum (EC2 Linux:
60 seconds per start, RDS: ten minutes per start)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import gureum.services.rds  # noqa: F401  (registers the RDS usage source)
from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.drivers.names import MemoryNames
from gureum.drivers.postgres import FakePostgres
from gureum.services.base import Call, Env, Identity
from gureum.services.billing.meter import Meter
from gureum.services.billing.runs import note_run, runs_of
from gureum.services.common.addresses import AddressPool
from gureum.services.rds import RDS
from gureum.services.rds.core import DRIVER_KEY
from gureum.services.rds.metering import note
from gureum.store import Store

from .conftest import ACCOUNT, Harness

REGION = "us-east-1"
BOX = "BoxUsage:t3.micro"
MICRO = "InstanceUsage:db.t3.micro"
CALL = Call("rds", "CreateDBInstance", ACCOUNT, REGION, Identity.root(ACCOUNT), "req")


def wait(h: Harness, seconds: float) -> None:
    """Move the clock without a meter tick."""
    h.loop.run_until_complete(h.clock.advance(seconds))


def ec2(h: Harness, state: str, itype: str = "t3.micro") -> None:
    """Write the instance record as EC2 saves it (its runs noted)."""
    doc = h.store.resources.get("ec2:instance", ACCOUNT, REGION, "i-1") or {
        "id": "i-1", "account": ACCOUNT, "region": REGION, "launch_time": h.clock.now(),
        "tags": {}}
    doc.update(state=state, type=itype)
    note_run(doc, h.clock.now(), state == "running", itype)
    with h.store.tx():
        h.store.resources.put("ec2:instance", ACCOUNT, REGION, "i-1", doc)


def db(h: Harness, status: str, **kw: Any) -> None:
    """Write the DB instance record as RDS saves it (its runs noted)."""
    doc = h.store.resources.get("rds:instance", ACCOUNT, REGION, "db1") or {
        "id": "db1", "account": ACCOUNT, "region": REGION, "class": "db.t3.micro",
        "engine": "postgres", "multi_az": False, "storage": 20, "storage_type": "gp2",
        "tags": {}}
    doc.update(kw, status=status)
    note(doc, h.clock.now())
    with h.store.tx():
        h.store.resources.put("rds:instance", ACCOUNT, REGION, "db1", doc)


def hours(h: Harness, usage_type: str) -> float:
    return float(h.totals(usage_type).get(usage_type, (0.0, 0.0))[0])


def test_ec2_run_between_two_ticks_is_billed_its_minute(h: Harness) -> None:
    wait(h, 3)
    ec2(h, "running")
    wait(h, 8)  # up 8 seconds, then stopped, all before the next tick
    ec2(h, "stopped")
    h.advance(4 + 600, tick_every=15)
    assert hours(h, BOX) == pytest.approx(60 / 3600)


def test_ec2_stop_and_start_within_a_tick_each_start_a_new_minute(h: Harness) -> None:
    ec2(h, "running")
    h.advance(300, tick_every=15)
    wait(h, 2)
    ec2(h, "stopped")  # after 302 seconds
    wait(h, 3)
    ec2(h, "running")  # started again in the same tick: a minute of its own
    wait(h, 5)
    h.advance(15, tick_every=15)  # 20 seconds of the second run
    ec2(h, "stopped")
    h.advance(600, tick_every=15)
    assert hours(h, BOX) == pytest.approx((302 + 60) / 3600)


def test_ec2_three_short_runs_in_one_tick_and_a_long_one(h: Harness) -> None:
    for _ in range(3):
        ec2(h, "running")
        wait(h, 2)
        ec2(h, "stopped")
        wait(h, 2)
    ec2(h, "running")
    h.advance(3600 + 30, tick_every=15)  # on into the next hour
    ec2(h, "terminated")
    h.advance(120, tick_every=15)
    assert hours(h, BOX) == pytest.approx((3 * 60 + 3600 + 30) / 3600)
    per_hour = h.store.connection.execute(
        "SELECT count(DISTINCT hour) FROM billing_usage WHERE usage_type = ?", (BOX,)
    ).fetchone()[0]
    assert per_hour == 2


def test_ec2_a_run_already_ticked_is_billed_once(h: Harness) -> None:
    ec2(h, "running")
    h.advance(90, tick_every=15)
    wait(h, 7)
    ec2(h, "stopped")  # ends between ticks: billed up to the stop, not to the tick
    h.advance(600, tick_every=15)
    assert hours(h, BOX) == pytest.approx(97 / 3600)


def test_rds_run_between_two_ticks_is_billed_ten_minutes(h: Harness) -> None:
    db(h, "available")
    wait(h, 10)
    db(h, "stopped")
    h.advance(3600, tick_every=15)
    assert hours(h, MICRO) == pytest.approx(600 / 3600)


def test_rds_stop_and_start_within_a_tick_each_start_ten_minutes(h: Harness) -> None:
    db(h, "available")
    h.advance(1800, tick_every=15)
    wait(h, 1)
    db(h, "stopped")
    wait(h, 1)
    db(h, "available")  # a second start in the same tick
    wait(h, 1)
    db(h, "stopped")
    h.advance(3600, tick_every=15)
    assert hours(h, MICRO) == pytest.approx((1801 + 600) / 3600)


def test_rds_class_change_between_ticks_bills_each_class(h: Harness) -> None:
    db(h, "available")
    h.advance(1200, tick_every=15)
    wait(h, 5)
    db(h, "modifying", **{"class": "db.t3.small"})
    wait(h, 5)
    db(h, "stopped")
    h.advance(1200, tick_every=15)
    assert hours(h, MICRO) == pytest.approx(1205 / 3600)
    assert hours(h, "InstanceUsage:db.t3.small") == pytest.approx(600 / 3600)


def test_note_run_keeps_a_short_history() -> None:
    doc: dict[str, Any] = {}
    note_run(doc, 100.0, True, "a")
    note_run(doc, 110.0, True, "a")  # still on: the same run
    note_run(doc, 120.0, True, "b")  # another thing billed: a new run
    note_run(doc, 130.0, False, "b")
    note_run(doc, 140.0, False, "b")
    assert doc["billing_runs"] == [[100.0, 120.0, "a"], [120.0, 130.0, "b"]]
    note_run(doc, 130.0 + 8 * 86400, True, "b")  # ended runs a week old are dropped
    assert doc["billing_runs"] == [[130.0 + 8 * 86400, None, "b"]]
    # A record stopped before runs were kept: its state and last write tell.
    stopped: dict[str, Any] = {}
    note_run(stopped, 100.0, False)
    assert runs_of(stopped) is None


def test_rds_service_records_each_run_for_the_meter(tmp_path: Path) -> None:
    """Through RDS itself (its fake PostgreSQL driver, the fake clock): a DB
    instance created, stopped, started and stopped again, all between two
    meter ticks, pays ten minutes for each of its two runs."""

    async def main() -> float:
        clock = FakeClock()
        store = Store.open(tmp_path / "gureum.db")
        loops = LoopRunner()
        env = Env(settings=Settings(data_dir=tmp_path), store=store, clock=clock,
                  loops=loops, names=MemoryNames(),
                  addresses=AddressPool(store, "127.200"),
                  extras={DRIVER_KEY: FakePostgres()})
        rds = RDS(env)
        meter = Meter(env)
        await rds.start()
        loops.start()
        try:
            meter.tick()  # the meter's first tick: billing starts here
            ident = {"DBInstanceIdentifier": "db1"}
            rds.create_db_instance(CALL, {
                **ident, "Engine": "postgres", "DBInstanceClass": "db.t3.micro",
                "AllocatedStorage": 20, "MasterUsername": "master",
                "MasterUserPassword": "password1", "BackupRetentionPeriod": 0})

            async def until(status: str) -> None:
                for _ in range(200):
                    await clock.advance(0.5)
                    await loops.idle()
                    found = rds.describe_db_instances(CALL, ident)["DBInstances"][0]
                    if found["DBInstanceStatus"] == status:
                        return
                raise AssertionError(f"never {status}")

            await until("available")
            rds.stop_db_instance(CALL, ident)
            await until("stopped")
            rds.start_db_instance(CALL, ident)
            await until("available")
            rds.stop_db_instance(CALL, ident)
            await until("stopped")
            meter.tick()
            row = store.connection.execute(
                "SELECT sum(quantity) FROM billing_usage WHERE usage_type = ?",
                (MICRO,)).fetchone()
            return float(row[0] or 0)
        finally:
            await loops.stop()
            await rds.stop()
            store.close()

    assert asyncio.run(asyncio.wait_for(main(), 30)) == pytest.approx(2 * 600 / 3600)
