"""The RDS metric source on the fake PostgreSQL driver with a fake clock:
what one window publishes, CPU against the class's vCPUs, storage, replica
lag, and registration with CloudWatch's sources while RDS runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gureum.services.cloudwatch.sources import Sample, sources
from gureum.services.rds.metrics import GIB, PAGE, InstanceMetrics

from .test_lifecycle import CALL, World, scenario


def by_name(samples: list[Sample], dims: tuple[tuple[str, str], ...]) -> dict[str, float]:
    return {s.name: s.value for s in samples if s.dimensions == dims}


@scenario
async def test_one_window_of_metrics(world: World) -> None:
    world.create(AllocatedStorage=20)
    await world.settle()
    registered = sources(world.rds.env).sources[InstanceMetrics.name]
    assert isinstance(registered, InstanceMetrics)
    source = InstanceMetrics(world.store, world.driver, world.clock, time_scale=60.0)
    assert source.interval == 1.0
    engine = world.driver.engines_[world.doc()["engine_id"]]
    engine.clients, engine.data_bytes = 3, 5 * GIB
    dims = (("DBInstanceIdentifier", "db1"),)

    first = by_name(list(await source.collect(world.clock.now())), dims)
    assert first == {"DatabaseConnections": 3.0, "FreeStorageSpace": 15.0 * GIB}

    await world.clock.advance(10)
    engine.cpu_seconds += 5.0  # db.t3.micro: 2 vCPUs, so 5 s in 10 s is 25 %
    engine.read_bytes += 100 * PAGE
    engine.write_bytes += 30 * PAGE
    samples = list(await source.collect(world.clock.now()))
    second = by_name(samples, dims)
    assert second["CPUUtilization"] == 25.0
    assert second["ReadIOPS"] == 10.0 and second["WriteIOPS"] == 3.0
    assert all(s.namespace == "AWS/RDS" and s.account == CALL.account for s in samples)
    assert by_name(samples, (("DatabaseClass", "db.t3.micro"),)) == {"CPUUtilization": 25.0}
    assert "ReplicaLag" not in second


@scenario
async def test_replica_lag_and_restart_baseline(world: World) -> None:
    world.create()
    await world.settle()
    world.rds.create_db_instance_read_replica(CALL, {
        "DBInstanceIdentifier": "rep", "SourceDBInstanceIdentifier": "db1"})
    await world.settle()
    assert world.status("rep") == "available"
    replica = world.driver.engines_[world.doc("rep")["engine_id"]]
    replica.lag, replica.cpu_seconds = 2.5, 100.0
    source = InstanceMetrics(world.store, world.driver, world.clock)
    dims = (("DBInstanceIdentifier", "rep"),)
    assert by_name(list(await source.collect(world.clock.now())), dims)["ReplicaLag"] == 2.5
    await world.clock.advance(60)
    replica.cpu_seconds = 1.0  # restarted: counters went back, no CPU this window
    assert "CPUUtilization" not in by_name(list(await source.collect(world.clock.now())), dims)


@scenario
async def test_stopped_instances_publish_nothing(world: World) -> None:
    world.create()
    await world.settle()
    world.rds.stop_db_instance(CALL, {"DBInstanceIdentifier": "db1"})
    await world.settle()
    assert world.status() == "stopped"
    source = InstanceMetrics(world.store, world.driver, world.clock)
    assert list(await source.collect(world.clock.now())) == []


def test_source_removed_at_stop(tmp_path: Path) -> None:
    import asyncio

    async def main() -> Any:
        world = World(tmp_path)
        await world.rds.start()
        assert InstanceMetrics.name in sources(world.rds.env).sources
        await world.rds.stop()
        world.store.close()
        return sources(world.rds.env).sources

    assert InstanceMetrics.name not in asyncio.run(main())
