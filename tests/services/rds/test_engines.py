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


def test_orderable_options_list_the_installed_classes(tmp_path: Path) -> None:
    from gureum.errors import AWSError

    from .test_lifecycle import CALL, World

    world = World(tmp_path)
    try:
        out = world.rds.describe_db_engine_versions(CALL, {})
        version = out["DBEngineVersions"][0]["EngineVersion"]
        options = world.rds.describe_orderable_db_instance_options(
            CALL, {"Engine": "postgres", "MaxRecords": 20})
        classes = [o["DBInstanceClass"] for o in options["OrderableDBInstanceOptions"]]
        assert len(classes) == 20 and options["Marker"]
        assert "db.m5.large" in classes
        assert options["OrderableDBInstanceOptions"][0]["EngineVersion"] == version
        one = world.rds.describe_orderable_db_instance_options(
            CALL, {"Engine": "postgres", "DBInstanceClass": "db.t3.micro"})
        assert [o["DBInstanceClass"] for o in one["OrderableDBInstanceOptions"]] == \
            ["db.t3.micro"]
        none = world.rds.describe_orderable_db_instance_options(
            CALL, {"Engine": "postgres", "EngineVersion": "9.6"})
        assert none["OrderableDBInstanceOptions"] == []
        try:
            world.rds.describe_orderable_db_instance_options(CALL, {"Engine": "oracle-ee"})
        except AWSError as err:
            assert err.code == "InvalidParameterValue"
        else:
            raise AssertionError("oracle-ee accepted")
    finally:
        world.store.close()
