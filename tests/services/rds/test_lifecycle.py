"""The RDS instance loop against the fake PostgreSQL driver, with a fake
clock: status transitions, backups and WAL archiving on schedule, a dead
server restarted or failed over, failures, deletion, and reset."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.drivers.names import MemoryNames
from gureum.drivers.postgres import FakePostgres
from gureum.errors import AWSError
from gureum.services.base import Call, Env, Identity
from gureum.services.common.addresses import AddressPool
from gureum.services.rds import RDS
from gureum.services.rds.core import AUTOMATED, DRIVER_KEY
from gureum.services.rds.lifecycle import ARCHIVE_EVERY, BACKUP_EVERY, MAX_FAILURES
from gureum.store import Store

CALL = Call("rds", "CreateDBInstance", "000000000000", "us-east-1",
            Identity.root("000000000000"), "req")


class World:
    def __init__(self, tmp: Path) -> None:
        self.clock = FakeClock()
        self.driver = FakePostgres()
        self.store = Store.open(tmp / "gureum.db")
        self.loops = LoopRunner()
        self.names = MemoryNames()
        env = Env(settings=Settings(data_dir=tmp), store=self.store, clock=self.clock,
                  loops=self.loops, names=self.names,
                  addresses=AddressPool(self.store, "127.200"),
                  extras={DRIVER_KEY: self.driver})
        self.rds = RDS(env)

    async def settle(self, seconds: float = 0.5) -> None:
        await self.clock.advance(seconds)
        await self.loops.idle()

    def create(self, id: str = "db1", **kw: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "DBInstanceIdentifier": id, "Engine": "postgres", "DBInstanceClass": "db.t3.micro",
            "AllocatedStorage": 20, "MasterUsername": "master",
            "MasterUserPassword": "password1", "DBName": "app"}
        params.update(kw)
        out: dict[str, Any] = self.rds.create_db_instance(CALL, params)["DBInstance"]
        return out

    def status(self, id: str = "db1") -> str:
        return str(self.describe(id)["DBInstanceStatus"])

    def describe(self, id: str = "db1") -> dict[str, Any]:
        out: dict[str, Any] = self.rds.describe_db_instances(
            CALL, {"DBInstanceIdentifier": id})["DBInstances"][0]
        return out

    def doc(self, id: str = "db1") -> dict[str, Any]:
        found = self.rds.find(CALL.account, CALL.region, id)
        assert found is not None
        return found


def scenario(fn: Callable[[World], Awaitable[None]]) -> Callable[[Path], None]:
    def test(tmp_path: Path) -> None:
        async def main() -> None:
            world = World(tmp_path)
            await world.rds.start()
            world.loops.start()
            try:
                await fn(world)
            finally:
                await world.loops.stop()
                await world.rds.stop()
                world.store.close()

        asyncio.run(asyncio.wait_for(main(), 120))  # (a hang fails; a loaded machine may be slow)

    test.__name__ = fn.__name__
    return test


@scenario
async def test_create_backs_up_then_is_available(world: World) -> None:
    out = world.create()
    assert out["DBInstanceStatus"] == "creating" and "Endpoint" not in out
    await world.settle()
    assert world.status() == "available"
    doc = world.doc()
    engine = world.driver.engines_[doc["engine_id"]]
    assert engine.running and engine.roles["master"].startswith("SCRAM-SHA-256$4096:")
    assert "app" in engine.databases
    assert world.names.names()[doc["host"]] == doc["address"]
    backups = world.store.resources.get(AUTOMATED, CALL.account, CALL.region,
                                        doc["resource_id"])
    assert backups is not None and len(backups["backups"]) == 1
    assert world.describe()["LatestRestorableTime"]


@scenario
async def test_no_retention_skips_backups(world: World) -> None:
    world.create(BackupRetentionPeriod=0)
    await world.settle()
    assert world.status() == "available"
    assert world.store.resources.list(AUTOMATED) == []
    assert "LatestRestorableTime" not in world.describe()


@scenario
async def test_archiving_and_daily_backups_on_schedule(world: World) -> None:
    world.create()
    await world.settle()
    first = world.doc()["latest_restorable"]
    await world.settle(ARCHIVE_EVERY + 10)
    assert world.doc()["latest_restorable"] > first
    await world.settle(BACKUP_EVERY)
    record = world.store.resources.get(AUTOMATED, CALL.account, CALL.region,
                                       world.doc()["resource_id"])
    assert record is not None and len(record["backups"]) >= 2


@scenario
async def test_dead_server_is_restarted(world: World) -> None:
    world.create(BackupRetentionPeriod=0)
    await world.settle()
    engine = world.driver.engines_[world.doc()["engine_id"]]
    await world.driver.kill(world.doc()["engine_id"])
    await world.settle(6)
    assert engine.running and engine.starts == 2
    events = world.rds.describe_events(CALL, {"SourceIdentifier": "db1",
                                              "SourceType": "db-instance"})["Events"]
    assert "DB instance restarted" in [e["Message"] for e in events]


@scenario
async def test_multi_az_primary_death_fails_over(world: World) -> None:
    world.create(MultiAZ=True, BackupRetentionPeriod=0)
    await world.settle()
    before = world.doc()
    assert world.driver.running(before["standby_id"])
    await world.driver.kill(before["engine_id"])
    await world.settle(6)
    after = world.doc()
    assert after["engine_id"] == before["standby_id"]
    assert after["standby_id"] == before["engine_id"]
    assert world.driver.running(after["engine_id"]) and world.driver.running(after["standby_id"])
    assert not world.driver.engines_[after["engine_id"]].recovery
    assert world.describe()["AvailabilityZone"] == "us-east-1b"


@scenario
async def test_multi_az_standby_is_synchronous_in_either_role(world: World) -> None:
    """The primary commits synchronously to its standby; after each failover
    the roles swap and the new primary is made synchronous to its new standby;
    Multi-AZ turned off, the primary waits for no standby."""
    world.create(MultiAZ=True, BackupRetentionPeriod=0)
    await world.settle()
    for _ in range(2):
        doc = world.doc()
        primary = world.driver.engines_[doc["engine_id"]]
        assert primary.sync_standby == doc["standby_id"]
        assert world.driver.engines_[doc["standby_id"]].sync_standby is None
        await world.driver.kill(doc["engine_id"])
        await world.settle(6)
        assert world.doc()["engine_id"] == doc["standby_id"]
    doc = world.doc()
    assert world.driver.engines_[doc["engine_id"]].sync_standby == doc["standby_id"]
    world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1", "MultiAZ": False,
                                        "ApplyImmediately": True})
    await world.settle()
    assert world.status() == "available"
    assert world.driver.engines_[doc["engine_id"]].sync_standby is None
    assert doc["standby_id"] not in world.driver.engines()


@scenario
async def test_a_standby_that_cannot_start_holds_no_commits(world: World) -> None:
    """The standby died and fails to start: the primary stops waiting for it
    (it would hold every commit), and waits again once the standby is back."""
    world.create(MultiAZ=True, BackupRetentionPeriod=0)
    await world.settle()
    doc = world.doc()
    primary = world.driver.engines_[doc["engine_id"]]
    assert primary.sync_standby == doc["standby_id"]
    world.driver.fail_start.add(doc["standby_id"])
    await world.driver.kill(doc["standby_id"])
    await world.settle(6)
    assert primary.sync_standby is None and world.status() == "available"
    world.driver.fail_start.clear()
    await world.settle(40)
    assert primary.sync_standby == doc["standby_id"]
    assert world.driver.running(doc["standby_id"])


@scenario
async def test_failing_engine_ends_failed(world: World) -> None:
    doc = world.create(BackupRetentionPeriod=0)
    world.driver.fail_start.add(world.doc(doc["DBInstanceIdentifier"])["engine_id"])
    for _ in range(MAX_FAILURES + 1):
        await world.settle(40)
    assert world.status() == "failed"


@scenario
async def test_stop_start_modify_delete(world: World) -> None:
    world.create(BackupRetentionPeriod=0)
    await world.settle()
    world.rds.stop_db_instance(CALL, {"DBInstanceIdentifier": "db1"})
    await world.settle()
    assert world.status() == "stopped"
    assert not world.driver.running(world.doc()["engine_id"])
    with pytest.raises(AWSError) as e:
        world.rds.reboot_db_instance(CALL, {"DBInstanceIdentifier": "db1"})
    assert e.value.code == "InvalidDBInstanceState"
    world.rds.start_db_instance(CALL, {"DBInstanceIdentifier": "db1"})
    await world.settle()
    assert world.status() == "available"
    world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                        "DBInstanceClass": "db.m5.large",
                                        "MasterUserPassword": "password2",
                                        "ApplyImmediately": True})
    await world.settle()
    doc = world.doc()
    assert doc["class"] == "db.m5.large" and doc["pending"] == {}
    engine = world.driver.engines_[doc["engine_id"]]
    assert engine.spec.settings["effective_cache_size"] == "6144MB"
    assert engine.roles["master"] == doc["verifier"]
    world.rds.delete_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                        "SkipFinalSnapshot": True})
    await world.settle()
    assert world.driver.engines() == []
    assert world.names.names() == {}
    with pytest.raises(AWSError) as e:
        world.describe()
    assert e.value.code == "DBInstanceNotFound"


@scenario
async def test_final_snapshot_and_restore(world: World) -> None:
    world.create(BackupRetentionPeriod=0)
    await world.settle()
    world.driver.engines_[world.doc()["engine_id"]].rows.append("kept")
    world.rds.delete_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                        "FinalDBSnapshotIdentifier": "last"})
    await world.settle()
    snaps = world.rds.describe_db_snapshots(CALL, {})["DBSnapshots"]
    assert [(s["DBSnapshotIdentifier"], s["Status"]) for s in snaps] == [("last", "available")]
    world.rds.restore_db_instance_from_db_snapshot(
        CALL, {"DBInstanceIdentifier": "db2", "DBSnapshotIdentifier": "last"})
    await world.settle()
    assert world.status("db2") == "available"
    assert world.driver.engines_[world.doc("db2")["engine_id"]].rows == ["kept"]


@scenario
async def test_reset_stops_everything(world: World) -> None:
    world.create()
    world.create("db2", MultiAZ=True)
    await world.settle()
    assert len(world.driver.engines()) == 3
    await world.loops.stop()
    await world.rds.reset()
    assert world.driver.engines() == []
    assert world.names.names() == {}
    assert world.rds.describe_db_instances(CALL, {})["DBInstances"] == []


@scenario
async def test_storage_full_refuses_writes_until_grown(world: World) -> None:
    from gureum.services.rds.lifecycle import CHECK

    world.create(BackupRetentionPeriod=0)
    await world.settle()
    engine = world.driver.engines_[world.doc()["engine_id"]]
    engine.data_bytes = 20 * 1024**3  # the whole 20 GiB
    await world.settle(CHECK + 1)
    assert world.status() == "storage-full" and engine.read_only
    world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                        "AllocatedStorage": 40, "ApplyImmediately": True})
    await world.settle(CHECK + 1)
    assert world.status() == "available" and not engine.read_only
    assert world.describe()["AllocatedStorage"] == 40
    with pytest.raises(AWSError) as err:  # storage never shrinks
        world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                            "AllocatedStorage": 30})
    assert err.value.code == "InvalidParameterValue"
    with pytest.raises(AWSError) as err:
        world.create("huge", AllocatedStorage=65536)
        world.create("huger", AllocatedStorage=65536)
    assert err.value.code == "StorageQuotaExceeded"


@scenario
async def test_class_change_waits_for_the_maintenance_window(world: World) -> None:
    from gureum.services.rds.lifecycle import CHECK

    world.clock.set(1_700_000_000.0)  # Tue 2023-11-14 22:13 UTC
    world.create(BackupRetentionPeriod=0, PreferredMaintenanceWindow="wed:03:00-wed:03:30")
    await world.settle()
    old_verifier = world.doc()["verifier"]
    out = world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                              "DBInstanceClass": "db.m5.large",
                                              "AllocatedStorage": 30,
                                              "MasterUserPassword": "password2"})["DBInstance"]
    assert out["PendingModifiedValues"]["DBInstanceClass"] == "db.m5.large"
    await world.settle(CHECK + 1)
    engine = world.driver.engines_[world.doc()["engine_id"]]
    # The password is not deferred: applied at once.
    assert world.doc()["verifier"] != old_verifier
    assert engine.roles["master"] == world.doc()["verifier"]
    described = world.describe()
    assert described["DBInstanceClass"] == "db.t3.micro"  # not yet
    assert described["PendingModifiedValues"] == {"DBInstanceClass": "db.m5.large",
                                                  "AllocatedStorage": 30}
    starts = engine.starts
    for _ in range(int(5 * 3600 / 600)):  # to Wed 03:00 and a bit beyond
        await world.settle(600)
    described = world.describe()
    assert described["DBInstanceClass"] == "db.m5.large"
    assert described["AllocatedStorage"] == 30
    assert described["PendingModifiedValues"] == {}
    assert world.driver.engines_[world.doc()["engine_id"]].starts == starts + 1


def test_in_window() -> None:
    from gureum.services.rds.validate import in_window

    tuesday_2213 = 1_700_000_000.0
    assert in_window("tue:22:00-tue:22:30", tuesday_2213)
    assert not in_window("tue:22:30-tue:23:00", tuesday_2213)
    assert in_window("sun:23:00-wed:01:00", tuesday_2213)  # spans days
    assert in_window("sat:00:00-mon:00:00", tuesday_2213 + 4 * 86400)  # Saturday
    assert not in_window("bad", tuesday_2213)


@scenario
async def test_daily_backup_in_the_backup_window(world: World) -> None:
    import time as _time

    world.clock.set(1_700_000_000.0)  # Tue 2023-11-14 22:13 UTC
    world.create(PreferredBackupWindow="02:00-02:30")
    await world.settle()
    taken = {world.doc()["last_backup"]}
    for _ in range(int(50 * 3600 / 600)):  # through Wednesday's and Thursday's windows
        await world.settle(600)
        taken.add(world.doc()["last_backup"])
    hours = sorted((_time.gmtime(t).tm_mday, _time.gmtime(t).tm_hour) for t in taken)
    assert hours == [(14, 22), (15, 2), (16, 2)]


@scenario
async def test_modified_while_stopped_is_applied_at_start(world: World) -> None:
    world.create(BackupRetentionPeriod=0)
    await world.settle()
    world.rds.stop_db_instance(CALL, {"DBInstanceIdentifier": "db1"})
    await world.settle()
    assert world.status() == "stopped"
    world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                        "DBInstanceClass": "db.m5.large",
                                        "ApplyImmediately": True})
    assert world.status() == "stopped"
    assert world.describe()["PendingModifiedValues"] == {"DBInstanceClass": "db.m5.large"}
    world.rds.start_db_instance(CALL, {"DBInstanceIdentifier": "db1"})
    await world.settle()
    await world.settle()
    described = world.describe()
    assert described["DBInstanceStatus"] == "available"
    assert described["DBInstanceClass"] == "db.m5.large"
    assert described["PendingModifiedValues"] == {}
