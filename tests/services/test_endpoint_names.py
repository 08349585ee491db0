"""Endpoint names of databases and caches are a gureum's own: two gureums on
one host (each its own data directory) give the same account's database or
cache of the same id different names, so neither's clients reach the other's
server through /etc/hosts; one data directory keeps its names across
restarts; records made before names had this salt keep the names they had."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gureum.config import Settings
from gureum.services.base import Env
from gureum.services.elasticache.core import domain, group_name, node_name
from gureum.services.rds import RDS
from gureum.store import Store

from .elasticache.test_loops import CALL, World


def rds_host(data_dir: Path) -> str:
    store = Store.open(data_dir / "gureum.db")
    try:
        env = Env(settings=Settings(data_dir=data_dir), store=store, clock=None, loops=None)
        return RDS(env).host("000000000000", "us-east-1", "orders")
    finally:
        store.close()


def test_database_names_differ_between_gureums_and_stay_with_one(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    assert rds_host(one) != rds_host(two)
    assert rds_host(one) == rds_host(one)
    assert rds_host(one).startswith("orders.c") and rds_host(one).endswith(
        ".us-east-1.rds.localhost")


def cache_names(data_dir: Path) -> tuple[str, str]:
    names: list[str] = []

    async def main() -> None:
        w = World(data_dir)
        await w.start()
        try:
            w.ec.create_cache_cluster(CALL, {"CacheClusterId": "sessions"})
            w.ec.create_replication_group(CALL, {"ReplicationGroupId": "rg",
                                                 "ReplicationGroupDescription": "x"})
            node = w.ec.find_node("000000000000", "us-east-1", "sessions")
            group = w.ec.find_group("000000000000", "us-east-1", "rg")
            assert node is not None and group is not None
            names.extend([node_name(node), group_name("master", group)])
        finally:
            await w.stop()

    asyncio.run(main())
    return names[0], names[1]


def test_cache_names_differ_between_gureums_and_stay_with_one(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    first, second = cache_names(one), cache_names(two)
    assert first[0] != second[0] and first[1] != second[1]
    assert first[0].startswith("sessions.") and first[0].endswith(".use1.cache.localhost")
    assert first[1].startswith("master.rg.")


def test_records_without_a_domain_keep_their_names() -> None:
    old = {"id": "sessions", "account": "000000000000", "region": "us-east-1"}
    assert node_name(old) == f"sessions.{domain('000000000000', 'us-east-1').split('.')[0]}" \
        ".0001.use1.cache.localhost"
