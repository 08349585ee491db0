"""A MariaDB server whose data directory has a path too long for a Unix
socket (107 bytes) still starts and is reached over its socket (through a
short link that goes away with the engine)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gureum.drivers import sockdir
from gureum.drivers.mysql import MariaDBServers, find_mariadbd
from gureum.drivers.postgres import EngineSpec

pytestmark = pytest.mark.skipif(find_mariadbd() is None, reason="MariaDB is not installed")


def test_server_in_a_long_data_directory(tmp_path: Path) -> None:
    root = tmp_path / ("d" * max(1, 150 - len(str(tmp_path)) - 1))
    assert len(str(root)) >= 150
    driver = MariaDBServers(root)
    spec = EngineSpec("m1", "", 3306)

    async def main() -> None:
        try:
            await driver.create(spec)
            await driver.start(spec)
            assert await driver.execute("m1", "SELECT 40 + 2;") == [["42"]]
            run = driver.dir("m1") / "run"
            assert (run / "mysqld.sock").is_socket()
            link = driver.socket(spec.id).parent
            assert link != run and link.is_symlink() and link.resolve() == run.resolve()
            assert len(str(driver.socket(spec.id))) <= sockdir.MAX_SOCKET_PATH
            await driver.destroy("m1")
            assert not os.path.lexists(link)
        finally:
            await driver.shutdown()
            sockdir.remove_link(driver.dir("m1") / "run")

    asyncio.run(main())
