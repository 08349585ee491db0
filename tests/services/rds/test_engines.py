"""MySQL-compatible engines go to their own driver: ids, password hashes,
ports and what is refused, on two fake drivers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gureum.drivers.mysql import native_hash
from gureum.drivers.postgres import FakePostgres
from gureum.services.rds.core import MYSQL_DRIVER_KEY

from .test_lifecycle import CALL, World


def test_mariadb_instance_runs_on_the_mysql_driver(tmp_path: Path) -> None:
    async def main() -> None:
        world = World(tmp_path)
        mysql = FakePostgres()
        world.rds.env.extras[MYSQL_DRIVER_KEY] = mysql
        from gureum.services.rds.core import make_driver

        world.rds.driver = make_driver(world.rds.env)
        await world.rds.start()
        world.loops.start()
        try:
            out = world.create("maria", Engine="mariadb", MasterUserPassword="password1")
            assert out["Engine"] == "mariadb" and out["LicenseModel"] == "general-public-license"
            await world.settle()
            assert world.status("maria") == "available"
            doc = world.doc("maria")
            assert doc["engine_id"].startswith("m") and doc["port"] == 3306
            assert doc["parameter_group"].startswith("default.mariadb")
            engine = mysql.engines_[doc["engine_id"]]
            assert engine.roles["master"] == native_hash("password1")
            assert doc["engine_id"] not in world.driver.engines_
            out = world.rds.create_db_instance_read_replica(CALL, {
                "DBInstanceIdentifier": "rep", "SourceDBInstanceIdentifier": "maria"})
            assert out["DBInstance"]["Engine"] == "mariadb"
            await world.settle()
            replica = world.doc("rep")
            assert replica["engine_id"].startswith("m")
            assert mysql.engines_[replica["engine_id"]].source == doc["engine_id"]
        finally:
            await world.loops.stop()
            await world.rds.stop()
            world.store.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_native_hash_is_mysqls() -> None:
    # SELECT PASSWORD('password') in MySQL 5.7 / MariaDB
    assert native_hash("password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
