"""A Redis node whose directory has a long path (past the 107 bytes of a Unix
socket's) starts, snapshots and is seeded from its snapshot: nodes listen on
TCP only, so the length of the path does not matter to them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gureum.drivers.redis import NodeSpec
from gureum.drivers.redis.server import RedisServers, find_binary

pytestmark = pytest.mark.skipif(find_binary() is None, reason="redis-server is not installed")


def test_node_in_a_long_directory(tmp_path: Path) -> None:
    root = tmp_path / ("d" * max(1, 150 - len(str(tmp_path)) - 1))
    assert len(str(root)) >= 150
    address = f"127.202.{os.getpid() % 200}.1"

    async def main() -> None:
        driver = RedisServers(root)
        try:
            await driver.start(NodeSpec("n1", address, 6379, 64 << 20))
            assert await driver.call("n1", "SET", "k", "v") in ("OK", b"OK")
            snapshot = root / "snapshots" / "s1.rdb"
            await driver.save("n1", snapshot)
            await driver.destroy("n1")
            await driver.start(NodeSpec("n2", address, 6379, 64 << 20, seed=snapshot))
            assert await driver.call("n2", "GET", "k") in ("v", b"v")
        finally:
            await driver.shutdown()

    asyncio.run(main())
